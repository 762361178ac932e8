"""Masking for MLM, as in "Should You Mask 15% in MLM?" (fairseq ``MaskTokensDataset``).

For each block, exactly ``int(rate * n + u)`` positions are chosen without replacement, where ``n`` is
the number of maskable tokens in the block (every token except ``<s> <pad> </s> <unk> <mask>``, which
are never chosen) and ``u ~ U[0, 1)``: the expected count is exactly ``rate * n``. A chosen token is
replaced by ``<mask>`` with probability ``split[0]``, by a uniformly random non-special token with
``split[1]`` and kept with ``split[2]``. The default ``(1, 0, 0)`` is the released efficient-MLM
recipe; ``(0.8, 0.1, 0.1)`` is BERT's (the ``-801010`` checkpoints).

Each block is masked by its own generator seeded with ``(seed, epoch, block index)``, so the masks do
not depend on the batch size, the number of processes or where a run was resumed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch


@dataclass
class MaskedBatch:
    """A batch for the MLM loss computed only on the chosen positions."""

    input_ids: torch.Tensor  # (B, L) with the chosen tokens replaced
    positions: torch.Tensor  # (K,) flat indices into (B·L) of the chosen tokens
    targets: torch.Tensor  # (K,) their original ids

    @property
    def num_targets(self) -> int:
        return int(self.targets.numel())


def parse_split(split: str | Sequence[float]) -> tuple[float, float, float]:
    """``"80/10/10"``, ``"1,0,0"`` or three numbers → fractions (mask, random, keep) summing to 1.

    The numbers are percentages that sum to 100 or fractions that sum to 1; anything else (``50/50/50``)
    is refused rather than silently rescaled.

    Raises:
        ValueError: If there are not three non-negative numbers that sum to 100 or to 1.
    """
    if isinstance(split, str):
        parts = split.replace("/", ",").split(",")
        try:
            values = [float(p) for p in parts]
        except ValueError:
            raise ValueError(f"mask split {split!r} is not three numbers such as 80/10/10") from None
    else:
        values = [float(v) for v in split]
    if len(values) != 3 or any(v < 0 for v in values) or sum(values) <= 0:
        raise ValueError(f"mask split needs three non-negative numbers (mask/random/keep), got {split!r}")
    total = sum(values)
    if not (abs(total - 100) < 1e-6 or abs(total - 1) < 1e-9):
        raise ValueError(f"mask split {split!r} sums to {total:g}: give percentages that sum to 100 (such as "
                         f"80/10/10) or fractions that sum to 1 (0.8/0.1/0.1)")
    return (values[0] / total, values[1] / total, values[2] / total)


class Masker:
    """Chooses and replaces tokens of packed blocks.

    Args:
        rate: Fraction of maskable tokens chosen in each block (0.4 in the efficient-MLM recipe).
        split: Fractions of chosen tokens replaced by ``<mask>``, by a random token, and kept.
        mask_id: Id of ``<mask>``.
        special_ids: Ids that are never chosen (and never drawn as random replacements).
        vocab_size: Random replacements are drawn from ``[0, vocab_size)`` minus ``special_ids``.
        seed: Base seed.
    """

    def __init__(self, rate: float, split: Sequence[float], mask_id: int, special_ids: Sequence[int],
                 vocab_size: int, seed: int) -> None:
        if not 0.0 < rate < 1.0:
            raise ValueError(f"mask rate must be in (0, 1), got {rate}")
        self.rate = float(rate)
        self.split = parse_split(split)
        self.mask_id = mask_id
        self.special = np.asarray(sorted(set(special_ids)), dtype=np.int64)
        self.replacements = np.setdiff1d(np.arange(vocab_size, dtype=np.int64), self.special)
        self.seed = seed

    def mask_block(self, block: np.ndarray, epoch: int, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Mask one block; returns (new ids, chosen positions sorted, original ids there)."""
        rng = np.random.default_rng([self.seed, epoch + 1, index])  # epoch -1 (evaluation) → 0
        eligible = np.flatnonzero(~np.isin(block, self.special))
        count = min(int(self.rate * len(eligible) + rng.random()), len(eligible))
        positions = np.sort(rng.choice(eligible, size=count, replace=False))
        targets = block[positions]
        ids = block.copy()
        p_mask, p_random, _ = self.split
        if p_mask >= 1.0:
            ids[positions] = self.mask_id
        else:
            u = rng.random(count)
            to_mask = u < p_mask
            to_random = (u >= p_mask) & (u < p_mask + p_random)
            ids[positions[to_mask]] = self.mask_id
            ids[positions[to_random]] = rng.choice(self.replacements, size=int(to_random.sum()))
        return ids, positions, targets

    def __call__(self, blocks: np.ndarray, indices: Sequence[int], epoch: int) -> MaskedBatch:
        """Mask the blocks ``blocks[indices]`` (their indices seed the masks)."""
        length = blocks.shape[1]
        ids, positions, targets = [], [], []
        for row, index in enumerate(indices):
            new, pos, tgt = self.mask_block(blocks[index], epoch, int(index))
            ids.append(new)
            positions.append(pos + row * length)
            targets.append(tgt)
        return MaskedBatch(
            input_ids=torch.from_numpy(np.stack(ids)) if ids else torch.zeros(0, length, dtype=torch.long),
            positions=torch.from_numpy(np.concatenate(positions)) if ids else torch.zeros(0, dtype=torch.long),
            targets=torch.from_numpy(np.concatenate(targets)) if ids else torch.zeros(0, dtype=torch.long),
        )
