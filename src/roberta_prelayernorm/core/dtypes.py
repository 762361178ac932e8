"""Floating-point dtype names, read once for every framework: ``"bf16"``, ``"bfloat16"``,
``torch.bfloat16``, ``jnp.bfloat16`` and ``np.float16`` all have one canonical name."""

from __future__ import annotations

from typing import Any

NAMES = ("float32", "float16", "bfloat16")
ALIASES = {"fp32": "float32", "float": "float32", "single": "float32", "fp16": "float16", "half": "float16",
           "bf16": "bfloat16"}


def dtype_name(dtype: Any) -> str:
    """The canonical name (``"float32"``, ``"float16"`` or ``"bfloat16"``) of a dtype or its name.

    Raises:
        ValueError: For anything else, naming the accepted values.
    """
    if isinstance(dtype, type):  # np.float16, jnp.bfloat16: scalar types
        import numpy as np

        try:
            dtype = np.dtype(dtype)
        except TypeError:
            pass
    text = getattr(dtype, "name", None) if not isinstance(dtype, str) else dtype  # numpy / jax dtypes
    if not isinstance(text, str):
        text = str(dtype)  # torch.float16, tf.float16 (whose .name is "float16" anyway)
    key = str(text).lower().removeprefix("torch.").removeprefix("<dtype: '").removesuffix("'>")
    name = ALIASES.get(key, key)
    if name not in NAMES:
        raise ValueError(f"unknown dtype {dtype!r}: use float32, float16 or bfloat16 (or fp32, fp16, bf16)")
    return name
