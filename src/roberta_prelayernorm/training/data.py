"""Pretraining data: documents from text files or a ``datasets`` dataset, packed into blocks of tokens.

Documents
    In text files a document is a run of non-blank lines, and blank lines separate documents
    (``documents="blank_line"``, the default, the layout of fairseq's raw corpora); with
    ``documents="line"`` every non-blank line is a document on its own. Lines inside a document keep
    their newline.

Packing (fairseq ``--sample-break-mode none``, the efficient-MLM recipe)
    Every document is encoded without special tokens and followed by ``</s>``; the documents are
    concatenated into one stream, the stream is cut into pieces of ``block_size - 1`` tokens, and each
    piece gets ``<s>`` in front. A block may therefore hold the end of one document and the start of
    the next, and short documents pack together. The tail shorter than a piece is dropped. A corpus
    with fewer tokens than one block is an error.
"""

from __future__ import annotations

import glob
import hashlib
import os
from typing import Iterable, Iterator, Sequence

import numpy as np
from tokenizers import Tokenizer

from .text import SpecialIds

DOCUMENT_MODES = ("blank_line", "line")


class CorpusError(ValueError):
    """The corpus cannot give any training data (empty, too short, unreadable)."""


def expand_paths(patterns: Sequence[str | os.PathLike]) -> list[str]:
    """Files named directly, by glob pattern, or as folders (every ``*.txt`` inside, sorted).

    Raises:
        CorpusError: If a pattern names nothing.
    """
    paths: list[str] = []
    for pattern in patterns:
        pattern = os.fspath(pattern)
        if os.path.isdir(pattern):
            found = sorted(glob.glob(os.path.join(pattern, "**", "*.txt"), recursive=True))
        elif os.path.isfile(pattern):
            found = [pattern]
        else:
            found = sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
        if not found:
            raise CorpusError(f"no text files at {pattern!r}")
        paths.extend(found)
    return paths


def read_documents(paths: Sequence[str | os.PathLike], documents: str = "blank_line") -> list[str]:
    """Read documents from text files (UTF-8), in file order.

    Raises:
        CorpusError: If a file cannot be read or decoded, or ``documents`` is unknown.
    """
    if documents not in DOCUMENT_MODES:
        raise CorpusError(f"documents must be one of {DOCUMENT_MODES}, got {documents!r}")
    out: list[str] = []
    for path in expand_paths(paths):
        try:
            with open(path, encoding="utf-8") as f:
                out.extend(split_documents(f, documents))
        except UnicodeDecodeError as e:
            raise CorpusError(f"{path} is not UTF-8 text: {e}") from None
        except OSError as e:
            raise CorpusError(f"cannot read {path}: {e.strerror or e}") from None
    return out


def split_documents(lines: Iterable[str], documents: str = "blank_line") -> Iterator[str]:
    """Yield the documents of a stream of lines (see the module docstring)."""
    if documents == "line":
        for line in lines:
            if line.strip():
                yield line.rstrip("\n")
        return
    current: list[str] = []
    for line in lines:
        if line.strip():
            current.append(line.rstrip("\n"))
        elif current:
            yield "\n".join(current)
            current = []
    if current:
        yield "\n".join(current)


def dataset_documents(name: str, split: str = "train", text_column: str = "text") -> list[str]:
    """The non-empty texts of a Hugging Face ``datasets`` dataset (``name`` or ``name:config``, or a folder).

    Raises:
        CorpusError: If ``datasets`` is not installed or the column is missing.
    """
    try:
        import datasets  # optional
    except ImportError:
        raise CorpusError("reading a dataset needs the `datasets` package: pip install datasets") from None
    path, _, config = name.partition(":")
    ds = datasets.load_dataset(path, config or None, split=split)
    if text_column not in ds.column_names:
        raise CorpusError(f"dataset {name!r} has no column {text_column!r}; columns: {ds.column_names}")
    return [t for t in ds[text_column] if isinstance(t, str) and t.strip()]


def split_held_out(docs: list[str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Set aside a random ``fraction`` of the documents (at least one) as the held-out split."""
    if not 0.0 < fraction < 1.0:
        raise CorpusError(f"eval_fraction must be in (0, 1), got {fraction}")
    if len(docs) < 2:
        raise CorpusError("cannot hold out documents from a corpus of fewer than two documents; "
                          "give eval files or more documents")
    order = np.random.default_rng([seed, 7]).permutation(len(docs))
    n_eval = max(1, int(round(fraction * len(docs))))
    held = set(order[:n_eval].tolist())
    return [d for i, d in enumerate(docs) if i not in held], [d for i, d in enumerate(docs) if i in held]


def token_stream(docs: Sequence[str], tokenizer: Tokenizer, *, batch: int = 4096) -> np.ndarray:
    """Encode documents without special tokens and join them, each followed by ``</s>`` (int32)."""
    eos = SpecialIds(tokenizer).eos
    pieces: list[np.ndarray] = []
    for start in range(0, len(docs), batch):
        for enc in tokenizer.encode_batch(list(docs[start:start + batch]), add_special_tokens=False):
            pieces.append(np.asarray(enc.ids + [eos], dtype=np.int32))
    if not pieces:
        return np.zeros(0, dtype=np.int32)
    return np.concatenate(pieces)


def pack_blocks(stream: np.ndarray, block_size: int, bos: int, *, what: str = "corpus") -> np.ndarray:
    """Cut a token stream into blocks of ``block_size`` tokens: ``<s>`` + ``block_size - 1`` stream tokens.

    Returns:
        An int64 array of shape (num_blocks, block_size).

    Raises:
        CorpusError: If the stream is empty or shorter than one block.
    """
    if block_size < 2:
        raise CorpusError(f"block_size must be at least 2, got {block_size}")
    piece = block_size - 1
    if len(stream) == 0:
        raise CorpusError(f"the {what} is empty: no document has any text")
    n = len(stream) // piece
    if n == 0:
        raise CorpusError(f"the {what} has {len(stream)} tokens (separators included), fewer than one block of "
                          f"{block_size} tokens needs ({piece} + <s>); add text or lower block_size")
    blocks = np.empty((n, block_size), dtype=np.int64)
    blocks[:, 0] = bos
    blocks[:, 1:] = stream[: n * piece].reshape(n, piece)
    return blocks


def digest(array: np.ndarray) -> str:
    """A short content hash (to check that a resumed run sees the same data)."""
    return hashlib.blake2b(np.ascontiguousarray(array).tobytes(), digest_size=12).hexdigest()
