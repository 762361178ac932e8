"""Foreign weight layouts: one declarative table per format, PyTorch (Hugging Face) key ↔ foreign key.

A table is a list of :class:`Rule`, tried in order; the first whose pattern matches a key renames it.
A pattern is a key with placeholders: ``{i}`` matches a number, any other ``{name}`` one or more
characters. Each rule names the transform that turns the PyTorch tensor into the foreign one
(``"transpose"`` for 2-D dense kernels); the reverse direction applies its inverse. Tables hold names
only, never code: the framework packages read them (``tf/``, ``flax/``, the fairseq converter).

A foreign tensor that fuses several PyTorch tensors (fairseq's DeepSpeed kernels keep q, k and v as one
``attn_qkvw``) is one rule with the transform ``"split"``: its ``pt`` pattern has a ``{part}``
placeholder and ``parts`` lists the values it takes, in the order the pieces are concatenated on
dim 0. :func:`to_pt_state` and :func:`to_foreign_state` convert whole state dicts, split rules included.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Mapping, Sequence

import numpy as np

TRANSFORMS = ("none", "transpose", "split")


@dataclass(frozen=True)
class Rule:
    """``pt`` ↔ ``foreign``, with the transform from the PyTorch tensor to the foreign one."""

    pt: str
    foreign: str
    transform: str = "none"
    parts: tuple[str, ...] = ()  # "split" only: the values of {part} in pt, in the foreign tensor's order
    _pt_re: re.Pattern = field(init=False, repr=False, compare=False)
    _foreign_re: re.Pattern = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.transform not in TRANSFORMS:
            raise ValueError(f"unknown transform {self.transform!r}; known: {TRANSFORMS}")
        if (self.transform == "split") != bool(self.parts) or (self.parts and "{part}" not in self.pt):
            raise ValueError(f"rule {self.pt!r}: the transform 'split' goes with parts=(...) and a {{part}} "
                             "placeholder in pt, and only with them")
        object.__setattr__(self, "_pt_re", _compile(self.pt, self.parts))
        object.__setattr__(self, "_foreign_re", _compile(self.foreign))

    def to_foreign(self, key: str) -> str | None:
        match = self._pt_re.fullmatch(key)
        return self.foreign.format(**match.groupdict()) if match else None

    def to_pt(self, key: str) -> str | None:
        """The PyTorch key of a foreign key (None: no match). A split rule has several: see ``to_pt_keys``."""
        match = self._foreign_re.fullmatch(key)
        if match and self.parts:
            raise ValueError(f"{key!r} splits into {len(self.parts)} PyTorch keys: use to_pt_keys or to_pt_state")
        return self.pt.format(**match.groupdict()) if match else None

    def to_pt_keys(self, key: str) -> list[str] | None:
        """The PyTorch keys of a foreign key, one per part (one for rules that do not split)."""
        match = self._foreign_re.fullmatch(key)
        if not match:
            return None
        if not self.parts:
            return [self.pt.format(**match.groupdict())]
        return [self.pt.format(**{**match.groupdict(), "part": part}) for part in self.parts]

    def part_of(self, key: str) -> int:
        """Index of a PyTorch key's piece in the foreign tensor (0 for rules that do not split)."""
        match = self._pt_re.fullmatch(key)
        return self.parts.index(match["part"]) if match and self.parts else 0


def _compile(template: str, parts: Sequence[str] = ()) -> re.Pattern:
    pieces = re.split(r"(\{\w+\})", template)

    def group(p: str) -> str:
        if p == "{i}":
            return r"(?P<i>\d+)"
        if p == "{part}" and parts:
            return "(?P<part>" + "|".join(map(re.escape, parts)) + ")"
        return f"(?P<{p[1:-1]}>.+?)"

    return re.compile("".join(group(p) if p.startswith("{") else re.escape(p) for p in pieces))


@lru_cache(maxsize=None)
def _pattern(template: str) -> re.Pattern:
    return _compile(template)


def matches(template: str, key: str) -> bool:
    """Whether ``key`` fits a pattern with placeholders (``"layers.{i}.in_proj_weight"``)."""
    return _pattern(template).fullmatch(key) is not None


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
    """Foreign array → PyTorch tensor (as numpy). Every 1:1 transform here is its own inverse."""
    return apply(array, transform)


def to_pt_state(table: Sequence[Rule], foreign: Mapping[str, Any], *, ignore: Sequence[str] = ()
                ) -> tuple[dict[str, Any], list[str]]:
    """A PyTorch state dict from a foreign one: ``(state, foreign keys no rule maps)``.

    Keys that fit a pattern of ``ignore`` are left out. "none" keeps the array object as it is (a torch
    tensor stays one, in its dtype); "split" cuts it into equal pieces on dim 0 (views); "transpose"
    gives numpy.

    Raises:
        ValueError: If a split tensor's first dimension does not divide into its parts, or two foreign
            keys map to the same PyTorch key.
    """
    state: dict[str, Any] = {}
    unmatched: list[str] = []
    for key, array in foreign.items():
        if any(matches(pattern, key) for pattern in ignore):
            continue
        found = next(((rule, names) for rule in table if (names := rule.to_pt_keys(key)) is not None), None)
        if found is None:
            unmatched.append(key)
            continue
        rule, names = found
        if rule.transform == "split":
            if array.shape[0] % len(names):
                raise ValueError(f"{key} has {array.shape[0]} rows, which do not split into {len(names)} equal parts")
            size = array.shape[0] // len(names)
            pieces = [array[k * size:(k + 1) * size] for k in range(len(names))]
        else:
            pieces = [array if rule.transform == "none" else undo(array, rule.transform)]
        for name, piece in zip(names, pieces):
            if name in state:
                raise ValueError(f"two keys of the checkpoint map to {name!r} (the second is {key!r})")
            state[name] = piece
    return state, unmatched


def to_foreign_state(table: Sequence[Rule], state: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """A foreign state dict (numpy) from a PyTorch one; the pieces of a split rule are concatenated.

    Raises:
        KeyError: If no rule maps a key, or a split tensor lacks one of its parts.
    """
    out: dict[str, np.ndarray] = {}
    pieces: dict[str, tuple[Rule, dict[int, np.ndarray]]] = {}
    for key, array in state.items():
        rule = next((r for r in table if r.to_foreign(key) is not None), None)
        if rule is None:
            raise KeyError(f"no rule of the table maps the PyTorch key {key!r}")
        name = rule.to_foreign(key)
        if rule.transform == "split":
            pieces.setdefault(name, (rule, {}))[1][rule.part_of(key)] = np.asarray(array)
        else:
            out[name] = apply(array, rule.transform)
    for name, (rule, parts) in pieces.items():
        if len(parts) != len(rule.parts):
            missing = [p for k, p in enumerate(rule.parts) if k not in parts]
            raise KeyError(f"{name} needs the parts {missing} too")
        out[name] = np.concatenate([parts[k] for k in range(len(rule.parts))], axis=0)
    return out
