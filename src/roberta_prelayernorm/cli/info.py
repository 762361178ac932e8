"""``rpln info``: what a model folder or hub id holds, without building the model."""

from __future__ import annotations

import argparse
import json
import os
from collections import Counter
from typing import Any

from . import CLIError, _common

HELP = "show a model's configuration, parameter count, dtype and files"

EPILOG = """\
examples:
  rpln info path/to/model
  rpln info andreasmadsen/efficient_mlm_m0.40 --json
"""

CONFIG_KEYS = ("architectures", "model_type", "vocab_size", "hidden_size", "num_hidden_layers",
               "num_attention_heads", "intermediate_size", "hidden_act", "max_position_embeddings",
               "position_embedding_type", "type_vocab_size", "layer_norm_eps", "is_decoder", "problem_type")
HEADS_WITH_LABELS = {"RobertaPreLayerNormForSequenceClassification", "RobertaPreLayerNormForTokenClassification"}
OPTIONAL_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt",
                  "generation_config.json")


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("info", help=HELP, description=HELP, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", nargs="?", metavar="PATH_OR_HUB_ID",
                   help="model folder or hub id (default: the default model)")
    p.add_argument("--model", "-m", dest="model_option", metavar="PATH_OR_HUB_ID", help=argparse.SUPPRESS)
    p.add_argument("--revision", help="hub revision (branch, tag or commit)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return p


def run(args: argparse.Namespace) -> int:
    from ..core.config import RobertaPreLayerNormConfig
    from ..core.hub import HubOptions, resolve_file
    from ..core.weights import resolve_weights

    path = _common.model_or_default(args.model or args.model_option)
    hub = HubOptions(revision=args.revision)
    config = RobertaPreLayerNormConfig.from_pretrained(path, revision=args.revision)
    weights = resolve_weights(path, hub)[1]
    counts, dtypes = count_parameters(weights)
    files = [resolve_file(path, "config.json", hub), *weights]
    files += [f for f in (resolve_file(path, name, hub, required=False) for name in OPTIONAL_FILES) if f]
    values = config.to_dict()
    info: dict[str, Any] = {
        "model": path,
        "folder": os.path.dirname(os.path.abspath(files[0])),
        **{k: values.get(k) for k in CONFIG_KEYS if values.get(k) is not None},
        **({"labels": [config.id2label[i] for i in sorted(config.id2label)]}
           if set(config.architectures or []) & HEADS_WITH_LABELS else {}),
        "parameters": counts,
        "dtype": ", ".join(f"{d} ({n})" for d, n in dtypes.most_common()),
        "saved_dtype": values.get("torch_dtype"),
        "tokenizer": any(os.path.basename(f) in ("tokenizer.json", "vocab.json") for f in files),
        "files": {os.path.basename(f): os.path.getsize(f) for f in files},
    }
    if args.json:
        print(json.dumps(info, ensure_ascii=False))
        return 0
    width = max(len(k) for k in info)
    for key, value in info.items():
        if key == "files":
            value = ", ".join(f"{name} ({size_text(size)})" for name, size in value.items())
        elif key == "parameters":
            value = f"{value:,}"
        elif isinstance(value, (list, dict)):
            value = json.dumps(value, ensure_ascii=False)
        print(f"{key.ljust(width)}  {value}")
    return 0


def count_parameters(files: list[str]) -> tuple[int, Counter]:
    """Number of floating-point values in the weight files (tied weights are stored once), and their dtypes."""
    total, dtypes = 0, Counter()
    for path in files:
        if path.endswith(".safetensors"):
            from safetensors import safe_open

            try:
                with safe_open(path, framework="pt") as f:
                    for key in f.keys():
                        tensor = f.get_slice(key)
                        dtype = tensor.get_dtype()
                        if dtype.startswith(("F", "BF")):
                            n = 1
                            for d in tensor.get_shape():
                                n *= d
                            total += n
                            dtypes[safetensors_dtype(dtype)] += n
            except Exception as e:  # a damaged header raises several types
                raise CLIError(f"{path}: not a readable safetensors file ({e})") from None
        else:
            from ..torch.checkpoint import read_weights

            for tensor in read_weights([path]).values():
                if tensor.is_floating_point():
                    total += tensor.numel()
                    dtypes[str(tensor.dtype).removeprefix("torch.")] += tensor.numel()
    return total, dtypes


def safetensors_dtype(name: str) -> str:
    return {"F32": "float32", "F16": "float16", "BF16": "bfloat16", "F64": "float64"}.get(name, name.lower())


def size_text(size: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size} B"
