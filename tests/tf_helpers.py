"""Helpers of the TF tests: the same random weights in our PyTorch and our TF classes, and comparisons.

The PyTorch model (perturbed, so a misplaced LayerNorm or bias shows) is saved as safetensors and loaded by
the TF class's ``from_pretrained``, the path users take; the two are then compared on real tokens.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

tf = pytest.importorskip("tensorflow", minversion="2.16")

from model_helpers import perturb, tiny  # noqa: E402

import roberta_prelayernorm as rp  # noqa: E402

try:  # tiny models: one thread each is faster than two on a busy 2-core machine
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
except RuntimeError:  # TensorFlow was initialised already
    pass

HEADS = ["Model", "ForCausalLM", "ForMaskedLM", "ForSequenceClassification", "ForMultipleChoice",
         "ForTokenClassification", "ForQuestionAnswering"]
HEAD_CONFIG: dict[str, dict[str, Any]] = {"ForCausalLM": {"is_decoder": True},
                                          "ForSequenceClassification": {"num_labels": 3},
                                          "ForTokenClassification": {"num_labels": 5}}
ATOL = 1e-5


def pt_model(head: str, seed: int = 0, **config: Any) -> torch.nn.Module:
    """Our PyTorch class with perturbed random weights, in eval mode."""
    torch.manual_seed(seed)
    cfg = rp.RobertaPreLayerNormConfig(**tiny(**{**HEAD_CONFIG.get(head, {}), **config}))
    return perturb(getattr(rp, f"RobertaPreLayerNorm{head}")(cfg), seed).eval()


def pair(folder: Path, head: str, seed: int = 0, **config: Any) -> tuple[torch.nn.Module, Any]:
    """(PyTorch model, TF model with the same weights, loaded from the PyTorch folder)."""
    model = pt_model(head, seed, **config)
    model.save_pretrained(folder)
    return model, getattr(rp, f"TFRobertaPreLayerNorm{head}").from_pretrained(folder)


def to_torch(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, (tuple, list)):
        return type(value)(to_torch(v) for v in value)
    array = np.asarray(value)
    return torch.from_numpy(array.astype(np.int64) if array.dtype.kind in "iu" else array.copy())


def numpy(value: Any) -> np.ndarray:
    return value.numpy() if hasattr(value, "numpy") else np.asarray(value)


def max_diff(ours: Any, theirs: Any, rows: np.ndarray | None = None) -> float:
    """Max abs difference; ``rows``: a boolean mask of the leading dims where both are meaningful."""
    a, b = numpy(ours).astype(np.float64), numpy(theirs).astype(np.float64)
    assert a.shape == b.shape, f"shape {a.shape} != {b.shape}"
    if rows is not None:
        a, b = a[rows], b[rows]
    return float(np.abs(a - b).max()) if a.size else 0.0


def batch(batch_size: int = 3, length: int = 9, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random ids with <s>=0 ... </s>=2 and right padding of varying length (as model_helpers.batch)."""
    from model_helpers import batch as torch_batch

    ids, mask = torch_batch(batch_size, length, seed=seed)
    return ids.numpy().astype(np.int32), mask.numpy().astype(np.int32)
