"""Test-wide settings and fixtures; the shared helpers are in ``model_helpers.py``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach the network
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

# the models in tests are tiny: one thread avoids OpenMP hand-offs that cost more than the work
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def packed_products_at_any_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tiny models would run only plain products (``kernels.MIN_FEATURES``); every test runs the packed
    ones where a real model would, so that the fast path is what the parity tests check.
    ``tests/test_kernels.py`` checks the size rule itself."""
    from roberta_prelayernorm.torch import kernels, precision

    monkeypatch.setattr(kernels, "MIN_FEATURES", 1)
    monkeypatch.setattr(kernels, "_gemm", None)  # the library this CPU gets, unless a test chooses
    monkeypatch.setattr(kernels, "_bf16_compute", None)  # and its bf16 arithmetic
    monkeypatch.setattr(precision, "_int8_engine", None)  # and its int8 engine by rows


@pytest.fixture
def tmp_folder(tmp_path: Path) -> Path:
    return tmp_path / "model"
