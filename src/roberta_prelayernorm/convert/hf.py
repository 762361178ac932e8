"""Hugging Face-format sources: our folders (PyTorch, TensorFlow or Flax weights) and princeton-nlp's.

Each reader gives a config and a PyTorch state dict in our names; ``convert`` builds the model from
them. TensorFlow (``tf_model.h5``) and Flax (``flax_model.msgpack``) weights are read by their family's
own reader and mapped with its table in ``core.layouts`` (``tf``, ``flax``).
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np

from ..core.config import RobertaPreLayerNormConfig
from ..core.errors import CheckpointError
from ..core.files import read_json_object
from ..core.hub import HubOptions, resolve_file
from ..core.layouts import matches, to_pt_state, undo
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
def missing_family(fmt: str, cause: str | None = None) -> str:
    because = f" ({cause} is missing)" if cause else ""
    return (f"the {FAMILIES[fmt]} family needs the `{fmt}` extra{because}: "
            + EXTRAS_HINT.format(extra=fmt))


def foreign_state(fmt: str, files: list[str]) -> dict[str, Any]:
    """The PyTorch state (numpy arrays, our names) of TensorFlow or Flax weight files, read by that family's
    own reader and mapped by its layout table (``core.layouts.tf`` / ``core.layouts.flax``).

    Raises:
        ImportError: If the family or the package that reads the files is missing.
        CheckpointError: If a file cannot be read or holds names the family's table does not know.
    """
    try:
        if fmt == "tf":
            from ..tf.checkpoint import read_h5, tf_to_pt

            arrays, to_pt = read_h5(files), tf_to_pt
        else:
            from ..flax.checkpoint import read_msgpack
            from ..core.layouts.flax import to_pt

            arrays = read_msgpack(files)
    except ImportError as e:
        raise ImportError(missing_family(fmt, getattr(e, "name", None))) from None
    state, unknown = {}, []
    for name, array in arrays.items():
        try:
            key, transform = to_pt(name)
        except KeyError:
            unknown.append(name)
            continue
        state[key] = undo(np.asarray(array), transform)
    if unknown:
        raise CheckpointError(f"{files[0]}: the {FAMILIES[fmt]} table does not know {', '.join(unknown[:5])}")
    return state


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
