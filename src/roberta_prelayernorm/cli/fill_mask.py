"""``rpln fill-mask``: the most likely tokens at each <mask> of a text."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from . import _common

HELP = "predict the tokens at <mask> in texts"

EPILOG = """\
examples:
  rpln fill-mask 'The capital of France is <mask>.'
  rpln fill-mask --top-k 3 --target ' Paris' --target ' London' 'The capital of France is <mask>.'
  rpln fill-mask --model andreasmadsen/efficient_mlm_m0.40 --file texts.txt --json > predictions.jsonl
  rpln fill-mask --file texts.txt --skip-unmasked      # lines without <mask> are skipped, not an error

A text with several masks gets predictions for each mask (each filled alone). JSON lines have one shape:
{"text": ..., "predictions": [[...first mask...], [...second mask...]]}, one list per mask.
"""

logger = logging.getLogger("roberta_prelayernorm")


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("fill-mask", help=HELP, description=HELP, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    _common.add_input_options(p)
    p.add_argument("--top-k", type=_common.positive_int, default=5, metavar="K", help="predictions per mask (5)")
    p.add_argument("--target", action="append", dest="targets", metavar="TOKEN",
                   help="score only this token (repeat for several)")
    p.add_argument("--skip-unmasked", action="store_true",
                   help="skip inputs without <mask> (with a warning) instead of stopping at the first one")
    _common.add_model_options(p)
    return p


def run(args: argparse.Namespace) -> int:
    records, from_file = _common.read_records(args)
    pipe = _common.load_pipeline("fill-mask", args)
    mask = pipe.tokenizer.mask_token
    unmasked = [i for i, r in enumerate(records) if mask not in r[args.field]]
    if unmasked and not args.skip_unmasked:
        more = f" ({len(unmasked) - 1} more inputs lack it too)" if len(unmasked) > 1 else ""
        raise _common.CLIError(f"{records.where[unmasked[0]]}: no {mask} in this text{more}; fill-mask predicts "
                               f"the token at each {mask} (--skip-unmasked skips such inputs)")
    if unmasked:
        places = ", ".join(records.where[i] for i in unmasked[:3]) + (", ..." if len(unmasked) > 3 else "")
        logger.warning("skipped %d of %d inputs without %s (%s)", len(unmasked), len(records), mask, places)
        records = records.keep(i for i in range(len(records)) if i not in set(unmasked))
        if not records:
            raise _common.CLIError(f"no input has a {mask}: nothing to predict")
    texts = [r[args.field] for r in records]
    results = _common.run(pipe, texts, args, from_file, where=records.where, top_k=args.top_k,
                          targets=args.targets)
    if len(texts) == 1:
        results = [results]
    specials = (pipe.tokenizer.bos_token or "", pipe.tokenizer.eos_token or "")
    out = [{"text": t, "predictions": [[plain(p, specials) for p in m] for m in per_mask(r)]}
           for t, r in zip(texts, results)]
    _common.emit(out, args, ["text", "mask", "rank", "score", "token", "sequence"], rows)
    return 0


def per_mask(result: list[Any]) -> list[list[dict[str, Any]]]:
    """The pipeline's result (a list of predictions for one mask, a list of such lists for several) as
    one list per mask."""
    return result if result and isinstance(result[0], list) else [result]


def plain(prediction: dict[str, Any], specials: tuple[str, str]) -> dict[str, Any]:
    """A prediction whose ``sequence`` has no ``<s>`` … ``</s>`` (the pipeline keeps them when a text has
    several masks, as the reference does)."""
    bos, eos = specials
    sequence = prediction["sequence"]
    if bos and eos and sequence.startswith(bos) and sequence.endswith(eos):
        sequence = sequence[len(bos):len(sequence) - len(eos)]
    return {**prediction, "sequence": sequence}


def rows(record: dict[str, Any]) -> list[list[Any]]:
    return [[record["text"] if (m, rank) == (0, 0) else "", m + 1, rank + 1, p["score"], repr(p["token_str"]),
             p["sequence"]]
            for m, mask in enumerate(record["predictions"]) for rank, p in enumerate(mask)]
