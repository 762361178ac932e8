"""``rpln fill-mask``: the most likely tokens at each <mask> of a text."""

from __future__ import annotations

import argparse
from typing import Any

from . import _common

HELP = "predict the tokens at <mask> in texts"

EPILOG = """\
examples:
  rpln fill-mask 'The capital of France is <mask>.'
  rpln fill-mask --top-k 3 --target ' Paris' --target ' London' 'The capital of France is <mask>.'
  rpln fill-mask --model andreasmadsen/efficient_mlm_m0.40 --file texts.txt --json > predictions.jsonl

A text with several masks gets predictions for each mask (each filled alone).
"""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("fill-mask", help=HELP, description=HELP, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    _common.add_input_options(p)
    p.add_argument("--top-k", type=_common.positive_int, default=5, metavar="K", help="predictions per mask (5)")
    p.add_argument("--target", action="append", dest="targets", metavar="TOKEN",
                   help="score only this token (repeat for several)")
    _common.add_model_options(p)
    return p


def run(args: argparse.Namespace) -> int:
    records, from_file = _common.read_records(args)
    pipe = _common.load_pipeline("fill-mask", args)
    texts = [r[args.field] for r in records]
    results = _common.run(pipe, texts, args, from_file, top_k=args.top_k, targets=args.targets)
    if len(texts) == 1:
        results = [results]
    out = [{"text": t, "predictions": r} for t, r in zip(texts, results)]
    _common.emit(out, args, ["text", "mask", "rank", "score", "token", "sequence"], rows)
    return 0


def rows(record: dict[str, Any]) -> list[list[Any]]:
    predictions = record["predictions"]
    per_mask = predictions if predictions and isinstance(predictions[0], list) else [predictions]
    return [[record["text"] if (m, rank) == (0, 0) else "", m + 1, rank + 1, p["score"], repr(p["token_str"]),
             p["sequence"]]
            for m, mask in enumerate(per_mask) for rank, p in enumerate(mask)]
