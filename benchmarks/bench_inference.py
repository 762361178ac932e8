"""Inference speed: ours vs the newest ``transformers`` on identical weights and inputs, interleaved.

    python benchmarks/bench_inference.py [--repeats 5] [--threads 2] [--out benchmarks/results]

Reports real (non-padding) tokens/s, the ratio ours/reference, and useful FLOP/s as a share of this
machine's measured matmul peak, for a variable-length batch (16 texts, 16-256 tokens), a fixed-length
batch (8 x 128) and a single 32-token text, in fp32 and bf16. Writes a JSON and a PNG beside the table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from common import encoder_flops, interleaved, matmul_peak, model_pair  # noqa: E402


def make_batch(lengths: list[int], vocab: int = 50265, seed: int = 0) -> dict[str, torch.Tensor]:
    """Right-padded ids with <s> ... </s> and an attention mask."""
    gen = torch.Generator().manual_seed(seed)
    ids = torch.full((len(lengths), max(lengths)), 1, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, n in enumerate(lengths):
        ids[i, :n] = torch.randint(3, vocab, (n,), generator=gen)
        ids[i, 0], ids[i, n - 1] = 0, 2
        mask[i, :n] = 1
    return {"input_ids": ids, "attention_mask": mask}


def cases() -> dict[str, list[int]]:
    """The issue's three cases, plus one random draw of lengths.

    "16 texts of 16-256 tokens" is taken as 16 lengths spread evenly over the range (mean 136, so 47%
    of a padded batch is padding, as in the issue's description). A single random draw can land far
    from that (seed 0: mean 171, 33% padding), so it is reported as a separate row.
    """
    gen = torch.Generator().manual_seed(0)
    return {
        "variable 16 x 16-256": torch.linspace(16, 256, 16).round().long().tolist(),
        "variable random 16-256": torch.randint(16, 257, (16,), generator=gen).tolist(),
        "fixed 8 x 128": [128] * 8,
        "single 32": [32],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dtypes", default="float32,bfloat16")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ref, ours = model_pair()
    rows = []
    for dtype_name in args.dtypes.split(","):
        dtype = getattr(torch, dtype_name)
        ref.to(dtype), ours.to(dtype)
        peak = matmul_peak(dtype)
        for name, lengths in cases().items():
            inputs = make_batch(lengths)
            with torch.inference_mode():
                # same numbers first: real tokens agree
                mask = inputs["attention_mask"].bool()
                diff = (ref(**inputs).last_hidden_state[mask].float()
                        - ours(**inputs).last_hidden_state[mask].float()).abs().max().item()
                repeats = args.repeats * (10 if len(lengths) == 1 else 1)
                t = interleaved({"reference": lambda: ref(**inputs), "ours": lambda: ours(**inputs)}, repeats)
            tokens, flops = sum(lengths), encoder_flops(lengths)
            row = {
                "case": name, "dtype": dtype_name, "real_tokens": tokens,
                "reference_tokens_per_s": tokens / t["reference"], "ours_tokens_per_s": tokens / t["ours"],
                "ratio": t["reference"] / t["ours"],
                "reference_peak_share": flops / t["reference"] / peak, "ours_peak_share": flops / t["ours"] / peak,
                "matmul_peak_gflops": peak / 1e9, "max_abs_diff_real_tokens": diff,
            }
            rows.append(row)
            print(f"{name:22s} {dtype_name:9s} ref {row['reference_tokens_per_s']:8.0f} tok/s  "
                  f"ours {row['ours_tokens_per_s']:8.0f} tok/s  ratio {row['ratio']:.2f}x  "
                  f"useful FLOP/s: ref {row['reference_peak_share']:.0%} ours {row['ours_peak_share']:.0%} "
                  f"of {peak / 1e9:.0f} GFLOP/s  max|diff| {diff:.1e}", flush=True)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "inference.json"), "w") as f:
        json.dump({"threads": args.threads, "torch": torch.__version__, "rows": rows}, f, indent=2)
    plot(rows, os.path.join(args.out, "inference.png"))


def plot(rows: list[dict], path: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot", file=sys.stderr)
        return
    labels = [f"{r['case']}\n{r['dtype']}" for r in rows]
    x = range(len(rows))
    fig, ax = plt.subplots(figsize=(10, 4.5))
    ax.bar([i - 0.2 for i in x], [r["reference_tokens_per_s"] for r in rows], 0.4, label="transformers")
    ax.bar([i + 0.2 for i in x], [r["ours_tokens_per_s"] for r in rows], 0.4, label="roberta_prelayernorm")
    for i, r in enumerate(rows):
        ax.text(i + 0.2, r["ours_tokens_per_s"], f"{r['ratio']:.2f}x", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(list(x), labels, fontsize=7)
    ax.set_ylabel("real tokens / s")
    ax.set_title("RoBERTa-base size, CPU inference (higher is better)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
