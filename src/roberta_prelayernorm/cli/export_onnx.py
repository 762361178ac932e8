"""``rpln export-onnx``: write a model as an ONNX graph with dynamic batch and sequence axes."""

from __future__ import annotations

import argparse
import json

from . import CLIError, _common

HELP = "export a model to ONNX (dynamic batch and sequence axes), to run with onnxruntime"

EPILOG = """\
The graph takes input_ids and attention_mask (and token_type_ids when the model has several token
types), int64 of shape (batch, sequence), and returns the task's outputs by their field names:
last_hidden_state/pooler_output, logits, or start_logits/end_logits. Needs the `onnx` extra.

examples:
  rpln export-onnx --output model.onnx                     # the bundled model
  rpln export-onnx --model runs/qa --output qa.onnx --task question-answering --opset 18
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
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET,
                   help=f"ONNX opset, {MIN_OPSET} to {MAX_OPSET} (default {DEFAULT_OPSET})")
    p.add_argument("--output-hidden-states", action="store_true",
                   help="also output hidden_states: (layers + 1, batch, sequence, hidden)")
    p.add_argument("--output-attentions", action="store_true",
                   help="also output attentions: (layers, batch, heads, sequence, sequence)")
    return p


def run(args: argparse.Namespace) -> int:
    from ..torch.onnx import export_onnx

    try:
        result = export_onnx(_common.model_or_default(args.model), args.output, task=args.task,
                             opset=args.opset,
                             output_hidden_states=args.output_hidden_states,
                             output_attentions=args.output_attentions)
    except (ImportError, ValueError) as e:
        raise CLIError(str(e)) from None
    print(json.dumps({"output": str(result.path), "task": result.task, "opset": result.opset,
                      "inputs": result.input_names, "outputs": result.output_names}))
    return 0
