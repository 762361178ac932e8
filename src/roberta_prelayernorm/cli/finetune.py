"""``rpln finetune``: fine-tune a model on classification, regression, tagging, QA or multiple choice."""

from __future__ import annotations

import argparse
import json

from . import CLIError, _common

HELP = "fine-tune a model on a task (classification, regression, token classification, QA, multiple choice)"

EPILOG = """\
formats:
  classification, regression  CSV / TSV / JSONL with a text column (text, sentence, sentence1...), an
                              optional pair column (text_pair, sentence2...) and a label column
  token-classification        CoNLL: one "token ... tag" per line, blank lines between sentences
  question-answering          SQuAD JSON (v2.0 unanswerable questions allowed)
  multiple-choice             SWAG-style JSONL: context (or sent1), question (or sent2), endings, label

examples:
  rpln finetune classification --model andreasmadsen/efficient_mlm_m0.40 --train train.csv --eval dev.csv -o runs/sst
  rpln finetune token-classification --train train.conll --eval dev.conll -o runs/ner    # the bundled model
  rpln finetune question-answering --model runs/my-pretrained --train train.json --eval dev.json -o runs/qa
"""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from ..core.tasks import FINETUNE_TASKS

    p = subparsers.add_parser("finetune", help=HELP, description=HELP, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("task", choices=list(FINETUNE_TASKS))
    p.add_argument("--model", "-m", help="pretrained model folder or hub id (default: the bundled model)")
    p.add_argument("--train", required=True, dest="train_file", help="training file")
    p.add_argument("--eval", dest="eval_file", help="evaluation file (the best model by it is kept)")
    p.add_argument("--output", "-o", required=True, dest="output_dir")
    p.add_argument("--tokenizer", help="tokenizer folder (default: the model's)")
    p.add_argument("--labels", help="comma-separated label set (default: the training file's labels)")
    p.add_argument("--text-column")
    p.add_argument("--pair-column", help="second text of a pair (default: text_pair, sentence2... if present)")
    p.add_argument("--label-column", default="label")
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--doc-stride", type=int, default=64, help="question answering: overlap of context windows")
    p.add_argument("--max-answer-length", type=int, default=30)
    p.add_argument("--epochs", type=float, default=3.0)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-5)
    p.add_argument("--warmup-ratio", type=float, default=0.06)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--clip-grad-norm", type=float, default=1.0, dest="max_grad_norm")
    p.add_argument("--eval-every", type=int, default=0, help="updates between evaluations (0: every epoch)")
    p.add_argument("--metric", help="choose the best model by this metric (default: the task's main one)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device")
    p.add_argument("--no-progress", action="store_false", dest="progress")
    p.add_argument("--quiet", action="store_true")
    return p


def run(args: argparse.Namespace) -> int:
    from ..core.errors import CheckpointError
    from ..training.finetuning import FinetuneConfig, finetune
    from ..training.tasks import DataError

    fields = {k: v for k, v in vars(args).items() if k in FinetuneConfig.__dataclass_fields__ and k != "labels"}
    fields["model"] = _common.model_or_default(fields["model"])
    labels = [x.strip() for x in args.labels.split(",")] if args.labels else None
    try:
        result = finetune(FinetuneConfig(**fields, labels=labels))
    except (DataError, CheckpointError) as e:
        raise CLIError(str(e)) from None
    print(json.dumps({"output_dir": result.output_dir, "best_step": result.best_step, **result.best}))
    return 0
