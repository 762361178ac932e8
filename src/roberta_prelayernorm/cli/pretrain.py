"""``rpln pretrain``: masked-LM pretraining with the efficient-MLM recipe (see ``training/pretraining.py``)."""

from __future__ import annotations

import argparse
import json
import shlex

from . import CLIError, UsageError, _common

HELP = "pretrain a RoBERTa-PreLayerNorm model with masked LM (efficient-MLM recipe; torchrun for many processes)"

EPILOG = """\
Documents: in text files, blank lines separate documents (--documents line: one per line). Documents
are packed into blocks of --block-size tokens across document boundaries, separated by </s>.

examples:
  rpln pretrain --train corpus/*.txt --output runs/tiny --max-steps 2000 --batch-size 32 --lr 1e-3
  rpln pretrain --train corpus/ --output runs/tiny --resume            # continue from the last checkpoint
  rpln pretrain --train corpus/ --output runs/p1 --block-size 32 --max-positions 128   # two phases:
  rpln pretrain --train corpus/ --output runs/p2 --model runs/p1 --block-size 128      # short blocks first
  torchrun --nproc-per-node 4 -m roberta_prelayernorm pretrain --train corpus/ --output runs/big \\
      --tokenizer runs/tiny --precision bf16 --save-every 1000

An --output folder that holds a model or checkpoints is not replaced without --overwrite (or continued
without --resume). Ctrl-C stops the run and prints the command that resumes it from the last checkpoint.
"""

# library names in messages that are not this command's option names
LIBRARY_WORDS = {"train_files": "--train", "eval_files": "--eval", "resume=True": "--resume"}


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    positive, fraction = _common.positive_int, _common.unit_fraction
    p = subparsers.add_parser("pretrain", help=HELP, description=HELP, epilog=EPILOG,
                              formatter_class=_common.DefaultsHelpFormatter)
    data = p.add_argument_group("data")
    data.add_argument("--train", nargs="+", default=[], metavar="PATH",
                      help="training text files, folders (*.txt inside) or glob patterns")
    data.add_argument("--eval", nargs="+", default=[], metavar="PATH",
                      help="held-out text files (default: hold out --eval-fraction of the documents)")
    data.add_argument("--dataset", help="a `datasets` dataset NAME[:CONFIG] instead of files (needs `datasets`)")
    data.add_argument("--dataset-split", default="train", help="split of --dataset to train on")
    data.add_argument("--eval-split", help="held-out split of --dataset")
    data.add_argument("--text-column", default="text", help="column of --dataset holding the text")
    data.add_argument("--documents", choices=["blank_line", "line"], default="blank_line",
                      help="what separates documents in text files")
    data.add_argument("--eval-fraction", type=fraction, default=0.01,
                      help="fraction of documents held out when no --eval files are given")
    data.add_argument("--block-size", type=positive, default=128, help="tokens per block, <s> included")
    data.add_argument("--max-positions", type=positive, metavar="N",
                      help="longest input of a new model (default: --block-size); larger lets a later "
                           "--model run continue with longer blocks")
    model = p.add_argument_group("tokenizer and model")
    model.add_argument("--tokenizer", help="tokenizer folder (default: train a byte-level BPE on the corpus)")
    model.add_argument("--vocab-size", type=positive, default=8192, help="vocabulary of a new tokenizer")
    model.add_argument("--model", help="continue pretraining this model (folder or hub id)")
    model.add_argument("--hidden-size", type=positive, default=256, help="width of a new model")
    model.add_argument("--layers", type=positive, default=4, dest="num_hidden_layers", help="layers of a new model")
    model.add_argument("--heads", type=positive, default=4, dest="num_attention_heads",
                       help="attention heads of a new model")
    model.add_argument("--intermediate-size", type=positive, default=1024, help="feed-forward width of a new model")
    model.add_argument("--dropout", type=fraction, default=0.1, help="dropout of a new model")
    model.add_argument("--init-std", type=float, default=0.02, dest="initializer_range",
                       help="std of a new model's weights (small models learn sooner with ~hidden_size**-0.5)")
    mask = p.add_argument_group("masking")
    mask.add_argument("--mask-rate", type=fraction, default=0.4, help="fraction of tokens chosen per block")
    mask.add_argument("--mask-split", type=mask_split, default="100/0/0",
                      help="replacement of chosen tokens, mask/random/keep, summing to 100 (BERT: 80/10/10)")
    opt = p.add_argument_group("optimisation")
    opt.add_argument("--batch-size", type=positive, default=32, help="blocks per process per micro-step")
    opt.add_argument("--grad-accum", type=positive, default=1, help="micro-steps per update")
    opt.add_argument("--max-steps", type=positive, default=1000, help="updates")
    opt.add_argument("--lr", type=_common.positive_float, default=5e-4, help="peak learning rate")
    opt.add_argument("--warmup-ratio", type=fraction, default=0.06, help="fraction of --max-steps of warmup")
    opt.add_argument("--lr-power", type=float, default=1.0, help="polynomial decay power (1 = linear)")
    opt.add_argument("--end-lr-ratio", type=fraction, default=0.0, help="final learning rate, as a fraction of --lr")
    opt.add_argument("--weight-decay", type=float, default=0.01, help="not applied to biases and LayerNorms")
    opt.add_argument("--adam-betas", default="0.9,0.98", help="AdamW betas")
    opt.add_argument("--adam-eps", type=float, default=1e-6, help="AdamW epsilon")
    opt.add_argument("--clip-grad-norm", type=_common.positive_float, dest="max_grad_norm", help="default: no clipping")
    opt.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default="fp32", help="autocast precision")
    opt.add_argument("--seed", type=int, default=0, help="seeds initialisation, data order, masks and dropout")
    run = p.add_argument_group("output and checkpoints")
    run.add_argument("--output", "-o", required=True, dest="output_dir", help="output folder")
    run.add_argument("--log-every", type=positive, default=10, help="updates between metrics records")
    run.add_argument("--eval-every", type=_common.non_negative, default=0, help="updates between evaluations (0: at the end)")
    run.add_argument("--eval-max-blocks", type=positive, help="evaluate on at most this many held-out blocks")
    run.add_argument("--save-every", type=_common.non_negative, default=0, help="updates between checkpoints (0: none)")
    run.add_argument("--keep-checkpoints", type=positive, default=2, help="newest checkpoints kept")
    run.add_argument("--resume", nargs="?", const=True, default=False, metavar="CHECKPOINT",
                     help="continue from the latest checkpoint in --output, or from CHECKPOINT")
    run.add_argument("--overwrite", action="store_true",
                     help="start afresh even if --output holds a model or checkpoints (they are replaced)")
    run.add_argument("--stop-at", type=positive, help="stop after this update (the schedule still runs to --max-steps)")
    run.add_argument("--save-dtype", choices=["float32", "float16", "bfloat16"], help="dtype of the final weights")
    run.add_argument("--device", help="cpu, cuda or cuda:N (default: the GPU if there is one)")
    run.add_argument("--no-progress", action="store_false", dest="progress", help="no progress bar")
    run.add_argument("--quiet", action="store_true", help="no status messages")
    return p


