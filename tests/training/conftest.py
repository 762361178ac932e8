"""Fixtures of the training tests (helpers live in ``training_helpers.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from training_helpers import write_corpus


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return write_corpus(tmp_path / "corpus.txt")


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run far faster on one thread, above all on a busy machine."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
