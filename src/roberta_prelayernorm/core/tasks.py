"""The one task table: task ↔ head class ↔ pipeline ↔ ONNX outputs ↔ fine-tuning task ↔ CLI command.

Class names are framework-neutral suffixes: ``"ForMaskedLM"`` is ``RobertaPreLayerNormForMaskedLM`` in
PyTorch, ``TFRobertaPreLayerNormForMaskedLM`` in TensorFlow and ``FlaxRobertaPreLayerNormForMaskedLM``
in Flax (see :func:`class_name`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

FRAMEWORK_PREFIXES = {"pt": "", "tf": "TF", "flax": "Flax"}


@dataclass(frozen=True)
class Task:
    """One task and everything that serves it."""

    name: str
    head: str  # class name suffix after "RobertaPreLayerNorm": "Model", "ForMaskedLM", ...
    head_keys: tuple[str, ...] = ()  # state-dict prefixes of the head (a checkpoint for the task has them)
    pipeline: str | None = None  # "module.Class" in roberta_prelayernorm.pipelines
    pipeline_kwargs: dict[str, Any] = field(default_factory=dict)  # constructor arguments when a pipeline loads it
    onnx_outputs: tuple[str, ...] = ("logits",)  # the graph outputs of an ONNX export, in order
    finetune: tuple[str, ...] = ()  # the fine-tuning tasks (rpln finetune --task) that train this head
    command: str | None = None  # the rpln command that runs the pipeline
    aliases: tuple[str, ...] = ()


TASKS: dict[str, Task] = {t.name: t for t in (
    Task("feature-extraction", "Model", (), "feature_extraction.FeatureExtractionPipeline",
         {"add_pooling_layer": False}, ("last_hidden_state", "pooler_output"), command="embed",
         aliases=("embeddings",)),
    Task("fill-mask", "ForMaskedLM", ("lm_head.",), "fill_mask.FillMaskPipeline", command="fill-mask"),
    Task("text-generation", "ForCausalLM", ("lm_head.",), "text_generation.TextGenerationPipeline",
         command="generate"),
    Task("text-classification", "ForSequenceClassification", ("classifier.",),
         "text_classification.TextClassificationPipeline", finetune=("classification", "regression"),
         command="classify", aliases=("sentiment-analysis",)),
    Task("multiple-choice", "ForMultipleChoice", ("classifier.",), finetune=("multiple-choice",)),
    Task("token-classification", "ForTokenClassification", ("classifier.",),
         "token_classification.TokenClassificationPipeline", finetune=("token-classification",),
         command="tag", aliases=("ner",)),
    Task("question-answering", "ForQuestionAnswering", ("qa_outputs.",),
         "question_answering.QuestionAnsweringPipeline", onnx_outputs=("start_logits", "end_logits"),
         finetune=("question-answering",), command="answer", aliases=("qa",)),
)}
ALIASES = {alias: t.name for t in TASKS.values() for alias in t.aliases}
PIPELINE_TASKS = tuple(name for name, t in TASKS.items() if t.pipeline)
FINETUNE_TASKS = tuple(f for t in TASKS.values() for f in t.finetune)


def class_name(head: str, framework: str = "pt") -> str:
    """``("ForMaskedLM", "tf")`` → ``"TFRobertaPreLayerNormForMaskedLM"``."""
    return f"{FRAMEWORK_PREFIXES[framework]}RobertaPreLayerNorm{head}"


def get(task: str) -> Task:
    """A task by name or alias.

    Raises:
        KeyError: For an unknown task, listing the known ones.
    """
    name = ALIASES.get(task, task)
    if name not in TASKS:
        known = ", ".join(PIPELINE_TASKS)
        raise KeyError(f"unknown task {task!r}; tasks: {known} (aliases: {', '.join(ALIASES)})")
    return TASKS[name]


def for_architecture(architecture: str) -> Task | None:
    """The task a saved class (``config.architectures``, any framework) is made for: the pipeline task."""
    for prefix in FRAMEWORK_PREFIXES.values():
        for task in TASKS.values():
            if prefix + class_name(task.head) == architecture and task.pipeline:
                return task
    return None


def for_finetune(name: str) -> Task:
    """The task whose head a fine-tuning task trains."""
    return next(t for t in TASKS.values() if name in t.finetune)
