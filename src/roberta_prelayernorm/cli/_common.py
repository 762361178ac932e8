"""Options and plumbing shared by the inference commands: model options, reading inputs, output.

Inputs come from the command line, a file (``--file``) or stdin (when it is not a terminal). A file
holds plain lines (one text per non-blank line) or JSONL (one JSON object per line, with the
command's fields, e.g. ``{"text": ...}``); ``--format auto`` reads ``.jsonl``/``.json`` files and files
whose first line starts with ``{`` as JSONL. Files and stdin must be UTF-8 (a byte-order mark at the
start is dropped). Results are a readable table, or JSONL with ``--json``. Each record remembers where
it came from (``texts.txt:3``, ``argument 2``), so that errors about an input name its line.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import sys
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, TextIO

from . import CLIError, UsageError

DTYPES = ("float32", "float16", "bfloat16", "auto")


# -------------------------------------------------------------------------------------------- options
class DefaultsHelpFormatter(argparse.RawDescriptionHelpFormatter):
    """The epilog as written, and each option's default after its help (unless the help gives it, or
    the default is None / False: nothing to show)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if ("default" in text or default is None or default is False or default == argparse.SUPPRESS
                or default == [] or not action.option_strings or action.nargs == 0):  # flags: nothing to show
            return text
        shown = ",".join(map(str, default)) if isinstance(default, (list, tuple)) else str(default)
        shown = shown.replace("%", "%%")  # argparse %-formats help strings
        return f"{text} (default: {shown})" if text else f"default: {shown}"


def add_model_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model")
    group.add_argument("--model", "-m", metavar="PATH_OR_HUB_ID",
                       help="model folder or hub id (default: the installed default model)")
    group.add_argument("--device", default=None, help="cpu (default), cuda, cuda:N or mps")
    group.add_argument("--dtype", choices=DTYPES, default=None, help="weights dtype (default float32)")
    group.add_argument("--batch-size", type=positive_int, default=8, metavar="N",
                       help="inputs per forward pass (default 8)")


def model_or_default(model: str | None) -> str:
    """``--model`` as given, or the bundled default model when it was left out."""
    if model is not None:
        return model
    from ..pipelines import default_model_path

    return default_model_path()


def add_input_options(parser: argparse.ArgumentParser, *, what: str = "TEXT", positional: bool = True) -> None:
    if positional:
        parser.add_argument("texts", nargs="*", metavar=what,
                            help=f"{what.lower()}s to process (default: --file, or lines on stdin)")
    group = parser.add_argument_group("input and output")
    group.add_argument("--file", "-f", metavar="PATH", help="read inputs from this file ('-': stdin)")
    group.add_argument("--format", choices=("auto", "lines", "jsonl"), default="auto",
                       help="input file format (default auto: JSONL for .jsonl/.json or lines starting with '{')")
    group.add_argument("--field", default="text", help="JSONL field holding the text (default: text)")
    group.add_argument("--json", action="store_true", help="write JSON lines instead of a table")
    group.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                       help="progress bar on stderr for file inputs (default: when stderr is a terminal)")


def positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an integer") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive integer")
    return number


