"""The ``rpln`` command line: one module per subcommand, each with ``add_parser`` and ``run``.

A subcommand module defines::

    HELP = "one line"
    def add_parser(subparsers) -> argparse.ArgumentParser   # registers its options (and an example epilog)
    def run(args: argparse.Namespace) -> int                 # exit status

User mistakes raise ``CLIError`` (or OSError/ValueError/TypeError from the library): ``main`` prints
one line, ``rpln: error: ...``, and exits with status 2 (1 for other failures), never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

# subcommand name → module in this package. Building the parser imports these modules and nothing
# heavy: a command imports torch (or TF, JAX) in its ``run``, so every ``--help`` answers at once.
COMMANDS: dict[str, str] = {
    "fill-mask": "fill_mask",
    "embed": "embed",
    "classify": "classify",
    "tag": "tag",
    "answer": "answer",
    "generate": "generate",
    "info": "info",
    "download": "download",
    "pretrain": "pretrain",
    "finetune": "finetune",
    "export-onnx": "export_onnx",
    "convert": "convert",
}


class CLIError(Exception):
    """A mistake in the command line or its inputs; printed as one line."""


class Parser(argparse.ArgumentParser):
    """Usage mistakes as one line, like every other error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="rpln",
        description="RoBERTa-PreLayerNorm from the command line.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  rpln fill-mask 'The capital of France is <mask>.'\n\n"
               "Run 'rpln COMMAND --help' for a command's options and an example.",
    )
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"rpln (roberta-prelayernorm) {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for module_name in COMMANDS.values():
        module = importlib.import_module(f"{__name__}.{module_name}")
        sub = module.add_parser(subparsers)
        sub.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_run", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except CLIError as e:
        print(f"rpln: error: {e}", file=sys.stderr)
        return 2
    except (OSError, ValueError, TypeError) as e:
        print(f"rpln: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("rpln: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
