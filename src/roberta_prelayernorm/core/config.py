"""The model configuration: every documented hyperparameter plus the general fields users rely on."""

from __future__ import annotations

import copy
import json
import os
import sys
from typing import Any

from .dtypes import dtype_name
from .files import atomic_write_text, read_json_object
from .hub import HubOptions, resolve_file

CONFIG_NAME = "config.json"
MODEL_TYPE = "roberta-prelayernorm"
ACTIVATIONS = ("gelu", "gelu_new", "relu", "silu", "swish", "gelu_pytorch_tanh")
POSITION_EMBEDDING_TYPES = ("absolute", "relative_key", "relative_key_query")
PROBLEM_TYPES = ("regression", "single_label_classification", "multi_label_classification")

# The general attributes of the reference's ``PretrainedConfig`` (transformers 4.37.2) that generic code
# reads, with its defaults. They are written to ``config.json`` only when they differ from these, as the
# reference's ``save_pretrained`` does.
GENERAL_DEFAULTS: dict[str, Any] = {
    "torchscript": False,  # tuple outputs and cloned (untied) LM head weights, for torch.jit
    "use_bfloat16": False,
    "tf_legacy_loss": False,
    "chunk_size_feed_forward": 0,  # accepted; the feed-forward block is per position, so chunks change nothing
    "is_encoder_decoder": False,
    "cross_attention_hidden_size": None,
    "tie_encoder_decoder": False,
    "finetuning_task": None,
    "tokenizer_class": None,
    "prefix": None,
    "sep_token_id": None,
    "decoder_start_token_id": None,
    "task_specific_params": None,
}
# The generation parameters the reference's config still carries for old files (``generate`` reads its
# GenerationConfig; ``GenerationConfig.from_model_config`` takes the ones set here).
GENERATION_DEFAULTS: dict[str, Any] = {
    "max_length": 20, "min_length": 0, "do_sample": False, "early_stopping": False, "num_beams": 1,
    "num_beam_groups": 1, "diversity_penalty": 0.0, "temperature": 1.0, "top_k": 50, "top_p": 1.0,
    "typical_p": 1.0, "repetition_penalty": 1.0, "length_penalty": 1.0, "no_repeat_ngram_size": 0,
    "encoder_no_repeat_ngram_size": 0, "bad_words_ids": None, "num_return_sequences": 1, "output_scores": False,
    "return_dict_in_generate": False, "forced_bos_token_id": None, "forced_eos_token_id": None,
    "remove_invalid_values": False, "exponential_decay_length_penalty": None, "suppress_tokens": None,
    "begin_suppress_tokens": None,
}
DEFAULTS = {**GENERAL_DEFAULTS, **GENERATION_DEFAULTS}


