"""The on-disk format of tests/golden/, shared by its writer and its reader.

Writer: ``tests/reference/make_golden.py`` (runs under transformers 4.37.2).
Reader: ``tests/test_golden.py`` (runs our library, or transformers as a self-check).

Each case folder holds ``config.json`` + ``model.safetensors`` (a ``save_pretrained`` folder),
``case.json`` (model class, constructor kwargs, the forward calls and their non-tensor options) and
``io.safetensors``, where every tensor is named ``<call>.in.<argument>`` (a forward input) or
``<call>.out.<field>[.<i>[.<j>]]`` (an output field; tuples are flattened by index, so
``step1.out.past_key_values.0.1`` is layer 0's cached value tensor).

Only ``torch`` is imported here, so both environments can load this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

CASE_FILE = "case.json"
IO_FILE = "io.safetensors"
INDEX_FILE = "cases.json"
REQUIRED_FILES = (CASE_FILE, "config.json", "model.safetensors", IO_FILE)
ATOL = 1e-5  # max abs diff allowed between fp32 implementations


def input_prefix(call: str) -> str:
    """Prefix of the names of one call's input tensors."""
    return f"{call}.in."


def output_prefix(call: str) -> str:
    """Prefix of the names of one call's output tensors."""
    return f"{call}.out."


def flatten(name: str, value: Any) -> dict[str, torch.Tensor]:
    """Flattens a tensor or a nested tuple of tensors into ``{name[.i[.j]]: tensor}``; None gives {}."""
    if value is None:
        return {}
    if isinstance(value, torch.Tensor):
        return {name: value}
    if isinstance(value, (tuple, list)):
        flat: dict[str, torch.Tensor] = {}
        for i, item in enumerate(value):
            flat.update(flatten(f"{name}.{i}", item))
        return flat
    raise TypeError(f"{name}: cannot flatten a {type(value).__name__}")


def identical(a: Any, b: Any) -> bool:
    """Whether two tensors, or nested tuples of tensors, are exactly equal."""
    flat_a, flat_b = flatten("x", a), flatten("x", b)
    return flat_a.keys() == flat_b.keys() and all(torch.equal(flat_a[k], flat_b[k]) for k in flat_a)


def flatten_output(call: str, output: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Flattens every non-None field of a model output (a ``ModelOutput``-like mapping)."""
    flat: dict[str, torch.Tensor] = {}
    for field, value in output.items():
        flat.update(flatten(output_prefix(call) + field, value))
    return flat


def select(tensors: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The tensors whose names start with ``prefix``, with the prefix removed."""
    return {name[len(prefix) :]: t for name, t in tensors.items() if name.startswith(prefix)}


def nest_past(tensors: Mapping[str, torch.Tensor], call: str) -> tuple[tuple[torch.Tensor, ...], ...]:
    """Rebuilds a call's ``past_key_values`` (one tuple per layer) from its flattened output."""
    flat = select(tensors, output_prefix(call) + "past_key_values.")
    if not flat:
        raise KeyError(f"call {call!r} recorded no past_key_values")
    index = {tuple(int(part) for part in name.split(".")): t for name, t in flat.items()}
    layers = 1 + max(layer for layer, _ in index)
    return tuple(
        tuple(index[(layer, j)] for j in range(1 + max(j for ly, j in index if ly == layer)))
        for layer in range(layers)
    )


def incremental_max_diff(
    step_logits: torch.Tensor, full_logits: torch.Tensor, full_mask: torch.Tensor, start: int
) -> float:
    """Max abs diff between a decoding step's logits and the full run's logits at the same positions.

    Only attended positions (``full_mask == 1``) count: logits at padding are not meaningful.
    """
    length = step_logits.shape[1]
    reference = full_logits[:, start : start + length]
    attended = full_mask[:, start : start + length].bool()
    return (step_logits - reference).abs()[attended].max().item()
