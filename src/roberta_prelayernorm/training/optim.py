"""AdamW with the efficient-MLM settings and the warmup + polynomial-decay schedule.

Weight decay applies to matrices only (Linear and Embedding weights): biases and LayerNorm weights,
every parameter with fewer than two dimensions, are not decayed. This follows common practice
(BERT, Hugging Face); fairseq, and so the published recipe, decays every parameter.
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch import nn


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two groups: decayed matrices, and undecayed biases and norms (tied weights appear once)."""
    decay, no_decay = [], []
    for param in model.parameters():  # parameters() yields a tied tensor once
        if not param.requires_grad:
            continue
        (decay if param.dim() >= 2 else no_decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def build_optimizer(model: nn.Module, *, lr: float, weight_decay: float = 0.01,
                    betas: tuple[float, float] = (0.9, 0.98), eps: float = 1e-6) -> torch.optim.AdamW:
    """AdamW over :func:`parameter_groups`."""
    return torch.optim.AdamW(parameter_groups(model, weight_decay), lr=lr, betas=betas, eps=eps)


def warmup_polynomial(total_steps: int, warmup_steps: int, *, power: float = 1.0, end_ratio: float = 0.0):
    """The learning-rate factor of update ``step`` (0-based): linear warmup, then polynomial decay.

    ``(step + 1) / warmup`` during warmup, then ``end + (1 - end) * (1 - t) ** power`` with ``t`` going
    from 0 (first update after warmup) towards 1 (one past the last update). ``power=1`` is linear.
    """
    if total_steps < 1:
        raise ValueError(f"total steps must be positive, got {total_steps}")
    warmup_steps = max(0, min(warmup_steps, total_steps))

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        remaining = max(total_steps - warmup_steps, 1)
        t = min((step - warmup_steps) / remaining, 1.0)
        return end_ratio + (1.0 - end_ratio) * (1.0 - t) ** power

    return factor


def build_scheduler(optimizer: torch.optim.Optimizer, total_steps: int, *, warmup_ratio: float = 0.06,
                    warmup_steps: int | None = None, power: float = 1.0, end_ratio: float = 0.0
                    ) -> torch.optim.lr_scheduler.LambdaLR:
    """``LambdaLR`` over :func:`warmup_polynomial`; warmup is ``warmup_ratio`` of the steps unless given."""
    if warmup_steps is None:
        warmup_steps = int(round(warmup_ratio * total_steps))
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, warmup_polynomial(total_steps, warmup_steps, power=power, end_ratio=end_ratio)
    )


def grad_norm(parameters: Iterable[torch.Tensor]) -> float:
    """The global L2 norm of the gradients."""
    norms = [p.grad.detach().float().norm() for p in parameters if p.grad is not None]
    return float(torch.linalg.vector_norm(torch.stack(norms))) if norms else 0.0
