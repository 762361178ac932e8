"""The tokenizer as training sees it: a ``tokenizers.Tokenizer`` with RoBERTa's special tokens.

Training needs offsets, word ids and fast batch encoding, so it works on the ``tokenizers`` backend
directly. ``train_byte_level_bpe`` builds the same pipeline as ``roberta-base`` (``<s> <pad> </s> <unk>``
take ids 0..3, ``<mask>`` comes last; the builder and trainer are ``tokenizer.bpe``'s) and
``save_tokenizer`` writes a Hugging Face RoBERTa tokenizer folder through ``RobertaTokenizer``, which
``transformers`` loads too.
"""

from __future__ import annotations

import os
from typing import Iterable, Iterator

from tokenizers import Tokenizer

from ..tokenizer import bpe
from ..tokenizer.files import MERGES_FILE, TOKENIZER_FILE, TOKENIZER_FILES, VOCAB_FILE, load_backend
from ..tokenizer.files import tokenizer_folder as tokenizer_folder

FIRST_SPECIALS = bpe.FIRST_SPECIALS
MASK = bpe.MASK
SPECIALS = FIRST_SPECIALS + (MASK,)

__all__ = ["SpecialIds", "train_byte_level_bpe", "load_tokenizer", "save_tokenizer", "tokenizer_folder",
           "TOKENIZER_FILES"]


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
        texts: The training texts (documents or lines); blank ones are skipped.
        vocab_size: Size of the final vocabulary, the five special tokens and 256 byte tokens included.
        min_frequency: Pairs seen fewer times are not merged.

    Returns:
        The tokenizer, with RoBERTa's pre-tokenizer, decoder and ``<s> A </s></s> B </s>`` template.

    Raises:
        ValueError: If ``vocab_size`` leaves no room beyond the bytes and special tokens.
    """
    vocab, merges = bpe.train(_nonempty(texts), vocab_size, min_frequency=min_frequency, show_progress=False)
    return bpe.pipeline(vocab, merges, specials=True)


def load_tokenizer(path: str | os.PathLike) -> Tokenizer:
    """Load ``tokenizer.json`` (or ``vocab.json`` + ``merges.txt``) from a folder.

    Raises:
        OSError: If the folder holds neither.
    """
    folder = os.fspath(path)
    found = {name: os.path.join(folder, name) if os.path.isfile(os.path.join(folder, name)) else None
             for name in (TOKENIZER_FILE, VOCAB_FILE, MERGES_FILE)}
    if found[TOKENIZER_FILE] is None and (found[VOCAB_FILE] is None or found[MERGES_FILE] is None):
        raise OSError(f"no tokenizer in {folder}: expected tokenizer.json, or vocab.json and merges.txt")
    # a tokenizer.json that cannot be read falls back to vocab.json + merges.txt (warned)
    tokenizer = load_backend(found[TOKENIZER_FILE], found[VOCAB_FILE], found[MERGES_FILE], specials=True)
    SpecialIds(tokenizer)  # raises if RoBERTa's special tokens are missing
    return tokenizer


def save_tokenizer(tokenizer: Tokenizer, folder: str | os.PathLike, *, model_max_length: int = 512) -> None:
    """Write a Hugging Face RoBERTa tokenizer folder (tokenizer.json, vocab.json, merges.txt and configs)."""
    from ..tokenizer import RobertaTokenizer

    RobertaTokenizer(tokenizer_object=tokenizer, model_max_length=model_max_length).save_pretrained(folder)


def _nonempty(texts: Iterable[str]) -> Iterator[str]:
    for text in texts:
        if text.strip():
            yield text
