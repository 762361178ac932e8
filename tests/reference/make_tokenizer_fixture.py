"""Write the small RoBERTa-style tokenizer used by ``tests/test_tokenization.py``.

It trains a byte-level BPE on ``tokenizer_corpus.txt`` (beside this script) with the ``tokenizers``
library only, so the fixture does not depend on the code under test nor on ``transformers``. The
output mirrors a published RoBERTa checkpoint: ``<s>``, ``<pad>``, ``</s>``, ``<unk>`` take ids
0..3, ``<mask>`` comes last, and the folder holds ``vocab.json``, ``merges.txt``, ``tokenizer.json``
(the same pipeline as ``roberta-base``), ``tokenizer_config.json`` and ``special_tokens_map.json``
in the format of the RoBERTa-PreLayerNorm checkpoints on the hub.

Run from the repository root; the output is committed::

    python tests/reference/make_tokenizer_fixture.py
"""

from __future__ import annotations

import json
from pathlib import Path

from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "tokenizer_corpus.txt"
OUT = HERE.parent / "fixtures" / "tokenizer"
VOCAB_SIZE = 800  # upper bound; the trainer stops earlier when the corpus runs out of pairs
MODEL_MAX_LENGTH = 512
FIRST_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]
MASK = "<mask>"


def train() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Trains a byte-level BPE and returns its vocabulary (``<mask>`` appended) and merges."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE - 1,  # room for <mask>
        special_tokens=FIRST_SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    lines = CORPUS.read_text(encoding="utf-8").splitlines()
    tokenizer.train_from_iterator(lines, trainer=trainer)
    state = json.loads(tokenizer.to_str())["model"]
    vocab: dict[str, int] = dict(state["vocab"])
    vocab[MASK] = len(vocab)
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in state["merges"]]
    return vocab, merges


def roberta_pipeline(vocab: dict[str, int], merges: list[tuple[str, str]]) -> Tokenizer:
    """Builds the same backend pipeline as the ``tokenizer.json`` of ``roberta-base``."""
    tokenizer = Tokenizer(
        models.BPE(vocab=vocab, merges=merges, continuing_subword_prefix="", end_of_word_suffix="")
    )
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.RobertaProcessing(
        ("</s>", vocab["</s>"]), ("<s>", vocab["<s>"]), trim_offsets=True, add_prefix_space=False
    )
    specials = [AddedToken(t, normalized=True, special=True) for t in FIRST_SPECIALS]
    specials.append(AddedToken(MASK, lstrip=True, normalized=False, special=True))
    tokenizer.add_special_tokens(specials)
    return tokenizer


def main() -> None:
    vocab, merges = train()
    OUT.mkdir(parents=True, exist_ok=True)
    tokenizer = roberta_pipeline(vocab, merges)
    tokenizer.model.save(str(OUT))  # vocab.json + merges.txt
    # Merges as "a b" strings (the format of published checkpoints) so old `tokenizers` read it too.
    state = json.loads(tokenizer.to_str())
    state["model"]["merges"] = [" ".join(pair) for pair in merges]
    (OUT / "tokenizer.json").write_text(
        json.dumps(state, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    config = {
        "add_prefix_space": False,
        "bos_token": "<s>",
        "cls_token": "<s>",
        "eos_token": "</s>",
        "errors": "replace",
        "mask_token": MASK,
        "model_max_length": MODEL_MAX_LENGTH,
        "pad_token": "<pad>",
        "sep_token": "</s>",
        "tokenizer_class": "RobertaTokenizer",
        "trim_offsets": True,
        "unk_token": "<unk>",
    }
    special_tokens_map = {
        "bos_token": "<s>",
        "cls_token": "<s>",
        "eos_token": "</s>",
        "mask_token": {
            "content": MASK,
            "lstrip": True,
            "normalized": False,
            "rstrip": False,
            "single_word": False,
        },
        "pad_token": "<pad>",
        "sep_token": "</s>",
        "unk_token": "<unk>",
    }
    for name, data in [("tokenizer_config.json", config), ("special_tokens_map.json", special_tokens_map)]:
        (OUT / name).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {OUT} ({len(vocab)} tokens, {len(merges)} merges)")


if __name__ == "__main__":
    main()
