"""MaskedLM training step (forward + backward) at 40% masking: ours vs the newest ``transformers``.

    python benchmarks/bench_training.py [--repeats 5] [--threads 2] [--batch 8] [--length 128]

Both models start from identical weights and see identical inputs; steps are interleaved in one
process. Ours computes the LM head only at the masked positions (``logits_at``, as ``rpln pretrain``
does); the reference computes it everywhere. Gradients are compared once before timing.
"""

from __future__ import annotations

import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from common import command_line, interleaved, model_pair, parse  # noqa: E402


def masked_batch(batch: int, length: int, rate: float = 0.4, vocab: int = 50265, seed: int = 0
                 ) -> dict[str, torch.Tensor]:
    """Exactly int(rate * length + U[0,1)) masked positions per row (the efficient-MLM recipe)."""
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, vocab, (batch, length), generator=gen)
    labels = torch.full_like(ids, -100)
    for row in range(batch):
        count = int(rate * length + torch.rand(1, generator=gen).item())
        chosen = torch.randperm(length, generator=gen)[:count]
        labels[row, chosen] = ids[row, chosen]
        ids[row, chosen] = vocab - 1  # <mask>
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}


def main() -> None:
    parser = command_line(__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=128)
    args = parse(parser)
    ref, ours = model_pair("RobertaPreLayerNormForMaskedLM", hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    ref.train(), ours.train()
    inputs = masked_batch(args.batch, args.length)

    masked = inputs["labels"] != -100

    def step(model: torch.nn.Module) -> float:
        model.zero_grad(set_to_none=True)
        loss = model(**inputs, **({"logits_at": masked} if model is ours else {})).loss
        loss.backward()
        return loss.item()

    loss_ref, loss_ours = step(ref), step(ours)
    grads = dict(ref.named_parameters())
    grad_diff = max((p.grad - grads[n].grad).abs().max().item() for n, p in ours.named_parameters())
    t = interleaved({"reference": lambda: step(ref), "ours": lambda: step(ours)}, args.repeats, warmup=1)
    tokens = args.batch * args.length
    row = {"batch": args.batch, "length": args.length, "mask_rate": 0.4,
           "reference_s": t["reference"], "ours_s": t["ours"], "ratio": t["reference"] / t["ours"],
           "reference_tokens_per_s": tokens / t["reference"], "ours_tokens_per_s": tokens / t["ours"],
           "loss_diff": abs(loss_ref - loss_ours), "max_grad_diff": grad_diff}
    print(f"MaskedLM train step {args.batch}x{args.length} @40%: ref {t['reference'] * 1e3:.0f} ms, "
          f"ours {t['ours'] * 1e3:.0f} ms, ratio {row['ratio']:.2f}x; |loss diff| {row['loss_diff']:.1e}, "
          f"max |grad diff| {grad_diff:.1e}")
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "training.json"), "w") as f:
        json.dump({"threads": args.threads, "torch": torch.__version__, **row}, f, indent=2)


if __name__ == "__main__":
    main()