def probability(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not 0 < number <= 1:
        raise argparse.ArgumentTypeError(f"{value} is not in (0, 1]")
    return number


# --------------------------------------------------------------------------------------------- inputs
class Records(list):
    """The records of the input (a list), with ``where[i]``: where record ``i`` came from."""

    def __init__(self, records: Iterable[dict[str, Any]] = (), where: Iterable[str] = ()) -> None:
        super().__init__(records)
        self.where = list(where)

    def keep(self, indices: Iterable[int]) -> Records:
        indices = list(indices)
        return Records([self[i] for i in indices], [self.where[i] for i in indices])


def positive_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not number > 0:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number")
    return number


def non_negative(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an integer") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return number


def unit_fraction(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not 0 <= number < 1:
        raise argparse.ArgumentTypeError(f"{value} is not in [0, 1)")
    return number


def read_records(args: argparse.Namespace, fields: Sequence[str] | None = None,
                 optional: Sequence[str] = ()) -> tuple[Records, bool]:
    """Records ``{field: value}`` from the arguments, ``--file`` or stdin; and whether they came from a file.

    Args:
        fields: Required fields of each record (default: ``[args.field]``); plain lines and arguments
            fill the first one.
        optional: Fields a JSONL record may also have (e.g. ``text_pair``).

    Raises:
        CLIError: For no input, an empty file, a blank text, a malformed JSONL line or a missing
            field (with the line number).
    """
    fields = list(fields or [args.field])
    texts = list(getattr(args, "texts", None) or [])
    if texts and args.file:
        raise UsageError("give texts as arguments or --file, not both")
    if texts:
        for i, text in enumerate(texts, 1):
            if not text.strip():
                raise UsageError(f"argument {i} is an empty text")
        return Records([{fields[0]: t} for t in texts], [f"argument {i}" for i in range(1, len(texts) + 1)]), False
    if args.file and args.file != "-":
        if os.path.isdir(args.file):
            raise CLIError(f"{args.file} is a folder; --file takes a text or JSONL file")
        if not os.path.isfile(args.file):
            raise CLIError(f"{args.file}: no such file")
        try:
            with open(args.file, "rb") as f:
                data = f.read()
        except OSError as e:
            raise CLIError(f"{args.file}: cannot read it ({e.strerror or e})") from None
        return parse_lines(decode_text(data, args.file), args.file, args.format, fields, optional), True
    if args.file != "-" and sys.stdin.isatty():
        raise UsageError("no input: give texts as arguments, --file PATH, or pipe them on stdin")
    stdin = getattr(sys.stdin, "buffer", None)
    text = decode_text(stdin.read(), "stdin") if stdin is not None else sys.stdin.read()
    return parse_lines(text, "<stdin>", args.format, fields, optional), True


def decode_text(data: bytes, name: str) -> str:
    """UTF-8 bytes → text, without a leading byte-order mark.

    Raises:
        CLIError: For bytes that are not UTF-8 (binary data, another encoding), naming the place.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise CLIError(f"{name} is not UTF-8 text ({e.reason} at byte {e.start}, line {line}); "
                       f"convert it to UTF-8 first") from None
    if "\x00" in text:
        raise CLIError(f"{name} is not text: it holds NUL bytes (binary data?)")
    return text


def parse_lines(stream: TextIO | str, name: str, fmt: str, fields: Sequence[str], optional: Sequence[str] = ()
                ) -> Records:
    if isinstance(stream, str):
        stream = stream.splitlines(keepends=True)  # type: ignore[assignment]
    lines = [(n, line.rstrip("\r\n")) for n, line in enumerate(stream, 1)]
    if lines and lines[0][1].startswith("\ufeff"):  # a byte-order mark read from a text stream
        lines[0] = (1, lines[0][1][1:])
    content = [(n, line) for n, line in lines if line.strip()]
    if not content:
        raise CLIError(f"{name} is empty: no texts to process")
    where = [f"{name}:{n}" for n, _ in content]
    if fmt == "auto":
        jsonl = name.endswith((".jsonl", ".json")) or content[0][1].lstrip().startswith("{")
        fmt = "jsonl" if jsonl else "lines"
    if fmt == "lines":
        return Records([{fields[0]: line} for _, line in content], where)
    records = Records(where=where)
    for n, line in content:
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise CLIError(f"{name}:{n}: not valid JSON ({e.msg}, column {e.colno})") from None
        if not isinstance(record, dict):
            raise CLIError(f"{name}:{n}: expected a JSON object with {', '.join(map(repr, fields))}, "
                           f"got {type(record).__name__}")
        for field in fields:
            if field not in record:
                raise CLIError(f"{name}:{n}: no {field!r} field (fields: {', '.join(record) or 'none'})")
        for field in [*fields, *(f for f in optional if f in record)]:
            value = record[field]
            if not isinstance(value, str):
                raise CLIError(f"{name}:{n}: {field!r} must be a string, got {type(value).__name__}")
            if not value.strip():
                raise CLIError(f"{name}:{n}: {field!r} is empty")
        records.append(record)
    return records


# ---------------------------------------------------------------------------------------------- model
class StderrHandler(logging.Handler):
    """Writes ``rpln: warning: ...`` lines to whatever ``sys.stderr`` is at the time."""

    def emit(self, record: logging.LogRecord) -> None:
        sys.stderr.write(f"rpln: {record.levelname.lower()}: {record.getMessage()}\n")


def setup_logging() -> None:
    """Library warnings (truncation, ...) as ``rpln: warning: ...`` lines on stderr."""
    logger = logging.getLogger("roberta_prelayernorm")
    if not any(isinstance(h, StderrHandler) for h in logger.handlers):
        logger.addHandler(StderrHandler(logging.WARNING))
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def load_pipeline(task: str, args: argparse.Namespace, **parameters: Any) -> Any:
    setup_logging()
    from ..pipelines import pipeline

    if args.model is None:
        check_default_model(task)
    try:
        return pipeline(task, args.model, device=args.device, dtype=args.dtype, batch_size=args.batch_size,
                        **parameters)
    except KeyError as e:  # an unknown task
        raise CLIError(str(e.args[0])) from None


def check_default_model(task: str) -> None:
    """Without ``--model``: a usage error in one line when the default model lacks the task's head
    (the bundled model is a masked LM: it serves fill-mask, embed, info and export-onnx)."""
    from ..core import tasks
    from ..core.config import RobertaPreLayerNormConfig
    from ..pipelines import default_model_path

    spec = tasks.get(task)
    path = default_model_path(spec.name)
    if spec.head == "Model":  # feature extraction: any checkpoint has the base model
        return
    saved = RobertaPreLayerNormConfig.from_pretrained(path).architectures or []
    if any(name.endswith(tasks.class_name(spec.head)) for name in saved):
        return
    what = ", ".join(saved) or "a model without this head"
    from ..pipelines.base import PACKAGE_DIR

    name = "the bundled model" if Path(path).resolve().is_relative_to(PACKAGE_DIR) else f"the default model ({path})"
    if spec.finetune:
        fix = (f"pass --model with a fine-tuned {spec.name} model, or make one: "
               f"rpln finetune {spec.finetune[0]} --train FILE -o my-model, then rpln {spec.command} --model my-model")
    else:
        fix = f"pass --model with a {tasks.class_name(spec.head)} checkpoint (there is no rpln finetune for it)"
    raise UsageError(f"{name} is a {what} without a {spec.name} head: {fix}")


@contextmanager
def progress_bar(args: argparse.Namespace, total: int, from_file: bool) -> Iterator[Callable[[int], None] | None]:
    """A tqdm bar on stderr for file inputs (``--progress`` forces it, ``--no-progress`` hides it)."""
    show = args.progress if args.progress is not None else (from_file and sys.stderr.isatty())
    if not show:
        yield None
        return
    from tqdm import tqdm

    with tqdm(total=total, file=sys.stderr, unit="input", dynamic_ncols=True, leave=False, mininterval=0,
              miniters=1) as bar:
        yield bar.update


def run(pipe: Any, inputs: Any, args: argparse.Namespace, from_file: bool, total: int | None = None,
        where: Sequence[str] | None = None, **parameters: Any) -> Any:
    """``pipe(inputs, **parameters)`` with the progress bar; lists in, lists out.

    An error about "input N" names the place of that input instead (``where[N]``: ``texts.txt:7``).
    """
    with progress_bar(args, total if total is not None else len(inputs), from_file) as update:
        try:
            return pipe(inputs, progress=update, **parameters)
        except ValueError as e:
            match = re.match(r"input (\d+)(:?) ", str(e))
            if where is None or match is None or int(match.group(1)) >= len(where):
                raise
            rest = str(e)[match.end():]
            raise CLIError(f"{where[int(match.group(1))]}: {rest if match.group(2) else 'this input ' + rest}"
                           ) from None


# --------------------------------------------------------------------------------------------- output
def emit(records: Iterable[dict[str, Any]], args: argparse.Namespace, headers: Sequence[str],
         rows: Callable[[dict[str, Any]], Iterable[Sequence[Any]]]) -> None:
    """JSON lines (``--json``) or a table with ``headers``, ``rows(record)`` giving each record's rows."""
    out = sys.stdout
    if args.json:
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        return
    table = [list(map(cell, row)) for record in records for row in rows(record)]
    out.write(format_table(headers, table))


def cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    text = str(value)
    return text.replace("\r", "\\r").replace("\n", "\\n").replace("\t", " ")


def format_table(headers: Sequence[str], rows: list[list[str]]) -> str:
    """Left-aligned columns; text columns are cut with '…' so that a row fits the terminal."""
    width = max(shutil.get_terminal_size((120, 24)).columns, 60)
    columns = [[h, *(r[i] for r in rows)] for i, h in enumerate(headers)]
    widths = [max(len(v) for v in col) for col in columns]
    while sum(widths) + 2 * (len(widths) - 1) > width and max(widths) > 12:
        widest = widths.index(max(widths))
        widths[widest] = max(12, widths[widest] - (sum(widths) + 2 * (len(widths) - 1) - width))
    def line(values: Sequence[str]) -> str:
        return "  ".join(fit(v, w) for v, w in zip(values, widths)).rstrip()
    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)]) + "\n"


def fit(value: str, width: int) -> str:
    return value.ljust(width) if len(value) <= width else value[:width - 1] + "…"
