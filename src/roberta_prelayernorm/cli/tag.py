"""``rpln tag``: entities (or per-token labels) of texts."""

from __future__ import annotations

import argparse
from typing import Any

from . import _common

HELP = "label tokens or find entities with a token-classification model"

EPILOG = """\
examples:
  rpln tag --model my-ner-model 'Jim Henson lived in New York.'
  rpln tag --aggregation none 'Jim Henson lived in New York.'   # one row per token
  rpln tag --stride 64 --file long-documents.txt --json         # long texts in overlapping windows
"""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("tag", help=HELP, description=HELP, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    _common.add_input_options(p)
    p.add_argument("--aggregation", choices=("none", "simple", "first", "average", "max"), default="simple",
                   help="group tokens into entities (default simple; none: one row per token)")
    p.add_argument("--ignore-label", action="append", dest="ignore_labels", metavar="LABEL",
                   help="leave out this label (repeat for several; default: O)")
    p.add_argument("--all-labels", action="store_const", const=[], dest="ignore_labels",
                   help="leave out no label (O included)")
    p.add_argument("--stride", type=int, metavar="N",
                   help="split long texts into windows sharing N tokens instead of truncating them")
    _common.add_model_options(p)
    return p


def run(args: argparse.Namespace) -> int:
    records, from_file = _common.read_records(args)
    pipe = _common.load_pipeline("token-classification", args)
    texts = [r[args.field] for r in records]
    results = _common.run(pipe, texts, args, from_file, aggregation_strategy=args.aggregation,
                          ignore_labels=args.ignore_labels, stride=args.stride)
    out = [{"text": t, "entities": e} for t, e in zip(texts, results)]
    _common.emit(out, args, ["text", "entity", "score", "word", "start", "end"], rows)
    return 0


def rows(record: dict[str, Any]) -> list[list[Any]]:
    if not record["entities"]:
        return [[record["text"], "-", "", "", "", ""]]
    return [[record["text"] if i == 0 else "", e.get("entity_group", e.get("entity")), e["score"],
             record["text"][e["start"]:e["end"]], e["start"], e["end"]]
            for i, e in enumerate(record["entities"])]
