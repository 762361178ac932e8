"""The ``rpln`` command line: one module per subcommand, each with ``add_parser`` and ``run``.

A subcommand module defines::

    HELP = "one line"
    def add_parser(subparsers) -> argparse.ArgumentParser   # registers its options (and an example epilog)
    def run(args: argparse.Namespace) -> int                 # exit status

Failures print one line, ``rpln: error: ...``, never a traceback, and exit with a documented status:
2 for a mistake in the command line (``UsageError``, argparse's own errors, a ``--device`` this machine
lacks), 1 for everything that goes wrong while running (``CLIError``, and the OSError / ValueError /
TypeError of the library: a file, model or input that cannot be used), 130 on Ctrl-C and 141 when
the reader of stdout goes away (``rpln ... | head``: no message). Library argument names in messages
become the command's flags (``do_sample=True`` → ``--sample``, ``text_column`` → ``--text-column``).
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
from typing import Any, Sequence

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
    """Something that stops a command while it runs (an input file, a model); one line, exit status 1."""

    status = 1


class UsageError(CLIError):
    """A mistake in the command line itself (options or arguments); one line, exit status 2."""

    status = 2


EXIT_STATUS = """\
exit status:
  0    success
  1    runtime error: an input, file or model that cannot be used, training that fails
  2    usage error: options or arguments that do not fit (also a --device this machine lacks)
  130  interrupted (Ctrl-C)
  141  the output pipe was closed (rpln ... | head): stops quietly"""


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
               "Run 'rpln COMMAND --help' for a command's options and an example.\n\n" + EXIT_STATUS,
    )
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"rpln (roberta-prelayernorm) {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for module_name in COMMANDS.values():
        module = importlib.import_module(f"{__name__}.{module_name}")
        sub = module.add_parser(subparsers)
        sub.set_defaults(_run=module.run, _parser=sub, _words=getattr(module, "LIBRARY_WORDS", {}))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if getattr(args, "_run", None) is None:
        parser.print_help()
        return 2
    args._argv = argv
    try:
        check_device(args)
        status = int(args._run(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, inside the try
        return status
    except BrokenPipeError:
        return stop_quietly()
    except CLIError as e:
        return fail(args, e, e.status)
    except (OSError, ValueError, TypeError) as e:
        return fail(args, e, 1)
    except KeyboardInterrupt as e:
        detail = str(e).strip()
        print(f"rpln: interrupted{': ' + detail if detail else ''}", file=sys.stderr)
        return 130


def fail(args: argparse.Namespace, error: BaseException, status: int) -> int:
    message = " ".join(str(error).split("\n"))
    print(f"rpln: error: {in_cli_words(message, args._parser, args._words)}", file=sys.stderr)
    return status


def stop_quietly() -> int:
    """The reader of stdout went away: no message, and no second error when Python flushes at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout without a file descriptor (tests capture it)
        pass
    return 141


def check_device(args: argparse.Namespace) -> None:
    """The one device check of every command with ``--device``: a usage error before anything loads."""
    device = getattr(args, "device", None)
    if device is None:
        return
    from ..torch.devices import resolve_device

    try:
        resolve_device(device)
    except ValueError as e:  # "device 'cuda': no CUDA GPU ..." → "--device cuda: no CUDA GPU ..."
        raise UsageError(re.sub(r"device '([^']*)'", r"--device \1", str(e))) from None


def in_cli_words(message: str, parser: argparse.ArgumentParser, extra: dict[str, str] | None = None) -> str:
    """A library message in the command's terms: its phrases in ``extra`` replaced, then ``name=True`` of a
    flag → the flag, ``name=value`` → ``--flag value`` and ``snake_case`` option names → ``--flags``."""
    for phrase, replacement in (extra or {}).items():
        message = message.replace(phrase, replacement)
    flags: dict[str, Any] = {}
    for action in parser._actions:
        long = [o for o in action.option_strings if o.startswith("--")]
        if long and action.dest != "help":
            flags[action.dest] = (max(long, key=len), action)
    for dest, (flag, action) in flags.items():
        boolean = {argparse._StoreTrueAction: "True", argparse._StoreFalseAction: "False"}.get(type(action))
        if boolean is not None:
            message = re.sub(rf"(?<![\w/.\\-]){re.escape(dest)}={boolean}\b", flag, message)
        message = re.sub(rf"(?<![\w/.\\-]){re.escape(dest)}=(?=[^\s=])", f"{flag} ", message)
        if "_" in dest:
            message = re.sub(rf"(?<![\w/.\\-]){re.escape(dest)}(?![\w/\\-]|\.\w)", flag, message)
    return message


if __name__ == "__main__":
    sys.exit(main())
