"""The tokenizer as training sees it: a ``tokenizers.Tokenizer`` with RoBERTa's special tokens.

Training needs offsets, word ids and fast batch encoding, so it works on the ``tokenizers`` backend
directly. ``train_byte_level_bpe`` builds the same pipeline as ``roberta-base`` (``<s> <pad> </s> <unk>``
take ids 0..3, ``<mask>`` comes last) and ``save_tokenizer`` writes the files of a Hugging Face
RoBERTa tokenizer folder, which ``roberta_prelayernorm.RobertaTokenizer`` and ``transformers`` load.
"""

from __future__ import annotations

import json
import os
from typing import Iterable, Iterator

from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

FIRST_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")
MASK = "<mask>"
SPECIALS = FIRST_SPECIALS + (MASK,)


class SpecialIds:
    """The ids of ``<s> <pad> </s> <unk> <mask>`` in one tokenizer."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        ids = {t: tokenizer.token_to_id(t) for t in SPECIALS}
        missing = [t for t, i in ids.items() if i is None]
        if missing:
            raise ValueError(f"the tokenizer lacks the special tokens {missing}; RoBERTa needs {list(SPECIALS)}")
        self.bos, self.pad, self.eos, self.unk, self.mask = (ids[t] for t in SPECIALS)
        self.all = tuple(sorted(set(ids.values())))


def train_byte_level_bpe(texts: Iterable[str], vocab_size: int, *, min_frequency: int = 2) -> Tokenizer:
    """Train a RoBERTa-style byte-level BPE on ``texts``.

    Args:
        texts: The training texts (documents or lines).
        vocab_size: Size of the final vocabulary, the five special tokens and 256 byte tokens included.
        min_frequency: Pairs seen fewer times are not merged.

    Returns:
        The tokenizer, with RoBERTa's pre-tokenizer, decoder and ``<s> A </s></s> B </s>`` template.

    Raises:
        ValueError: If ``vocab_size`` leaves no room beyond the bytes and special tokens.
    """
    if vocab_size < 256 + len(SPECIALS):
        raise ValueError(f"vocab_size must be at least {256 + len(SPECIALS)} (256 bytes + special tokens), "
                         f"got {vocab_size}")
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - 1,  # room for <mask>, which comes last as in roberta-base
        min_frequency=min_frequency,
        special_tokens=list(FIRST_SPECIALS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(_nonempty(texts), trainer=trainer)
    state = json.loads(bpe.to_str())["model"]
    vocab: dict[str, int] = dict(state["vocab"])
    vocab[MASK] = len(vocab)
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in state["merges"]]
    return roberta_pipeline(vocab, merges)


def roberta_pipeline(vocab: dict[str, int], merges: list[tuple[str, str]]) -> Tokenizer:
    """The backend pipeline of ``roberta-base``'s ``tokenizer.json`` over a given vocabulary and merges."""
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges, continuing_subword_prefix="", end_of_word_suffix=""))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.RobertaProcessing(
        ("</s>", vocab["</s>"]), ("<s>", vocab["<s>"]), trim_offsets=True, add_prefix_space=False
    )
    specials = [AddedToken(t, normalized=True, special=True) for t in FIRST_SPECIALS]
    specials.append(AddedToken(MASK, lstrip=True, normalized=False, special=True))
    tokenizer.add_special_tokens(specials)
    return tokenizer


def load_tokenizer(path: str | os.PathLike) -> Tokenizer:
    """Load ``tokenizer.json`` (or ``vocab.json`` + ``merges.txt``) from a folder.

    Raises:
        OSError: If the folder holds neither.
    """
    folder = os.fspath(path)
    if os.path.isfile(os.path.join(folder, "tokenizer.json")):
        tokenizer = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
    elif os.path.isfile(os.path.join(folder, "vocab.json")) and os.path.isfile(os.path.join(folder, "merges.txt")):
        with open(os.path.join(folder, "vocab.json"), encoding="utf-8") as f:
            vocab = json.load(f)
        with open(os.path.join(folder, "merges.txt"), encoding="utf-8") as f:
            merges = [tuple(line.split()) for line in f if line.strip() and not line.startswith("#version")]
        tokenizer = roberta_pipeline(vocab, merges)
    else:
        raise OSError(f"no tokenizer in {folder}: expected tokenizer.json, or vocab.json and merges.txt")
    SpecialIds(tokenizer)  # raises if RoBERTa's special tokens are missing
    return tokenizer


def save_tokenizer(tokenizer: Tokenizer, folder: str | os.PathLike, *, model_max_length: int = 512) -> None:
    """Write a Hugging Face RoBERTa tokenizer folder: tokenizer.json, vocab.json, merges.txt and configs."""
    folder = os.fspath(folder)
    os.makedirs(folder, exist_ok=True)
    state = json.loads(tokenizer.to_str())
    model = state["model"]
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    state["model"]["merges"] = merges  # "a b" strings, the format of published checkpoints
    vocab = dict(model["vocab"])
    for added in state.get("added_tokens", []):
        vocab.setdefault(added["content"], added["id"])
    files = {
        "tokenizer.json": json.dumps(state, indent=2, ensure_ascii=False) + "\n",
        "vocab.json": json.dumps(dict(sorted(vocab.items(), key=lambda kv: kv[1])), ensure_ascii=False) + "\n",
        "merges.txt": "#version: 0.2\n" + "".join(m + "\n" for m in merges),
        "tokenizer_config.json": json.dumps({
            "add_prefix_space": False, "bos_token": "<s>", "cls_token": "<s>", "eos_token": "</s>",
            "errors": "replace", "mask_token": MASK, "model_max_length": model_max_length, "pad_token": "<pad>",
            "sep_token": "</s>", "tokenizer_class": "RobertaTokenizer", "trim_offsets": True, "unk_token": "<unk>",
        }, indent=2, sort_keys=True) + "\n",
        "special_tokens_map.json": json.dumps({
            "bos_token": "<s>", "cls_token": "<s>", "eos_token": "</s>",
            "mask_token": {"content": MASK, "lstrip": True, "normalized": False, "rstrip": False,
                           "single_word": False},
            "pad_token": "<pad>", "sep_token": "</s>", "unk_token": "<unk>",
        }, indent=2, sort_keys=True) + "\n",
    }
    for name, text in files.items():
        with open(os.path.join(folder, name), "w", encoding="utf-8") as f:
            f.write(text)


def tokenizer_folder(name_or_path: str) -> str:
    """A local folder holding the tokenizer of a model folder or hub id (downloaded when needed)."""
    if os.path.isdir(name_or_path):
        return name_or_path
    from ..tokenization import _resolve_files

    files = _resolve_files(name_or_path, subfolder="", cache_dir=None, revision=None, local_files_only=False,
                           token=None, force_download=False)
    return os.path.dirname(next(path for path in files.values() if path))


TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json")


def _nonempty(texts: Iterable[str]) -> Iterator[str]:
    for text in texts:
        if text.strip():
            yield text
