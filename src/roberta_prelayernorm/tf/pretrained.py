"""The base class of the TF models: the documented input formats, Keras training, loading and saving.

A model is a ``keras.Model``. It takes its inputs as keyword arguments, or as a dict / list / tuple / single
tensor in the first positional argument (numpy arrays or tf tensors; integer arrays become int32).
``compile(optimizer=...)`` then ``fit(dataset)`` trains on the loss the model computes from the labels in
the input dict (no ``loss`` argument needed; labels given as Keras targets are moved into the inputs);
``predict`` returns a dict of the output fields; ``export`` writes a SavedModel whose ``serve`` endpoint
takes ``input_ids``, ``attention_mask`` (and ``token_type_ids``).
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
from collections.abc import Mapping
from typing import Any, TypeVar

import numpy as np

from ..core.config import RobertaPreLayerNormConfig
from ..core.errors import CheckpointError, LoadingInfo
from ..core.outputs import ModelOutput
from ..core.pretrained import config_and_kwargs, warn_about
from ..core.weights import BASE_PREFIX, match_prefix, resolve_weights
from .backend import keras, tf
from .checkpoint import read_h5, read_pt, save_h5, to_snake_case

logger = logging.getLogger("roberta_prelayernorm")
M = TypeVar("M", bound="TFRobertaPreLayerNormPreTrainedModel")

OPTIONS = ("use_cache", "output_attentions", "output_hidden_states", "return_dict", "training")  # not tensors
LABELS = ("labels", "start_positions", "end_positions")


class TFRobertaPreLayerNormPreTrainedModel(keras.Model):
    """Common methods of the seven TF model classes."""

    config_class = RobertaPreLayerNormConfig
    base_model_prefix = BASE_PREFIX
    main_input_name = "input_ids"

    def __init__(self, config: RobertaPreLayerNormConfig, *inputs: Any, **kwargs: Any) -> None:
        if not isinstance(config, RobertaPreLayerNormConfig):
            raise TypeError(f"config must be a RobertaPreLayerNormConfig, got {type(config).__name__}")
        config.validate()
        super().__init__(**kwargs)
        self.config = config

    def post_init(self) -> None:
        """Create every weight from the config (no forward pass needed)."""
        self.build(None)

    def build(self, input_shape: Any = None) -> None:
        hidden = self.config.hidden_size
        for name in ("roberta_prelayernorm", "lm_head", "classifier", "qa_outputs"):
            layer = getattr(self, name, None)
            if isinstance(layer, keras.layers.Dense):
                layer.build((None, hidden))
            elif layer is not None:
                layer.build(None)

    # ---------------------------------------------------------------------------------------- inputs
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """``model(**inputs)``, ``model(inputs_dict)``, ``model([input_ids, attention_mask])``, ``model(input_ids)``."""
        names = self.input_names()
        values: dict[str, Any] = {}
        if args:
            first, rest = args[0], args[1:]
            if isinstance(first, Mapping):
                values = dict(first.items())
            elif isinstance(first, (list, tuple)):
                if rest:
                    raise TypeError("give the inputs either as one list or as separate arguments, not both")
                if len(first) > len(names):
                    raise TypeError(f"{len(first)} inputs in the list; {type(self).__name__} takes at most "
                                    f"{len(names)}: {', '.join(names)}")
                values = dict(zip(names, first))
            else:
                values = {names[0]: first}
            for name, value in zip(names[1:], rest):
                values[name] = value
            if len(rest) > len(names) - 1:
                raise TypeError(f"too many positional arguments for {type(self).__name__}")
        both = sorted(set(values) & set(kwargs))
        if both:
            raise TypeError(f"{', '.join(both)} given twice (in the inputs and as keyword arguments)")
        values.update(kwargs)
        unknown = sorted(set(values) - set(names) - {"training"})
        if unknown:
            raise TypeError(f"{type(self).__name__} got unexpected inputs {unknown}; it takes {', '.join(names)}")
        values = {k: v if k in OPTIONS else to_tensors(k, v) for k, v in values.items()}
        try:
            return super().__call__(**values)
        except (ValueError, TypeError) as error:
            # Keras re-raises a layer's error with the layer's arguments appended: give ours as it was raised
            original = error.__context__ if getattr(error, "_keras_call_info_injected", False) else None
            if type(original) is type(error):
                raise original.with_traceback(None) from None
            raise

    @classmethod
    def input_names(cls) -> list[str]:
        """The call's argument names, in the documented order (for list inputs)."""
        return _input_names(cls)

    def returns_dict(self, return_dict: bool | None) -> bool:
        return self.config.return_dict if return_dict is None else return_dict

    # ------------------------------------------------------------------------------------ accessors
    @property
    def base_model(self) -> keras.layers.Layer:
        return getattr(self, self.base_model_prefix)

    def get_input_embeddings(self) -> keras.layers.Layer:
        return self.base_model.embeddings.word_embeddings

    def get_output_embeddings(self) -> Any:
        return None

    def word_embeddings_weight(self) -> Any:
        return self.base_model.embeddings.word_embeddings.weight

    def num_parameters(self, only_trainable: bool = False) -> int:
        variables = self.trainable_weights if only_trainable else self.weights
        return int(sum(np.prod(v.shape) for v in variables))

    def named_weights(self) -> dict[str, Any]:
        """``{name: variable}``, names as in ``tf_model.h5`` without the model's own component."""
        return {v.path.split("/", 1)[1]: v for v in self.weights}

    # -------------------------------------------------------------------------------- Keras training
    def fit(self, x: Any = None, *args: Any, **kwargs: Any) -> Any:
        return super().fit(plain_dict(x), *args, **kwargs)

    def evaluate(self, x: Any = None, *args: Any, **kwargs: Any) -> Any:
        return super().evaluate(plain_dict(x), *args, **kwargs)

    def predict(self, x: Any, *args: Any, **kwargs: Any) -> Any:
        return super().predict(plain_dict(x), *args, **kwargs)

    def train_step(self, data: Any) -> Any:
        return super().train_step(self.labels_into_inputs(data))

    def test_step(self, data: Any) -> Any:
        return super().test_step(self.labels_into_inputs(data))

    def predict_step(self, data: Any) -> dict[str, Any]:
        x = keras.utils.unpack_x_y_sample_weight(data)[0]
        return dict(self(x, training=False, return_dict=True).items())

    def labels_into_inputs(self, data: Any) -> Any:
        """Keras targets (``fit(x, y)``) become the model's labels when no Keras loss was compiled."""
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        if y is None or getattr(self, "_compile_loss", None) is not None:
            return data
        x = dict(x) if isinstance(x, Mapping) else {self.input_names()[0]: x}
        x.update(dict(y) if isinstance(y, Mapping) else {"labels": y})
        return (x,) if sample_weight is None else (x, None, sample_weight)

    def compute_loss(self, x: Any = None, y: Any = None, y_pred: Any = None, sample_weight: Any = None,
                     training: bool = True) -> Any:
        """The model's own loss (mean over its entries), or the compiled Keras loss on the predictions."""
        if getattr(self, "_compile_loss", None) is not None:
            return super().compute_loss(x, y, predictions(y_pred), sample_weight, training)
        loss = y_pred.loss if isinstance(y_pred, ModelOutput) else None
        if loss is None:
            raise ValueError("the model computed no loss: put the labels in the inputs (a 'labels' key, or "
                             "'start_positions' and 'end_positions' for question answering), or compile with a loss")
        loss = tf.reduce_mean(loss)
        if self.losses:
            loss = loss + tf.add_n(self.losses)
        return loss

    def compute_metrics(self, x: Any, y: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        if y is None and isinstance(x, Mapping):
            found = [x[k] for k in LABELS if x.get(k) is not None]
            y = found[0] if len(found) == 1 else tuple(found) if found else None
        return super().compute_metrics(x, y, predictions(y_pred), sample_weight)

    # ---------------------------------------------------------------------------------------- serving
    def input_signature(self) -> dict[str, tf.TensorSpec]:
        """What the ``serve`` endpoint of an export takes: int32 ids and masks of any batch and length."""
        shape = (None, None, None) if type(self).__name__.endswith("MultipleChoice") else (None, None)
        names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in self.input_names()]
        return {n: tf.TensorSpec(shape, tf.int32, name=n) for n in names}

    def serving_function(self) -> Any:
        """A ``tf.function`` of a dict of inputs → a flat dict of the output tensors (no cache)."""

        def serve(inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
            options = {"use_cache": False} if "use_cache" in self.input_names() else {}
            outputs = self(inputs, training=False, return_dict=True, **options)
            return {k: v for k, v in outputs.items() if isinstance(v, tf.Tensor)}

        return tf.function(serve, input_signature=[self.input_signature()])

    @property
    def _default_save_signature(self) -> Any:
        # Keras's hook for ``tf.saved_model.save(model, path)``: its ``serving_default`` signature
        return self.serving_function()

    def export(self, filepath: str | os.PathLike, format: str = "tf_saved_model", verbose: bool = True,
               input_signature: Any = None, **kwargs: Any) -> None:
        """Write a SavedModel whose ``serve`` endpoint (and default signature) maps the inputs of
        :meth:`input_signature` to a dict of output tensors; other formats go to ``keras.Model.export``."""
        if format != "tf_saved_model" or input_signature is not None:
            return super().export(filepath, format=format, verbose=verbose, input_signature=input_signature, **kwargs)
        archive = keras.export.ExportArchive()
        archive.track(self)
        archive.add_endpoint("serve", self.serving_function())
        archive.write_out(os.fspath(filepath), verbose=verbose)

    # ------------------------------------------------------------------------------ loading, saving
    @classmethod
    def from_pretrained(
        cls: type[M],
        pretrained_model_name_or_path: str | os.PathLike,
        *model_args: Any,
        config: RobertaPreLayerNormConfig | None = None,
        cache_dir: str | os.PathLike | None = None,
        revision: str | None = None,
        local_files_only: bool = False,
        token: str | bool | None = None,
        from_pt: bool = False,
        output_loading_info: bool = False,
        ignore_mismatched_sizes: bool = False,
        **kwargs: Any,
    ) -> M | tuple[M, dict[str, list]]:
        """Load a model from a folder or a hub id: ``tf_model.h5`` (or its shards), else PyTorch weights.

        Args:
            pretrained_model_name_or_path: Local folder or hub id (``org/name``).
            config: Use this config instead of the checkpoint's ``config.json``.
            cache_dir, revision, local_files_only, token: Passed to ``huggingface_hub``.
            from_pt: Read the PyTorch weights (``model.safetensors``, shards or ``pytorch_model.bin``) even
                when the folder has TF weights; without TF weights they are read anyway.
            output_loading_info: Also return the missing / unexpected / mismatched weight names.
            ignore_mismatched_sizes: Initialise weights whose shapes do not fit instead of raising.
            **kwargs: Config overrides (``num_labels=3``) and constructor arguments (``add_pooling_layer``).

        Returns:
            The model, or ``(model, loading_info)``.

        Raises:
            CheckpointError: (an ``OSError``) if the files cannot be found or read, or hold none of the
                model's weights; ``CheckpointShapeError`` (also a ``ValueError``) if shapes do not fit the config.
        """
        path = os.fspath(pretrained_model_name_or_path)
        config, hub, init_kwargs = config_and_kwargs(
            path, config, cls.__init__,
            {"cache_dir": cache_dir, "revision": revision, "local_files_only": local_files_only, "token": token},
            kwargs)
        fmt, files = resolve_weights(path, hub, formats=("pt",) if from_pt else ("tf", "pt"))
        model = cls(config, *model_args, **init_kwargs)
        if fmt == "tf":
            weights, unknown = read_h5(files), []
        else:
            weights, unknown = read_pt(files, config.tie_word_embeddings)
        info = model.load_weight_arrays(weights, ignore_mismatched_sizes=ignore_mismatched_sizes, source=path)
        info.unexpected_keys.extend(unknown)
        warn_about(info, logger, cls.__name__, path)
        return (model, info.as_dict()) if output_loading_info else model

    def load_weight_arrays(self, weights: Mapping[str, np.ndarray], *, ignore_mismatched_sizes: bool = False,
                           source: str = "the checkpoint") -> LoadingInfo:
        """Assign named arrays (TF names, with or without the base prefix) to this model's variables;
        what the arrays lack keeps its initialisation.

        Raises:
            CheckpointShapeError: For shapes that do not fit (unless ``ignore_mismatched_sizes``).
            CheckpointError: If none of the names is one of the model's.
        """
        own = self.named_weights()
        renames = match_prefix(weights, own, self.base_model_prefix, sep="/")
        weights = {renames[k]: v for k, v in weights.items()}
        info = LoadingInfo()
        for name, array in weights.items():
            if name not in own:
                if not (name == "lm_head/decoder/weight" and self.config.tie_word_embeddings):
                    info.unexpected_keys.append(name)
            elif tuple(own[name].shape) != tuple(np.shape(array)):
                info.mismatched_keys.append((name, tuple(np.shape(array)), tuple(own[name].shape)))
        if info.mismatched_keys and not ignore_mismatched_sizes:
            raise info.shape_error()
        mismatched = {k for k, _, _ in info.mismatched_keys}
        loadable = [k for k in weights if k in own and k not in mismatched]
        if weights and not loadable and not mismatched:
            first = next(iter(weights))
            raise CheckpointError(f"{source} holds none of the weights of {type(self).__name__}: its first weight is "
                                  f"{first!r}, the model's first is {next(iter(own))!r} (another architecture?)")
        for name in loadable:
            own[name].assign(np.asarray(weights[name], dtype=own[name].dtype))
        info.missing_keys = [k for k in own if k not in weights and k not in mismatched]
        return info

    def save_pretrained(self, save_directory: str | os.PathLike, *, max_shard_size: int | str = "10GB",
                        safe_serialization: bool = False) -> None:
        """Write ``config.json`` and ``tf_model.h5`` (sharded past ``max_shard_size``) atomically, in the
        layout of transformers 4.37.2's TF classes, which load it with no missing weights.

        Raises:
            CheckpointError: If the folder cannot be written; it is then left as it was.
        """
        if safe_serialization:
            raise ValueError("the TF classes write tf_model.h5 only (safe_serialization=False)")
        named = self.named_weights()
        weights = {name: v.numpy() for name, v in named.items()}
        tied = {}
        if getattr(self, "lm_head", None) is not None and self.config.tie_word_embeddings:
            prefix = f"{self.base_model_prefix}/embeddings/"
            tied["lm_head"] = [n for n in named if n.startswith(prefix)]  # the reference's LM head lists them
        config = self.config.to_dict()
        config["architectures"] = [type(self).__name__]
        config_json = RobertaPreLayerNormConfig.from_dict(config).to_json_string()
        save_h5(os.fspath(save_directory), weights, to_snake_case(type(self).__name__), config_json, max_shard_size,
                tied_group=tied, keras_version=keras.__version__)


@functools.cache
def _input_names(cls: type) -> list[str]:
    return [p for p in inspect.signature(cls.call).parameters if p not in ("self", "training")]


def to_tensors(name: str, value: Any) -> Any:
    """numpy arrays, lists and tensors → tf tensors; integers as int32, float64 as float32 (nested for caches)."""
    if value is None:
        return None
    if name == "past_key_values" and isinstance(value, (list, tuple)):
        return tuple(to_tensors(name, v) for v in value)
    if isinstance(value, keras.KerasTensor):
        return value
    if not isinstance(value, (tf.Tensor, tf.Variable)):
        try:
            value = tf.convert_to_tensor(np.asarray(value))
        except (ValueError, TypeError) as e:
            raise TypeError(f"{name} must be a tensor or array, got {type(value).__name__} ({e})") from None
    if value.dtype.is_integer and value.dtype != tf.int32:
        value = tf.cast(value, tf.int32)
    elif value.dtype == tf.float64:
        value = tf.cast(value, tf.float32)
    return value


def plain_dict(x: Any) -> Any:
    """A tokenizer's ``BatchEncoding`` (a mapping that is not a dict) as the dict Keras's data adapters take."""
    return dict(x.items()) if isinstance(x, Mapping) and not isinstance(x, dict) else x


def predictions(y_pred: Any) -> Any:
    """The prediction tensors of an output for Keras losses and metrics: logits, or (start, end) logits."""
    if not isinstance(y_pred, ModelOutput):
        return y_pred
    if getattr(y_pred, "logits", None) is not None:
        return y_pred.logits
    if getattr(y_pred, "start_logits", None) is not None:
        return (y_pred.start_logits, y_pred.end_logits)
    return y_pred.last_hidden_state


__all__ = ["TFRobertaPreLayerNormPreTrainedModel", "CheckpointError"]
