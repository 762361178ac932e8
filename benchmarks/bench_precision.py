"""The accuracy cost and speed of each precision option against fp32, on a fixed input set.

    python benchmarks/bench_precision.py [--sentences 64] [--repeats 3] [--threads 2] [--model FOLDER]
                                         [--precisions bf16,fp16,int8]

For each precision (bf16 and fp16 with converted weights and with autocast, int8 dynamic quantisation),
the int8 model on our onnxruntime engine (``set_fast_path(True, engine="onnxruntime")``: each text alone,
since the engine runs inputs without padding; bench_inference times it; on CPUs without VNNI also with
``ort_engine.set_int8_weights("int8")``, ONNX Runtime's saturating kernel), and for ONNX Runtime on its
dynamic int8 quantisation (``quantize_dynamic``, int8 weights) of the reference's export with the same
weights (``onnxruntime int8``, when onnxruntime and transformers are installed), it reports, against the
same model in fp32 on the same inputs:
  - MLM top-1 agreement: the share of <mask> positions whose most likely token is the same;
  - classification agreement: the share of texts whose argmax class is the same (sequence
    classification head, randomly initialised with a fixed seed: no fine-tuned head is at hand);
  - the largest absolute difference of the MLM logits at <mask> positions and of the class logits,
    and the largest |fp32 MLM logit| for scale;
  - speed: real tokens/s of encoder + classification head on one batch, interleaved with fp32.
Models: RoBERTa-base size with random weights (random ids, 15% masked), and the bundled model at
src/roberta_prelayernorm/models/default when it is there (template sentences through its tokenizer).
Random weights give near-ties among 50k vocabulary logits, so their MLM agreement is a pessimistic
bound: a trained model's top-1 has a wider margin. fp16 on a CPU without fp16 arithmetic runs emulated:
its accuracy is that of fp16 anywhere, its speed is marked "emulated". Writes benchmarks/results/precision.json and
prints a markdown table.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import shutil
import sys
import tempfile
from contextlib import nullcontext
from functools import partial
from typing import Callable, Iterator

import torch

sys.path.insert(0, os.path.dirname(__file__))
from common import BASE, OutputField, command_line, export_onnx, interleaved, ort_session, parse  # noqa: E402

import roberta_prelayernorm as rp  # noqa: E402
from roberta_prelayernorm.torch import ort_engine  # noqa: E402
from roberta_prelayernorm.torch.modeling import RobertaPreLayerNormClassificationHead  # noqa: E402
from roberta_prelayernorm.torch.precision import autocast, to_precision, unsupported_reason  # noqa: E402

# (label, precision, how): "weights" converts the model, "autocast" keeps fp32 weights
VARIANTS = [("fp32", "fp32", "weights"), ("bf16", "bf16", "weights"), ("bf16 autocast", "bf16", "autocast"),
            ("fp16", "fp16", "weights"), ("fp16 autocast", "fp16", "autocast"), ("int8 dynamic", "int8", "weights"),
            ("int8 dynamic, onnxruntime engine", "int8", "engine"),
            ("int8 dynamic, onnxruntime engine, int8 weights", "int8", "engine int8 weights")]
BATCH = 16
MASK_RATE = 0.15

SUBJECTS = ["The old man", "A young girl", "My neighbour", "The teacher", "Our team", "The small dog", "Every student",
            "The doctor"]
VERBS = ["walked to", "looked at", "painted", "visited", "talked about", "cleaned", "remembered", "found"]
OBJECTS = ["the river near the town", "a house on the hill", "the library after school", "an empty room upstairs",
           "the market in the morning", "a letter from his brother", "the garden behind the church",
           "the train to the city"]


def sentences(n: int) -> list[str]:
    """n deterministic English sentences from the templates above."""
    gen = torch.Generator().manual_seed(0)
    pick = lambda words: words[int(torch.randint(len(words), (1,), generator=gen))]  # noqa: E731
    return [f"{pick(SUBJECTS)} {pick(VERBS)} {pick(OBJECTS)}." for _ in range(n)]


def mask_positions(ids: torch.Tensor, special: torch.Tensor, mask_id: int, gen: torch.Generator) -> torch.Tensor:
    """Replace MASK_RATE of the non-special tokens of a 1-D sequence (at least one) by ``mask_id``."""
    candidates = (~special).nonzero().squeeze(1)
    count = max(1, round(MASK_RATE * len(candidates)))
    chosen = candidates[torch.randperm(len(candidates), generator=gen)[:count]]
    ids = ids.clone()
    ids[chosen] = mask_id
    return ids


def pad(rows: list[torch.Tensor], pad_id: int) -> list[dict[str, torch.Tensor]]:
    """Batches of BATCH right-padded rows with their attention masks."""
    batches = []
    for start in range(0, len(rows), BATCH):
        chunk = rows[start:start + BATCH]
        ids = torch.full((len(chunk), max(len(r) for r in chunk)), pad_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, r in enumerate(chunk):
            ids[i, :len(r)], mask[i, :len(r)] = r, 1
        batches.append({"input_ids": ids, "attention_mask": mask})
    return batches


def random_inputs(n: int, vocab: int, mask_id: int) -> list[dict[str, torch.Tensor]]:
    """n sequences of 8-40 random tokens between <s> and </s>, 15% of them masked."""
    gen = torch.Generator().manual_seed(0)
    rows = []
    for _ in range(n):
        length = int(torch.randint(8, 41, (1,), generator=gen))
        ids = torch.cat([torch.tensor([0]), torch.randint(3, mask_id, (length - 2,), generator=gen), torch.tensor([2])])
        special = torch.zeros(length, dtype=torch.bool)
        special[[0, -1]] = True
        rows.append(mask_positions(ids, special, mask_id, gen))
    return pad(rows, pad_id=1)


def tokenizer_inputs(folder: str, n: int) -> tuple[list[dict[str, torch.Tensor]], int]:
    tokenizer = rp.AutoTokenizer.from_pretrained(folder)
    gen = torch.Generator().manual_seed(0)
    special_ids = torch.tensor(sorted(set(tokenizer.all_special_ids)))
    rows = []
    for text in sentences(n):
        ids = torch.tensor(tokenizer(text)["input_ids"])
        rows.append(mask_positions(ids, torch.isin(ids, special_ids), tokenizer.mask_token_id, gen))
    return pad(rows, pad_id=tokenizer.pad_token_id), tokenizer.mask_token_id


def weight_megabytes(*modules: torch.nn.Module) -> float:
    """Size of the serialised weights (tied tensors once; int8 modules with their packed weights)."""
    buffer = io.BytesIO()
    torch.save([m.state_dict() for m in modules], buffer)
    return buffer.tell() / 2**20


class _Encoder(torch.nn.Module):
    """The reference's encoder and our classification head: what ``classify`` computes, for export."""

    def __init__(self, ref: torch.nn.Module, head: torch.nn.Module) -> None:
        super().__init__()
        self.ref, self.head = ref, head

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.ref.roberta_prelayernorm(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return hidden, self.head(hidden)


def onnxruntime_int8(mlm: torch.nn.Module, head: torch.nn.Module, folder: str, threads: int
                     ) -> tuple[Callable, Callable] | None:
    """ONNX Runtime on the dynamic int8 quantisation of the reference (``transformers``, our weights):
    ``(classify(batch) -> (hidden, class logits), mlm(batch) -> logits)``, or None without the packages."""
    try:
        import onnxruntime  # noqa: F401
        import transformers
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as e:
        print(f"no onnxruntime int8 row: {e}", file=sys.stderr)
        return None
    mlm.save_pretrained(os.path.join(folder, "weights"))
    ref = transformers.RobertaPreLayerNormForMaskedLM.from_pretrained(os.path.join(folder, "weights")).eval()
    example = (torch.tensor([[0, 5, 6, 2], [0, 7, 2, 1]]), torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]]))
    sessions = []
    for graph, name in ((_Encoder(ref, head), "encoder"), (OutputField(ref, "logits"), "mlm")):
        path, quantized = os.path.join(folder, f"{name}.onnx"), os.path.join(folder, f"{name}-int8.onnx")
        with contextlib.redirect_stdout(io.StringIO()):
            export_onnx(graph, example, path)
        quantize_dynamic(path, quantized, weight_type=QuantType.QInt8)
        sessions.append(ort_session(quantized, threads))
    feed = lambda batch: {k: v.numpy() for k, v in batch.items()}  # noqa: E731
    classify = lambda batch: tuple(torch.from_numpy(x) for x in sessions[0].run(None, feed(batch)))  # noqa: E731
    return classify, lambda batch: torch.from_numpy(sessions[1].run(None, feed(batch))[0])


