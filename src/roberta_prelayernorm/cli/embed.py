"""``rpln embed``: sentence embeddings (mean or <s> pooling), or every token's hidden state."""

from __future__ import annotations

import argparse
from typing import Any

from . import _common

HELP = "embed texts as vectors (sentence embeddings or per-token hidden states)"

EPILOG = """\
examples:
  rpln embed 'A first sentence.' 'A second one.' --normalize
  rpln embed --similarity 'A cat sits.' 'A cat is sitting.' 'Stock prices fell.'
  rpln embed --file sentences.txt --json > embeddings.jsonl
  rpln embed --pooling none --json 'Hello world'      # per-token vectors, with "tokens" and "offsets"
"""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("embed", help=HELP, description=HELP, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    _common.add_input_options(p)
    p.add_argument("--pooling", choices=("mean", "cls", "none"), default="mean",
                   help="mean over tokens (default), the <s> vector, or none (one vector per token)")
    p.add_argument("--normalize", action="store_true", help="scale each embedding to unit length")
    p.add_argument("--similarity", action="store_true", help="print the cosine similarity of every pair instead")
    _common.add_model_options(p)
    return p


def run(args: argparse.Namespace) -> int:
    records, from_file = _common.read_records(args)
    pooling = None if args.pooling == "none" else args.pooling
    if args.similarity and pooling is None:
        raise _common.UsageError("--similarity needs --pooling mean or cls")
    pipe = _common.load_pipeline("feature-extraction", args)
    texts = [r[args.field] for r in records]
    vectors = _common.run(pipe, texts, args, from_file, pooling=pooling,
                          normalize=args.normalize or args.similarity)
    if args.similarity:
        return similarity(texts, vectors, args)
    if pooling:
        out = [{"text": t, "embedding": v} for t, v in zip(texts, vectors)]
    else:  # each vector with its token and the characters it covers (the same truncation as the model's input)
        encodings = pipe.encode(texts)
        out = [{"text": t, "tokens": e.tokens, "offsets": [list(o) for o in e.offsets], "hidden_states": v[0]}
               for t, e, v in zip(texts, encodings, vectors)]
    _common.emit(out, args, ["text", "tokens" if pooling is None else "dim", "norm", "first values"], rows)
    return 0


def rows(record: dict[str, Any]) -> list[list[Any]]:
    if "embedding" in record:
        vector = record["embedding"]
        return [[record["text"], len(vector), sum(x * x for x in vector) ** 0.5,
                 " ".join(f"{x:+.3f}" for x in vector[:4]) + " …"]]
    tokens = record["hidden_states"]
    return [[record["text"], len(tokens), sum(x * x for x in tokens[0]) ** 0.5,
             " ".join(f"{x:+.3f}" for x in tokens[0][:4]) + " … (token 0)"]]


def similarity(texts: list[str], vectors: list[list[float]], args: argparse.Namespace) -> int:
    scores = [[sum(a * b for a, b in zip(u, v)) for v in vectors] for u in vectors]
    if args.json:
        _common.emit([{"texts": texts, "similarity": scores}], args, [], lambda r: [])
        return 0
    headers = ["text", *(f"#{j + 1}" for j in range(len(texts)))]
    table = [[f"#{i + 1} {_common.cell(t)}", *(f"{s:.3f}" for s in row)]
             for i, (t, row) in enumerate(zip(texts, scores))]
    print(_common.format_table(headers, table), end="")
    return 0
