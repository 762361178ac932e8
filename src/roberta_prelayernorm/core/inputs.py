"""Range checks of model inputs, written once for every family: each family reads the smallest and largest
value of its arrays (PyTorch in its one synchronisation, TF eagerly, Flax on numpy) and hands them here."""

from __future__ import annotations

from typing import Any


def check_ranges(config: Any, got: dict[str, list[int]], total_length: int,
                 label_classes: int | None = None) -> None:
    """Raise for values that would index outside a table, naming the input and the table.

    Args:
        config: The model config.
        got: ``[low, high]`` of ``"ids"``, ``"types"``, ``"positions"`` (absolute positions only) and
            ``"labels"`` (class ids, -100 left out) as far as they were given; ``"binary": [0 or 1]``, whether
            an integer mask holds only 0 and 1.
        total_length: Cached plus new positions (relative positions allow ``max_position_embeddings``).
        label_classes: The number of classes the labels index.

    Raises:
        ValueError: Naming the first input out of range.
    """
    if "ids" in got:
        low, high = got["ids"]
        if low < 0 or high >= config.vocab_size:
            raise ValueError(f"input_ids holds token id {low if low < 0 else high}, outside "
                             f"[0, vocab_size={config.vocab_size})")
    if "types" in got:
        low, high = got["types"]
        if low < 0 or high >= config.type_vocab_size:
            raise ValueError(f"token_type_ids holds type {low if low < 0 else high}, outside "
                             f"[0, type_vocab_size={config.type_vocab_size})")
    rows = config.max_position_embeddings
    if config.position_embedding_type == "absolute":
        if "positions" in got:
            low, high = got["positions"]
            if low < 0 or high >= rows:
                raise ValueError(f"position id {high if high >= rows else low} is outside the position table "
                                 f"[0, max_position_embeddings={rows}); the model takes at most "
                                 f"{config.max_input_length} tokens")
    elif total_length > rows:
        raise ValueError(f"sequence of {total_length} tokens is longer than max_position_embeddings={rows} "
                         "allows for relative positions")
    if "labels" in got and label_classes is not None:
        low, high = got["labels"]
        if low < 0 or high >= label_classes:
            raise ValueError(f"labels holds class {low if low < 0 else high}, outside [0, {label_classes}) "
                             "(use -100 to ignore a position)")
    if "binary" in got and not got["binary"][0]:
        raise ValueError("attention_mask holds values other than 0 and 1: an integer or bool mask marks tokens "
                         "with 1 and padding with 0 (a float mask is added to the attention scores as given)")


def check_id_ranges(config: Any, input_ids: Any, token_type_ids: Any, position_ids: Any, total_length: int) -> None:
    """:func:`check_ranges` of numpy arrays (None or empty: not checked)."""
    got = {name: [int(a.min()), int(a.max())]
           for name, a in (("ids", input_ids), ("types", token_type_ids), ("positions", position_ids))
           if a is not None and a.size}
    check_ranges(config, got, total_length)
