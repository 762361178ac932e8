"""ONNX export of any of the seven heads, with dynamic batch and sequence axes, written atomically.

    export_onnx("path/to/model", "model.onnx")                           # the task from the checkpoint
    export_onnx(model, "qa.onnx", task="question-answering", opset=18)  # a model in memory

The graph's inputs are ``input_ids``, ``attention_mask`` and, when ``type_vocab_size > 1``,
``token_type_ids``: int64 of shape (batch, sequence), or (batch, choices, sequence) for multiple choice.
Its outputs are named like the output fields: ``last_hidden_state`` and ``pooler_output``, ``logits``,
or ``start_logits`` and ``end_logits``; optionally ``hidden_states`` and ``attentions``, stacked over
the layers. Position ids are computed inside the graph from ``input_ids``, as in PyTorch.

The graph is traced through the exact path (``set_fast_path(False)``): the fast path packs the real
tokens by the values of the attention mask, which a graph with dynamic shapes cannot do. So the graph
computes padding positions as the reference does; at real tokens it agrees with the fast path.

The graph keeps the model's dtype: fp32, or fp16 (which onnxruntime's CPU provider runs); a bf16
graph is valid ONNX, but onnxruntime's CPU provider has no bf16 kernels. An int8 model does not
export: quantise the fp32 graph with ``onnxruntime.quantization.quantize_dynamic`` instead.

The exporter is ``torch.onnx.export(..., dynamo=True)``, built on ``torch.export``: the default since
torch 2.9, and needs ``onnxscript``. The older TorchScript exporter also handles this model, but it
is deprecated, warns on every call and is due to be removed.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

from ..core import tasks
from ..core.files import staging_folder

if TYPE_CHECKING:  # torch is imported when exporting: the CLI reads TASKS without it
    import torch
    from torch import nn

# task → (model class, graph outputs: the output fields, in order), from the task table
TASKS: dict[str, tuple[str, tuple[str, ...]]] = {
    name: (tasks.class_name(t.head), t.onnx_outputs) for name, t in tasks.TASKS.items()
}
# below 17 ONNX has no LayerNormalization (the version converter fails and the exporter silently keeps
# 18); from 23 the exporter emits ONNX Attention, whose padding mask onnxruntime (1.32) does not broadcast
MIN_OPSET, MAX_OPSET = 17, 22
DEFAULT_OPSET = 20  # torch's own default in 2.13


@dataclass
class OnnxExport:
    """What :func:`export_onnx` wrote."""

    path: Path
    task: str
    opset: int
    input_names: list[str] = field(default_factory=list)
    output_names: list[str] = field(default_factory=list)


def _graph(model: nn.Module, outputs: tuple[str, ...], head_mask: torch.Tensor | None,
           output_hidden_states: bool, output_attentions: bool) -> nn.Module:
    """The traced function: ids and masks in, the task's output fields out, as a flat tuple."""
    import torch

    extra = {"output_hidden_states": output_hidden_states, "output_attentions": output_attentions}
    if "use_cache" in inspect.signature(model.forward).parameters:
        extra["use_cache"] = False

    class Graph(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                    token_type_ids: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
            out = self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                             head_mask=head_mask, return_dict=True, **extra)
            tensors = [getattr(out, name) for name in outputs]
            if output_hidden_states:
                tensors.append(torch.stack(out.hidden_states))  # (layers + 1, batch, sequence, hidden)
            if output_attentions:
                tensors.append(torch.stack(out.attentions))  # (layers, batch, heads, sequence, sequence)
            return tuple(tensors)

    return Graph().eval()


