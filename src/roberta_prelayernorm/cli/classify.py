"""``rpln classify``: labels of texts or text pairs."""

from __future__ import annotations

import argparse
from typing import Any

from . import _common

HELP = "classify texts (or text pairs) with a sequence-classification model"

EPILOG = """\
examples:
  rpln classify --model my-sentiment-model 'What a great film!' 'Dull and too long.'
  rpln classify --top-k all 'What a great film!'
  rpln classify --file pairs.jsonl --json        # lines like {"text": "...", "text_pair": "..."}
"""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("classify", help=HELP, description=HELP, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    _common.add_input_options(p)
    p.add_argument("--top-k", type=top_k, default=1, metavar="K", help="labels per text, or 'all' (default 1)")
    p.add_argument("--function", choices=("softmax", "sigmoid", "none"),
                   help="scores from logits (default: by the model's problem type)")
    _common.add_model_options(p)
    return p


def run(args: argparse.Namespace) -> int:
    records, from_file = _common.read_records(args, optional=["text_pair"])
    pipe = _common.load_pipeline("text-classification", args)
    inputs = [{"text": r[args.field], "text_pair": r["text_pair"]} if "text_pair" in r else r[args.field]
              for r in records]
    results = _common.run(pipe, inputs, args, from_file, top_k=args.top_k, function_to_apply=args.function)
    out = []
    for record, labels in zip(records, results):
        item = {"text": record[args.field]}
        if "text_pair" in record:
            item["text_pair"] = record["text_pair"]
        item["labels"] = labels
        out.append(item)
    _common.emit(out, args, ["text", "label", "score"], rows)
    return 0


def top_k(value: str) -> int | None:
    return None if value == "all" else _common.positive_int(value)


def rows(record: dict[str, Any]) -> list[list[Any]]:
    text = record["text"] + (f" | {record['text_pair']}" if "text_pair" in record else "")
    return [[text if i == 0 else "", r["label"], r["score"]] for i, r in enumerate(record["labels"])]
