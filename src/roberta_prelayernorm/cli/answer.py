"""``rpln answer``: extractive question answering over a context."""

from __future__ import annotations

import argparse
from typing import Any

from . import CLIError, UsageError, _common

HELP = "answer questions with spans of a context (question-answering model)"

EPILOG = """\
examples:
  rpln answer --model my-qa-model -c 'Jim Henson was a puppeteer.' 'Who was Jim Henson?'
  rpln answer --context-file article.txt 'Who?' 'When?' --top-k 3
  rpln answer --file questions.jsonl --json    # lines like {"question": "...", "context": "..."}

Long contexts are read in overlapping windows (--max-seq-len tokens, --doc-stride shared).
"""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("answer", help=HELP, description=HELP, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    _common.add_input_options(p, what="QUESTION")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--context", "-c", help="the context of every question")
    source.add_argument("--context-file", metavar="PATH", help="read the context from this file")
    p.add_argument("--top-k", type=_common.positive_int, default=1, metavar="K", help="answers per question (1)")
    p.add_argument("--max-answer-len", type=_common.positive_int, default=15, metavar="N",
                   help="longest answer in tokens (15)")
    p.add_argument("--max-seq-len", type=_common.positive_int, metavar="N", help="tokens per window (384)")
    p.add_argument("--doc-stride", type=int, metavar="N", help="tokens shared by windows (128)")
    p.add_argument("--handle-impossible-answer", action="store_true", help="allow the empty answer")
    _common.add_model_options(p)
    p.set_defaults(field="question")
    return p


def run(args: argparse.Namespace) -> int:
    context = args.context
    if args.context_file:
        try:
            with open(args.context_file, encoding="utf-8-sig") as f:
                context = f.read()
        except (OSError, UnicodeDecodeError) as e:
            raise CLIError(f"{args.context_file}: cannot read the context ({e})") from None
    if context is not None and not context.strip():
        if args.context_file:
            raise CLIError(f"{args.context_file}: the context is empty")
        raise UsageError("the context is empty (--context)")
    fields = ["question"] if context is not None else ["question", "context"]
    if context is None and args.texts:
        raise UsageError("questions as arguments need a context: --context TEXT or --context-file PATH")
    records, from_file = _common.read_records(args, fields, optional=["context"])
    examples = [{"question": r["question"], "context": r.get("context", context)} for r in records]
    pipe = _common.load_pipeline("question-answering", args)
    params = {"top_k": args.top_k, "max_answer_len": args.max_answer_len,
              "handle_impossible_answer": args.handle_impossible_answer}
    if args.max_seq_len is not None:
        params["max_seq_len"] = args.max_seq_len
    if args.doc_stride is not None:
        params["doc_stride"] = args.doc_stride
    with _common.progress_bar(args, len(examples), from_file) as update:
        results = pipe(examples, progress=update, **params)
    if len(examples) == 1:
        results = [results]
    out = [{"question": e["question"], "answers": r if isinstance(r, list) else [r]} for e, r in zip(examples, results)]
    _common.emit(out, args, ["question", "answer", "score", "start", "end"], rows)
    return 0


def rows(record: dict[str, Any]) -> list[list[Any]]:
    if not record["answers"]:
        return [[record["question"], "-", "", "", ""]]
    return [[record["question"] if i == 0 else "", repr(a["answer"]), a["score"], a["start"], a["end"]]
            for i, a in enumerate(record["answers"])]
