"""Range checks of model inputs on numpy arrays, for the families whose arrays convert to numpy
(Flax; the PyTorch family checks its tensors in ``torch/modeling.py`` with the same messages)."""

from __future__ import annotations

from typing import Any

import numpy as np


def check_id_ranges(config: Any, input_ids: np.ndarray | None, token_type_ids: np.ndarray | None,
                    position_ids: np.ndarray | None, total_length: int) -> None:
    """Ids that would index outside an embedding table raise here, naming the table.

    Args:
        config: The model config.
        input_ids, token_type_ids, position_ids: Integer arrays (None: not checked).
        total_length: Cached plus new positions (relative positions allow ``max_position_embeddings``).

    Raises:
        ValueError: Naming the first input out of range.
    """
    for name, ids, size, what in (("input_ids", input_ids, config.vocab_size, "token id"),
                                  ("token_type_ids", token_type_ids, config.type_vocab_size, "type")):
        if ids is not None and ids.size:
            low, high = int(ids.min()), int(ids.max())
            if low < 0 or high >= size:
                field = "vocab_size" if name == "input_ids" else "type_vocab_size"
                raise ValueError(f"{name} holds {what} {low if low < 0 else high}, outside [0, {field}={size})")
    rows = config.max_position_embeddings
    if config.position_embedding_type == "absolute":
        if position_ids is not None and position_ids.size:
            low, high = int(position_ids.min()), int(position_ids.max())
            if low < 0 or high >= rows:
                raise ValueError(
                    f"position id {high if high >= rows else low} is outside the position table "
                    f"[0, max_position_embeddings={rows}); the model takes at most "
                    f"{rows - (config.pad_token_id or 0) - 1} tokens"
                )
    elif total_length > rows:
        raise ValueError(f"sequence of {total_length} tokens is longer than max_position_embeddings={rows} "
                         "allows for relative positions")
