"""The fast path on a CUDA GPU against the newest ``transformers``: numbers and speed, in bf16.

    python benchmarks/bench_cuda.py [--repeats 30] [--out benchmarks/results]

Both models start from identical RoBERTa-base-size weights (random) on the GPU. Per input mix:
- numbers, at real tokens: fp32 (TF32 off) ours against the reference, largest absolute difference; bf16
  (weights cast to bfloat16, as a user serving in bf16 does) ours and the reference each against the fp32
  reference, ‖x − ref₃₂‖ / ‖ref₃₂‖, so that ours is seen to cost no more than the reference's own bf16;
- speed in bf16: real tokens/s of each, timed interleaved (the order rotated each round) with the
  GPU synchronised after every call, median of ``--repeats`` calls, and the peak memory of one call.
Padded batches run ours on the real tokens only, attention in one variable-length flash-attention call
(``torch.nn.attention.varlen``); ``ours-masked`` is ours with flash attention switched off, so that
padded batches attend in one masked SDPA call over the padded layout (what a GPU without flash gets);
the reference runs the padded batch with SDPA's masked kernel.

Then the MaskedLM training step (forward + backward, 40% masking, bf16 autocast on fp32 weights, as
``rpln pretrain --precision bf16`` trains): time of each, and the gradients' relative difference from the
reference's fp32 step. Writes ``cuda.json`` into ``--out`` and prints a table.
"""

from __future__ import annotations

import json
import os
import statistics
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from bench_inference import make_batch  # noqa: E402
from bench_training import masked_batch  # noqa: E402
from common import command_line, interleaved_times, model_pair  # noqa: E402


def cases() -> dict[str, list[int]]:
    """Variable-length batches (where padding costs the reference), full batches, and single texts."""
    gen = torch.Generator().manual_seed(0)
    return {
        "variable 64 x 16-512": torch.linspace(16, 512, 64).round().long().tolist(),
        "variable random 64 x 16-512": torch.randint(16, 513, (64,), generator=gen).tolist(),
        "variable 16 x 16-256": torch.linspace(16, 256, 16).round().long().tolist(),
        "fixed 32 x 128": [128] * 32,
        "fixed 8 x 512": [512] * 8,
        "single 32": [32],
        "single 128": [128],
    }


def relative(x: torch.Tensor, truth: torch.Tensor) -> float:
    x, truth = x.double(), truth.double()
    return float((x - truth).norm() / truth.norm())


def synced(fn):
    def run() -> None:
        fn()
        torch.cuda.synchronize()
    return run


def peak_bytes(fn) -> int:
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    fn()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - base


