"""The base class of the seven Flax model classes: a linen module plus its parameters.

A model class holds ``module`` (a ``flax.linen`` module, usable on its own) and ``params`` (a nested
dict); calling it checks the inputs, fills the defaults (positions, token types, masks, the cache) and
runs ``module.apply``. Checks that read values (token ids inside the vocabulary, positions inside the
table) need concrete arrays: under ``jax.jit`` they cannot run and are skipped (out-of-range ids
then gather NaN or clamp, as JAX does); checks of shapes and dtypes run in both.
"""

from __future__ import annotations

import logging
import os
from functools import partial
from typing import Any, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from ..core.config import RobertaPreLayerNormConfig
from ..core.errors import CheckpointError, LoadingInfo
from ..core.pretrained import warn_about
from ..core.generation import GenerationConfig
from ..core.hub import HubOptions
from ..core.inputs import check_id_ranges
from ..core.weights import BASE_PREFIX, is_ignored_unexpected, match_prefix, resolve_weights
from .checkpoint import flatten, read_msgpack, read_pytorch, save_msgpack, unflatten

logger = logging.getLogger("roberta_prelayernorm")

Array = Any
Params = dict[str, Any]


def is_concrete(x: Any) -> bool:
    """Whether an array has values (it is not a tracer of ``jit`` / ``grad`` / ``vmap``)."""
    return not isinstance(x, jax.core.Tracer)


