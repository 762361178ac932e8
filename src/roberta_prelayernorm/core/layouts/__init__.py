"""Foreign weight layouts: one declarative table per format, PyTorch (Hugging Face) key ↔ foreign key.

A table is a list of :class:`Rule`, tried in order; the first whose pattern matches a key renames it.
A pattern is a key with placeholders: ``{i}`` matches a number, any other ``{name}`` one or more
characters. Each rule names the transform that turns the PyTorch tensor into the foreign one
(``"transpose"`` for 2-D dense kernels); the reverse direction applies its inverse. Tables hold names
only, never code: the framework packages read them (``tf/``, ``flax/``, the fairseq converter).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

TRANSFORMS = ("none", "transpose")


@dataclass(frozen=True)
class Rule:
    """``pt`` ↔ ``foreign``, with the transform from the PyTorch tensor to the foreign one."""

    pt: str
    foreign: str
    transform: str = "none"
    _pt_re: re.Pattern = field(init=False, repr=False, compare=False)
    _foreign_re: re.Pattern = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.transform not in TRANSFORMS:
            raise ValueError(f"unknown transform {self.transform!r}; known: {TRANSFORMS}")
        object.__setattr__(self, "_pt_re", _compile(self.pt))
        object.__setattr__(self, "_foreign_re", _compile(self.foreign))

    def to_foreign(self, key: str) -> str | None:
        match = self._pt_re.fullmatch(key)
        return self.foreign.format(**match.groupdict()) if match else None

    def to_pt(self, key: str) -> str | None:
        match = self._foreign_re.fullmatch(key)
        return self.pt.format(**match.groupdict()) if match else None


def _compile(template: str) -> re.Pattern:
    parts = re.split(r"(\{\w+\})", template)
    regex = "".join(
        (r"(?P<i>\d+)" if p == "{i}" else f"(?P<{p[1:-1]}>.+?)") if p.startswith("{") else re.escape(p)
        for p in parts
    )
    return re.compile(regex)


def to_foreign(table: Sequence[Rule], key: str) -> tuple[str, str]:
    """``(foreign key, transform)`` of a PyTorch key.

    Raises:
        KeyError: If no rule of the table matches.
    """
    for rule in table:
        name = rule.to_foreign(key)
        if name is not None:
            return name, rule.transform
    raise KeyError(f"no rule of the table maps the PyTorch key {key!r}")


def to_pt(table: Sequence[Rule], key: str) -> tuple[str, str]:
    """``(PyTorch key, transform)`` of a foreign key; the transform is the one to undo."""
    for rule in table:
        name = rule.to_pt(key)
        if name is not None:
            return name, rule.transform
    raise KeyError(f"no rule of the table maps the key {key!r}")


def apply(array: Any, transform: str) -> np.ndarray:
    """PyTorch tensor (as numpy) → foreign array."""
    array = np.asarray(array)
    return np.ascontiguousarray(array.T) if transform == "transpose" else array


def undo(array: Any, transform: str) -> np.ndarray:
    """Foreign array → PyTorch tensor (as numpy). Every transform here is its own inverse."""
    return apply(array, transform)
