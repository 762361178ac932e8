"""Task pipelines: text in, the familiar lists of dicts out (the shapes and keys of the reference's).

    >>> from roberta_prelayernorm.pipelines import pipeline
    >>> fill = pipeline("fill-mask", model="path/or/hub-id")
    >>> fill("The capital of France is <mask>.")        # [{score, token, token_str, sequence}, ...]

Tasks: ``fill-mask``, ``feature-extraction``, ``text-classification`` (alias ``sentiment-analysis``),
``token-classification`` (alias ``ner``), ``question-answering``, ``text-generation``. Each task lives
in its own module, imported when first used.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from ..core import tasks
from .base import Pipeline, default_model_path, load_model, resolve_dtype
from .frameworks import FRAMEWORKS, framework_of

__all__ = ["pipeline", "Pipeline", "TASKS", "default_model_path"]

TASKS = tasks.PIPELINE_TASKS
ALIASES = tasks.ALIASES


def task_class(task: str) -> type[Pipeline]:
    """The pipeline class of a task name or alias.

    Raises:
        KeyError: For an unknown task, listing the known ones.
    """
    spec = tasks.get(task)
    if spec.pipeline is None:
        raise KeyError(f"task {task!r} has no pipeline; tasks: {', '.join(TASKS)} (aliases: {', '.join(ALIASES)})")
    module, cls = spec.pipeline.split(".")
    return getattr(importlib.import_module(f"{__name__}.{module}"), cls)


def infer_task(model: Any, hub: dict[str, Any]) -> str:
    """The task of a model object (its class) or a checkpoint (``architectures`` in its config)."""
    if not isinstance(model, str):
        names = [type(model).__name__]
    else:
        from ..core.config import RobertaPreLayerNormConfig

        names = RobertaPreLayerNormConfig.from_pretrained(model, **hub).architectures or []
    for name in names:
        spec = tasks.for_architecture(name)
        if spec is not None:
            return spec.name
    raise ValueError(f"cannot tell the task of {model if isinstance(model, str) else type(model).__name__} "
                     f"(architectures {names}): give it, e.g. pipeline('fill-mask', model=...)")


def pipeline(
    task: str | None = None,
    model: Any = None,
    tokenizer: Any = None,
    *,
    framework: str | None = None,
    device: Any = None,
    dtype: Any = None,
    torch_dtype: Any = None,
    batch_size: int = 8,
    revision: str | None = None,
    token: str | bool | None = None,
    cache_dir: str | os.PathLike | None = None,
    local_files_only: bool = False,
    **parameters: Any,
) -> Pipeline:
    """Build the pipeline of a task.

    Args:
        task: ``"fill-mask"``, ``"feature-extraction"``, ``"text-classification"``,
            ``"token-classification"``, ``"question-answering"`` or ``"text-generation"`` (or an alias).
            None: the task the checkpoint was saved for (its ``architectures``).
        model: A model folder, a hub id or a model object of any of the three frameworks. None: the
            installed default model (see :func:`~roberta_prelayernorm.pipelines.base.default_model_path`).
        tokenizer: A tokenizer, or a folder / hub id to load one from. None: the model's folder.
        framework: ``"pt"`` (default), ``"tf"`` or ``"flax"``: which family loads a folder or hub id.
        device: For PyTorch: ``"cpu"`` (default), ``"cuda"``, ``"cuda:1"``, a CUDA index or a ``torch.device``.
        dtype: ``"float32"`` (default), ``"float16"``, ``"bfloat16"`` or ``"auto"`` (the checkpoint's).
        torch_dtype: Alias of ``dtype``.
        batch_size: Inputs per forward pass (inputs are sorted by length first).
        revision, token, cache_dir, local_files_only: For hub ids (``huggingface_hub``).
        **parameters: Defaults of the task's call parameters, e.g. ``top_k=3``.

    Returns:
        The pipeline: call it on a text or a list of texts.

    Raises:
        KeyError: For an unknown task. ``ValueError`` for a model whose head does not fit the task.
        OSError: For a folder or hub id that cannot be read (offline and not cached, say).
    """
    hub = {"revision": revision, "token": token, "cache_dir": cache_dir, "local_files_only": local_files_only}
    if framework is not None and framework not in FRAMEWORKS:
        raise ValueError(f"framework must be one of {FRAMEWORKS}, got {framework!r}")
    if task is None:
        if model is None:
            raise ValueError("give a task or a model, e.g. pipeline('fill-mask')")
        task = infer_task(os.fspath(model) if isinstance(model, (str, os.PathLike)) else model, hub)
    cls = task_class(task)
    dtype = resolve_dtype(torch_dtype if torch_dtype is not None else dtype)
    from ..tokenizer import AutoTokenizer

    if model is None:
        model = default_model_path(tasks.get(task).name)
    if not isinstance(model, (str, os.PathLike)):
        if tokenizer is None:
            raise ValueError("with a model object, pass its tokenizer too (tokenizer=... object or folder)")
        if framework is not None and framework != framework_of(model):
            raise ValueError(f"framework={framework!r}, but the model is a {framework_of(model)} model")
        path = None
    else:
        path = os.fspath(model)
        model = load_model(cls.task, path, framework=framework or "pt", dtype=dtype, hub=hub)
        dtype = None  # loaded in it
    if tokenizer is None:
        tokenizer = path
    if isinstance(tokenizer, (str, os.PathLike)):
        tokenizer = AutoTokenizer.from_pretrained(os.fspath(tokenizer), **{k: v for k, v in hub.items()
                                                                          if v is not None and v is not False})
    pipe = cls(model, tokenizer, device=device, batch_size=batch_size, dtype=dtype, **parameters)
    pipe.model_path = path
    return pipe