class RobertaPreLayerNormConfig:
    """Hyperparameters of a RoBERTa-PreLayerNorm model.

    The defaults give a RoBERTa-base sized model. Keys that this class does not know (for instance
    ``transformers_version`` or task-specific settings) are kept as attributes and written back on save,
    so a real ``config.json`` round-trips unchanged.

    Args:
        vocab_size: Number of token ids.
        hidden_size: Width of the residual stream and the pooler.
        num_hidden_layers: Number of encoder layers.
        num_attention_heads: Attention heads per layer; must divide ``hidden_size``. (Sizes are checked
            when a model is built, by :meth:`validate`, as in the reference; the config accepts them.)
        intermediate_size: Width of the feed-forward layer.
        hidden_act: "gelu" (exact erf), "gelu_new" (tanh approximation), "relu" or "silu".
        hidden_dropout_prob: Dropout on embeddings and on each residual branch.
        attention_probs_dropout_prob: Dropout on attention probabilities.
        max_position_embeddings: Rows of the position table (RoBERTa uses 514 for 512 tokens).
        type_vocab_size: Number of token types.
        initializer_range: Standard deviation of the normal initialisation.
        layer_norm_eps: Epsilon of every LayerNorm.
        pad_token_id: Padding id; also the padding row of the position table.
        bos_token_id: Beginning-of-sequence id.
        eos_token_id: End-of-sequence id.
        position_embedding_type: "absolute", "relative_key" or "relative_key_query".
        use_cache: Whether a decoder returns its key/value cache by default.
        classifier_dropout: Dropout of the classification heads (``hidden_dropout_prob`` when None).
        is_decoder: Causal self-attention (for ``RobertaPreLayerNormForCausalLM``).
        add_cross_attention: Add a cross-attention block to each layer (decoder only).
        tie_word_embeddings: Share the LM head's decoder weight with the word embeddings.
        num_labels: Number of labels of a classification head (defaults to 2).
        id2label: Label names by id; ``num_labels`` follows its length.
        label2id: Label ids by name.
        problem_type: "regression", "single_label_classification" or "multi_label_classification".
        output_attentions: Return attention probabilities by default.
        output_hidden_states: Return every layer's hidden states by default.
        return_dict: Return output dataclasses (True) or plain tuples (False) by default.
        architectures: Class names the weights were saved from.
        torch_dtype: dtype the weights were saved in: a ``torch.dtype`` when read while torch is
            imported, else its name ("float32"); always the name in ``config.json``.
        pruned_heads: Heads removed from each layer, ``{layer: [head, ...]}`` (see ``prune_heads``).
        **kwargs: The reference's other general attributes (``torchscript``, ``chunk_size_feed_forward``,
            ``is_encoder_decoder``, ``tokenizer_class``, ... : :data:`GENERAL_DEFAULTS`, and the legacy
            generation parameters :data:`GENERATION_DEFAULTS`), read as attributes with those defaults;
            any other key is kept and saved unchanged. A legacy ``gradient_checkpointing=True`` turns
            gradient checkpointing on when a model is built from the config.

    Raises:
        ValueError: If a choice (``hidden_act``, ``position_embedding_type``, ``problem_type``), a dropout
            or ``layer_norm_eps`` is out of its allowed set; sizes raise in :meth:`validate`.
    """

    model_type = MODEL_TYPE
    is_composition = False  # a single model, not one made of sub-configs (generic code reads this)

    def __init__(
        self,
        vocab_size: int = 50265,
        hidden_size: int = 768,
        num_hidden_layers: int = 12,
        num_attention_heads: int = 12,
        intermediate_size: int = 3072,
        hidden_act: str = "gelu",
        hidden_dropout_prob: float = 0.1,
        attention_probs_dropout_prob: float = 0.1,
        max_position_embeddings: int = 512,
        type_vocab_size: int = 2,
        initializer_range: float = 0.02,
        layer_norm_eps: float = 1e-12,
        pad_token_id: int | None = 1,
        bos_token_id: int | None = 0,
        eos_token_id: int | None = 2,
        position_embedding_type: str = "absolute",
        use_cache: bool = True,
        classifier_dropout: float | None = None,
        *,
        is_decoder: bool = False,
        add_cross_attention: bool = False,
        tie_word_embeddings: bool = True,
        num_labels: int | None = None,
        id2label: dict[int, str] | None = None,
        label2id: dict[str, int] | None = None,
        problem_type: str | None = None,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
        return_dict: bool = True,
        architectures: list[str] | None = None,
        torch_dtype: Any = None,
        pruned_heads: dict[Any, list[int]] | None = None,
        **kwargs: Any,
    ) -> None:
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.hidden_act = hidden_act
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.max_position_embeddings = max_position_embeddings
        self.type_vocab_size = type_vocab_size
        self.initializer_range = initializer_range
        self.layer_norm_eps = layer_norm_eps
        self.pad_token_id = pad_token_id
        self.bos_token_id = bos_token_id
        self.eos_token_id = eos_token_id
        self.position_embedding_type = position_embedding_type
        self.use_cache = use_cache
        self.classifier_dropout = classifier_dropout
        self.is_decoder = is_decoder
        self.add_cross_attention = add_cross_attention
        self.tie_word_embeddings = tie_word_embeddings
        self.problem_type = problem_type
        self.output_attentions = output_attentions
        self.output_hidden_states = output_hidden_states
        self.return_dict = return_dict
        self.architectures = architectures
        # newer files name the saved dtype "dtype"; that key is kept as it is and read as torch_dtype
        self.torch_dtype = torch_dtype if torch_dtype is not None else kwargs.get("dtype")
        self.pruned_heads = pruned_heads or {}
        self._name_or_path = str(kwargs.pop("name_or_path", kwargs.pop("_name_or_path", "")))
        kwargs.pop("model_type", None)
        self.label2id = label2id
        if id2label is not None:
            self.id2label = id2label  # sets num_labels
            if num_labels is not None and num_labels != len(self.id2label):
                raise ValueError(f"num_labels={num_labels} does not match id2label with {len(self.id2label)} labels")
        else:
            self.num_labels = 2 if num_labels is None else num_labels
        if self.label2id is None:
            self.label2id = {name: i for i, name in self.id2label.items()}
        for key, value in kwargs.items():
            setattr(self, key, value)
        self._validate(sizes=False)  # sizes are checked when a model is built, as in the reference

    def __getattr__(self, name: str) -> Any:
        """The reference's general attributes that were not set: their defaults."""
        if name in DEFAULTS:
            return copy.deepcopy(DEFAULTS[name])
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # ------------------------------------------------------------------------------ general attributes
    @property
    def torch_dtype(self) -> Any:
        """The saved dtype: ``torch.float16`` when torch is imported (as in the reference), else "float16".

        The core never imports torch: the name is stored, and turned into a ``torch.dtype`` on reading
        only if torch is already loaded (every PyTorch user has it; TensorFlow / JAX users get the name).
        """
        name = self._torch_dtype
        torch = sys.modules.get("torch")
        if name is None or torch is None:
            return name
        value = getattr(torch, name, None)
        return value if isinstance(value, torch.dtype) else name

    @torch_dtype.setter
    def torch_dtype(self, value: Any) -> None:
        self._torch_dtype = _dtype_name(value)

    @property
    def pruned_heads(self) -> dict[int, list[int]]:
        """Heads pruned per layer (``prune_heads`` adds to it); JSON's string keys are read as ints."""
        return self._pruned_heads

    @pruned_heads.setter
    def pruned_heads(self, value: dict[Any, list[int]]) -> None:
        if not isinstance(value, dict):
            raise ValueError(f"pruned_heads must be a dict {{layer: [heads]}}, got {type(value).__name__}")
        self._pruned_heads = {_layer_key(layer): heads for layer, heads in value.items()}

    @property
    def name_or_path(self) -> str:
        """Where the config was loaded from (set by ``from_pretrained``); not saved."""
        return self._name_or_path

    @name_or_path.setter
    def name_or_path(self, value: str | os.PathLike) -> None:
        self._name_or_path = str(value)

    # ----------------------------------------------------------------------------------------- labels
    @property
    def id2label(self) -> dict[int, str]:
        return self._id2label

    @id2label.setter
    def id2label(self, value: dict[Any, str]) -> None:
        self._id2label = {int(k): v for k, v in value.items()}

    @property
    def num_labels(self) -> int:
        return len(self._id2label)

    @num_labels.setter
    def num_labels(self, n: int) -> None:
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"num_labels must be a positive integer, got {n!r}")
        current = getattr(self, "_id2label", None)
        if current is None or len(current) != n:
            self._id2label = {i: f"LABEL_{i}" for i in range(n)}
            self.label2id = {name: i for i, name in self._id2label.items()}

    @property
    def use_return_dict(self) -> bool:
        """Whether models return dataclasses: ``return_dict``, except under ``torchscript`` (tuples)."""
        return self.return_dict and not self.torchscript

    @property
    def max_input_length(self) -> int:
        """The most tokens one sequence can have: absolute positions start after the padding id, so
        ``max_position_embeddings - pad_token_id - 1`` (514 rows → 512 tokens); relative positions
        allow ``max_position_embeddings``."""
        if self.position_embedding_type != "absolute":
            return self.max_position_embeddings
        return self.max_position_embeddings - (self.pad_token_id or 0) - 1

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    # ------------------------------------------------------------------------------------- validation
    def validate(self) -> None:
        """Check that the sizes and choices fit together, as a model built from the config needs.

        Raises:
            ValueError: Naming the first field that is wrong.
        """
        self._validate(sizes=True)

    def _validate(self, *, sizes: bool) -> None:
        """``sizes``: also the sizes a model needs (positive, heads dividing ``hidden_size``, the padding
        id inside the vocabulary), which the reference checks when a model is built, not in the config."""
        if sizes:
            for name in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                         "intermediate_size", "max_position_embeddings", "type_vocab_size"):
                value = getattr(self, name)
                if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                    raise ValueError(f"{name} must be a positive integer, got {value!r}")
            if self.hidden_size % self.num_attention_heads:
                raise ValueError(
                    f"hidden_size ({self.hidden_size}) is not a multiple of num_attention_heads "
                    f"({self.num_attention_heads})"
                )
            if self.pad_token_id is not None and not 0 <= self.pad_token_id < self.vocab_size:
                raise ValueError(f"pad_token_id {self.pad_token_id} is outside [0, vocab_size={self.vocab_size})")
        if isinstance(self.hidden_act, str) and self.hidden_act not in ACTIVATIONS:
            raise ValueError(f"hidden_act {self.hidden_act!r} is not one of {ACTIVATIONS}")
        if self.position_embedding_type not in POSITION_EMBEDDING_TYPES:
            raise ValueError(
                f"position_embedding_type {self.position_embedding_type!r} is not one of {POSITION_EMBEDDING_TYPES}"
            )
        if self.problem_type is not None and self.problem_type not in PROBLEM_TYPES:
            raise ValueError(f"problem_type {self.problem_type!r} is not one of {PROBLEM_TYPES}")
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value!r}")
        if not self.layer_norm_eps > 0:
            raise ValueError(f"layer_norm_eps must be positive, got {self.layer_norm_eps!r}")

    # ---------------------------------------------------------------------------------- serialisation
    def to_dict(self) -> dict[str, Any]:
        """All fields as JSON-ready values, ``model_type`` included."""
        out: dict[str, Any] = {}
        for key, value in self.__dict__.items():
            if key == "_id2label":
                out["id2label"] = {str(k): v for k, v in value.items()}
            elif key == "_torch_dtype":
                out["torch_dtype"] = value
            elif key == "_pruned_heads":
                if value:
                    out["pruned_heads"] = {str(k): copy.deepcopy(v) for k, v in value.items()}
            elif key in DEFAULTS and value == DEFAULTS[key]:
                continue  # the reference's defaults are not written
            elif not key.startswith("_"):
                out[key] = copy.deepcopy(value)
        out["model_type"] = self.model_type
        return dict(sorted(out.items()))

    def to_json_string(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def to_json_file(self, path: str | os.PathLike) -> None:
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.to_json_string())

    @classmethod
    def from_dict(cls, config_dict: dict[str, Any], **kwargs: Any) -> RobertaPreLayerNormConfig:
        """Build a config from a dict; ``kwargs`` override its values."""
        values = dict(config_dict)
        model_type = values.get("model_type")
        if model_type is not None and model_type != MODEL_TYPE:
            raise ValueError(f"config has model_type {model_type!r}, expected {MODEL_TYPE!r}")
        values.update(kwargs)
        if "num_labels" in kwargs and "id2label" not in kwargs:
            values.pop("id2label", None)
            values.pop("label2id", None)
        elif "id2label" in values:
            values.pop("num_labels", None)
        return cls(**values)

    @classmethod
    def from_json_file(cls, path: str | os.PathLike) -> RobertaPreLayerNormConfig:
        return cls.from_dict(read_json_object(path))

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | os.PathLike,
        **kwargs: Any,
    ) -> RobertaPreLayerNormConfig:
        """Load ``config.json`` from a folder, a file or a hub id; ``kwargs`` override its values.

        Hub options (``cache_dir``, ``revision``, ``local_files_only``, ``token``, ``subfolder``,
        ``force_download``) are taken out of ``kwargs``; see :class:`~roberta_prelayernorm.core.hub.HubOptions`.

        Raises:
            OSError: If the folder, file or hub id has no readable config.
        """
        hub = HubOptions.pop_from(kwargs)
        path = os.fspath(pretrained_model_name_or_path)
        if os.path.isfile(path) and not path.endswith(".json"):
            folder = os.path.dirname(os.path.abspath(path))
            raise OSError(f"{path} is a file, not a model folder: give the folder that holds {CONFIG_NAME} and "
                          f"the weights ({folder})")
        config_file = path if os.path.isfile(path) else resolve_file(path, CONFIG_NAME, hub)
        data = read_json_object(config_file)
        return cls.from_dict(data, **kwargs)

    def save_pretrained(self, save_directory: str | os.PathLike) -> None:
        """Write ``config.json`` into ``save_directory`` (created if needed), atomically."""
        os.makedirs(save_directory, exist_ok=True)
        atomic_write_text(os.path.join(save_directory, CONFIG_NAME), self.to_json_string())

    # ------------------------------------------------------------------------------------------ misc
    def __eq__(self, other: object) -> bool:
        return isinstance(other, RobertaPreLayerNormConfig) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"{type(self).__name__} {self.to_json_string()}"


def _layer_key(layer: Any) -> Any:
    """JSON's ``"3"`` → ``3`` (and ``"-1"`` → ``-1``); other keys are kept as they are, as the reference does."""
    if isinstance(layer, str) and layer.lstrip("-").isdigit():
        return int(layer)
    return layer


def _dtype_name(dtype: Any) -> str | None:
    """``torch.float16`` or ``"float16"`` → ``"float16"``; other names (``"float64"``) are kept as they are."""
    if dtype is None or isinstance(dtype, str):
        return dtype
    try:
        return dtype_name(dtype)
    except ValueError:
        return str(dtype).removeprefix("torch.")


AutoConfig = RobertaPreLayerNormConfig
