"""Shared pieces of the Flax tests: full fp32 matmuls, our PyTorch model and the same weights in Flax.

Importing this module skips the test module when jax or flax is not installed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

# XLA compiles every new input shape; for these tiny models the compile is most of the time, and the
# backend's optimisation passes half of it (the numbers do not change). Set before the backend starts.
_FAST_COMPILE = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_FAST_COMPILE}".strip()

jax = pytest.importorskip("jax")
pytest.importorskip("flax")
jax.config.update("jax_default_matmul_precision", "highest")  # XLA may otherwise use bf16 passes for fp32

import roberta_prelayernorm as rp  # noqa: E402
from model_helpers import batch, perturb, tiny  # noqa: E402

ATOL = 1e-5


def torch_model(name: str, seed: int = 0, **config: Any) -> torch.nn.Module:
    """Our PyTorch class with perturbed random weights (every LayerNorm and bias non-trivial), in eval mode."""
    torch.manual_seed(seed)
    return perturb(getattr(rp, name)(rp.RobertaPreLayerNormConfig(**tiny(**config))), seed).eval()


def pair(name: str, folder: Path, seed: int = 0, **config: Any) -> tuple[torch.nn.Module, Any]:
    """``(PyTorch model, Flax model)`` with the same weights: the Flax one loads the PyTorch folder."""
    pt = torch_model(name, seed, **config)
    pt.save_pretrained(folder)
    return pt, getattr(rp, "Flax" + name).from_pretrained(folder)


def inputs_for(name: str, seed: int = 0) -> dict[str, np.ndarray]:
    """A right-padded batch with token types; (batch, choices, length) for multiple choice."""
    if name.endswith("MultipleChoice"):
        ids, mask = batch(6, 9, seed=seed)
        types = (torch.arange(9) > 4).long().expand(6, 9)
        return {"input_ids": ids.view(2, 3, 9).numpy(), "attention_mask": mask.view(2, 3, 9).numpy(),
                "token_type_ids": types.reshape(2, 3, 9).numpy()}
    ids, mask = batch(3, 9, seed=seed)
    return {"input_ids": ids.numpy(), "attention_mask": mask.numpy(),
            "token_type_ids": (torch.arange(9) > 4).long().expand(3, 9).numpy()}


def at_real_tokens(x: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """The rows of a per-token array (B, L, ...) at real tokens; other arrays unchanged."""
    x = np.asarray(x)
    if mask is None:
        return x
    mask = mask.reshape(-1, mask.shape[-1]).astype(bool)
    if x.ndim >= 2 and tuple(x.shape[:2]) == tuple(mask.shape):
        return x[mask]
    return x


def max_diff(ours: Any, ref: Any, mask: np.ndarray | None = None, skip: tuple[str, ...] = ("loss", "past_key_values")
             ) -> float:
    """Largest |ours - ref| over every field ours returns (at real tokens if ``mask``); fields must match."""
    keys = [k for k in ours.keys() if k not in skip]
    assert keys and keys == [k for k in ref.keys() if k not in skip], (list(ours.keys()), list(ref.keys()))
    worst = 0.0
    for key in keys:
        a, b = ours[key], ref[key]
        pairs = list(zip(a, b)) if isinstance(a, tuple) else [(a, b)]
        if isinstance(a, tuple):
            assert len(a) == len(b), key
        for x, y in pairs:
            y = y.detach().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
            x, y = at_real_tokens(x, mask), at_real_tokens(y, mask)
            assert x.shape == y.shape, (key, x.shape, y.shape)
            worst = max(worst, float(np.abs(x.astype(np.float64) - y).max()))
    return worst


def to_torch(inputs: dict[str, Any]) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(np.asarray(v)) if v is not None else None for k, v in inputs.items()}
