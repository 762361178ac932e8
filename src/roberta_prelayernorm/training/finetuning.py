"""Fine-tuning a pretrained RoBERTa-PreLayerNorm on a task: classification, regression, tagging, QA,
multiple choice (see ``tasks.py`` for the file formats).

The model is evaluated on the evaluation file after every epoch (or every ``eval_every`` updates); the
best one by the task's main metric (accuracy, Pearson, entity F1, SQuAD F1) is written to
``output_dir`` with its tokenizer, so the folder loads with ``from_pretrained`` and the pipelines.
Without an evaluation file the last model is written. A folder that already holds a model is not
replaced without ``overwrite``, and the model fine-tuned from never.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from . import tasks as T
from .monitor import MetricsLog, Progress
from .optim import build_optimizer, build_scheduler
from ..core.errors import CheckpointError
from ..core.files import staging_folder, write_json
from ..core.weights import is_weights_file
from .pretraining import TrainingDiverged, check_writable, holds_model, same_folder
from .text import load_tokenizer, save_tokenizer, tokenizer_folder

TASKS = tuple(T.TASKS)
logger = logging.getLogger("roberta_prelayernorm")


@dataclass
class FinetuneConfig:
    """Settings of a fine-tuning run.

    Args:
        task: One of ``TASKS``.
        model: The pretrained model (folder or hub id) with its tokenizer.
        train_file: Training data in the task's format.
        output_dir: Where the best model, ``metrics.jsonl`` and ``eval_results.json`` go.
        eval_file: Evaluation data; without it the last model is kept.
        tokenizer: Tokenizer folder, if not the model's.
        labels: The label set (classification, tagging); default: the labels of the training file.
        text_column, pair_column, label_column: Columns of a classification/regression table
            (default: ``text`` / ``sentence`` / ``sentence1``…, ``text_pair`` / ``sentence2``…, ``label``).
        max_length: Tokens per input (special tokens included); None: the model's limit
            (``config.max_input_length``).
        doc_stride, max_answer_length: Question answering: overlap of context windows, longest answer.
        epochs, batch_size, lr, warmup_ratio, weight_decay, max_grad_norm: Optimisation (AdamW, linear
            warmup then linear decay; no decay on biases and LayerNorms).
        eval_every: Evaluate every N updates (0: after each epoch).
        metric: Choose the best model by this metric instead of the task's main one.
        overwrite: Replace a model already in ``output_dir`` (never the model fine-tuned from).
        allow_single_class: Train a classifier (or tagger) whose training file has one label only,
            with a warning, instead of refusing.
        seed, device, progress, quiet: As in pretraining.
    """

    task: str
    model: str
    train_file: str
    output_dir: str
    eval_file: str | None = None
    tokenizer: str | None = None
    labels: list[str] | None = None
    text_column: str | None = None
    pair_column: str | None = None
    label_column: str = "label"
    max_length: int | None = None
    doc_stride: int = 64
    max_answer_length: int = 30
    epochs: float = 3.0
    batch_size: int = 16
    lr: float = 2e-5
    warmup_ratio: float = 0.06
    weight_decay: float = 0.01
    max_grad_norm: float | None = 1.0
    eval_every: int = 0
    metric: str | None = None
    overwrite: bool = False
    allow_single_class: bool = False
    seed: int = 0
    device: str | None = None
    progress: bool = True
    quiet: bool = False

    def validate(self) -> None:
        if self.task not in T.TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")
        for name in ("max_length", "batch_size"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.epochs <= 0:
            raise ValueError(f"epochs must be positive, got {self.epochs}")
        if self.lr <= 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if self.max_length is not None and self.max_length < 8:
            raise ValueError(f"max_length {self.max_length} is too short (at least 8 tokens)")


@dataclass
class FinetuneResult:
    output_dir: str
    best: dict[str, float]
    best_step: int
    steps: int
    history: list[dict[str, Any]] = field(default_factory=list)
    kept: str = "best"  # "best" (by the evaluation file's metric) or "last" (no evaluation file)


def make_task(config: FinetuneConfig, max_length: int | None = None) -> T.Task:
    """The task of ``config``, cutting inputs at ``max_length`` (default ``config.max_length``, else 256)."""
    options: dict[str, Any] = {"max_length": max_length or config.max_length or 256,
                               "allow_single_class": config.allow_single_class}
    if config.task in ("classification", "regression"):
        options |= {"text_column": config.text_column, "pair_column": config.pair_column,
                    "label_column": config.label_column}
    if config.task == "question-answering":
        options |= {"doc_stride": config.doc_stride, "max_answer_length": config.max_answer_length}
    return T.TASKS[config.task](**options)


def finetune(config: FinetuneConfig) -> FinetuneResult:
    """Fine-tune ``config.model`` on ``config.task``; returns the best evaluation and where it was saved.

    Raises:
        DataError: (a ValueError) if a file cannot be read or holds a label outside the label set.
        CheckpointError: (an OSError) if the output folder cannot be written.
    """
    from ..torch import modeling
    from ..torch.devices import default_device, resolve_device

    from ..core.config import RobertaPreLayerNormConfig

    config.validate()
    say = (lambda m: None) if config.quiet else (lambda m: print(m, file=sys.stderr, flush=True))
    out = os.path.abspath(config.output_dir)
    check_output(config, out)
    device = default_device() if config.device is None else resolve_device(config.device)
    check_writable(out)
    torch.manual_seed(config.seed)

    limit = RobertaPreLayerNormConfig.from_pretrained(config.model).max_input_length
    max_length = config.max_length or limit
    if max_length > limit:
        raise ValueError(f"max_length {max_length} is longer than the model's {limit} positions")
    task = make_task(config, max_length)
    train_examples = task.read(config.train_file)
    task.fit_labels(train_examples, config.labels)
    for warning in task.warnings:
        logger.warning(warning)
    eval_examples = task.read(config.eval_file) if config.eval_file else None
    tokenizer = load_tokenizer(config.tokenizer or tokenizer_folder(config.model))
    pad_id = tokenizer.token_to_id("<pad>")
    train_features = task.features(train_examples, tokenizer, training=True)
    eval_features = task.features(eval_examples, tokenizer, training=False) if eval_examples else None

    model_class = getattr(modeling, task.model_class)
    model = model_class.from_pretrained(config.model, **task.model_kwargs()).to(device).train()

    steps_per_epoch = math.ceil(len(train_features) / config.batch_size)
    total_steps = max(1, int(round(config.epochs * steps_per_epoch)))
    optimizer = build_optimizer(model, lr=config.lr, weight_decay=config.weight_decay)
    scheduler = build_scheduler(optimizer, total_steps, warmup_ratio=config.warmup_ratio)
    metric = config.metric or task.main_metric
    say(f"fine-tuning {task.model_class} ({model.num_parameters():,} parameters) on {len(train_examples)} "
        f"examples ({len(train_features)} inputs) for {total_steps} updates; "
        + (f"best model by {metric}" if eval_features is not None else "no evaluation file: the last model is kept"))

    log = MetricsLog(os.path.join(out, "metrics.jsonl"))
    progress = Progress(total_steps, enabled=config.progress)
    rng = np.random.default_rng(config.seed)
    best: dict[str, float] = {}
    best_step = 0
    history = []

    def evaluate_and_keep(step: int) -> None:
        nonlocal best, best_step
        if eval_features is None:
            return
        result, predictions = run_evaluation(model, task, eval_examples, eval_features, config.batch_size,
                                             pad_id, device)
        if metric not in result:
            raise ValueError(f"metric {metric!r} is not one of this task's metrics {sorted(result)}")
        record = {"step": step, **{f"eval_{k}": v for k, v in result.items()}}
        history.append(record)
        log.write(**record)
        progress.update(step, force=True, **{metric: result[metric]})
        if not best or result[metric] > best[metric]:
            best, best_step = result, step
            save(predictions)

    def save(predictions: Any = None, step: int | None = None) -> None:
        # the model, tokenizer and results are staged and moved in together (metrics.jsonl stays)
        with staging_folder(out, replaces=lambda name: is_weights_file(name) or name == "eval_predictions.json"
                            ) as staging:
            model.save_pretrained(staging)
            save_tokenizer(tokenizer, staging, model_max_length=max_length)
            results = ({"step": best_step, "metric": metric, **best} if step is None
                       else {"step": step, "kept": "the last model (no evaluation file)"})
            write_json(os.path.join(staging, "eval_results.json"), results, indent=2, sort_keys=True)
            if predictions is not None:
                write_json(os.path.join(staging, "eval_predictions.json"), predictions, indent=1)
            write_json(os.path.join(staging, "training_config.json"),
                       dataclasses.asdict(config) | {"max_length": max_length}, indent=2, sort_keys=True)

    step = 0
    t0 = time.monotonic()
    while step < total_steps:
        order = rng.permutation(len(train_features))
        for start in range(0, len(order), config.batch_size):
            if step >= total_steps:
                break
            batch = task.collate([train_features[i] for i in order[start:start + config.batch_size]], pad_id)
            output = model(**{k: v.to(device) for k, v in batch.items()})
            output.loss.backward()
            if config.max_grad_norm:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            lr = optimizer.param_groups[0]["lr"]
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            loss = float(output.loss.detach())
            if not math.isfinite(loss):
                kept = f"; {out} holds the best model so far (update {best_step})" if best else ""
                raise TrainingDiverged(f"the loss is {loss} at update {step}: training diverged; lower the learning "
                                       f"rate (lr={config.lr:g}){kept}")
            log.write(step=step, loss=loss, lr=lr, elapsed_s=time.monotonic() - t0)
            progress.update(step, loss=loss, lr=lr)
            if config.eval_every and step % config.eval_every == 0:
                evaluate_and_keep(step)
        if not config.eval_every and eval_features is not None:
            evaluate_and_keep(step)
    if config.eval_every and step % config.eval_every and eval_features is not None:
        evaluate_and_keep(step)
    progress.close()
    if eval_features is None:
        best_step = step
        save(step=step)
        say(f"saved the last model (update {step}) to {out}; no evaluation file was given, so none was compared")
    else:
        say(f"saved the best model by {metric} to {out} ({metric} {best[metric]:.4f} at update {best_step} "
            f"of {step})")
    return FinetuneResult(output_dir=out, best=best, best_step=best_step, steps=step, history=history,
                          kept="best" if eval_features is not None else "last")


def check_output(config: FinetuneConfig, out: str) -> None:
    """Refuse to replace the model fine-tuned from, or (without ``overwrite``) any model in ``out``.

    Raises:
        CheckpointError: Naming the folder and what to do.
    """
    if os.path.isdir(config.model) and same_folder(config.model, out):
        raise CheckpointError(f"output_dir {out} is the model being fine-tuned: write the fine-tuned model to "
                              f"another output_dir")
    held = holds_model(out)
    if held and not config.overwrite:
        raise CheckpointError(f"{out} already holds a model ({held}); pass overwrite=True to replace it, or "
                              f"choose another output_dir")


@torch.no_grad()
def run_evaluation(model: nn.Module, task: T.Task, examples: list, features: list[T.Feature], batch_size: int,
                   pad_id: int, device: torch.device) -> tuple[dict[str, float], Any]:
    """The task's metrics and predictions on ``examples``."""
    was_training = model.training
    model.eval()
    outputs = []
    for start in range(0, len(features), batch_size):
        batch = task.collate(features[start:start + batch_size], pad_id)
        inputs = {k: v.to(device) for k, v in batch.items() if k in ("input_ids", "attention_mask")}
        outputs.append(task.outputs(model(**inputs)))
    model.train(was_training)
    return task.evaluate(examples, features, outputs)
