"""The one device check: a device name (or index) to a ``torch.device`` this machine can run on.

Every entry point uses it (the pipelines, pretraining, fine-tuning and every ``rpln`` command), so
``--device tpu``, ``--device meta`` or ``--device cuda`` without a GPU fail the same way everywhere:
a ``ValueError`` naming the device and what would work, before any model is loaded.
"""

from __future__ import annotations

from typing import Any

import torch

KINDS = ("cpu", "cuda", "mps")
HINT = "use cpu, cuda, cuda:N or mps"


def resolve_device(device: Any) -> torch.device:
    """None or -1 → the CPU; an int → that CUDA device; a name or ``torch.device`` → itself, once checked.

    Raises:
        ValueError: For a name torch does not know, a device that does not compute (``meta``), a kind
            this library does not run on, or one this machine lacks (no CUDA GPU, ``cuda:3`` with one GPU,
            no MPS).
    """
    if device is None or (isinstance(device, int) and not isinstance(device, bool) and device < 0):
        return torch.device("cpu")
    if isinstance(device, int) and not isinstance(device, bool):
        device = torch.device("cuda", device)
    try:
        dev = device if isinstance(device, torch.device) else torch.device(str(device).strip())
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"unknown device {device!r}: {HINT}") from None
    if dev.type == "meta":
        raise ValueError(f"device {str(dev)!r} holds no data and cannot run a model: {HINT}")
    if dev.type not in KINDS:
        raise ValueError(f"device {str(dev)!r} is not supported: {HINT}")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {str(dev)!r}: no CUDA GPU is available on this machine (or this torch "
                             f"build has no CUDA); use cpu")
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise ValueError(f"device {str(dev)!r}: this machine has {count} CUDA device(s), "
                             f"cuda:0 to cuda:{count - 1}")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"device {str(dev)!r}: MPS (Apple GPUs) is not available on this machine; use cpu")
    return dev


def default_device() -> torch.device:
    """The first CUDA GPU when there is one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
