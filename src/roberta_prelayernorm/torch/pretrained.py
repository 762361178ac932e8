"""The base class of every model: initialisation, tying, loading and saving, embedding resizing."""

from __future__ import annotations

import inspect
import logging
import os
from typing import Any, Callable, TypeVar

import torch
from torch import nn

from ..core.config import RobertaPreLayerNormConfig
from ..core.dtypes import dtype_name
from ..core.errors import CheckpointError, LoadingInfo
from ..core.pretrained import warn_about
from ..core.generation import GENERATION_CONFIG_NAME, GenerationConfig
from ..core.hub import HubOptions
from ..core.weights import BASE_PREFIX, is_ignored_unexpected, match_prefix, resolve_weights, tied_aliases
from . import ort_engine
from .checkpoint import read_weights, save_weights
from .generation import GenerationMixin
from .precision import is_quantized

logger = logging.getLogger("roberta_prelayernorm")
M = TypeVar("M", bound="RobertaPreLayerNormPreTrainedModel")


class RobertaPreLayerNormPreTrainedModel(nn.Module):
    """Common methods of the seven model classes."""

    config_class = RobertaPreLayerNormConfig
    base_model_prefix = BASE_PREFIX
    main_input_name = "input_ids"
    supports_gradient_checkpointing = True
    _tied_weights_keys: list[str] = []
    # read by generic code written for the reference (its test suite, accelerate): none of them apply here
    _keys_to_ignore_on_load_missing: list[str] | None = None
    _keys_to_ignore_on_load_unexpected: list[str] | None = None
    _keep_in_fp32_modules: list[str] | None = None
    _no_split_modules: list[str] | None = None

    def __init__(self, config: RobertaPreLayerNormConfig, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        if not isinstance(config, RobertaPreLayerNormConfig):
            raise TypeError(f"config must be a RobertaPreLayerNormConfig, got {type(config).__name__}")
        config.validate()  # the sizes a model needs: heads that divide hidden_size, ...
        self.config = config
        self.name_or_path = config.name_or_path
        self.generation_config = GenerationConfig.from_model_config(config) if self.can_generate() else None

    # ------------------------------------------------------------------------------- initialisation
    def post_init(self) -> None:
        """Initialise every weight as the reference does, prune the config's ``pruned_heads``, tie the LM
        head to the embeddings, and honour a legacy ``gradient_checkpointing`` config key."""
        self.apply(self._init_weights)
        if self.config.pruned_heads:
            self.prune_heads(self.config.pruned_heads)
        self.tie_weights()
        if getattr(self.config, "gradient_checkpointing", False):  # old config.json files
            self.gradient_checkpointing_enable()
            del self.config.gradient_checkpointing  # consumed: not saved again, as in the reference

    def _init_weights(self, module: nn.Module) -> None:
        for name, param in module.named_parameters(recurse=False):
            init_parameter(module, name, param, self.config.initializer_range)

    def tie_weights(self) -> None:
        """Share the LM head's decoder weight with the word embeddings (``tie_word_embeddings``); with
        ``config.torchscript`` give it a copy instead, as the reference does for ``torch.jit``."""
        lm_head = getattr(self, "lm_head", None)
        if lm_head is None:
            return
        lm_head.decoder.bias = lm_head.bias
        if self.config.tie_word_embeddings:
            embeddings = self.get_input_embeddings().weight
            if self.config.torchscript:
                lm_head.decoder.weight = nn.Parameter(embeddings.detach().clone())
            else:
                lm_head.decoder.weight = embeddings

    # ---------------------------------------------------------------------------------- head pruning
    def prune_heads(self, heads_to_prune: dict[int, list[int]]) -> None:
        """Remove attention heads: ``{layer: [head, ...]}``, heads numbered as in the unpruned model
        (layers may count from the end, ``-1`` being the last, and are recorded as given, as the reference).

        The query/key/value and output projections of those layers shrink; ``config.pruned_heads`` records
        the union of everything pruned, so a saved model is rebuilt pruned when it is loaded.

        Raises:
            ValueError: For a layer or a head out of range.
        """
        config = self.config
        if not isinstance(heads_to_prune, dict):
            raise ValueError(f"heads_to_prune must be a dict {{layer: [heads]}}, got {type(heads_to_prune).__name__}")
        layers = self.base_model.encoder.layer
        checked: dict[int, set[int]] = {}
        for layer, heads in heads_to_prune.items():
            if not isinstance(layer, int) or isinstance(layer, bool) or not -len(layers) <= layer < len(layers):
                raise ValueError(f"prune_heads: layer {layer!r} is out of range [0, {len(layers)}) "
                                 f"(or [-{len(layers)}, 0) counting from the last, as Python indexes)")
            for head in heads:
                if not isinstance(head, int) or isinstance(head, bool) or not 0 <= head < config.num_attention_heads:
                    raise ValueError(f"prune_heads: head {head!r} of layer {layer} is out of range "
                                     f"[0, num_attention_heads={config.num_attention_heads})")
            checked[layer] = set(heads)
        for layer, heads in checked.items():
            config.pruned_heads[layer] = sorted(set(config.pruned_heads.get(layer, [])) | heads)
            layers[layer].attention.prune_heads(heads)

    # ------------------------------------------------------------------------------------ accessors
    @property
    def base_model(self) -> nn.Module:
        return getattr(self, self.base_model_prefix, self)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.base_model.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.base_model.set_input_embeddings(value)

    def get_output_embeddings(self) -> nn.Linear | None:
        return None

    @classmethod
    def can_generate(cls) -> bool:
        """Whether the class has ``generate`` (the causal LM): only then a ``generation_config`` is kept."""
        return issubclass(cls, GenerationMixin)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(p.dtype for p in self.parameters() if p.is_floating_point())

    def num_parameters(self, only_trainable: bool = False, exclude_embeddings: bool = False) -> int:
        """Number of (distinct) parameters; tied weights count once."""
        skip = set()
        if exclude_embeddings:
            skip = {id(m.weight) for m in self.modules() if isinstance(m, nn.Embedding)}
        return sum(p.numel() for p in self.parameters()
                   if id(p) not in skip and (p.requires_grad or not only_trainable))

    def set_fast_path(self, enabled: bool, *, compiled: bool = False, engine: str = "torch") -> None:
        """Pack the real tokens whenever the inputs and requested features allow it (the default), or never.

        Packed, the model skips padding entirely, so outputs at padding positions are zeros instead of
        the reference's (meaningless) values; real tokens agree within float rounding. ``compiled=True``
        also runs the layers of inputs without padding (one text, or texts of one length) through
        ``torch.compile`` in inference (no autograd): the first such call compiles for some seconds;
        later ones fuse LayerNorm and the attention's reshaping around the packed products.
        ``engine="onnxruntime"`` runs such inputs' whole forward (ids or embeddings, in fp32 or int8 on a
        CPU, in inference) in one ONNX Runtime session on the model's parameters instead
        (:mod:`roberta_prelayernorm.torch.ort_engine`).
        """
        if not isinstance(enabled, bool) or not isinstance(compiled, bool):
            raise TypeError(f"set_fast_path takes bools, not {enabled!r} and compiled={compiled!r}")
        if engine not in ort_engine.ENGINES:
            raise ValueError(f"set_fast_path: unknown engine {engine!r}; choose one of {', '.join(ort_engine.ENGINES)}")
        if compiled and not enabled:
            raise ValueError("set_fast_path(False, compiled=True): the compiled layers are part of the fast path")
        if engine != "torch" and not enabled:
            raise ValueError(f"set_fast_path(False, engine={engine!r}): the {engine} engine is part of the fast path")
        if compiled and engine != "torch":
            raise ValueError(f"set_fast_path(compiled=True, engine={engine!r}): the compiled layers are torch's; "
                             "choose one")
        if compiled and is_quantized(self):
            raise ValueError("set_fast_path(compiled=True) is for float models; this one is int8 "
                             "(dynamically quantised) and runs eagerly")
        if engine == "onnxruntime":
            ort_engine.require_onnxruntime()
        self.base_model.use_fast_path = enabled
        self.base_model.compile_fast_path = compiled
        self.base_model.fast_engine = engine

    # ----------------------------------------------------------------------- gradient checkpointing
    def gradient_checkpointing_enable(self, gradient_checkpointing_kwargs: dict | None = None) -> None:
        """Recompute each layer's activations in the backward pass instead of storing them."""
        self.base_model.encoder.gradient_checkpointing = True

    def gradient_checkpointing_disable(self) -> None:
        self.base_model.encoder.gradient_checkpointing = False

    @property
    def is_gradient_checkpointing(self) -> bool:
        return self.base_model.encoder.gradient_checkpointing

    # ------------------------------------------------------------------------------------- resizing
    def resize_token_embeddings(
        self, new_num_tokens: int | None = None, pad_to_multiple_of: int | None = None
    ) -> nn.Embedding:
        """Grow or shrink the vocabulary; new rows are initialised, the LM head follows.

        Returns:
            The (new) input embedding module.
        """
        old = self.get_input_embeddings()
        for name, value in (("new_num_tokens", new_num_tokens), ("pad_to_multiple_of", pad_to_multiple_of)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                raise ValueError(f"{name} must be an integer, got {value!r}")
        if pad_to_multiple_of is not None and pad_to_multiple_of < 1:
            raise ValueError(f"pad_to_multiple_of must be positive, got {pad_to_multiple_of}")
        if new_num_tokens is None and pad_to_multiple_of is None:
            return old
        n = old.num_embeddings if new_num_tokens is None else new_num_tokens
        if pad_to_multiple_of is not None:
            n = -(-n // pad_to_multiple_of) * pad_to_multiple_of
        if n < 1:
            raise ValueError(f"new_num_tokens must be positive, got {n}")
        keep = min(n, old.num_embeddings)
        new = nn.Embedding(n, old.embedding_dim, padding_idx=old.padding_idx if (old.padding_idx or 0) < n else None,
                           device=old.weight.device, dtype=old.weight.dtype)
        self._init_weights(new)
        with torch.no_grad():
            new.weight[:keep] = old.weight[:keep]
        self.set_input_embeddings(new)
        lm_head = getattr(self, "lm_head", None)
        if lm_head is not None:
            old_decoder, old_bias = lm_head.decoder, lm_head.bias
            decoder = nn.Linear(old_decoder.in_features, n, device=old_bias.device, dtype=old_bias.dtype)
            self._init_weights(decoder)
            with torch.no_grad():
                decoder.bias[:keep] = old_bias[:keep]
                if not self.config.tie_word_embeddings:
                    decoder.weight[:keep] = old_decoder.weight[:keep]
            lm_head.decoder = decoder
            lm_head.bias = decoder.bias
        self.config.vocab_size = n
        self.vocab_size = n  # the reference keeps it on the model too
        self.tie_weights()
        return new

    # ------------------------------------------------------------------------------ loading, saving
    @classmethod
    def from_pretrained(
        cls: type[M],
        pretrained_model_name_or_path: str | os.PathLike | None,
        *model_args: Any,
        config: RobertaPreLayerNormConfig | None = None,
        state_dict: dict[str, torch.Tensor] | None = None,
        cache_dir: str | os.PathLike | None = None,
        revision: str | None = None,
        local_files_only: bool = False,
        token: str | bool | None = None,
        torch_dtype: torch.dtype | str | None = None,
        dtype: torch.dtype | str | None = None,
        output_loading_info: bool = False,
        ignore_mismatched_sizes: bool = False,
        **kwargs: Any,
    ) -> M | tuple[M, dict[str, list]]:
        """Load a model from a folder or a hub id.

        Args:
            pretrained_model_name_or_path: Local folder or hub id (``org/name``); None to build the model
                from ``config`` and ``state_dict`` alone.
            config: Use this config instead of the checkpoint's ``config.json``.
            state_dict: Use these tensors instead of the checkpoint's weight files (which are then not read).
            cache_dir, revision, local_files_only, token, subfolder: Where to find the files (``core.hub``).
            torch_dtype: ``torch.float16``, ``"bfloat16"``, ``"auto"`` (the checkpoint's dtype) or None (fp32).
            dtype: Alias of ``torch_dtype``.
            output_loading_info: Also return the missing / unexpected / mismatched keys.
            ignore_mismatched_sizes: Initialise tensors whose shapes do not fit instead of raising.
            **kwargs: Config overrides (``num_labels=3``) and constructor arguments (``add_pooling_layer``).

        Returns:
            The model in eval mode, or ``(model, loading_info)``. The loading info names keys as the
            checkpoint does (a bare model's checkpoint in a head model: without the base prefix).

        Raises:
            CheckpointError: (an ``OSError``) if the files cannot be found or read;
                ``CheckpointShapeError`` (also a ``ValueError``) if shapes do not fit the config.
            ValueError: If ``pretrained_model_name_or_path`` is None without ``config`` and ``state_dict``.
        """
        path = None if pretrained_model_name_or_path is None else os.fspath(pretrained_model_name_or_path)
        kwargs = dict(kwargs, cache_dir=cache_dir, revision=revision, local_files_only=local_files_only, token=token)
        hub = HubOptions.pop_from(kwargs)
        for name in HubOptions.__dataclass_fields__:  # the ones given as None
            kwargs.pop(name, None)
        init_names = set(inspect.signature(cls.__init__).parameters) - {"self", "config", "args", "kwargs"}
        init_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in init_names}
        if path is None and (config is None or state_dict is None):
            raise ValueError("from_pretrained(None, ...) builds the model from config= and state_dict=: give both "
                             "(or a folder or hub id)")
        if config is None:
            config = RobertaPreLayerNormConfig.from_pretrained(path, **hub.as_kwargs(), **kwargs)
        elif kwargs:
            raise TypeError(f"unexpected arguments {sorted(kwargs)} (config overrides need config=None)")
        if state_dict is not None:
            if not isinstance(state_dict, dict) or not all(isinstance(v, torch.Tensor) for v in state_dict.values()):
                raise TypeError("state_dict must be a dict of tensors")
            state = dict(state_dict)
        else:
            state = read_weights(resolve_weights(path, hub)[1])
        if path is not None:
            config.name_or_path = path

        dtype = resolve_dtype(torch_dtype if torch_dtype is not None else dtype, config, state)
        with torch.device("meta"):
            model = cls(config, *model_args, **init_kwargs)
        model = model.to(dtype).to_empty(device="cpu")
        info = model.load_checkpoint_state(state, ignore_mismatched_sizes=ignore_mismatched_sizes)
        warn_about(info, logger, cls.__name__, path)
        if model.can_generate() and path is not None:
            model.generation_config = GenerationConfig.from_pretrained(path, model.config, hub=hub)
        model.eval()
        return (model, info.as_dict()) if output_loading_info else model

    def load_checkpoint_state(self, state: dict[str, torch.Tensor], *, ignore_mismatched_sizes: bool = False
                              ) -> LoadingInfo:
        """Copy a checkpoint's tensors into this model; initialise what the checkpoint lacks.

        Works on a model whose storage is uninitialised (built on the meta device, then ``to_empty``).
        """
        renames = match_prefix(state, self.state_dict(), self.base_model_prefix)
        named = {model_key: key for key, model_key in renames.items()}  # model key → the checkpoint's name
        state = {renames[k]: v for k, v in state.items()}
        if "lm_head.decoder.bias" in state:  # the bias the decoder applies (untied files keep it apart)
            state["lm_head.bias"] = state["lm_head.decoder.bias"]
        own = self.state_dict(keep_vars=True)
        tied = self.tied_aliases()
        unexpected, mismatched_shapes = [], []
        for key, tensor in state.items():
            if key not in own:
                if not is_ignored_unexpected(key):
                    unexpected.append(key)
            elif own[key].shape != tensor.shape:
                mismatched_shapes.append((key, tuple(tensor.shape), tuple(own[key].shape)))
        mismatched = {k for k, _, _ in mismatched_shapes}
        loadable = {k: v for k, v in state.items() if k in own and k not in mismatched}
        in_checkpoint = set(loadable) | mismatched
        present = in_checkpoint | {alias for alias, source in tied.items() if source in in_checkpoint}
        missing = [k for k in own if k not in present]
        # the report names keys as the checkpoint does, as the reference's does: with or without the base prefix
        checkpoint_name = checkpoint_naming(named.values(), own, self.base_model_prefix)
        info = LoadingInfo(missing_keys=sorted(checkpoint_name(k) for k in missing),
                           unexpected_keys=[named.get(k, k) for k in unexpected],
                           mismatched_keys=[(named.get(k, k), a, b) for k, a, b in mismatched_shapes])
        if info.mismatched_keys and not ignore_mismatched_sizes:
            raise info.shape_error()
        with torch.no_grad():
            for key, tensor in loadable.items():
                own[key].copy_(tensor)
        self.tie_weights()
        for key in missing + sorted(mismatched):
            module_name, _, param_name = key.rpartition(".")
            module = self.get_submodule(module_name)
            init_parameter(module, param_name, getattr(module, param_name), self.config.initializer_range)
        self.tie_weights()
        return info

    def tied_aliases(self) -> dict[str, str]:
        """State-dict keys that are aliases of another key (``lm_head.decoder.weight`` → the embeddings)."""
        return tied_aliases(getattr(self, "lm_head", None) is not None, self.config.tie_word_embeddings)

    def saved_aliases(self) -> set[str]:
        """Aliases that are not written: all, except the decoder bias of an untied head, which
        ``transformers`` >= 5 reads from its own key."""
        return {a for a in self.tied_aliases() if self.config.tie_word_embeddings or a != "lm_head.decoder.bias"}

    def save_pretrained(
        self,
        save_directory: str | os.PathLike,
        *,
        max_shard_size: int | str = "5GB",
        safe_serialization: bool = True,
        state_dict: dict[str, torch.Tensor] | None = None,
        is_main_process: bool = True,
    ) -> None:
        """Write ``config.json`` and ``model.safetensors`` (sharded past ``max_shard_size``) atomically.

        Tied aliases are written once, under the key the reference keeps. The folder loads in
        ``transformers`` with no missing weights.

        Raises:
            CheckpointError: If the folder cannot be written; it is then left as it was.
        """
        if not safe_serialization:
            raise ValueError("only safetensors are written (safe_serialization=True)")
        if not is_main_process:
            return
        state = dict(self.state_dict() if state_dict is None else state_dict)
        for alias in self.saved_aliases():
            state.pop(alias, None)
        config = self.config.to_dict()
        config["architectures"] = [type(self).__name__]
        config["torch_dtype"] = str(self.dtype).removeprefix("torch.")
        if "dtype" in config:  # the name newer files use: both must say the same
            config["dtype"] = config["torch_dtype"]
        config_json = RobertaPreLayerNormConfig.from_dict(config).to_json_string()
        extra = {}
        if self.can_generate() and self.generation_config is not None:
            extra[GENERATION_CONFIG_NAME] = self.generation_config.to_json_string()
        save_weights(os.fspath(save_directory), state, config_json, max_shard_size, extra_files=extra)


def checkpoint_naming(checkpoint_keys: Any, model_keys: Any, prefix: str) -> Callable[[str], str]:
    """A model key as the checkpoint would name it: without the base prefix when a bare model's
    checkpoint is loaded into a head model, with it when a head model's is loaded into the bare model."""
    head = prefix + "."
    has_prefix = any(k.startswith(head) for k in checkpoint_keys)
    expects_prefix = any(k.startswith(head) for k in model_keys)
    if expects_prefix and not has_prefix:
        return lambda key: key[len(head):] if key.startswith(head) else key
    if has_prefix and not expects_prefix:
        return lambda key: head + key
    return lambda key: key


def init_parameter(module: nn.Module, name: str, param: torch.Tensor, std: float) -> None:
    """The reference initialisation of one parameter, chosen by the kind of module that owns it."""
    with torch.no_grad():
        if isinstance(module, nn.LayerNorm):
            param.fill_(1.0 if name == "weight" else 0.0)
        elif name == "bias" or (name.endswith("bias") and param.dim() == 1):
            param.zero_()
        else:
            param.normal_(mean=0.0, std=std)
            if isinstance(module, nn.Embedding) and module.padding_idx is not None:
                param[module.padding_idx].zero_()


def resolve_dtype(requested: torch.dtype | str | None, config: RobertaPreLayerNormConfig,
                  state: dict[str, torch.Tensor]) -> torch.dtype:
    """None → float32; "auto" → the config's ``torch_dtype`` or the checkpoint's; names → torch dtypes."""
    if requested is None:
        return torch.float32
    if requested == "auto":
        requested = config.torch_dtype or next((t.dtype for t in state.values() if t.is_floating_point()),
                                               torch.float32)
    if isinstance(requested, torch.dtype) and not requested.is_floating_point:
        raise ValueError(f"torch_dtype must be a floating-point dtype, got {requested}")
    return torch_dtype(requested)


def torch_dtype(value: Any) -> torch.dtype:
    """The torch dtype of any name the core reads (``"bf16"``, ``"torch.float16"``, ``torch.float32``).

    Raises:
        ValueError: For a name that is not float32, float16 or bfloat16.
    """
    return getattr(torch, dtype_name(value))


__all__ = ["RobertaPreLayerNormPreTrainedModel", "CheckpointError", "init_parameter", "resolve_dtype", "torch_dtype"]
