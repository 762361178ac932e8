"""Fine-tuning a pretrained RoBERTa-PreLayerNorm on a task: classification, regression, tagging, QA,
multiple choice (see ``tasks.py`` for the file formats).

The model is evaluated on the evaluation file after every epoch (or every ``eval_every`` updates); the
best one by the task's main metric (accuracy, Pearson, entity F1, SQuAD F1) is written to
``output_dir`` with its tokenizer, so the folder loads with ``from_pretrained`` and the pipelines.
"""

from __future__ import annotations

import dataclasses
import json
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
from .pretraining import check_writable
from .text import load_tokenizer, save_tokenizer, tokenizer_folder

TASKS = tuple(T.TASKS)


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
        max_length: Tokens per input (special tokens included).
        doc_stride, max_answer_length: Question answering: overlap of context windows, longest answer.
        epochs, batch_size, lr, warmup_ratio, weight_decay, max_grad_norm: Optimisation (AdamW, linear
            warmup then linear decay; no decay on biases and LayerNorms).
        eval_every: Evaluate every N updates (0: after each epoch).
        metric: Choose the best model by this metric instead of the task's main one.
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
    max_length: int = 256
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
    seed: int = 0
    device: str | None = None
    progress: bool = True
    quiet: bool = False

    def validate(self) -> None:
        if self.task not in T.TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")
        for name in ("max_length", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.epochs <= 0 or self.lr <= 0:
            raise ValueError("epochs and lr must be positive")
        if self.max_length < 8:
            raise ValueError(f"max_length {self.max_length} is too short")


@dataclass
class FinetuneResult:
    output_dir: str
    best: dict[str, float]
    best_step: int
    steps: int
    history: list[dict[str, Any]] = field(default_factory=list)


def make_task(config: FinetuneConfig) -> T.Task:
    options: dict[str, Any] = {"max_length": config.max_length}
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

    config.validate()
    say = (lambda m: None) if config.quiet else (lambda m: print(m, file=sys.stderr, flush=True))
    out = os.path.abspath(config.output_dir)
    check_writable(out)
    device = torch.device(config.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    torch.manual_seed(config.seed)

    task = make_task(config)
    train_examples = task.read(config.train_file)
    task.fit_labels(train_examples, config.labels)
    eval_examples = task.read(config.eval_file) if config.eval_file else None
    tokenizer = load_tokenizer(config.tokenizer or tokenizer_folder(config.model))
    pad_id = tokenizer.token_to_id("<pad>")
    train_features = task.features(train_examples, tokenizer, training=True)
    eval_features = task.features(eval_examples, tokenizer, training=False) if eval_examples else None

    model_class = getattr(modeling, task.model_class)
    model = model_class.from_pretrained(config.model, **task.model_kwargs()).to(device).train()
    limit = model.config.max_input_length
    if config.max_length > limit:
        raise ValueError(f"max_length {config.max_length} is longer than the model's {limit} positions")

    steps_per_epoch = math.ceil(len(train_features) / config.batch_size)
    total_steps = max(1, int(round(config.epochs * steps_per_epoch)))
    optimizer = build_optimizer(model, lr=config.lr, weight_decay=config.weight_decay)
    scheduler = build_scheduler(optimizer, total_steps, warmup_ratio=config.warmup_ratio)
    metric = config.metric or task.main_metric
    say(f"fine-tuning {task.model_class} ({model.num_parameters():,} parameters) on {len(train_examples)} "
        f"examples ({len(train_features)} inputs) for {total_steps} updates; best model by {metric}")

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

    def save(predictions: Any = None) -> None:
        model.save_pretrained(out)
        save_tokenizer(tokenizer, out, model_max_length=config.max_length)
        with open(os.path.join(out, "eval_results.json"), "w", encoding="utf-8") as f:
            json.dump({"step": best_step, "metric": metric, **best}, f, indent=2, sort_keys=True)
        if predictions is not None:
            with open(os.path.join(out, "eval_predictions.json"), "w", encoding="utf-8") as f:
                json.dump(predictions, f, indent=1)
        with open(os.path.join(out, "training_config.json"), "w", encoding="utf-8") as f:
            json.dump(dataclasses.asdict(config), f, indent=2, sort_keys=True)

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
                raise FloatingPointError(f"the loss is {loss} at update {step}; lower lr")
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
        save()
    say(f"saved the best model to {out}" + (f" ({metric} {best[metric]:.4f} at update {best_step})" if best else ""))
    return FinetuneResult(output_dir=out, best=best, best_step=best_step, steps=step, history=history)


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
