"""``rpln pretrain``: masked-LM pretraining with the efficient-MLM recipe (see ``training/pretraining.py``)."""

from __future__ import annotations

import argparse
import json

from . import CLIError

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
"""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("pretrain", help=HELP, description=HELP, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    data = p.add_argument_group("data")
    data.add_argument("--train", nargs="+", default=[], metavar="PATH",
                      help="training text files, folders (*.txt inside) or glob patterns")
    data.add_argument("--eval", nargs="+", default=[], metavar="PATH",
                      help="held-out text files (default: hold out --eval-fraction of the documents)")
    data.add_argument("--dataset", help="a `datasets` dataset NAME[:CONFIG] instead of files (needs `datasets`)")
    data.add_argument("--dataset-split", default="train")
    data.add_argument("--eval-split", help="held-out split of --dataset")
    data.add_argument("--text-column", default="text")
    data.add_argument("--documents", choices=["blank_line", "line"], default="blank_line",
                      help="what separates documents in text files (default: blank lines)")
    data.add_argument("--eval-fraction", type=float, default=0.01)
    data.add_argument("--block-size", type=int, default=128, help="tokens per block, <s> included (default 128)")
    data.add_argument("--max-positions", type=int, metavar="N",
                      help="longest input of a new model (default: --block-size); larger lets a later "
                           "--model run continue with longer blocks")
    model = p.add_argument_group("tokenizer and model")
    model.add_argument("--tokenizer", help="tokenizer folder (default: train a byte-level BPE on the corpus)")
    model.add_argument("--vocab-size", type=int, default=8192, help="vocabulary of a new tokenizer")
    model.add_argument("--model", help="continue pretraining this model (folder or hub id)")
    model.add_argument("--hidden-size", type=int, default=256)
    model.add_argument("--layers", type=int, default=4, dest="num_hidden_layers")
    model.add_argument("--heads", type=int, default=4, dest="num_attention_heads")
    model.add_argument("--intermediate-size", type=int, default=1024)
    model.add_argument("--dropout", type=float, default=0.1)
    model.add_argument("--init-std", type=float, default=0.02, dest="initializer_range",
                       help="std of a new model's weights (0.02; small models learn sooner with ~hidden_size**-0.5)")
    mask = p.add_argument_group("masking")
    mask.add_argument("--mask-rate", type=float, default=0.4, help="fraction of tokens chosen per block (0.4)")
    mask.add_argument("--mask-split", default="100/0/0",
                      help="replacement of chosen tokens, mask/random/keep (default 100/0/0; BERT: 80/10/10)")
    opt = p.add_argument_group("optimisation")
    opt.add_argument("--batch-size", type=int, default=32, help="blocks per process per micro-step")
    opt.add_argument("--grad-accum", type=int, default=1, help="micro-steps per update")
    opt.add_argument("--max-steps", type=int, default=1000, help="updates")
    opt.add_argument("--lr", type=float, default=5e-4, help="peak learning rate")
    opt.add_argument("--warmup-ratio", type=float, default=0.06)
    opt.add_argument("--lr-power", type=float, default=1.0, help="polynomial decay power (1 = linear)")
    opt.add_argument("--end-lr-ratio", type=float, default=0.0)
    opt.add_argument("--weight-decay", type=float, default=0.01, help="not applied to biases and LayerNorms")
    opt.add_argument("--adam-betas", default="0.9,0.98")
    opt.add_argument("--adam-eps", type=float, default=1e-6)
    opt.add_argument("--clip-grad-norm", type=float, dest="max_grad_norm", help="default: no clipping")
    opt.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default="fp32")
    opt.add_argument("--seed", type=int, default=0)
    run = p.add_argument_group("output and checkpoints")
    run.add_argument("--output", "-o", required=True, dest="output_dir", help="output folder")
    run.add_argument("--log-every", type=int, default=10)
    run.add_argument("--eval-every", type=int, default=0, help="updates between evaluations (0: at the end)")
    run.add_argument("--eval-max-blocks", type=int)
    run.add_argument("--save-every", type=int, default=0, help="updates between checkpoints (0: none)")
    run.add_argument("--keep-checkpoints", type=int, default=2)
    run.add_argument("--resume", nargs="?", const=True, default=False, metavar="CHECKPOINT",
                     help="continue from the latest checkpoint in --output, or from CHECKPOINT")
    run.add_argument("--overwrite", action="store_true", help="start afresh even if --output holds checkpoints")
    run.add_argument("--stop-at", type=int, help="stop after this update (the schedule still runs to --max-steps)")
    run.add_argument("--save-dtype", choices=["float32", "float16", "bfloat16"], help="dtype of the final weights")
    run.add_argument("--device", help="cpu, cuda or cuda:N (default: the GPU if there is one)")
    run.add_argument("--no-progress", action="store_false", dest="progress")
    run.add_argument("--quiet", action="store_true")
    return p


def run(args: argparse.Namespace) -> int:
    from ..core.errors import CheckpointError
    from ..training.data import CorpusError
    from ..training.pretraining import PretrainConfig, pretrain

    try:
        betas = tuple(float(x) for x in args.adam_betas.split(","))
    except ValueError:
        raise CLIError(f"--adam-betas takes two numbers such as 0.9,0.98, got {args.adam_betas!r}") from None
    if len(betas) != 2:
        raise CLIError(f"--adam-betas takes two numbers such as 0.9,0.98, got {args.adam_betas!r}")
    if not args.train and not args.dataset:
        raise CLIError("give training text with --train FILE... or --dataset NAME")
    fields = {k: v for k, v in vars(args).items()
              if k in PretrainConfig.__dataclass_fields__ and k not in ("adam_betas", "train_files", "eval_files")}
    config = PretrainConfig(**fields, train_files=args.train, eval_files=args.eval, adam_betas=betas)
    try:
        result = pretrain(config)
    except (CorpusError, CheckpointError) as e:
        raise CLIError(str(e)) from None
    if result.eval:
        print(json.dumps({"step": result.step, "output_dir": result.output_dir, **result.eval}))
    else:
        print(json.dumps({"step": result.step, "checkpoint": result.checkpoint}))
    return 0