def run(args: argparse.Namespace) -> int:
    from ..core.errors import CheckpointError
    from ..training.data import CorpusError
    from ..training.pretraining import Interrupted, PretrainConfig, pretrain

    try:
        betas = tuple(float(x) for x in args.adam_betas.split(","))
    except ValueError:
        raise UsageError(f"--adam-betas takes two numbers such as 0.9,0.98, got {args.adam_betas!r}") from None
    if len(betas) != 2:
        raise UsageError(f"--adam-betas takes two numbers such as 0.9,0.98, got {args.adam_betas!r}")
    if not args.train and not args.dataset:
        raise UsageError("give training text with --train FILE... or --dataset NAME")
    if args.resume and args.overwrite:
        raise UsageError("--resume continues the run in --output and --overwrite starts a new one: give one")
    fields = {k: v for k, v in vars(args).items()
              if k in PretrainConfig.__dataclass_fields__ and k not in ("adam_betas", "train_files", "eval_files")}
    config = PretrainConfig(**fields, train_files=args.train, eval_files=args.eval, adam_betas=betas)
    _common.setup_logging()  # library warnings (a checkpoint passed over, a single class) as rpln: warning:
    try:
        result = pretrain(config)
    except (CorpusError, CheckpointError) as e:
        raise CLIError(str(e)) from None
    except Interrupted as e:
        if e.checkpoint is None:
            raise KeyboardInterrupt(str(e).split(": continue")[0]) from None
        raise KeyboardInterrupt(f"at update {e.step}; the last checkpoint is {e.checkpoint}; continue with: "
                                f"{resume_command(args._argv)}") from None
    if result.eval:
        print(json.dumps({"step": result.step, "output_dir": result.output_dir, **result.eval}))
    else:
        print(json.dumps({"step": result.step, "checkpoint": result.checkpoint}))
    return 0


def resume_command(argv: list[str]) -> str:
    """The command line that continues this run: the same options, --resume instead of --overwrite."""
    kept, skip = [], False
    for i, token in enumerate(argv):
        if skip:
            skip = False
            continue
        if token in ("--overwrite",) or token.startswith("--resume="):
            continue
        if token == "--resume":
            nxt = argv[i + 1] if i + 1 < len(argv) else ""
            skip = bool(nxt) and not nxt.startswith("-")  # its CHECKPOINT value
            continue
        kept.append(token)
    return shlex.join(["rpln", *kept, "--resume"])


def mask_split(value: str) -> str:
    from ..training.masking import parse_split

    try:
        parse_split(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return value