def export_onnx(
    model_or_path: nn.Module | str | os.PathLike,
    output_path: str | os.PathLike,
    *,
    opset: int | None = None,
    task: str | None = None,
    output_hidden_states: bool = False,
    output_attentions: bool = False,
    head_mask: torch.Tensor | None = None,
    use_cache: bool = False,
    progress: Callable[[str], None] | None = None,
) -> OnnxExport:
    """Export a model to an ONNX file with dynamic batch and sequence axes.

    Args:
        model_or_path: One of the seven model classes, or a folder / hub id to load with ``from_pretrained``.
        output_path: The ``.onnx`` file to write. Models over 2 GB keep their weights beside it, in
            ``<name>.data``. Nothing is replaced unless the whole export succeeds.
        opset: ONNX opset, from 17 to 22 (default 20).
        task: One of :data:`TASKS`; by default the model's own (a folder's: its ``architectures``).
        output_hidden_states: Add the output ``hidden_states``: (layers + 1, batch, sequence, hidden).
        output_attentions: Add the output ``attentions``: (layers, batch, heads, sequence, sequence).
        head_mask: A head mask of shape (heads,) or (layers, heads), fixed into the graph as a constant.
        use_cache: Not supported: a decoder's key/value cache is not exported (a ValueError says so).
        progress: Called with a short line as each stage starts (loading, exporting, checking and saving).

    Returns:
        An :class:`OnnxExport` with the path, task, opset and the graph's input and output names.

    Raises:
        ValueError: naming the option, for options the export cannot serve (``use_cache``,
            cross-attention, an int8-quantised model, an opset outside 17-22), an unknown task, or a
            task that does not fit the model.
        ImportError: if ``onnx`` or ``onnxscript`` is missing.
        CheckpointError: (an ``OSError``) if the output cannot be written there; checked first, before
            the export's tens of seconds.
    """
    say = progress or (lambda line: None)
    if use_cache:
        raise ValueError("use_cache=True cannot be exported: the graph has no past_key_values inputs or outputs "
                         "and recomputes the whole sequence on each call")
    opset = DEFAULT_OPSET if opset is None else opset
    if not isinstance(opset, int) or not MIN_OPSET <= opset <= MAX_OPSET:
        raise ValueError(f"opset {opset!r} is not supported: choose {MIN_OPSET} to {MAX_OPSET} (below {MIN_OPSET} "
                         f"ONNX lacks LayerNormalization; from 23 onnxruntime rejects the attention padding mask)")
    if task is not None and task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    output = Path(output_path)
    if output.is_dir():
        raise ValueError(f"output {str(output)!r} is a folder; give the path of the .onnx file to write")
    _check_writable(output)
    import torch

    if isinstance(model_or_path, (str, os.PathLike)):
        onnx = _require_onnx()  # before loading what may be a large checkpoint
        say(f"loading {os.fspath(model_or_path)}")
        model = _load(model_or_path, task)
        task = _check_model(model, task)
    else:
        model = model_or_path
        task = _check_model(model, task)
        onnx = _require_onnx()
    if head_mask is not None:
        model.base_model.layer_head_masks(head_mask)  # raises a ValueError naming head_mask if it does not fit
    outputs = TASKS[task][1]
    if task == "feature-extraction" and model.pooler is None:
        outputs = ("last_hidden_state",)
    output_names = list(outputs) + ["hidden_states"] * output_hidden_states + ["attentions"] * output_attentions

    args, dims = _example_inputs(model, multiple_choice=task == "multiple-choice")
    input_names = list(dims)
    training = model.training
    graph = _graph(model, outputs, head_mask, output_hidden_states, output_attentions)  # in eval mode
    say(f"exporting {type(model).__name__} ({task}, opset {opset}): tracing the graph takes a while")
    try:  # traced with a mask, the model takes the padded layout: the graph serves any mask
        with _quiet_exporter():
            program = torch.onnx.export(graph, args, None, input_names=input_names, output_names=output_names,
                                        dynamic_shapes=dims, opset_version=opset, dynamo=True, verbose=False)
    finally:
        model.train(training)
    written = program.model.opset_imports.get("", None)
    if written != opset:
        raise RuntimeError(f"asked for opset {opset}, but the exporter wrote opset {written}")

    say(f"checking the graph and writing {output}")
    with staging_folder(str(output.parent)) as staging:  # the .onnx (and a .data beside it) appear at once
        staged = os.path.join(staging, output.name)
        program.save(staged)  # weights inline below 2 GB, else in <name>.data beside it
        onnx.checker.check_model(staged)
    return OnnxExport(output, task, opset, input_names, output_names)


def _check_writable(output: Path) -> None:
    """Raises CheckpointError unless the .onnx file can be written: a probe file in its folder (or the
    nearest existing folder above) and beside that folder, where the staging goes."""
    from ..core.errors import CheckpointError

    folder = output.absolute().parent
    for place in (folder, folder.parent):
        existing = place
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir():
            raise CheckpointError(f"cannot write {output}: {existing} is a file, not a folder")
        try:
            fd, probe = tempfile.mkstemp(dir=existing, prefix=".write-test-")
            os.close(fd)
            os.remove(probe)
        except OSError as e:
            raise CheckpointError(f"cannot write {output}: {existing} is not writable ({e.strerror or e})") from None