def masked_attention(model: torch.nn.Module, inputs: dict) -> object:
    """Ours with flash attention switched off: padded batches attend in one masked SDPA call."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    with sdpa_kernel([SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]):
        return model(**inputs)


def inference(repeats: int) -> list[dict]:
    ref, ours = model_pair()
    ref.cuda(), ours.cuda()
    rows = []
    with torch.inference_mode():
        truth = {}
        for name, lengths in cases().items():  # fp32 first: the truth for bf16
            inputs = {k: v.cuda() for k, v in make_batch(lengths).items()}
            mask = inputs["attention_mask"].bool()
            truth[name] = ref(**inputs).last_hidden_state[mask]
            ours_fp32 = ours(**inputs).last_hidden_state[mask]
            rows.append({"case": name, "real_tokens": sum(lengths), "padded_tokens": len(lengths) * max(lengths),
                         "fp32_max_abs_diff": float((ours_fp32 - truth[name]).abs().max())})
        ref.bfloat16(), ours.bfloat16()
        for row, (name, lengths) in zip(rows, cases().items()):
            inputs = {k: v.cuda() for k, v in make_batch(lengths).items()}
            mask = inputs["attention_mask"].bool()
            runs = {"reference": synced(lambda: ref(**inputs)), "ours": synced(lambda: ours(**inputs)),
                    "ours-masked": synced(lambda: masked_attention(ours, inputs))}
            row["bf16_relative_error"] = {"reference": relative(ref(**inputs).last_hidden_state[mask], truth[name]),
                                          "ours": relative(ours(**inputs).last_hidden_state[mask], truth[name])}
            times = {k: statistics.median(v) for k, v in interleaved_times(runs, repeats, warmup=3, pause=0).items()}
            row["bf16_tokens_per_s"] = {k: row["real_tokens"] / t for k, t in times.items()}
            row["bf16_ms"] = {k: t * 1e3 for k, t in times.items()}
            row["bf16_peak_mib"] = {k: peak_bytes(fn) / 2**20 for k, fn in runs.items()}
            row["ours_over_reference"] = times["reference"] / times["ours"]
            print(f"{name:28s} fp32 max|Δ| {row['fp32_max_abs_diff']:.1e}; bf16 rel err ref "
                  f"{row['bf16_relative_error']['reference']:.1e} ours {row['bf16_relative_error']['ours']:.1e}; "
                  f"ms ref {times['reference'] * 1e3:6.2f} ours {times['ours'] * 1e3:6.2f} "
                  f"(masked {times['ours-masked'] * 1e3:6.2f}): "
                  f"{row['ours_over_reference']:.2f}x; peak MiB ref {row['bf16_peak_mib']['reference']:.0f} "
                  f"ours {row['bf16_peak_mib']['ours']:.0f}", flush=True)
    return rows


def training(repeats: int, batch: int, length: int, dropout: float) -> dict:
    ref, ours = model_pair("RobertaPreLayerNormForMaskedLM", hidden_dropout_prob=dropout,
                           attention_probs_dropout_prob=dropout)
    ref.cuda().train(), ours.cuda().train()
    inputs = {k: v.cuda() for k, v in masked_batch(batch, length).items()}
    masked = inputs["labels"] != -100

    def step(model: torch.nn.Module, bf16: bool = True) -> None:
        model.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
            loss = model(**inputs, **({"logits_at": masked} if model is ours else {})).loss
        loss.backward()

    row: dict[str, object] = {"batch": batch, "length": length, "mask_rate": 0.4, "dropout": dropout}
    if dropout == 0.0:  # the gradients, against the reference's fp32 step
        step(ref, bf16=False)
        truth = {n: p.grad.clone() for n, p in ref.named_parameters()}
        row["grad_relative_error"] = {}
        for key, model in (("reference", ref), ("ours", ours)):
            step(model)
            grads = dict(model.named_parameters())
            row["grad_relative_error"][key] = relative(torch.cat([grads[n].grad.flatten() for n in truth]),
                                                       torch.cat([g.flatten() for g in truth.values()]))
    runs = {"reference": synced(lambda: step(ref)), "ours": synced(lambda: step(ours))}
    times = {k: statistics.median(v) for k, v in interleaved_times(runs, repeats, warmup=3, pause=0).items()}
    row["ms"] = {k: t * 1e3 for k, t in times.items()}
    row["ours_over_reference"] = times["reference"] / times["ours"]
    row["peak_mib"] = {k: peak_bytes(fn) / 2**20 for k, fn in runs.items()}
    errors = row.get("grad_relative_error", {})
    print(f"MaskedLM train {batch}x{length} dropout {dropout}: ms ref {row['ms']['reference']:.1f} "
          f"ours {row['ms']['ours']:.1f}: {row['ours_over_reference']:.2f}x; peak MiB ref "
          f"{row['peak_mib']['reference']:.0f} ours {row['peak_mib']['ours']:.0f}"
          + (f"; grad rel err vs fp32 ref {errors['reference']:.1e}, ours {errors['ours']:.1e}" if errors else ""),
          flush=True)
    return row


def main() -> None:
    parser = command_line(__doc__)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("bench_cuda.py: no CUDA GPU here")
    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 means fp32 for the numbers
    torch.backends.cudnn.allow_tf32 = False
    gpu = {"name": torch.cuda.get_device_name(), "capability": list(torch.cuda.get_device_capability()),
           "torch": torch.__version__}
    import transformers
    gpu["transformers"] = transformers.__version__
    print(f"GPU: {gpu['name']} (sm {gpu['capability']}); torch {gpu['torch']}; transformers {gpu['transformers']}")
    rows = inference(args.repeats)
    train = []
    for batch, length, dropout in ((32, 128, 0.0), (32, 128, 0.1), (8, 512, 0.0)):
        try:
            train.append(training(args.repeats, batch, length, dropout))
        except Exception as e:  # noqa: BLE001 (reported, and the other rows still run)
            print(f"MaskedLM train {batch}x{length} dropout {dropout}: {type(e).__name__}: {e}", flush=True)
            train.append({"batch": batch, "length": length, "dropout": dropout, "error": f"{type(e).__name__}: {e}"})
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "cuda.json"), "w") as f:
        json.dump({"gpu": gpu, "inference_bf16": rows, "training_bf16_autocast": train}, f, indent=2)


if __name__ == "__main__":
    main()
