"""Hugging Face-format sources: our folders (PyTorch, TensorFlow or Flax weights) and princeton-nlp's.

Each reader gives a config and a PyTorch state dict in our names; ``convert`` builds the model from
them. TensorFlow (``tf_model.h5``) and Flax (``flax_model.msgpack``) weights are read with the table
of their family in ``core.layouts`` (``tf``, ``flax``), which those families' packages bring.
"""

from __future__ import annotations

import importlib
from typing import Any

from ..core.config import RobertaPreLayerNormConfig
from ..core.errors import CheckpointError
from ..core.files import read_json_object
from ..core.hub import HubOptions, resolve_file
from ..core.layouts import Rule, matches, to_pt_state
from ..core.layouts import princeton as princeton_layout
from ..core.weights import resolve_weights

FAMILIES = {"tf": "TF", "flax": "Flax"}
EXTRAS_HINT = "pip install 'roberta-prelayernorm[{extra}]'"


def read_config(source: str, hub: HubOptions) -> dict[str, Any]:
    return read_json_object(resolve_file(source, "config.json", hub))


def read_ours(source: str, hub: HubOptions) -> tuple[RobertaPreLayerNormConfig, dict[str, Any], str]:
    """``(config, state, weights format)`` of one of our folders (or hub repos), in any framework."""
    options = {k: v for k, v in hub.as_kwargs().items() if v is not None}
    config = RobertaPreLayerNormConfig.from_pretrained(source, **options)
    fmt, files = resolve_weights(source, hub, formats=("pt", "tf", "flax"))
    if fmt == "pt":
        from ..torch.checkpoint import read_weights

        return config, read_weights(files), fmt
    return config, foreign_state(fmt, files), fmt


def read_princeton(source: str, hub: HubOptions) -> tuple[RobertaPreLayerNormConfig, dict[str, Any], list[str]]:
    """``(config, state, dropped keys)`` of a princeton-nlp folder (``model_type`` "roberta", ``roberta.``).

    Raises:
        CheckpointError: If the weights are those of a post-LN RoBERTa (no ``attention.LayerNorm``).
    """
    from ..torch.checkpoint import read_weights

    data = read_config(source, hub)
    data.pop("model_type", None)
    data["architectures"] = [a.replace("Roberta", "RobertaPreLayerNorm", 1) if "PreLayerNorm" not in a else a
                             for a in data.get("architectures") or []] or None
    try:
        config = RobertaPreLayerNormConfig.from_dict(data)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{source}: its config.json does not describe a RoBERTa model: {e}") from None
    raw = read_weights(resolve_weights(source, hub, formats=("pt",))[1])
    if not any(k.endswith("attention.LayerNorm.weight") for k in raw):
        raise CheckpointError(f"{source} is a post-LN RoBERTa (its layers have no attention.LayerNorm): "
                              "RoBERTa-PreLayerNorm cannot express it")
    dropped = [k for k in raw if any(matches(p, k) for p in princeton_layout.IGNORED)]
    state, _ = to_pt_state(princeton_layout.PRINCETON, raw, ignore=princeton_layout.IGNORED)
    return config, state, dropped


# ---------------------------------------------------------------------------- TensorFlow and Flax
def family_table(fmt: str) -> list[Rule]:
    """The PyTorch ↔ ``fmt`` table of a framework family: the longest list of Rules in its layout module.

    Raises:
        ImportError: If the family (its layout table, or its framework) is not installed.
    """
    try:
        module = importlib.import_module(f"roberta_prelayernorm.core.layouts.{fmt}")
    except ModuleNotFoundError:
        raise ImportError(missing_family(fmt)) from None
    tables = [v for v in vars(module).values()
              if isinstance(v, (list, tuple)) and v and all(isinstance(r, Rule) for r in v)]
    if not tables:
        raise ImportError(missing_family(fmt))
    return max(tables, key=len)


