"""Training checkpoints that survive crashes: written whole into a temporary folder, then renamed.

A checkpoint is a folder ``checkpoints/step-00001000/`` holding

- ``config.json`` + ``model.safetensors`` (+ tokenizer files): an ordinary model folder that
  ``from_pretrained`` and ``transformers`` load;
- ``trainer_state.pt``: optimizer, scheduler, grad scaler, RNG states (of every process) and the data
  position, read back with ``torch.load(weights_only=True)``;
- ``training_config.json``: the settings that must match to resume.

It is written into ``checkpoints/.tmp-…``, flushed to disk and renamed into place in one step; only
then does ``checkpoints/latest`` name it, and only then are checkpoints older than the last ``keep``
removed. A crash or a full disk at any point leaves the previous checkpoint whole and ``latest``
pointing at it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from typing import Any, Callable

import torch

from ..core.errors import CheckpointError
from ..core.files import atomic_write_text, staging_folder

CHECKPOINTS = "checkpoints"
LATEST = "latest"
TRAINER_STATE = "trainer_state.pt"
TRAINING_CONFIG = "training_config.json"
STEP_DIR = re.compile(r"step-(\d+)")


def step_name(step: int) -> str:
    return f"step-{step:08d}"


def is_complete(folder: str) -> bool:
    return all(os.path.isfile(os.path.join(folder, name)) for name in (TRAINER_STATE, TRAINING_CONFIG, "config.json"))


def save_checkpoint(root: str, step: int, write_files: Callable[[str], None], trainer_state: dict[str, Any],
                    training_config: dict[str, Any], *, keep: int = 2) -> str:
    """Write one checkpoint atomically and prune old ones.

    Args:
        root: The ``checkpoints`` folder.
        step: Updates done; names the folder.
        write_files: Writes the model (and tokenizer) files into the folder it is given.
        trainer_state: Optimizer, scheduler, RNG and data position (tensors and plain values only).
        training_config: The settings to compare on resume (JSON).
        keep: How many checkpoints to keep (the newest; at least 1).

    Returns:
        The checkpoint folder.

    Raises:
        CheckpointError: If anything cannot be written; earlier checkpoints are untouched.
    """
    final = os.path.join(root, step_name(step))
    try:
        with staging_folder(final, whole=True, fsync=True) as staging:  # a step written again is swapped out
            write_files(staging)
            torch.save(trainer_state, os.path.join(staging, TRAINER_STATE))
            with open(os.path.join(staging, TRAINING_CONFIG), "w", encoding="utf-8") as f:
                json.dump(training_config, f, indent=2, sort_keys=True)
        atomic_write_text(os.path.join(root, LATEST), step_name(step) + "\n")
    except (OSError, RuntimeError) as e:  # torch.save reports a full disk as RuntimeError
        last = latest_checkpoint(root)
        kept = f"the last good checkpoint, {last}, is intact" if last else "no earlier checkpoint exists"
        reason = getattr(e, "strerror", None) or str(e)
        raise CheckpointError(f"could not write the checkpoint of step {step} to {root}: {reason}; {kept}") from None
    prune(root, keep=max(1, keep), protect=final)
    return final


def prune(root: str, *, keep: int, protect: str) -> None:
    """Remove all but the newest ``keep`` complete checkpoints (never ``protect``), and stale temp folders."""
    steps = list_checkpoints(root)
    for folder in steps[:-keep]:
        if os.path.abspath(folder) != os.path.abspath(protect):
            shutil.rmtree(folder, ignore_errors=True)
    for name in os.listdir(root):
        if name.startswith((".tmp-step-", ".old-step-")):
            shutil.rmtree(os.path.join(root, name), ignore_errors=True)


def list_checkpoints(root: str) -> list[str]:
    """Complete checkpoint folders under ``root``, oldest first."""
    if not os.path.isdir(root):
        return []
    found = []
    for name in os.listdir(root):
        match = STEP_DIR.fullmatch(name)
        if match and is_complete(os.path.join(root, name)):
            found.append((int(match.group(1)), os.path.join(root, name)))
    return [path for _, path in sorted(found)]


def latest_checkpoint(root: str) -> str | None:
    """The folder that ``latest`` names if it is complete, else the newest complete one, else None."""
    try:
        with open(os.path.join(root, LATEST), encoding="utf-8") as f:
            candidate = os.path.join(root, f.read().strip())
        if is_complete(candidate):
            return candidate
    except OSError:
        pass
    found = list_checkpoints(root)
    return found[-1] if found else None


def resolve_resume(resume: bool | str, output_dir: str) -> str:
    """``True`` → the latest checkpoint of ``output_dir``; a path → that checkpoint (or its latest).

    Raises:
        CheckpointError: If there is no complete checkpoint there.
    """
    if resume is True or resume in ("auto", "latest"):
        root = os.path.join(output_dir, CHECKPOINTS)
        found = latest_checkpoint(root)
        if found is None:
            raise CheckpointError(f"nothing to resume: no complete checkpoint in {root}")
        return found
    path = os.fspath(resume)
    if is_complete(path):
        return path
    for root in (path, os.path.join(path, CHECKPOINTS)):
        found = latest_checkpoint(root)
        if found is not None:
            return found
    raise CheckpointError(f"cannot resume from {path}: it is not a complete training checkpoint "
                          f"(expected {TRAINER_STATE}, {TRAINING_CONFIG} and config.json)")


def load_checkpoint(folder: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(trainer state, training config) of a checkpoint folder."""
    try:
        state = torch.load(os.path.join(folder, TRAINER_STATE), map_location="cpu", weights_only=True)
        with open(os.path.join(folder, TRAINING_CONFIG), encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, RuntimeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"cannot read the checkpoint {folder}: {e}") from None
    return state, config


def config_differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Human-readable ``key: checkpoint X, now Y`` for each setting that differs."""
    diffs = []
    for key in sorted(set(saved) | set(current)):
        a, b = saved.get(key), current.get(key)
        if _normalise(a) != _normalise(b):
            diffs.append(f"{key}: checkpoint {a!r}, now {b!r}")
    return diffs


def _normalise(value: Any) -> Any:
    return json.loads(json.dumps(value))