@contextlib.contextmanager
def engine_int8_weights(form: str | None) -> Iterator[None]:
    """The onnxruntime engine's int8 weights in ``form`` (None: the CPU's default) while it runs."""
    before = ort_engine._int8_weights
    ort_engine.set_int8_weights(form)
    try:
        yield
    finally:
        ort_engine.set_int8_weights(before)


def measure(name: str, mlm: torch.nn.Module, head: torch.nn.Module, batches: list[dict], mask_id: int,
            repeats: int, threads: int = 2) -> list[dict]:
    """Every variant against fp32 on ``batches``; returns one row per variant."""
    runs: dict[str, tuple[torch.nn.Module, torch.nn.Module, Callable]] = {}
    notes: dict[str, str] = {}
    one_by_one: set[str] = set()  # the engine runs inputs without padding: each text alone
    for label, precision, how in VARIANTS:
        reason = unsupported_reason(precision)
        if reason is not None and unsupported_reason(precision, allow_emulated=True) is not None:
            print(f"{name}: skipping {label}: {reason}", file=sys.stderr)
            continue
        if reason is not None:
            notes[label] = "emulated"
        if how == "autocast":
            runs[label] = (mlm, head, lambda p=precision: autocast(p, allow_emulated=True))
        elif how.startswith("engine"):
            form = "int8" if how.endswith("int8 weights") else None
            if form is not None and ort_engine.int8_weights() == form:
                continue  # (this CPU's default: the row above)
            try:
                model = to_precision(copy.deepcopy(mlm), precision)
                model.set_fast_path(True, engine="onnxruntime")
            except ImportError as e:
                print(f"{name}: skipping {label}: {e}", file=sys.stderr)
                continue
            runs[label] = (model, to_precision(copy.deepcopy(head), precision), partial(engine_int8_weights, form))
            one_by_one.add(label)
            notes[label] = "texts one at a time"
        else:
            converted = [m if precision == "fp32" else to_precision(copy.deepcopy(m), precision, allow_emulated=True)
                         for m in (mlm, head)]
            runs[label] = (*converted, nullcontext)

    folder = tempfile.mkdtemp()
    ort_int8 = onnxruntime_int8(mlm, head, folder, threads)
    ORT = "onnxruntime int8"

    def classify(label: str, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """Encoder, then the classification head: the hidden states and the class logits."""
        if label == ORT:
            return ort_int8[0](batch)
        model, cls, context = runs[label]
        if label in one_by_one:  # each text's real tokens alone, the padding positions left 0
            hidden = torch.zeros(*batch["input_ids"].shape, model.config.hidden_size)
            with context():
                for i, (ids, mask) in enumerate(zip(batch["input_ids"], batch["attention_mask"])):
                    n = int(mask.sum())
                    hidden[i, :n] = model.roberta_prelayernorm(input_ids=ids[None, :n]).last_hidden_state[0]
            return hidden, cls(hidden)
        with context():
            hidden = model.roberta_prelayernorm(**batch).last_hidden_state
            return hidden, cls(hidden)

    results: dict[str, dict[str, torch.Tensor]] = {}
    with torch.inference_mode():
        for label, (model, _, context) in runs.items():
            mlm_logits, cls_logits = [], []
            for batch in batches:
                hidden, logits = classify(label, batch)
                with context():  # the LM head only at <mask> positions, as fill-mask runs it
                    mlm_logits.append(model.lm_head(hidden[batch["input_ids"] == mask_id]).float())
                cls_logits.append(logits.float())
            results[label] = {"mlm": torch.cat(mlm_logits), "cls": torch.cat(cls_logits)}
            print(f"{name}: {label} computed", file=sys.stderr, flush=True)
        if ort_int8 is not None:
            results[ORT] = {"mlm": torch.cat([ort_int8[1](b)[b["input_ids"] == mask_id] for b in batches]),
                            "cls": torch.cat([ort_int8[0](b)[1] for b in batches])}
        timing_batch = batches[0]
        labels = [label for label in runs if label not in one_by_one] + ([ORT] if ort_int8 is not None else [])
        times = interleaved({label.replace(" ", "-"): lambda label=label: classify(label, timing_batch)
                             for label in labels}, repeats, warmup=1)
        times = {label: times[label.replace(" ", "-")] for label in labels}
    shutil.rmtree(folder, ignore_errors=True)

    reference = results["fp32"]
    tokens = int(timing_batch["attention_mask"].sum())
    rows = []
    for label, out in results.items():
        model, cls, _ = runs.get(label, (None, None, None))
        rows.append({
            "model": name, "precision": label,
            "mlm_top1_agreement": (out["mlm"].argmax(-1) == reference["mlm"].argmax(-1)).float().mean().item(),
            "cls_argmax_agreement": (out["cls"].argmax(-1) == reference["cls"].argmax(-1)).float().mean().item(),
            "mlm_max_abs_logit_diff": (out["mlm"] - reference["mlm"]).abs().max().item(),
            "cls_max_abs_logit_diff": (out["cls"] - reference["cls"]).abs().max().item(),
            "mlm_max_abs_logit_fp32": reference["mlm"].abs().max().item(),
            "masked_positions": len(reference["mlm"]), "texts": len(reference["cls"]),
            "tokens_per_s": tokens / times[label] if label in times else None,  # (bench_inference times the engine)
            "speed_vs_fp32": times["fp32"] / times[label] if label in times else None,
            "weights_mb": weight_megabytes(model, cls) if model is not None and not label.endswith("autocast")
            else None,
            "note": notes.get(label, ""),
        })
    return rows


def random_base_model() -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(0)
    config = rp.RobertaPreLayerNormConfig(**BASE, num_labels=3)
    mlm = rp.RobertaPreLayerNormForMaskedLM(config).eval()
    return mlm, RobertaPreLayerNormClassificationHead(config).eval()


def bundled_model(folder: str) -> tuple[torch.nn.Module, torch.nn.Module]:
    mlm = rp.RobertaPreLayerNormForMaskedLM.from_pretrained(folder).eval()
    torch.manual_seed(0)
    config = copy.deepcopy(mlm.config)
    config.num_labels = 3
    return mlm, RobertaPreLayerNormClassificationHead(config).eval()


def table(rows: list[dict]) -> str:
    lines = ["| model | precision | MLM top-1 agreement | class agreement | max abs diff: MLM logits | "
             "max abs diff: class logits | speed vs fp32 | weights |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        speed = "" if r["speed_vs_fp32"] is None else f"{r['speed_vs_fp32']:.2f}x"
        speed += f" ({r['note']})" if r["note"] else ""
        size = (f"{r['weights_mb']:.0f} MB" if r["weights_mb"] is not None
                else "(fp32)" if r["precision"].endswith("autocast") else "")
        lines.append(f"| {r['model']} | {r['precision']} | {r['mlm_top1_agreement']:.1%} | "
                     f"{r['cls_argmax_agreement']:.1%} | {r['mlm_max_abs_logit_diff']:.3g} "
                     f"(of {r['mlm_max_abs_logit_fp32']:.3g}) | {r['cls_max_abs_logit_diff']:.3g} | {speed} | {size} |")
    return "\n".join(lines)


def main() -> None:
    parser = command_line(__doc__)
    parser.add_argument("--sentences", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser.add_argument("--model", default=os.path.join(root, "src", "roberta_prelayernorm", "models", "default"),
                        help="a trained model folder to measure as well, when it exists")
    parser.add_argument("--skip-random", action="store_true", help="measure only --model")
    parser.add_argument("--precisions", default=",".join(dict.fromkeys(v[1] for v in VARIANTS)),
                        help="the precisions to measure, comma-separated (fp32, the baseline, always)")
    args = parse(parser)
    VARIANTS[:] = [v for v in VARIANTS if v[1] == "fp32" or v[1] in args.precisions.split(",")]

    rows = []
    if not args.skip_random:
        mlm, head = random_base_model()
        batches = random_inputs(args.sentences, BASE["vocab_size"], mask_id=BASE["vocab_size"] - 1)
        rows += measure("RoBERTa-base size, random weights", mlm, head, batches, BASE["vocab_size"] - 1, args.repeats,
                        args.threads)
        del mlm, head
    if os.path.isfile(os.path.join(args.model, "config.json")):
        mlm, head = bundled_model(args.model)
        batches, mask_id = tokenizer_inputs(args.model, args.sentences)
        rows += measure(os.path.basename(os.path.normpath(args.model)), mlm, head, batches, mask_id, args.repeats,
                        args.threads)
    else:
        print(f"no model at {args.model}: measured the random-weight model only", file=sys.stderr)

    print(table(rows))
    machine = {"threads": args.threads, "torch": torch.__version__,
               "cpu_capability": torch.backends.cpu.get_cpu_capability(),
               "native": {p: unsupported_reason(p) is None for p in ("bf16", "fp16", "int8")}}
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "precision.json")
    with open(path, "w") as f:
        json.dump({**machine, "sentences": args.sentences, "batch": BATCH, "mask_rate": MASK_RATE, "rows": rows},
                  f, indent=2)
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