def missing_family(fmt: str, cause: str | None = None) -> str:
    because = f" ({cause} is missing)" if cause else ""
    return (f"the {FAMILIES[fmt]} family needs the `{fmt}` extra{because}: "
            + EXTRAS_HINT.format(extra=fmt))


def foreign_state(fmt: str, files: list[str]) -> dict[str, Any]:
    """The PyTorch state (numpy arrays, our names) of TensorFlow or Flax weight files.

    Raises:
        ImportError: If the family or the package that reads the files is missing.
        CheckpointError: If a file cannot be read or holds names the family's table does not know.
    """
    table = family_table(fmt)
    arrays = read_h5(files) if fmt == "tf" else read_msgpack(files)
    state, unmatched = to_pt_state(table, arrays)
    if unmatched and fmt == "tf":  # tables may name TF variables without the ":0" suffix
        more, unmatched = to_pt_state(table, {k.removesuffix(":0"): arrays[k] for k in unmatched})
        state.update(more)
    if unmatched:
        raise CheckpointError(f"{files[0]}: the {FAMILIES[fmt]} table does not know {', '.join(unmatched[:5])}")
    return state


def read_h5(files: list[str]) -> dict[str, Any]:
    """``tf_model.h5`` (Keras 2 HDF5 layout): ``{variable name without the model's own name: array}``."""
    try:
        import h5py
    except ImportError:
        raise ImportError(missing_family("tf", "h5py")) from None
    arrays: dict[str, Any] = {}
    for path in files:
        try:
            with h5py.File(path, "r") as f:
                for layer in f.attrs["layer_names"]:
                    group = f[layer.decode() if isinstance(layer, bytes) else layer]
                    for name in group.attrs["weight_names"]:
                        name = name.decode() if isinstance(name, bytes) else name
                        arrays[name.split("/", 1)[1] if "/" in name else name] = group[name][()]
        except (OSError, KeyError) as e:
            raise CheckpointError(f"could not read {path}: it is truncated, corrupt or not Keras HDF5 weights "
                                  f"({e})") from None
    return arrays


def read_msgpack(files: list[str]) -> dict[str, Any]:
    """``flax_model.msgpack`` (``flax.serialization``): ``{"a/b/c": array}``."""
    try:
        from flax import serialization
    except ImportError:
        raise ImportError(missing_family("flax", "flax")) from None
    arrays: dict[str, Any] = {}

    def flatten(tree: Any, prefix: str) -> None:
        for key, value in tree.items():
            if isinstance(value, dict):
                flatten(value, f"{prefix}{key}/")
            else:
                arrays[f"{prefix}{key}"] = value

    for path in files:
        try:
            with open(path, "rb") as f:
                tree = serialization.msgpack_restore(f.read())
        except Exception as e:  # msgpack raises several types for a damaged file
            raise CheckpointError(f"could not read {path}: it is truncated or corrupt ({type(e).__name__})") from None
        flatten(tree, "")
    return arrays


def load_family(fmt: str, head: str) -> type:
    """The ``fmt`` family's class for a head (``"ForMaskedLM"``).

    Raises:
        ImportError: With the extra to install, if the family or its framework is missing.
    """
    from ..core.tasks import class_name

    try:
        module = importlib.import_module(f"roberta_prelayernorm.{fmt}")
        return getattr(module, class_name(head, fmt))
    except ImportError as e:
        raise ImportError(missing_family(fmt, getattr(e, "name", None))) from None
    except AttributeError:
        raise ImportError(missing_family(fmt)) from None


def save_family(fmt: str, head: str, pt_folder: str, output: str) -> None:
    """Write ``fmt`` weights (``tf_model.h5`` / ``flax_model.msgpack``) of the PyTorch model in ``pt_folder``."""
    cls = load_family(fmt, head)
    model = cls.from_pretrained(pt_folder, from_pt=True)
    model.save_pretrained(output)
