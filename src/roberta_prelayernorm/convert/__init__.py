"""Convert a checkpoint into a complete Hugging Face folder: fairseq, princeton-nlp, or any framework's.

    from roberta_prelayernorm.convert import convert
    convert("checkpoints/model.pt", "converted")                          # fairseq, dict.txt beside it
    convert("converted", "for-serving", to=("tf", "onnx"), dtype="float16")

Sources (``source_kind``, detected from the files when None):

- ``"hf"``: one of our folders or hub repos, with PyTorch, TensorFlow or Flax weights;
- ``"fairseq"``: an original fairseq / DinkyTrain checkpoint (``model.pt``, ``checkpoint_*.pt``, or a
  folder holding one), with fairseq's ``dict.txt`` beside it or given as ``dict_path``;
- ``"princeton-nlp"``: the authors' HF-like folders (``model_type`` "roberta", ``roberta.`` prefix).

Every source becomes one of our PyTorch models in memory; each requested format is written from it
(``"pt"``: safetensors, ``"tf"``, ``"flax"``, ``"onnx"``), with ``config.json`` and a tokenizer where
one can be made. Everything is staged beside the output folder and moved in at once: a failure leaves
the output folder as it was, and a folder that already holds a model is refused unless ``overwrite``.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

from ..core.config import CONFIG_NAME, RobertaPreLayerNormConfig
from ..core.errors import CheckpointError
from ..core.files import parse_size, staging_folder
from ..core.hub import HubOptions, is_local
from ..core.weights import is_weights_file

if TYPE_CHECKING:
    from torch import nn

KINDS = ("hf", "fairseq", "princeton-nlp")
FORMATS = ("pt", "tf", "flax", "onnx")
DTYPES = ("float32", "float16", "bfloat16")
ONNX_NAME = "model.onnx"
# fairseq checkpoints a folder may hold, in the order they are chosen
FAIRSEQ_NAMES = ("model.pt", "checkpoint_best.pt", "checkpoint_last.pt")


@dataclass
class ConversionReport:
    """What :func:`convert` read and wrote."""

    source: str
    kind: str  # one of KINDS
    weights: str  # the layout read: "fairseq", "deepspeed", "princeton-nlp", "pt", "tf" or "flax"
    output: str
    formats: list[str]
    architecture: str
    dtype: str
    files: list[str] = field(default_factory=list)  # the output folder's files
    tokenizer: bool = False
    dropped: list[str] = field(default_factory=list)  # source tensors left out (each also explained in notes)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Loaded:
    model: Any
    weights: str
    tokenizer: Any = None  # a RobertaTokenizer to save, or
    tokenizer_source: str | None = None  # a folder / hub id whose tokenizer files are copied
    dropped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def convert(
    source: str | os.PathLike,
    output: str | os.PathLike,
    *,
    source_kind: str | None = None,
    to: str | Sequence[str] = ("pt",),
    dtype: str | None = None,
    max_shard_size: int | str = "5GB",
    dict_path: str | os.PathLike | None = None,
    bpe_vocab: str | os.PathLike | None = None,
    bpe_merges: str | os.PathLike | None = None,
    overwrite: bool = False,
    hub: HubOptions | None = None,
) -> ConversionReport:
    """Convert ``source`` into the Hugging Face folder ``output``.

    Args:
        source: A folder, hub id or fairseq checkpoint file.
        output: The folder to write (created; refused if it holds a model, unless ``overwrite``).
        source_kind: ``"hf"``, ``"fairseq"`` or ``"princeton-nlp"``; detected from the files when None.
        to: Formats to write: ``"pt"`` (safetensors), ``"tf"``, ``"flax"``, ``"onnx"``; a list or
            ``"pt,onnx"``.
        dtype: Cast the weights to ``"float32"``, ``"float16"`` or ``"bfloat16"`` (default: keep the source's).
        max_shard_size: Largest weight file of the PyTorch output (``"5GB"``, bytes).
        dict_path: fairseq's ``dict.txt`` (default: beside the checkpoint).
        bpe_vocab: fairseq's GPT-2 BPE ``encoder.json``, to write a tokenizer (with ``bpe_merges``).
        bpe_merges: fairseq's GPT-2 BPE ``vocab.bpe``.
        overwrite: Replace the model in an output folder that holds one.
        hub: Hub options for a hub id source.

    Returns:
        A :class:`ConversionReport`.

    Raises:
        CheckpointError: (an ``OSError``) for a source that cannot be read or converted exactly, or an
            output folder that holds a model; nothing is written then.
        ValueError: For an unknown kind, format or dtype.
        ImportError: When a format needs a family or framework that is not installed.
    """
    hub = hub or HubOptions()
    source, output = os.fspath(source), os.fspath(output)
    formats = parse_formats(to)
    if dtype is not None and dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}")
    shard_size = parse_size(max_shard_size)
    if (bpe_vocab is None) != (bpe_merges is None):
        raise ValueError("a tokenizer needs both GPT-2 BPE files: bpe_vocab (encoder.json) and bpe_merges (vocab.bpe)")
    check_output(output, overwrite)
    kind = source_kind or detect_kind(source, hub)
    if kind not in KINDS:
        raise ValueError(f"unknown source kind {kind!r}; choose one of {', '.join(KINDS)}")
    if kind != "fairseq" and (dict_path or bpe_vocab):
        raise ValueError("dict_path, bpe_vocab and bpe_merges (--dict, --bpe-vocab, --bpe-merges) are for fairseq "
                         f"checkpoints; {source} is a {kind} source")
    for fmt in formats:  # before reading what may be a large checkpoint
        require_format(fmt)

    if kind == "fairseq":
        loaded = _from_fairseq(fairseq_file(source), dict_path, bpe_vocab, bpe_merges, dtype)
    else:
        loaded = _from_hf(source, kind, hub, dtype)
    model = loaded.model
    report = ConversionReport(source=source, kind=kind, weights=loaded.weights, output=output, formats=formats,
                              architecture=type(model).__name__, dtype=str(model.dtype).removeprefix("torch."),
                              dropped=loaded.dropped, notes=loaded.notes)
    with staging_folder(output, replaces=is_model_file if overwrite else lambda name: False) as staging:
        _write(model, staging, formats, shard_size)
        report.tokenizer = _write_tokenizer(loaded, staging, hub, report.notes)
        report.files = sorted(os.listdir(staging))
    return report


# ------------------------------------------------------------------------------------------ inputs
def parse_formats(to: str | Sequence[str]) -> list[str]:
    """``"pt,onnx"`` or ``["pt", "onnx"]`` → ``["pt", "onnx"]``, checked."""
    items = [t.strip() for t in (to.split(",") if isinstance(to, str) else to)]
    items = [t for t in items if t]
    unknown = [t for t in items if t not in FORMATS]
    if unknown or not items:
        raise ValueError(f"unknown output format {', '.join(unknown) or '(none given)'}; choose from "
                         f"{', '.join(FORMATS)}")
    return list(dict.fromkeys(items))


def is_model_file(name: str) -> bool:
    """A file of a saved model: weights of any format, config, ONNX graph or tokenizer."""
    from ..tokenizer.files import TOKENIZER_FILES

    return (is_weights_file(name) or name in (CONFIG_NAME, "generation_config.json", ONNX_NAME, ONNX_NAME + ".data")
            or name in TOKENIZER_FILES)


def check_output(output: str, overwrite: bool) -> None:
    """Refuse an output that is a file, or a folder holding a model (unless ``overwrite``)."""
    if os.path.exists(output) and not os.path.isdir(output):
        raise CheckpointError(f"the output {output} is a file, not a folder")
    if os.path.isdir(output) and not overwrite:
        held = sorted(n for n in os.listdir(output) if is_model_file(n))
        if held:
            raise CheckpointError(f"the output folder {output} already holds a model ({', '.join(held[:3])}): "
                                  "pass --overwrite (overwrite=True) to replace it")


def require_format(fmt: str) -> None:
    """Fail early, with the extra to install, when a format's family or packages are missing."""
    from importlib.util import find_spec

    from .hf import missing_family

    if fmt in ("tf", "flax"):
        try:
            spec = find_spec(f"roberta_prelayernorm.{fmt}")
        except ImportError:
            spec = None
        if spec is None:
            raise ImportError(missing_family(fmt))
        for package in {"tf": ("tensorflow", "keras"), "flax": ("jax", "flax")}[fmt]:
            if find_spec(package) is None:
                raise ImportError(missing_family(fmt, package))
    elif fmt == "onnx":
        for package in ("onnx", "onnxscript"):
            if find_spec(package) is None:
                raise ImportError(f"ONNX output needs the `onnx` extra ({package} is missing): "
                                  "pip install 'roberta-prelayernorm[onnx]'")


def detect_kind(source: str, hub: HubOptions | None = None) -> str:
    """``"fairseq"`` for a ``.pt`` file or a folder of one, else by ``config.json``'s ``model_type``.

    Raises:
        CheckpointError: If the source is none of the kinds.
    """
    from .hf import read_config

    hub = hub or HubOptions()
    if os.path.isfile(source):
        return "fairseq"
    if os.path.isdir(source) and not os.path.isfile(os.path.join(source, CONFIG_NAME)):
        if fairseq_candidates(source):
            return "fairseq"
        raise CheckpointError(f"{source} holds neither config.json (a Hugging Face folder) nor model.pt / "
                              "checkpoint_*.pt (a fairseq checkpoint)")
    if is_local(source) and not os.path.exists(source):
        raise CheckpointError(f"{source} does not exist")
    model_type = read_config(source, hub).get("model_type")
    if model_type == "roberta-prelayernorm":
        return "hf"
    if model_type == "roberta":
        return "princeton-nlp"
    raise CheckpointError(f"{source} holds a model of type {model_type!r}, not RoBERTa-PreLayerNorm "
                          "(model_type 'roberta-prelayernorm', or princeton-nlp's pre-LN 'roberta')")


def fairseq_candidates(folder: str) -> list[str]:
    names = sorted(os.listdir(folder))
    return [n for n in FAIRSEQ_NAMES if n in names] + [n for n in names if re.fullmatch(r"checkpoint\d+\.pt", n)
                                                       or re.fullmatch(r"checkpoint_\d+_\d+\.pt", n)]


def fairseq_file(source: str) -> str:
    """The checkpoint file of a fairseq source: the file itself, or the one file a folder holds."""
    if not os.path.isdir(source):
        return source
    found = fairseq_candidates(source)
    if not found:
        raise CheckpointError(f"{source} holds no fairseq checkpoint (model.pt, checkpoint_best.pt, "
                              "checkpoint_last.pt, checkpointN.pt)")
    if found[0] in FAIRSEQ_NAMES:
        return os.path.join(source, found[0])
    if len(found) > 1:
        raise CheckpointError(f"{source} holds several checkpoints ({', '.join(found[:4])}): name the one to convert")
    return os.path.join(source, found[0])


# ------------------------------------------------------------------------------------------ reading
def _from_fairseq(path: str, dict_path: Any, bpe_vocab: Any, bpe_merges: Any, dtype: str | None) -> _Loaded:
    from . import fairseq

    read = fairseq.read(path, os.fspath(dict_path) if dict_path else None)
    model = build_model(read.config, "ForMaskedLM", read.state, dtype, path)
    loaded = _Loaded(model, read.layout, dropped=read.dropped, notes=read.notes)
    if bpe_vocab is not None:
        loaded.tokenizer, why = fairseq.build_tokenizer(read.symbols, os.fspath(bpe_vocab), os.fspath(bpe_merges),
                                                        read.config.max_input_length)
        if why:
            loaded.notes.append(why)
    else:
        loaded.notes.append("no tokenizer written: pass fairseq's GPT-2 BPE files (--bpe-vocab encoder.json "
                            "--bpe-merges vocab.bpe) to write one whose ids follow dict.txt")
    return loaded


def _from_hf(source: str, kind: str, hub: HubOptions, dtype: str | None) -> _Loaded:
    from . import hf

    if kind == "princeton-nlp":
        config, state, dropped = hf.read_princeton(source, hub)
        weights, notes = "princeton-nlp", []
        if dropped:
            notes.append(f"dropped {len(dropped)} tensors the princeton-nlp classes create but never use "
                         "(attention.self.LayerNorm of each layer, position_ids)")
    else:
        config, state, weights = hf.read_ours(source, hub)
        dropped, notes = [], []
    model = build_model(config, head_of(config), state, dtype, source)
    return _Loaded(model, weights, tokenizer_source=source, dropped=dropped, notes=notes)


def head_of(config: RobertaPreLayerNormConfig) -> str:
    """The head suffix (``"ForMaskedLM"``) of the config's architecture in any framework; ``"Model"`` if none."""
    for name in config.architectures or []:
        found = re.fullmatch(r"(?:TF|Flax)?RobertaPreLayerNorm(\w*)", name)
        if found:
            return found.group(1) or "Model"
    return "Model"


def build_model(config: RobertaPreLayerNormConfig, head: str, state: dict[str, Any], dtype: str | None,
                source: str) -> nn.Module:
    """One of our PyTorch models holding exactly ``state`` (numpy arrays or tensors), in eval mode.

    Raises:
        CheckpointError: If a weight of the model is not in ``state`` (it would be random) or a shape
            does not fit the config.
    """
    import numpy as np
    import torch

    from ..core.tasks import class_name
    from ..torch import modeling

    state = {k: torch.from_numpy(np.ascontiguousarray(v)) if isinstance(v, np.ndarray) else v for k, v in state.items()}
    source_dtype = next((v.dtype for v in state.values() if v.is_floating_point()), torch.float32)
    target = getattr(torch, dtype) if dtype else source_dtype
    cls = getattr(modeling, class_name(head), None)
    if cls is None:
        raise CheckpointError(f"{source}: unknown architecture RobertaPreLayerNorm{head}")
    kwargs = {}
    if head == "Model" and not any(k.endswith("pooler.dense.weight") for k in state):
        kwargs["add_pooling_layer"] = False
    with torch.device("meta"):
        model = cls(config, **kwargs)
    model = model.to(target).to_empty(device="cpu")
    info = model.load_checkpoint_state(state)
    if info.missing_keys:
        more = f" (and {len(info.missing_keys) - 5} more)" if len(info.missing_keys) > 5 else ""
        raise CheckpointError(f"{source} lacks weights of {cls.__name__}: {', '.join(info.missing_keys[:5])}{more}; "
                              "the converted model would hold random values there")
    if info.unexpected_keys:
        raise CheckpointError(f"{source} has weights that {cls.__name__} does not: "
                              f"{', '.join(info.unexpected_keys[:5])}")
    model.config.architectures = [cls.__name__]  # as save_pretrained writes them
    model.config.torch_dtype = str(target).removeprefix("torch.")
    if "dtype" in vars(model.config):
        model.config.dtype = model.config.torch_dtype
    return model.eval()


# ------------------------------------------------------------------------------------------ writing
def _write(model: nn.Module, staging: str, formats: list[str], shard_size: int) -> None:
    """Every format of ``formats`` into ``staging``, and ``config.json`` (the PyTorch model's, in any case)."""
    from .hf import save_family

    families = [f for f in formats if f in ("tf", "flax")]
    if families:  # the families read PyTorch weights: saved once beside the staging folder
        pt_folder = tempfile.mkdtemp(prefix=".pt-", dir=os.path.dirname(os.path.abspath(staging)))
        try:
            model.save_pretrained(pt_folder, max_shard_size=shard_size)
            for fmt in families:
                save_family(fmt, head_of(model.config), pt_folder, staging)
        finally:
            shutil.rmtree(pt_folder, ignore_errors=True)
    if "onnx" in formats:
        from ..torch.onnx import export_onnx

        export_onnx(model, os.path.join(staging, ONNX_NAME))
    if "pt" in formats:
        model.save_pretrained(staging, max_shard_size=shard_size)
    else:
        model.config.save_pretrained(staging)


def _write_tokenizer(loaded: _Loaded, staging: str, hub: HubOptions, notes: list[str]) -> bool:
    """Save the made tokenizer, or copy the source's tokenizer files; False (and a note) when there is none."""
    if loaded.tokenizer is not None:
        loaded.tokenizer.save_pretrained(staging)
        return True
    if loaded.tokenizer_source is None:
        return False
    from ..core.hub import resolve_file
    from ..tokenizer.files import TOKENIZER_FILE, TOKENIZER_FILES, VOCAB_FILE

    try:
        found = {name: resolve_file(loaded.tokenizer_source, name, hub, required=False) for name in TOKENIZER_FILES}
    except CheckpointError as e:
        notes.append(f"no tokenizer written: {e}")
        return False
    if found[TOKENIZER_FILE] is None and found[VOCAB_FILE] is None:
        notes.append(f"no tokenizer written: {loaded.tokenizer_source} has none")
        return False
    for name, path in found.items():  # copied as they are
        if path is not None:
            shutil.copyfile(path, os.path.join(staging, name))
    return True

__all__ = ["DTYPES", "FORMATS", "KINDS", "ConversionReport", "convert", "detect_kind"]
