"""What every task pipeline shares: loading, encoding with truncation, length-sorted numpy batches.

A task module defines a :class:`Pipeline` subclass with its ``task`` name (whose row in ``core.tasks``
names the head class, its state-dict prefixes and the loading arguments), the parameters a call takes
(``parameters``, with defaults) and ``__call__``. Everything here and in the task modules works on numpy;
``frameworks.Runner`` runs the model of whichever framework.

Models run in batches of inputs sorted by length, padded on the right. A packed model leaves zeros at
padding positions, so pipelines read only the positions of real tokens.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..core import tasks
from ..core.batching import batch_rows
from ..core.dtypes import dtype_name
from .frameworks import Runner, framework_of, runner

logger = logging.getLogger("roberta_prelayernorm")

DEFAULT_MODEL_ENV = "RPLN_DEFAULT_MODEL"
PACKAGE_DIR = Path(__file__).resolve().parent.parent  # src/roberta_prelayernorm


# --------------------------------------------------------------------------------------- the default
def default_model_path(task: str | None = None) -> str:
    """The model used when none is given: the first folder with a ``config.json`` among

    1. ``$RPLN_DEFAULT_MODEL``;
    2. ``roberta_prelayernorm/models/<task>`` then ``roberta_prelayernorm/models/default`` inside the
       installed package (the bundled model; a fine-tuned head per task may sit beside it).

    Raises:
        OSError: If none exists.
    """
    env = os.environ.get(DEFAULT_MODEL_ENV)
    if env:
        if not os.path.isfile(os.path.join(env, "config.json")):
            raise OSError(f"${DEFAULT_MODEL_ENV}={env} is not a model folder (no config.json)")
        return env
    names = ([task] if task else []) + ["default"]
    for name in names:
        folder = PACKAGE_DIR / "models" / name
        if (folder / "config.json").is_file():
            return str(folder)
    raise OSError("no model given and no default model is installed: pass a model folder or hub id "
                  f"(model=... or --model), or set ${DEFAULT_MODEL_ENV}")


# --------------------------------------------------------------------------------------- model loading
def resolve_dtype(dtype: Any) -> str | None:
    """None, "auto", a dtype of any framework or its name ("float16", "bf16", "fp32") → None, "auto" or the
    canonical name (``core.dtypes``), which every framework's ``from_pretrained`` takes."""
    if dtype is None or dtype == "auto":
        return dtype
    return dtype_name(dtype)


@contextlib.contextmanager
def _quiet_loading() -> Iterator[None]:
    """Silence the loader's missing-weights warnings: the pipeline checks the head itself."""
    previous = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(previous)


def load_model(task: str, path: str, *, framework: str = "pt", dtype: Any = None,
               hub: dict[str, Any] | None = None) -> Any:
    """The task's head class of ``framework`` loaded from ``path``, refusing a checkpoint without that head.

    Args:
        hub: ``revision``, ``token``, ``cache_dir``, ``local_files_only`` for hub ids.

    Raises:
        ValueError: If the checkpoint has none of the head's weights (say, a masked LM folder given to
            text-classification). ``OSError`` if the folder or hub id cannot be read.
    """
    import roberta_prelayernorm

    from ..core.config import RobertaPreLayerNormConfig

    spec = tasks.get(task)
    model_class = getattr(roberta_prelayernorm, tasks.class_name(spec.head, framework))
    hub = hub or {}
    config = RobertaPreLayerNormConfig.from_pretrained(path, **hub)
    saved = ", ".join(config.architectures or []) or "a model without this head"
    kwargs: dict[str, Any] = dict(hub, output_loading_info=True)
    if framework == "pt":
        kwargs.update(spec.pipeline_kwargs, dtype=resolve_dtype(dtype))

    def no_head(detail: str) -> ValueError:
        return ValueError(f"{path} holds {saved}, which has no {spec.name} head ({detail}): {spec.name} needs a "
                          f"{model_class.__name__} checkpoint")

    try:
        with _quiet_loading():
            model, info = model_class.from_pretrained(path, config=config, **kwargs)
    except ValueError as e:  # e.g. a token-classification config with 5 labels for question answering
        if config.architectures and not any(a.endswith(tasks.class_name(spec.head)) for a in config.architectures):
            raise no_head(str(e)) from None
        raise
    missing = info["missing_keys"]
    head_missing = [k for k in missing if any(k.startswith(p) for p in spec.head_keys)]
    if head_missing:
        raise no_head(f"{head_missing[0]} is not in the checkpoint")
    base_missing = [k for k in missing if k not in head_missing and ".pooler." not in f".{k}"]
    if base_missing:
        logger.warning("%s: %d weights were not in the checkpoint and are random (%s, ...)",
                       path, len(base_missing), base_missing[0])
    return model


# ------------------------------------------------------------------------------------------ encoding
@dataclass
class Encoded:
    """One model input: token ids and what post-processing needs (offsets, special tokens, the encoding)."""

    ids: list[int]
    index: int  # which input of the call it belongs to
    encoding: Any = None  # the tokenizers.Encoding (offsets, words, sequence ids)
    extra: Any = None  # task-specific (e.g. the window number)


