"""``rpln export-onnx``: write a model as an ONNX graph with dynamic batch and sequence axes."""

from __future__ import annotations

import argparse
import json
import sys

from . import CLIError, _common

HELP = "export a model to ONNX (dynamic batch and sequence axes), to run with onnxruntime"

EPILOG = """\
The graph takes input_ids and attention_mask (and token_type_ids when the model has several token
types), int64 of shape (batch, sequence), and returns the task's outputs by their field names:
last_hidden_state/pooler_output, logits, or start_logits/end_logits. Needs the `onnx` extra.
The output path is checked first; the export itself takes tens of seconds (stages shown on stderr).

examples:
  rpln export-onnx --output model.onnx                     # the bundled model
  rpln export-onnx --model runs/qa --output qa.onnx --task question-answering --opset 18
  rpln export-onnx --output model.onnx --json              # the result as one JSON line
  python -c "import onnxruntime as ort; print([i.name for i in ort.InferenceSession('model.onnx').get_inputs()])"
"""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from ..torch.onnx import DEFAULT_OPSET, MAX_OPSET, MIN_OPSET, TASKS

    p = subparsers.add_parser("export-onnx", help=HELP, description=HELP, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", "-m", help="model folder or hub id (default: the bundled model)")
    p.add_argument("--output", "-o", required=True, help="the .onnx file to write")
    p.add_argument("--task", choices=list(TASKS), metavar="TASK",
                   help=f"which head to export: {', '.join(TASKS)} "
                        f"(default: the checkpoint's architecture, else feature-extraction)")
    p.add_argument("--opset", type=opset_number(MIN_OPSET, MAX_OPSET), default=DEFAULT_OPSET,
                   help=f"ONNX opset, {MIN_OPSET} to {MAX_OPSET} (default {DEFAULT_OPSET})")
    p.add_argument("--output-hidden-states", action="store_true",
                   help="also output hidden_states: (layers + 1, batch, sequence, hidden)")
    p.add_argument("--output-attentions", action="store_true",
                   help="also output attentions: (layers, batch, heads, sequence, sequence)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON line instead of a table")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="stage lines on stderr (default: when stderr is a terminal)")
    return p


def run(args: argparse.Namespace) -> int:
    from ..torch.onnx import export_onnx

    show = args.progress if args.progress is not None else sys.stderr.isatty()

    def progress(line: str) -> None:
        if show:
            print(f"rpln: {line}", file=sys.stderr, flush=True)

    try:
        result = export_onnx(_common.model_or_default(args.model), args.output, task=args.task,
                             opset=args.opset,
                             output_hidden_states=args.output_hidden_states,
                             output_attentions=args.output_attentions, progress=progress)
    except ImportError as e:
        raise CLIError(str(e)) from None
    info = {"output": str(result.path), "task": result.task, "opset": result.opset,
            "inputs": result.input_names, "outputs": result.output_names}
    if args.json:
        print(json.dumps(info))
        return 0
    width = max(len(k) for k in info)
    for key, value in info.items():
        print(f"{key.ljust(width)}  {', '.join(value) if isinstance(value, list) else value}")
    return 0


def opset_number(low: int, high: int):  # noqa: ANN201 - an argparse type
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not an integer") from None
        if not low <= number <= high:
            raise argparse.ArgumentTypeError(f"opset {number} is not supported: choose {low} to {high}")
        return number
    return parse
