"""``rpln generate``: continue prompts with a causal language model."""

from __future__ import annotations

import argparse
from typing import Any

from . import _common

HELP = "continue prompts with a causal LM (greedy, sampling or beam search)"

EPILOG = """\
examples:
  rpln generate --model my-causal-lm 'Once upon a time'
  rpln generate --sample --temperature 0.8 --top-p 0.9 --seed 0 -n 3 'Once upon a time'
  rpln generate --num-beams 4 --repetition-penalty 1.3 -n 2 'Once upon a time'
  rpln generate --file prompts.txt --max-new-tokens 50 --json > continuations.jsonl
"""

# library advice that has no flag of its own, in this command's terms (option names are mapped by rpln itself)
LIBRARY_WORDS = {"(load it with is_decoder=True, or use a causal LM checkpoint)":
                 "(pass --model a causal LM checkpoint: one saved with is_decoder true)"}


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("generate", help=HELP, description=HELP, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    _common.add_input_options(p, what="PROMPT")
    p.add_argument("--max-new-tokens", type=_common.positive_int, metavar="N",
                   help="tokens to add (default 20, or the model's generation_config.json)")
    p.add_argument("--sample", action="store_true", dest="do_sample", help="sample instead of greedy decoding")
    p.add_argument("--temperature", type=float, metavar="T", help="sampling temperature (1.0)")
    p.add_argument("--top-k", type=int, metavar="K", help="sample among the K most likely tokens (50; 0: all)")
    p.add_argument("--top-p", type=_common.probability, metavar="P", help="nucleus sampling mass (1.0)")
    p.add_argument("--seed", type=int, help="random seed for sampling")
    p.add_argument("--num-beams", type=_common.positive_int, metavar="B",
                   help="beam search with B beams per prompt (1: greedy or sampling)")
    p.add_argument("--repetition-penalty", type=_common.positive_float, metavar="R",
                   help="divide the scores of tokens already in the text by R (1.0: none; 1.2 is common)")
    p.add_argument("--num-return-sequences", "-n", type=_common.positive_int, metavar="N",
                   help="continuations per prompt (needs --sample, or at most --num-beams)")
    p.add_argument("--new-text-only", action="store_false", dest="return_full_text",
                   help="print only the continuation, not the prompt")
    _common.add_model_options(p)
    return p


def run(args: argparse.Namespace) -> int:
    records, from_file = _common.read_records(args)
    pipe = _common.load_pipeline("text-generation", args)
    prompts = [r[args.field] for r in records]
    params = {k: getattr(args, k) for k in ("max_new_tokens", "temperature", "top_k", "top_p", "seed",
                                            "num_return_sequences", "num_beams", "repetition_penalty")
              if getattr(args, k) is not None}
    if args.do_sample:
        params["do_sample"] = True
    results = _common.run(pipe, prompts, args, from_file, return_full_text=args.return_full_text, **params)
    out = [{"prompt": p, "generated_text": [g["generated_text"] for g in r]} for p, r in zip(prompts, results)]
    _common.emit(out, args, ["prompt", "generated text"], rows)
    return 0


def rows(record: dict[str, Any]) -> list[list[Any]]:
    return [[record["prompt"] if i == 0 else "", text] for i, text in enumerate(record["generated_text"])]
