"""Documents, packing and masking for pretraining."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roberta_prelayernorm.training.data import CorpusError, pack_blocks, read_documents, split_documents, token_stream
from roberta_prelayernorm.training.masking import Masker, parse_split
from roberta_prelayernorm.training.text import SpecialIds, load_tokenizer, train_byte_level_bpe

from training_helpers import FIXTURE_TOKENIZER

BOS, PAD, EOS, UNK, MASK = 0, 1, 2, 3, 99
SPECIAL = (BOS, PAD, EOS, UNK, MASK)


def test_documents_blank_line_and_line(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("a b\nc d\n\n\ne f\n  \ng\n", encoding="utf-8")
    assert read_documents([path]) == ["a b\nc d", "e f", "g"]
    assert read_documents([path], "line") == ["a b", "c d", "e f", "g"]
    assert list(split_documents(iter(["x\n"]))) == ["x"]
    with pytest.raises(CorpusError, match="no text files"):
        read_documents([tmp_path / "missing.txt"])
    with pytest.raises(CorpusError, match="documents must be"):
        read_documents([path], "paragraph")


def test_stream_puts_eos_after_each_document_and_no_bos():
    tokenizer = load_tokenizer(FIXTURE_TOKENIZER)
    docs = ["hello world", "a", "the cat"]
    stream = token_stream(docs, tokenizer)
    expected = []
    for d in docs:
        expected += tokenizer.encode(d, add_special_tokens=False).ids + [SpecialIds(tokenizer).eos]
    assert stream.tolist() == expected


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(4, 98), min_size=0, max_size=200), st.integers(2, 20))
def test_packing_is_contiguous(stream, block_size):
    """Blocks are <s> + consecutive stream pieces; only the tail shorter than a piece is dropped."""
    stream = np.asarray(stream, dtype=np.int32)
    piece = block_size - 1
    if len(stream) < piece:
        with pytest.raises(CorpusError):
            pack_blocks(stream, block_size, BOS)
        return
    blocks = pack_blocks(stream, block_size, BOS)
    assert blocks.shape == (len(stream) // piece, block_size)
    assert (blocks[:, 0] == BOS).all()
    assert blocks[:, 1:].reshape(-1).tolist() == stream[: len(blocks) * piece].tolist()


def test_short_documents_pack_across_boundaries():
    tokenizer = load_tokenizer(FIXTURE_TOKENIZER)
    docs = ["a", "b c", "d"] * 10  # every document far shorter than a block
    blocks = pack_blocks(token_stream(docs, tokenizer), 16, BOS)
    assert len(blocks) >= 2
    assert ((blocks == EOS).sum(axis=1) >= 3).all()  # several documents per block


def test_corpus_errors():
    with pytest.raises(CorpusError, match="empty"):
        pack_blocks(np.zeros(0, dtype=np.int32), 16, BOS)
    with pytest.raises(CorpusError, match="fewer than one block"):
        pack_blocks(np.arange(5, 10, dtype=np.int32), 16, BOS)


# ------------------------------------------------------------------------------------------- masking
def blocks_with_specials(n: int = 200, length: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    blocks = rng.integers(4, 90, size=(n, length))
    blocks[:, 0] = BOS
    blocks[:, 7] = EOS
    blocks[:, 20] = EOS
    blocks[::3, -4:] = PAD
    return blocks


def test_masking_chooses_exactly_rate_times_length_plus_uniform():
    masker = Masker(0.4, (1, 0, 0), MASK, SPECIAL, 99, seed=3)
    blocks = blocks_with_specials()
    counts = []
    for i, block in enumerate(blocks):
        ids, positions, targets = masker.mask_block(block, epoch=0, index=i)
        eligible = int((~np.isin(block, SPECIAL)).sum())
        # independent recomputation of int(rate * n + U[0, 1)) with the generator's first draw
        u = np.random.default_rng([3, 1, i]).random()
        assert len(positions) == int(0.4 * eligible + u)
        assert len(set(positions.tolist())) == len(positions)  # without replacement
        assert not np.isin(block[positions], SPECIAL).any()  # special tokens never chosen
        assert (ids[positions] == MASK).all()  # default split: every chosen token becomes <mask>
        unchosen = np.setdiff1d(np.arange(len(block)), positions)
        assert (ids[unchosen] == block[unchosen]).all()
        assert (targets == block[positions]).all()
        counts.append((len(positions), eligible))
    chosen, eligible = map(sum, zip(*counts))
    assert abs(chosen / eligible - 0.4) < 0.01  # the expected count is exactly rate * n


def test_masking_80_10_10():
    masker = Masker(0.5, parse_split("80/10/10"), MASK, SPECIAL, 99, seed=0)
    blocks = blocks_with_specials(400)
    kinds = np.zeros(3)
    for i, block in enumerate(blocks):
        ids, positions, _ = masker.mask_block(block, 0, i)
        new = ids[positions]
        kinds[0] += (new == MASK).sum()
        kept = new == block[positions]
        kinds[2] += kept.sum()
        kinds[1] += ((new != MASK) & ~kept).sum()
        assert not np.isin(new[new != MASK], SPECIAL).any()  # random replacements are never special
    fractions = kinds / kinds.sum()
    # random draws equal to the original count as "kept": about 1/94 of the 10 %
    assert fractions[0] == pytest.approx(0.8, abs=0.015)
    assert fractions[1] == pytest.approx(0.1 * 93 / 94, abs=0.01)
    assert fractions[2] == pytest.approx(0.1 + 0.1 / 94, abs=0.01)


def test_masks_depend_only_on_seed_epoch_and_block():
    masker = Masker(0.4, (1, 0, 0), MASK, SPECIAL, 99, seed=0)
    blocks = blocks_with_specials(10)
    whole = masker(blocks, [0, 1, 2, 3], epoch=2)
    half = masker(blocks, [2, 3], epoch=2)
    length = blocks.shape[1]
    assert whole.input_ids[2:].tolist() == half.input_ids.tolist()
    assert whole.targets[-half.num_targets:].tolist() == half.targets.tolist()
    assert (whole.positions[-half.num_targets:] - 2 * length).tolist() == half.positions.tolist()
    other_epoch = masker(blocks, [2, 3], epoch=3)
    assert other_epoch.input_ids.tolist() != half.input_ids.tolist()


@pytest.mark.parametrize("bad", ["80/10", "a/b/c", (0, 0, 0), (-1, 1, 1)])
def test_bad_mask_split(bad):
    with pytest.raises(ValueError, match="mask split"):
        parse_split(bad)


def test_new_tokenizer_has_roberta_layout_and_loads_in_transformers(tmp_path):
    from roberta_prelayernorm.training.text import save_tokenizer

    texts = ["the quick brown fox jumps over the lazy dog"] * 20 + ["pack my box with five dozen jugs"] * 20
    tokenizer = train_byte_level_bpe(texts, 300)
    ids = SpecialIds(tokenizer)
    assert (ids.bos, ids.pad, ids.eos, ids.unk) == (0, 1, 2, 3)
    assert ids.mask == tokenizer.get_vocab_size() - 1
    save_tokenizer(tokenizer, tmp_path)
    transformers = pytest.importorskip("transformers")
    hf = transformers.AutoTokenizer.from_pretrained(str(tmp_path))
    text = "the lazy fox <mask> five jugs"
    assert hf(text)["input_ids"] == tokenizer.encode(text).ids
    assert hf.mask_token_id == ids.mask
    from roberta_prelayernorm import RobertaTokenizer

    ours = RobertaTokenizer.from_pretrained(str(tmp_path))
    assert ours(text)["input_ids"] == tokenizer.encode(text).ids
    assert ours("a fox", "the dog")["input_ids"] == tokenizer.encode("a fox", "the dog").ids
    with pytest.raises(ValueError, match="vocab_size"):
        train_byte_level_bpe(texts, 100)


def test_datasets_source_and_its_errors(monkeypatch):
    """`datasets` is optional: a fake module stands in for it (the real one is not a dependency)."""
    import sys
    import types

    from roberta_prelayernorm.training.data import dataset_documents

    class FakeDataset:
        column_names = ["text", "id"]

        def __getitem__(self, column):
            return ["first document", "", "  ", "second one", None]

    calls = []
    fake = types.SimpleNamespace(load_dataset=lambda path, name, split: calls.append((path, name, split))
                                 or FakeDataset())
    monkeypatch.setitem(sys.modules, "datasets", fake)
    assert dataset_documents("wiki:en", "validation") == ["first document", "second one"]
    assert calls == [("wiki", "en", "validation")]
    with pytest.raises(CorpusError, match="no column 'body'"):
        dataset_documents("wiki", text_column="body")
    monkeypatch.setitem(sys.modules, "datasets", None)  # not installed
    with pytest.raises(CorpusError, match="needs the `datasets` package"):
        dataset_documents("wiki")


def test_tokenizer_of_a_hub_id_from_the_offline_cache(tmp_path, monkeypatch):
    """A model's tokenizer by hub id (for pretrain --model and finetune), here a cached repository that
    has only vocab.json + merges.txt, the layout of older RoBERTa repositories."""
    import shutil

    import huggingface_hub.constants

    from roberta_prelayernorm.training.text import tokenizer_folder

    commit = "3" * 40
    repo = tmp_path / "models--org--tok"
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for name in ("vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(Path(FIXTURE_TOKENIZER) / name, snapshot / name)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)

    folder = tokenizer_folder("org/tok")
    assert Path(folder) == snapshot
    text = "the cat sees a green apple."
    assert load_tokenizer(folder).encode(text).ids == load_tokenizer(FIXTURE_TOKENIZER).encode(text).ids
    with pytest.raises(OSError):
        tokenizer_folder("org/missing")
