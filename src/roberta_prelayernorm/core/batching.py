"""Padding, written once: token rows to rectangular numpy arrays (any framework converts them).

numpy is imported by the functions that make arrays, so that the tokenizer (``pad_list``) stays light.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def pad_list(row: Sequence[Any], value: Any, length: int, side: str = "right") -> list[Any]:
    """``row`` as a list of ``length`` items, filled with ``value`` on ``side`` (never cut)."""
    padding = [value] * max(length - len(row), 0)
    return list(row) + padding if side == "right" else padding + list(row)


def pad_rows(rows: Sequence[Sequence[int]], value: int, *, length: int | None = None, side: str = "right",
             dtype: Any = "int64") -> Any:
    """(len(rows), length) numpy array of the rows, filled with ``value`` on ``side``; ``length`` defaults to
    the longest row."""
    import numpy as np

    length = max((len(r) for r in rows), default=0) if length is None else length
    out = np.full((len(rows), length), value, dtype=dtype)
    for i, row in enumerate(rows):
        n = len(row)
        if n:
            if side == "right":
                out[i, :n] = row
            else:
                out[i, length - n:] = row
    return out


def batch_rows(rows: Sequence[Sequence[int]], pad_id: int, *, side: str = "right") -> dict[str, Any]:
    """``{"input_ids", "attention_mask"}`` of token rows padded to the longest."""
    ids = pad_rows(rows, pad_id, side=side)
    mask = pad_rows([[1] * len(r) for r in rows], 0, length=ids.shape[1], side=side)
    return {"input_ids": ids, "attention_mask": mask}
