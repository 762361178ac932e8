"""``rpln finetune``: fine-tune a model on classification, regression, tagging, QA or multiple choice."""

from __future__ import annotations

import argparse
import json

from . import CLIError, UsageError, _common

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

With --eval the best model by --metric is kept; without it, the last one. An --output folder that holds
a model is not replaced without --overwrite, and the --model folder never.
"""

LIBRARY_WORDS = {"labels=a,b": "--labels a,b"}


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from ..core.tasks import FINETUNE_TASKS
    from ._common import non_negative, positive_float, unit_fraction

    positive = _common.positive_int
    p = subparsers.add_parser("finetune", help=HELP, description=HELP, epilog=EPILOG,
                              formatter_class=_common.DefaultsHelpFormatter)
    p.add_argument("task", choices=list(FINETUNE_TASKS), help="what to train: " + ", ".join(FINETUNE_TASKS))
    p.add_argument("--model", "-m", help="pretrained model folder or hub id (default: the bundled model)")
    p.add_argument("--train", required=True, dest="train_file", help="training file")
    p.add_argument("--eval", dest="eval_file", help="evaluation file (the best model by it is kept; without it, "
                                                    "the last model)")
    p.add_argument("--output", "-o", required=True, dest="output_dir", help="folder of the fine-tuned model")
    p.add_argument("--overwrite", action="store_true", help="replace a model already in --output")
    p.add_argument("--tokenizer", help="tokenizer folder (default: the model's)")
    p.add_argument("--labels", help="comma-separated label set (default: the training file's labels)")
    p.add_argument("--allow-single-class", action="store_true",
                   help="train even if the training file has a single label (with a warning)")
    p.add_argument("--text-column", help="text column of a table (default: text, sentence, sentence1... if present)")
    p.add_argument("--pair-column", help="second text of a pair (default: text_pair, sentence2... if present)")
    p.add_argument("--label-column", default="label", help="label column of a table")
    p.add_argument("--max-length", type=positive, metavar="N",
                   help="tokens per input (default: the model's limit, e.g. 512 or the bundled model's 128)")
    p.add_argument("--doc-stride", type=non_negative, default=64, help="question answering: overlap of context windows")
    p.add_argument("--max-answer-length", type=positive, default=30, help="question answering: longest answer in tokens")
    p.add_argument("--epochs", type=positive_float, default=3.0, help="passes over the training file")
    p.add_argument("--batch-size", type=positive, default=16, help="examples per update")
    p.add_argument("--lr", type=positive_float, default=2e-5, help="peak learning rate")
    p.add_argument("--warmup-ratio", type=unit_fraction, default=0.06, help="fraction of the updates of warmup")
    p.add_argument("--weight-decay", type=float, default=0.01, help="not applied to biases and LayerNorms")
    p.add_argument("--clip-grad-norm", type=positive_float, default=1.0, dest="max_grad_norm",
                   help="clip the gradient norm to this")
    p.add_argument("--eval-every", type=non_negative, default=0, help="updates between evaluations (0: every epoch)")
    p.add_argument("--metric", help="choose the best model by this metric (default: the task's main one)")
    p.add_argument("--seed", type=int, default=0, help="seeds initialisation and data order")
    p.add_argument("--device", help="cpu, cuda or cuda:N (default: the GPU if there is one)")
    p.add_argument("--no-progress", action="store_false", dest="progress", help="no progress bar")
    p.add_argument("--quiet", action="store_true", help="no status messages")
    return p


def run(args: argparse.Namespace) -> int:
    from ..core.errors import CheckpointError
    from ..training.finetuning import FinetuneConfig, finetune
    from ..training.tasks import DataError

    fields = {k: v for k, v in vars(args).items() if k in FinetuneConfig.__dataclass_fields__ and k != "labels"}
    fields["model"] = _common.model_or_default(fields["model"])
    labels = [x.strip() for x in args.labels.split(",") if x.strip()] if args.labels else None
    if args.labels is not None and not labels:
        raise UsageError("--labels takes comma-separated labels, such as neg,pos")
    _common.setup_logging()  # library warnings (a checkpoint passed over, a single class) as rpln: warning:
    try:
        result = finetune(FinetuneConfig(**fields, labels=labels))
    except (DataError, CheckpointError) as e:
        raise CLIError(str(e)) from None
    if result.kept == "last":
        summary = {"output_dir": result.output_dir, "kept": "last", "step": result.steps}
    else:
        summary = {"output_dir": result.output_dir, "kept": "best", "best_step": result.best_step, **result.best}
    print(json.dumps(summary))
    return 0
