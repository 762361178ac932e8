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

import torch

from .base import Pipeline, default_model_path, load_model, resolve_device, resolve_dtype

__all__ = ["pipeline", "Pipeline", "TASKS", "default_model_path"]

# task → (module, class)
TASKS: dict[str, tuple[str, str]] = {
    "fill-mask": ("fill_mask", "FillMaskPipeline"),
    "feature-extraction": ("feature_extraction", "FeatureExtractionPipeline"),
    "text-classification": ("text_classification", "TextClassificationPipeline"),
    "token-classification": ("token_classification", "TokenClassificationPipeline"),
    "question-answering": ("question_answering", "QuestionAnsweringPipeline"),
    "text-generation": ("text_generation", "TextGenerationPipeline"),
}
ALIASES = {"sentiment-analysis": "text-classification", "ner": "token-classification",
           "embeddings": "feature-extraction", "qa": "question-answering"}
# the task a checkpoint's saved class is made for (used when no task is given)
ARCHITECTURE_TASKS = {
    "RobertaPreLayerNormForMaskedLM": "fill-mask",
    "RobertaPreLayerNormModel": "feature-extraction",
    "RobertaPreLayerNormForSequenceClassification": "text-classification",
    "RobertaPreLayerNormForTokenClassification": "token-classification",
    "RobertaPreLayerNormForQuestionAnswering": "question-answering",
    "RobertaPreLayerNormForCausalLM": "text-generation",
}


def task_class(task: str) -> type[Pipeline]:
    """The pipeline class of a task name or alias.

    Raises:
        KeyError: For an unknown task, listing the known ones.
    """
    name = ALIASES.get(task, task)
    if name not in TASKS:
        raise KeyError(f"unknown task {task!r}; tasks: {', '.join(TASKS)} (aliases: {', '.join(ALIASES)})")
    module, cls = TASKS[name]
    return getattr(importlib.import_module(f"{__name__}.{module}"), cls)


def infer_task(model: Any, hub: dict[str, Any]) -> str:
    """The task of a model object (its class) or a checkpoint (``architectures`` in its config)."""
    if isinstance(model, torch.nn.Module):
        names = [type(model).__name__]
    else:
        from ..core.config import RobertaPreLayerNormConfig

        names = RobertaPreLayerNormConfig.from_pretrained(model, **hub).architectures or []
    for name in names:
        if name in ARCHITECTURE_TASKS:
            return ARCHITECTURE_TASKS[name]
    raise ValueError(f"cannot tell the task of {model if isinstance(model, str) else type(model).__name__} "
                     f"(architectures {names}): give it, e.g. pipeline('fill-mask', model=...)")


def pipeline(
    task: str | None = None,
    model: str | os.PathLike | torch.nn.Module | None = None,
    tokenizer: Any = None,
    *,
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
        model: A model folder, a hub id or a model object. None: the installed default model (see
            :func:`~roberta_prelayernorm.pipelines.base.default_model_path`).
        tokenizer: A tokenizer, or a folder / hub id to load one from. None: the model's folder.
        device: ``"cpu"`` (default), ``"cuda"``, ``"cuda:1"``, a CUDA index or a ``torch.device``.
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
    if task is None:
        if model is None:
            raise ValueError("give a task or a model, e.g. pipeline('fill-mask')")
        task = infer_task(os.fspath(model) if isinstance(model, (str, os.PathLike)) else model, hub)
    cls = task_class(task)
    dtype = resolve_dtype(torch_dtype if torch_dtype is not None else dtype)
    from ..torch import modeling
    from ..tokenizer import AutoTokenizer

    if model is None:
        model = default_model_path(ALIASES.get(task, task))
    if isinstance(model, torch.nn.Module):
        if tokenizer is None:
            raise ValueError("with a model object, pass its tokenizer too (tokenizer=... object or folder)")
        if dtype is not None and dtype != "auto":
            model = model.to(dtype)
        path = None
    else:
        path = os.fspath(model)
        model = load_model(getattr(modeling, cls.model_class), path, head_keys=cls.head_keys, task=cls.task,
                           dtype=dtype, hub=hub, **cls.init_kwargs)
    if tokenizer is None:
        tokenizer = path
    if isinstance(tokenizer, (str, os.PathLike)):
        tokenizer = AutoTokenizer.from_pretrained(os.fspath(tokenizer), **{k: v for k, v in hub.items()
                                                                          if v is not None and v is not False})
    pipe = cls(model, tokenizer, device=resolve_device(device), batch_size=batch_size, **parameters)
    pipe.model_path = path
    return pipe