class FlaxRobertaPreLayerNormPreTrainedModel:
    """Common methods of the seven Flax model classes.

    Args:
        config: The model configuration.
        input_shape: Shape of the dummy ``input_ids`` the parameters are initialised with.
        seed: Seed of the parameter initialisation.
        dtype: The computation dtype (``jnp.bfloat16`` computes in bf16); parameters stay float32
            (see ``to_bf16`` to cast them).
        _do_init: Initialise the parameters now; with False ``params`` is unset until given
            (``from_pretrained`` then returns ``(model, params)``).
        gradient_checkpointing: Recompute each layer in the backward pass (``nn.remat``).
        **kwargs: Module options, e.g. ``add_pooling_layer=False`` for the bare model.

    Raises:
        TypeError: If ``config`` is not a RobertaPreLayerNormConfig; ``ValueError`` if it is invalid.
    """

    config_class = RobertaPreLayerNormConfig
    base_model_prefix = BASE_PREFIX
    main_input_name = "input_ids"
    module_class: type[nn.Module]
    input_rank = 2  # (batch, length); multiple choice: (batch, choices, length)

    def __init__(self, config: RobertaPreLayerNormConfig, input_shape: tuple[int, ...] = (1, 1), seed: int = 0,
                 dtype: Any = jnp.float32, _do_init: bool = True, gradient_checkpointing: bool = False,
                 **kwargs: Any) -> None:
        if not isinstance(config, RobertaPreLayerNormConfig):
            raise TypeError(f"config must be a RobertaPreLayerNormConfig, got {type(config).__name__}")
        config.validate()
        if config.add_cross_attention and not config.is_decoder:
            raise ValueError("add_cross_attention=True needs is_decoder=True")
        self.config = config
        self.dtype = dtype
        self.input_shape = tuple(input_shape)
        self.seed = seed
        self.key = jax.random.PRNGKey(seed)
        self.generation_config: GenerationConfig | None = None
        self._module_kwargs = kwargs
        self._module = self.module_class(config=config, dtype=dtype, gradient_checkpointing=gradient_checkpointing,
                                         **kwargs)
        self._params: Params | None = None
        if _do_init:
            self._params = self.init_weights(self.key, self.input_shape)
            self._shapes = {k: tuple(v.shape) for k, v in flatten(self._params).items()}
        else:
            tree = jax.eval_shape(partial(self.init_weights, input_shape=self.input_shape), self.key)
            self._shapes = {k: tuple(v.shape) for k, v in flatten(tree).items()}
        self._is_initialized = _do_init

    # ------------------------------------------------------------------------------------- parameters
    @property
    def module(self) -> nn.Module:
        return self._module

    @property
    def _apply(self) -> Any:
        """``module.apply``, compiled once per input shape and set of flags (inside an outer ``jit`` it
        is inlined)."""
        if self.__dict__.get("_apply_for") is not self._module:
            self._apply_fn = jax.jit(self._module.apply, static_argnames=(
                "deterministic", "output_attentions", "output_hidden_states", "mutable"))
            self._apply_for = self._module
        return self._apply_fn

    @property
    def params(self) -> Params:
        if self._params is None:
            raise ValueError("the parameters are not initialised (_do_init=False): pass params=... to the call, "
                             "or set model.params = params")
        return self._params

    @params.setter
    def params(self, params: Params) -> None:
        self.check_params(params)
        self._params = params
        self._is_initialized = True

    @property
    def params_shape_tree(self) -> dict[str, Any]:
        """The shapes of the parameters, as a nested dict of tuples."""
        return unflatten(self._shapes)

    @property
    def required_params(self) -> set[tuple[str, ...]]:
        return {tuple(k.split("/")) for k in self._shapes}

    def check_params(self, params: Any) -> None:
        """A parameter tree must have exactly the model's paths and shapes.

        Raises:
            ValueError: Naming the first missing, unexpected or mismatched parameter.
        """
        if not isinstance(params, Mapping):
            raise TypeError(f"params must be a nested dict of arrays, got {type(params).__name__}")
        flat = flatten(params)
        for key, shape in self._shapes.items():
            if key not in flat:
                raise ValueError(f"params lack the parameter {key} of shape {shape}")
            got = tuple(getattr(flat[key], "shape", ()))
            if got != shape:
                raise ValueError(f"parameter {key} has shape {got}, the model expects {shape}")
        extra = next((k for k in flat if k not in self._shapes), None)
        if extra is not None:
            raise ValueError(f"params hold {extra}, which is not a parameter of {type(self).__name__}")

    def dummy_inputs(self, input_shape: tuple[int, ...]) -> dict[str, Array]:
        input_ids = jnp.zeros(input_shape, dtype=jnp.int32)
        inputs = {"input_ids": input_ids, "attention_mask": jnp.ones_like(input_ids),
                  "token_type_ids": jnp.zeros_like(input_ids),
                  "head_mask": jnp.ones((self.config.num_hidden_layers, self.config.num_attention_heads))}
        if self.config.add_cross_attention:
            inputs["encoder_hidden_states"] = jnp.zeros((*input_shape, self.config.hidden_size), self.dtype)
        return inputs

    def init_weights(self, rng: jax.Array, input_shape: tuple[int, ...], params: Params | None = None) -> Params:
        """Fresh parameters; with ``params``, only those it lacks are fresh."""
        params_rng, dropout_rng = jax.random.split(rng)
        fresh = jax.jit(self.module.init)({"params": params_rng, "dropout": dropout_rng},
                                          **self.dummy_inputs(input_shape))
        fresh = dict(fresh["params"])
        if params is None:
            return fresh
        flat = flatten(params)
        return unflatten({k: flat.get(k, v) for k, v in flatten(fresh).items()})

    def enable_gradient_checkpointing(self) -> None:
        self._module = self.module_class(config=self.config, dtype=self.dtype, gradient_checkpointing=True,
                                         **self._module_kwargs)

    def num_parameters(self, params: Params | None = None) -> int:
        return sum(int(np.prod(s)) for s in self._shapes.values())

    # ----------------------------------------------------------------------------------- precision
    def _cast(self, params: Params, dtype: Any, mask: Any = None) -> Params:
        flat = flatten(params)
        keep = flatten(mask) if mask is not None else {}
        cast = lambda x: x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x  # noqa: E731
        return unflatten({k: cast(v) if keep.get(k, True) else v for k, v in flat.items()})

    def to_bf16(self, params: Params, mask: Any = None) -> Params:
        """The floating-point parameters cast to bfloat16 (where ``mask``, a tree of bools, is True)."""
        return self._cast(params, jnp.bfloat16, mask)

    def to_fp16(self, params: Params, mask: Any = None) -> Params:
        return self._cast(params, jnp.float16, mask)

    def to_fp32(self, params: Params, mask: Any = None) -> Params:
        return self._cast(params, jnp.float32, mask)

    # ------------------------------------------------------------------------------------------ call
    def __call__(
        self,
        input_ids: Array,
        attention_mask: Array | None = None,
        token_type_ids: Array | None = None,
        position_ids: Array | None = None,
        head_mask: Array | None = None,
        encoder_hidden_states: Array | None = None,
        encoder_attention_mask: Array | None = None,
        params: Params | None = None,
        dropout_rng: jax.Array | None = None,
        train: bool = False,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        past_key_values: dict | None = None,
    ) -> Any:
        """Run the model.

        Args:
            input_ids: (batch, length) token ids (multiple choice: (batch, choices, length)); numpy or
                JAX integer arrays.
            attention_mask: 1 for tokens, 0 for padding, (batch, length), or (batch, length, length) for
                one mask per query. With ``past_key_values``: (batch, max_length of the cache).
            token_type_ids: Segment ids; default zeros.
            position_ids: Default: counted from ``input_ids`` (``pad_token_id + 1, …``; padding keeps
                ``pad_token_id``), after the cached positions.
            head_mask: (heads,) or (layers, heads); multiplies the attention probabilities.
            encoder_hidden_states, encoder_attention_mask: Cross-attention inputs (``add_cross_attention``).
            params: Parameters to use instead of ``self.params`` (e.g. inside ``jax.grad``).
            dropout_rng: PRNG key for dropout; needed with ``train=True``.
            train: Apply dropout.
            output_attentions, output_hidden_states, return_dict: As in the config when None.
            past_key_values: The cache of a decoder (``init_cache``, or the previous call's output).

        Returns:
            The head's output class (a pytree), with ``past_key_values`` set when a cache was passed; a
            tuple of its non-None fields with ``return_dict=False``.

        Raises:
            TypeError, ValueError: For inputs of the wrong type, shape or value (see the module docstring
                for what runs under ``jit``).
        """
        config = self.config
        output_attentions = config.output_attentions if output_attentions is None else output_attentions
        output_hidden_states = config.output_hidden_states if output_hidden_states is None else output_hidden_states
        return_dict = config.return_dict if return_dict is None else return_dict
        params = self.params if params is None else params
        self.check_params(params)
        inputs = self.prepare_inputs(input_ids, attention_mask, token_type_ids, position_ids, head_mask,
                                     encoder_hidden_states, encoder_attention_mask, past_key_values)
        rngs = {}
        if dropout_rng is not None:
            rngs["dropout"] = dropout_rng
        elif train and self.uses_dropout():
            raise ValueError("train=True applies dropout: pass dropout_rng=jax.random.PRNGKey(...)")
        variables: dict[str, Any] = {"params": params}
        mutable: Any = False
        if past_key_values is not None:
            variables["cache"] = past_key_values
            mutable = ("cache",)
        out = self._apply(variables, **inputs, deterministic=not train, output_attentions=output_attentions,
                          output_hidden_states=output_hidden_states, rngs=rngs, mutable=mutable)
        if past_key_values is not None:
            out, state = out
            out.past_key_values = state["cache"]
        if return_dict:
            return out
        values = out.to_tuple()
        if getattr(out, "past_key_values", None) is not None and len(values) > 1:  # the reference puts the cache second
            cache_at = out.keys().index("past_key_values")
            values = values[:1] + (values[cache_at],) + values[1:cache_at] + values[cache_at + 1:]
        return values

    def uses_dropout(self) -> bool:
        c = self.config
        return any(p for p in (c.hidden_dropout_prob, c.attention_probs_dropout_prob, c.classifier_dropout))

    # -------------------------------------------------------------------------------- input handling
    def prepare_inputs(self, input_ids: Array, attention_mask: Array | None, token_type_ids: Array | None,
                       position_ids: Array | None, head_mask: Array | None, encoder_hidden_states: Array | None,
                       encoder_attention_mask: Array | None, past_key_values: dict | None) -> dict[str, Array]:
        """Checked inputs with their defaults, as the module takes them."""
        config = self.config
        input_ids = integer_array("input_ids", input_ids)
        rank = self.input_rank
        if input_ids.ndim != rank:
            wanted = "(batch, choices, length)" if rank == 3 else "(batch, length)"
            raise ValueError(f"input_ids must have shape {wanted}, got {tuple(input_ids.shape)}"
                             + (": multiple choice needs the choices axis" if rank == 3 else ""))
        shape = tuple(input_ids.shape)
        if shape[-1] == 0:
            raise ValueError("input_ids is empty: length 0")
        past_length: Any = 0
        key_length = shape[-1]
        if past_key_values is not None:
            if not config.is_decoder:
                raise ValueError("past_key_values need a decoder (is_decoder=True in the config)")
            past_length, key_length = cache_state(past_key_values)
            if is_concrete(past_length) and int(past_length) + shape[-1] > key_length:
                raise ValueError(f"the cache holds {key_length} positions: {int(past_length)} are used and "
                                 f"{shape[-1]} more do not fit (init_cache with a larger max_length)")
        if token_type_ids is None:
            token_type_ids = jnp.zeros(shape, dtype=jnp.int32)
        token_type_ids = integer_array("token_type_ids", token_type_ids)
        if tuple(token_type_ids.shape) != shape:
            raise ValueError(f"token_type_ids has shape {tuple(token_type_ids.shape)}, the input {shape}")
        if position_ids is None:
            position_ids = position_ids_from_input_ids(input_ids, config.pad_token_id, past_length)
        position_ids = integer_array("position_ids", position_ids)
        if tuple(position_ids.shape) != shape:
            if tuple(position_ids.shape) == (1, shape[-1]) and rank == 2:
                position_ids = jnp.broadcast_to(position_ids, shape)
            else:
                raise ValueError(f"position_ids has shape {tuple(position_ids.shape)}, the input {shape}")
        if attention_mask is None:
            attention_mask = jnp.ones((*shape[:-1], key_length), dtype=jnp.int32)
        attention_mask = numeric_array("attention_mask", attention_mask)
        mask_shapes = [(*shape[:-1], key_length)]
        if rank == 2:
            mask_shapes.append((shape[0], shape[1], key_length))
        if tuple(attention_mask.shape) not in mask_shapes:
            wanted = " or ".join(str(s) for s in mask_shapes)
            raise ValueError(f"attention_mask has shape {tuple(attention_mask.shape)}; expected {wanted} for this "
                             "input" + (" (with past_key_values it covers the whole cache)" if past_key_values else ""))
        head_mask = self.layer_head_masks(head_mask)
        if encoder_hidden_states is not None:
            encoder_hidden_states, encoder_attention_mask = self.check_encoder(
                shape, encoder_hidden_states, encoder_attention_mask)
        if all(is_concrete(x) for x in (input_ids, token_type_ids, position_ids, past_length)):
            check_id_ranges(config, np.asarray(input_ids), np.asarray(token_type_ids), np.asarray(position_ids),
                            int(past_length) + shape[-1])
        return {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids,
                "position_ids": position_ids, "head_mask": head_mask, "encoder_hidden_states": encoder_hidden_states,
                "encoder_attention_mask": encoder_attention_mask}

    def layer_head_masks(self, head_mask: Array | None) -> Array | None:
        """``head_mask`` of shape (heads,) or (layers, heads) → (layers, heads) floats (fractions kept)."""
        if head_mask is None:
            return None
        head_mask = numeric_array("head_mask", head_mask)
        layers, heads = self.config.num_hidden_layers, self.config.num_attention_heads
        if tuple(head_mask.shape) == (heads,):
            return jnp.broadcast_to(head_mask.astype(jnp.float32), (layers, heads))
        if tuple(head_mask.shape) != (layers, heads):
            raise ValueError(f"head_mask has shape {tuple(head_mask.shape)}; expected ({heads},) or ({layers}, {heads})")
        return head_mask.astype(jnp.float32)

    def check_encoder(self, shape: tuple[int, ...], states: Array, mask: Array | None) -> tuple[Array, Array | None]:
        config = self.config
        if not config.add_cross_attention:
            raise ValueError("encoder_hidden_states were given, but the model has no cross-attention "
                             "(set add_cross_attention=True and is_decoder=True in the config)")
        states = numeric_array("encoder_hidden_states", states)
        if states.ndim != 3 or states.shape[0] != shape[0] or states.shape[-1] != config.hidden_size:
            raise ValueError(f"encoder_hidden_states must have shape ({shape[0]}, encoder length, "
                             f"hidden_size={config.hidden_size}), got {tuple(states.shape)}")
        if not jnp.issubdtype(states.dtype, jnp.floating):
            raise TypeError(f"encoder_hidden_states must be floating point, got dtype {states.dtype}")
        if mask is not None:
            mask = numeric_array("encoder_attention_mask", mask)
            if tuple(mask.shape) != tuple(states.shape[:2]):
                raise ValueError(f"encoder_attention_mask has shape {tuple(mask.shape)}; expected "
                                 f"{tuple(states.shape[:2])} (batch, encoder length)")
        return states, mask

    # ----------------------------------------------------------------------------------------- cache
    def init_cache(self, batch_size: int, max_length: int) -> dict[str, Any]:
        """An empty key/value cache for ``max_length`` positions (prompt plus new tokens).

        Pass it as ``past_key_values`` with an ``attention_mask`` of shape (batch, max_length) (the
        prompt's mask, then ones); each call returns the updated cache in ``past_key_values``.

        Raises:
            ValueError: If the model is not a decoder.
        """
        if not self.config.is_decoder:
            raise ValueError("init_cache needs a decoder: this model's config has is_decoder=False")
        ids = jnp.ones((batch_size, max_length), dtype=jnp.int32)
        shapes = jax.eval_shape(lambda: self.module.init(jax.random.PRNGKey(0), ids, jnp.ones_like(ids),
                                                         init_cache=True))
        return jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), dict(shapes["cache"]))

    # ------------------------------------------------------------------------------ loading, saving
    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | os.PathLike,
        dtype: Any = jnp.float32,
        *model_args: Any,
        config: RobertaPreLayerNormConfig | None = None,
        cache_dir: str | os.PathLike | None = None,
        ignore_mismatched_sizes: bool = False,
        force_download: bool = False,
        local_files_only: bool = False,
        token: str | bool | None = None,
        revision: str | None = None,
        from_pt: bool = False,
        _do_init: bool = True,
        output_loading_info: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Load a model from a folder or a hub id.

        Reads ``flax_model.msgpack`` (or its sharded index); a checkpoint without Flax weights, or
        ``from_pt=True``, reads the PyTorch files (``model.safetensors``, ``pytorch_model.bin``) and
        converts them (``core.layouts.flax``). The parameter tree is built by shape and filled from the
        checkpoint; only what the checkpoint lacks is initialised (and listed as missing).

        Args:
            pretrained_model_name_or_path: Local folder or hub id (``org/name``).
            dtype: The computation dtype; parameters keep the checkpoint's dtype.
            config: Use this config instead of the checkpoint's ``config.json``.
            cache_dir, force_download, local_files_only, token, revision: Passed to ``huggingface_hub``
                (``subfolder=`` too).
            ignore_mismatched_sizes: Initialise parameters whose shapes do not fit instead of raising.
            from_pt: Read the PyTorch weights even if there are Flax weights.
            _do_init: With False, return ``(model, params)`` and keep no parameters in the model.
            output_loading_info: Also return the missing / unexpected / mismatched keys.
            **kwargs: Config overrides (``num_labels=3``) and constructor arguments (``seed``,
                ``input_shape``, ``gradient_checkpointing``, ``add_pooling_layer``).

        Returns:
            The model; ``(model, params)`` with ``_do_init=False``; the loading info appended (a dict) with
            ``output_loading_info=True``.

        Raises:
            CheckpointError: (an ``OSError``) if the files cannot be found or read;
                ``CheckpointShapeError`` (also a ``ValueError``) if shapes do not fit the config.
        """
        path = os.fspath(pretrained_model_name_or_path)
        hub = HubOptions.pop_from(dict(kwargs, cache_dir=cache_dir, revision=revision, token=token,
                                       local_files_only=local_files_only, force_download=force_download))
        kwargs.pop("subfolder", None)
        init_names = {"input_shape", "seed", "gradient_checkpointing", "add_pooling_layer"}
        init_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in init_names}
        if config is None:
            options = {k: v for k, v in hub.as_kwargs().items() if v is not None}  # None would become config keys
            config = RobertaPreLayerNormConfig.from_pretrained(path, **options, **kwargs)
        elif kwargs:
            raise TypeError(f"unexpected arguments {sorted(kwargs)} (config overrides need config=None)")
        fmt, files = resolve_weights(path, hub, ("pt",) if from_pt else ("flax", "pt"))
        if fmt == "flax":
            flat, unplaced = read_msgpack(files), []
        else:
            flat, unplaced = read_pytorch(files, config.tie_word_embeddings)
        model = cls(config, *model_args, dtype=dtype, _do_init=False, **init_kwargs)
        params, info = model.fill_params(flat, ignore_mismatched_sizes=ignore_mismatched_sizes)
        info.unexpected_keys = unplaced + info.unexpected_keys
        warn_about(info, logger, cls.__name__, path)
        from ..core.generation import GenerationConfig

        if os.path.isdir(path):
            model.generation_config = GenerationConfig.from_pretrained(path, config)
        result: tuple = (model,)
        if _do_init:
            model.params = params
        else:
            result += (params,)
        if output_loading_info:
            result += (info.as_dict(),)
        return result[0] if len(result) == 1 else result

    def fill_params(self, flat: dict[str, Any], *, ignore_mismatched_sizes: bool = False
                    ) -> tuple[Params, LoadingInfo]:
        """The model's parameter tree from a checkpoint's flat Flax dict; what it lacks is initialised
        (N(0, initializer_range) for kernels and embeddings, 0 for biases, 1 for LayerNorm scales)."""
        renames = match_prefix(flat, self._shapes, self.base_model_prefix, sep="/")
        flat = {renames[k]: v for k, v in flat.items()}
        info = LoadingInfo()
        for key, value in flat.items():
            if key not in self._shapes:
                if not is_ignored_unexpected(key.replace("/", ".")):
                    info.unexpected_keys.append(key)
            elif tuple(value.shape) != self._shapes[key]:
                info.mismatched_keys.append((key, tuple(value.shape), self._shapes[key]))
        if info.mismatched_keys and not ignore_mismatched_sizes:
            raise info.shape_error()
        mismatched = {k for k, _, _ in info.mismatched_keys}
        rng = np.random.default_rng(self.seed)
        params = {}
        for key, shape in self._shapes.items():
            if key in flat and key not in mismatched:
                params[key] = jnp.asarray(flat[key])
                continue
            if key not in mismatched:
                info.missing_keys.append(key)
            params[key] = jnp.asarray(initial_value(key, shape, self.config.initializer_range, rng))
        return unflatten(params), info

    def save_pretrained(self, save_directory: str | os.PathLike, params: Params | None = None, *,
                        max_shard_size: int | str = "10GB", push_to_hub: bool = False, **kwargs: Any) -> None:
        """Write ``config.json`` and ``flax_model.msgpack`` (sharded past ``max_shard_size``) atomically:
        the folder loads in transformers 4.37.2's Flax classes as it loads here.

        Raises:
            CheckpointError: If the folder cannot be written; it is then left as it was.
        """
        if push_to_hub:
            raise ValueError("push_to_hub is not supported: save the folder, then upload it with huggingface_hub")
        params = self.params if params is None else params
        self.check_params(params)
        config = self.config.to_dict()
        config["architectures"] = [type(self).__name__.removeprefix("Flax")]  # as the reference writes it
        config_json = RobertaPreLayerNormConfig.from_dict(config).to_json_string()
        save_msgpack(os.fspath(save_directory), {k: np.asarray(v) for k, v in flatten(params).items()},
                     config_json, max_shard_size)

def initial_value(key: str, shape: tuple[int, ...], std: float, rng: np.random.Generator) -> np.ndarray:
    """The reference initialisation of one parameter, by its leaf name."""
    leaf = key.rsplit("/", 1)[-1]
    if leaf == "scale":
        return np.ones(shape, np.float32)
    if leaf == "bias":
        return np.zeros(shape, np.float32)
    return (rng.standard_normal(shape) * std).astype(np.float32)


def cache_state(cache: Any) -> tuple[Any, int]:
    """``(positions written, max_length)`` of a cache from ``init_cache``.

    Raises:
        ValueError: If it is not such a cache.
    """
    try:
        flat = flatten(cache)
        index = next(v for k, v in flat.items() if k.endswith("cache_index"))
        key = next(v for k, v in flat.items() if k.endswith("cached_key"))
    except (TypeError, AttributeError, StopIteration):
        raise ValueError("past_key_values must be the cache dict of init_cache (or of the previous call's "
                         "output)") from None
    return index, int(key.shape[1])


def integer_array(name: str, x: Any) -> Array:
    """A numpy or JAX integer array (nested lists are converted), as int32."""
    x = numeric_array(name, x)
    if x.dtype == bool or not jnp.issubdtype(x.dtype, jnp.integer):
        raise TypeError(f"{name} must hold integers, got dtype {x.dtype}")
    return x if x.dtype == jnp.int32 else x.astype(jnp.int32)


def numeric_array(name: str, x: Any) -> Array:
    """A JAX array of numbers or bools from a JAX or numpy array, nested lists, or anything numpy converts
    (a CPU torch tensor)."""
    if not isinstance(x, jax.Array):
        if not isinstance(x, (list, tuple)) and not hasattr(x, "__array__"):
            raise TypeError(f"{name} must be a numpy or JAX array, got {type(x).__name__}")
        try:
            x = np.asarray(x)
        except ValueError:
            raise ValueError(f"{name} is a ragged list: pad it to a rectangle") from None
    if not (x.dtype == bool or jnp.issubdtype(x.dtype, jnp.number)):
        raise TypeError(f"{name} must hold numbers, got dtype {x.dtype}")
    return x if isinstance(x, jax.Array) else jnp.asarray(x)


def position_ids_from_input_ids(input_ids: Any, padding_idx: int, past_length: Any = 0) -> Any:
    """Real tokens count up from ``padding_idx + 1`` (after ``past_length`` cached ones); padding keeps
    ``padding_idx``."""
    is_token = (input_ids != padding_idx).astype(jnp.int32)
    return (jnp.cumsum(is_token, axis=-1) + past_length) * is_token + padding_idx


__all__ = ["FlaxRobertaPreLayerNormPreTrainedModel", "CheckpointError"]