def _require_onnx():  # noqa: ANN202 - the onnx module
    try:
        import onnx
        import onnxscript  # noqa: F401 - torch's exporter imports it
    except ImportError as e:
        raise ImportError(f"ONNX export needs the packages onnx and onnxscript ({e.name} is missing): "
                          f"pip install 'roberta-prelayernorm[onnx]'") from None
    return onnx


def _load(path: str | os.PathLike, task: str | None) -> nn.Module:
    """A model from a folder or hub id: the task's class, or the checkpoint's ``architectures``."""
    from . import modeling
    from ..core.config import RobertaPreLayerNormConfig

    if task is None:
        config = RobertaPreLayerNormConfig.from_pretrained(os.fspath(path))
        known = {cls for cls, _ in TASKS.values()}
        name = next((a for a in (config.architectures or []) if a in known), "RobertaPreLayerNormModel")
    else:
        name = TASKS[task][0]
    return getattr(modeling, name).from_pretrained(os.fspath(path))


def _check_model(model: nn.Module, task: str | None) -> str:
    """The task of ``model`` (checked against ``task``); refuses what the export cannot serve."""
    from .precision import is_quantized

    by_class = {cls: name for name, (cls, _) in TASKS.items()}
    own = by_class.get(type(model).__name__)
    if own is None or not hasattr(model, "config"):
        raise TypeError(f"export_onnx takes one of the RoBERTa-PreLayerNorm model classes, got {type(model).__name__}")
    if task is not None and task != own:
        raise ValueError(f"task {task!r} needs a {TASKS[task][0]}, but the model is a {type(model).__name__} "
                         f"(task {own!r})")
    if is_quantized(model):
        raise ValueError("an int8 (dynamically quantised) model cannot be exported: export the fp32 model, "
                         "then quantise the ONNX file with onnxruntime.quantization.quantize_dynamic")
    if model.config.add_cross_attention:
        raise ValueError("add_cross_attention=True cannot be exported: the graph has no encoder_hidden_states input")
    return own


def _example_inputs(model: nn.Module, *, multiple_choice: bool) -> tuple[tuple[torch.Tensor, ...], dict]:
    """Inputs to trace with and their dynamic axes: every row padded but the first.

    The sizes differ from each other (batch 2, choices 3, length 8): equal example sizes would let
    ``torch.export`` assume the axes are equal.
    """
    import torch

    config = model.config
    device = next(model.parameters()).device
    pad = config.pad_token_id if config.pad_token_id is not None else 0
    length = 8
    if config.position_embedding_type == "absolute":
        length = max(3, min(length, config.max_input_length))
    shape = (2, 3, length) if multiple_choice else (2, length)
    rows = shape[0] * (shape[1] if multiple_choice else 1)
    ids = torch.arange(rows * length, dtype=torch.long, device=device).remainder(config.vocab_size)
    ids = torch.where(ids == pad, (ids + 1) % config.vocab_size, ids).reshape(rows, length)
    mask = torch.ones(rows, length, dtype=torch.long, device=device)
    ids[1:, length // 2:], mask[1:, length // 2:] = pad, 0
    ids, mask = ids.reshape(shape), mask.reshape(shape)
    batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence")
    axes = {0: batch, 1: torch.export.Dim("choices"), 2: sequence} if multiple_choice else {0: batch, 1: sequence}
    args, dims = (ids, mask), {"input_ids": axes, "attention_mask": axes}
    if config.type_vocab_size > 1:
        args += (torch.zeros_like(ids),)
        dims["token_type_ids"] = axes
    return args, dims


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence the exporter's notices that say nothing about this model's export.

    "torchvision is not installed"; for opset 17, "version conversion may not succeed" (we check the
    opset written); dynamic axes sharing a name; a pytree deprecation.
    """
    names = ("torch.onnx._internal.exporter._registration", "torch.onnx._internal.exporter._compat",
             "onnxscript.version_converter")
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*axis name.*will not be used")
            warnings.filterwarnings("ignore", message=r".*LeafSpec.*")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


__all__ = ["DEFAULT_OPSET", "MAX_OPSET", "MIN_OPSET", "TASKS", "OnnxExport", "export_onnx"]
