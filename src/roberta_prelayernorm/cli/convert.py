"""``rpln convert``: a fairseq, princeton-nlp or Hugging Face checkpoint → a complete Hugging Face folder."""

from __future__ import annotations

import argparse
import json
import sys

from . import CLIError

HELP = "convert fairseq / DinkyTrain / princeton-nlp checkpoints, or a model between PyTorch, TF, Flax and ONNX"

KINDS = ("hf", "fairseq", "princeton-nlp")  # as roberta_prelayernorm.convert.KINDS, without importing it
FORMATS = ("pt", "tf", "flax", "onnx")
DTYPES = ("float32", "float16", "bfloat16")

EPILOG = """\
SOURCE is a Hugging Face folder or hub id (PyTorch, TF or Flax weights), a fairseq checkpoint
(model.pt, checkpoint_*.pt, or a folder holding one; DinkyTrain's DeepSpeed-kernel layout too, with
fairseq's dict.txt beside it or --dict), or a princeton-nlp folder (model_type "roberta"). The output
is a complete folder: config.json, the weights of each --to format, and a tokenizer where one can be
made (from a fairseq checkpoint: with --bpe-vocab and --bpe-merges). It is written atomically; a
folder that already holds a model is refused unless --overwrite. A JSON report goes to stdout.

examples:
  rpln convert checkpoints/checkpoint_best.pt --output hf-model \\
      --bpe-vocab gpt2/encoder.json --bpe-merges gpt2/vocab.bpe
  rpln convert princeton-nlp/efficient_mlm_m0.40 --output efficient_mlm_m0.40
  rpln convert hf-model --output hf-model-serving --to tf,flax,onnx --dtype float16
"""


def formats(value: str) -> list[str]:
    items = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [v for v in items if v not in FORMATS]
    if unknown or not items:
        raise argparse.ArgumentTypeError(f"{value!r}: choose a comma-separated list of {', '.join(FORMATS)}")
    return items


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("convert", help=HELP, description=HELP, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", metavar="SOURCE", help="folder, hub id or fairseq checkpoint file")
    p.add_argument("--output", "-o", required=True, metavar="FOLDER", help="the folder to write")
    p.add_argument("--from", dest="kind", choices=KINDS, help="the kind of SOURCE (default: detected from its files)")
    p.add_argument("--to", type=formats, default=["pt"], metavar="FORMATS",
                   help=f"formats to write, comma-separated: {', '.join(FORMATS)} (default pt: safetensors)")
    p.add_argument("--dtype", choices=DTYPES, help="cast the weights (default: keep the source's dtype)")
    p.add_argument("--max-shard-size", default="5GB", metavar="SIZE",
                   help="largest PyTorch weights file, e.g. 2GB (default 5GB)")
    fairseq = p.add_argument_group("fairseq sources")
    fairseq.add_argument("--dict", dest="dict_path", metavar="DICT_TXT",
                         help="fairseq's dict.txt (default: the one beside the checkpoint)")
    fairseq.add_argument("--bpe-vocab", metavar="ENCODER_JSON", help="fairseq's GPT-2 BPE encoder.json")
    fairseq.add_argument("--bpe-merges", metavar="VOCAB_BPE", help="fairseq's GPT-2 BPE vocab.bpe")
    p.add_argument("--overwrite", action="store_true", help="replace the model in an output folder that holds one")
    hub = p.add_argument_group("hub sources")
    hub.add_argument("--revision", help="branch, tag or commit of a hub id")
    hub.add_argument("--cache-dir", metavar="FOLDER", help="hub cache folder (default: the huggingface_hub cache)")
    hub.add_argument("--token", help="hub token for private repos (default: the saved login)")
    return p


def run(args: argparse.Namespace) -> int:
    if (args.bpe_vocab is None) != (args.bpe_merges is None):
        raise CLIError("--bpe-vocab and --bpe-merges go together (encoder.json and vocab.bpe)")
    from ..convert import convert
    from ..core.hub import HubOptions

    hub = HubOptions(cache_dir=args.cache_dir, revision=args.revision, token=args.token)
    try:
        report = convert(args.source, args.output, source_kind=args.kind, to=args.to, dtype=args.dtype,
                         max_shard_size=args.max_shard_size, dict_path=args.dict_path, bpe_vocab=args.bpe_vocab,
                         bpe_merges=args.bpe_merges, overwrite=args.overwrite, hub=hub)
    except ImportError as e:
        raise CLIError(str(e)) from None
    for note in report.notes:
        print(f"rpln: note: {note}", file=sys.stderr)
    print(json.dumps({k: v for k, v in report.to_dict().items() if k not in ("notes", "dropped")}))
    return 0