class Pipeline:
    """Base class of the task pipelines; build them with :func:`roberta_prelayernorm.pipelines.pipeline`.

    Args:
        model: The model, of any of the three frameworks (a PyTorch model is put in eval mode on ``device``).
        tokenizer: Its tokenizer.
        device: Where a PyTorch model runs (default CPU).
        batch_size: Inputs per forward pass.
        dtype: Cast a PyTorch model object to this dtype first.
        **parameters: Defaults for the task's call parameters (overridden per call).
    """

    task: ClassVar[str] = ""
    parameters: ClassVar[dict[str, Any]] = {}

    def __init__(self, model: Any, tokenizer: Any, *, device: Any = None, batch_size: int = 8,
                 dtype: Any = None, **parameters: Any) -> None:
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.tokenizer = tokenizer
        self.check_model(model)
        self.runner: Runner = runner(model, device, resolve_dtype(dtype))
        self.model, self.device = self.runner.model, self.runner.device
        self.batch_size = batch_size
        self.defaults = self.call_parameters(parameters)
        self._warned: set[str] = set()

    @property
    def spec(self) -> tasks.Task:
        """This task's row of the task table."""
        return tasks.get(self.task)

    # ------------------------------------------------------------------------------- configuration
    def check_model(self, model: Any) -> None:
        """Raises ``TypeError`` when the model object is not of the class the task needs."""
        needed = tasks.class_name(self.spec.head)
        framework = framework_of(model)
        if self.spec.head != "Model" and not type(model).__name__.endswith(needed):
            raise TypeError(f"{self.task} needs a {tasks.class_name(self.spec.head, framework)}, "
                            f"got a {type(model).__name__}")

    def call_parameters(self, given: dict[str, Any], base: dict[str, Any] | None = None) -> dict[str, Any]:
        """``given`` on top of ``base`` (the pipeline's defaults); unknown names raise ``TypeError``."""
        unknown = sorted(set(given) - set(self.parameters))
        if unknown:
            raise TypeError(f"{self.task} takes no parameter {unknown[0]!r}; it takes {sorted(self.parameters)}")
        merged = dict(self.parameters if base is None else base)
        merged.update(given)
        return merged

    @property
    def max_tokens(self) -> int:
        """Most tokens (special ones included) one model input may have."""
        limit = self.model.config.max_input_length
        return min(limit, int(getattr(self.tokenizer, "model_max_length", limit)))

    def warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            logger.warning(message)

    # ------------------------------------------------------------------------------------ encoding
    def encode(self, texts: Sequence[Any], pairs: Sequence[Any] | None = None, **options: Any) -> list[Any]:
        """Each text (or pair) as a ``tokenizers.Encoding``, truncated to :attr:`max_tokens` with one warning.

        Raises:
            ValueError: For an empty text (nothing to run the model on).
        """
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"input {i} must be a str, got {type(text).__name__}")
            if not text.strip():
                raise ValueError(f"input {i} is an empty string")
        items = list(texts) if pairs is None else [list(p) for p in zip(texts, pairs)]
        encodings = self.tokenizer(items, verbose=False, **options).encodings
        limit = self.max_tokens
        too_long = [i for i, e in enumerate(encodings) if len(e.ids) > limit]
        if too_long:
            self.warn_once("truncated", f"{len(too_long)} of {len(encodings)} inputs are longer than the model's "
                                        f"{limit} tokens and were truncated (input {too_long[0]} first)")
            short = self.tokenizer([items[i] for i in too_long], truncation="longest_first", max_length=limit,
                                   verbose=False, **options).encodings
            for i, e in zip(too_long, short):
                encodings[i] = e
        return encodings

    # ------------------------------------------------------------------------------------- batching
    def batches(self, rows: Sequence[Encoded], progress: Callable[[int], None] | None = None, *,
                side: str = "right") -> Iterator[tuple[list[Encoded], dict[str, np.ndarray]]]:
        """Rows sorted by length (longest first), in padded numpy batches of ``batch_size``.

        Yields ``(rows of the batch, {"input_ids", "attention_mask"})``, padded on ``side``; after each
        batch ``progress(number of rows in it)`` is called.
        """
        order = sorted(range(len(rows)), key=lambda i: -len(rows[i].ids))
        for start in range(0, len(order), self.batch_size):
            chunk = [rows[i] for i in order[start:start + self.batch_size]]
            yield chunk, batch_rows([row.ids for row in chunk], self.tokenizer.pad_token_id, side=side)
            if progress is not None:
                progress(len(chunk))

    def __call__(self, inputs: Any, **parameters: Any) -> Any:  # pragma: no cover - every task defines it
        raise NotImplementedError

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(task={self.task!r}, model={type(self.model).__name__}, "
                f"device={self.device}, batch_size={self.batch_size})")


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Softmax in float32 (the largest value subtracted first)."""
    x = np.asarray(x, dtype=np.float32)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def sigmoid(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return np.where(x >= 0, 1 / (1 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x))))


def as_batch(inputs: Any, kind: type | tuple[type, ...] = str) -> tuple[list[Any], bool]:
    """``(list of inputs, whether one input was given)``; a list of one stays a list."""
    if isinstance(inputs, kind):
        return [inputs], True
    if isinstance(inputs, (list, tuple)):
        if not inputs:
            raise ValueError("no inputs: the list is empty")
        return list(inputs), False
    raise TypeError(f"expected a str or a list of them, got {type(inputs).__name__}")
