"""Masked-LM pretraining with the efficient-MLM recipe ("Should You Mask 15% in MLM?").

One function, :func:`pretrain`, over one dataclass, :class:`PretrainConfig`. The same code runs on one
process or under ``torchrun`` (DistributedDataParallel, data sharded by rank, rank 0 logs and saves).

Per update, the global batch of ``batch_size × world_size × grad_accum`` blocks is taken in order from
a per-epoch permutation of the blocks; micro-step ``m`` on rank ``r`` gets the ``r``-th slice of the
``m``-th part. The loss of an update is the sum of the cross-entropies at every chosen position of the
global batch divided by their number (as fairseq normalises by ``sample_size``), so one process with
batch ``2b`` and two processes with batch ``b`` compute the same update.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import random
import shutil
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..core.errors import CheckpointError
from ..core.config import RobertaPreLayerNormConfig
from ..core.files import write_json
from ..core.weights import is_weights_file
from ..torch.pretrained import torch_dtype
from . import distributed, state
from .data import (
    CorpusError,
    dataset_documents,
    digest,
    pack_blocks,
    read_documents,
    split_held_out,
    token_stream,
)
from .masking import MaskedBatch, Masker, parse_split
from .monitor import MetricsLog, Progress, plot_loss_curve
from .optim import build_optimizer, build_scheduler
from .text import TOKENIZER_FILES, SpecialIds, load_tokenizer, save_tokenizer, tokenizer_folder, train_byte_level_bpe

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
logger = logging.getLogger("roberta_prelayernorm")


class TrainingDiverged(FloatingPointError, ValueError):
    """The loss became NaN or infinite (also a ``ValueError``, so that callers of bad settings catch it)."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a run: where it stopped and the checkpoint to resume from (None when there is none)."""

    def __init__(self, step: int, checkpoint: str | None, output_dir: str, save_every: int) -> None:
        self.step, self.checkpoint, self.output_dir = step, checkpoint, output_dir
        if checkpoint is not None:
            detail = f"the last checkpoint is {checkpoint}: continue the run with resume=True"
        elif save_every:
            detail = f"before the first checkpoint (save_every={save_every}): nothing to resume, start again"
        else:
            detail = "no checkpoints are written (save_every=0): nothing to resume, start again"
        super().__init__(f"at update {step}; {detail}")

# settings that may change between a run and its resumption (everything else must match)
FREE_ON_RESUME = frozenset({
    "output_dir", "train_files", "eval_files", "dataset", "resume", "overwrite", "progress", "log_every",
    "eval_every", "save_every", "keep_checkpoints", "device", "stop_at", "save_dtype", "batch_size",
    "grad_accum", "eval_max_blocks", "quiet",
})


@dataclass
class PretrainConfig:
    """Settings of a pretraining run. Defaults follow the efficient-MLM recipe where it applies.

    Data:
        output_dir: Final model folder (model, tokenizer, ``metrics.jsonl``, ``loss_curve.png``) and
            ``checkpoints/``.
        train_files: Text files, folders (every ``*.txt``) or glob patterns.
        eval_files: Held-out text files; when empty, ``eval_fraction`` of the documents is held out.
        dataset: A ``datasets`` dataset (``name`` or ``name:config``) instead of files.
        dataset_split, eval_split, text_column: Which split(s) and column of ``dataset``.
        documents: ``"blank_line"`` (blank lines separate documents) or ``"line"`` (one per line).
        eval_fraction: Fraction of documents held out when no eval files or split are given.
        block_size: Tokens per block, ``<s>`` included (the recipe: 128).
        max_positions: Longest input a new model takes (the size of its position table, in tokens);
            default ``block_size``. Larger lets a later run continue (``model=``) with longer blocks, as
            in BERT's two phases: short blocks first, where a small model starts using context sooner.

    Tokenizer and model:
        tokenizer: A tokenizer folder; None trains a byte-level BPE of ``vocab_size`` on the training split.
        vocab_size: Vocabulary of a new tokenizer (special tokens included).
        model: Continue from this pretrained model (folder or hub id) instead of a new one.
        hidden_size, num_hidden_layers, num_attention_heads, intermediate_size, dropout: A new model's shape.
        initializer_range: Standard deviation of a new model's weights. The reference 0.02 suits wide
            models; small ones leave the unigram plateau much sooner with about ``hidden_size ** -0.5``.

    Masking:
        mask_rate: Fraction of maskable tokens chosen per block (recipe: 0.4).
        mask_split: Replacement fractions mask/random/keep: ``(1, 0, 0)`` (recipe) or ``"80/10/10"``.

    Optimisation:
        batch_size: Blocks per process per micro-step.
        grad_accum: Micro-steps per update.
        max_steps: Updates; the schedule ends there.
        lr: Peak learning rate after warmup.
        warmup_ratio: Fraction of ``max_steps`` of linear warmup (recipe: 6%).
        lr_power: Power of the polynomial decay (1 = linear, fairseq's default).
        end_lr_ratio: Learning rate at the end, as a fraction of ``lr``.
        weight_decay: AdamW decay of matrices (biases and LayerNorms are not decayed).
        adam_betas, adam_eps: AdamW (recipe: (0.9, 0.98), 1e-6).
        max_grad_norm: Clip the global gradient norm to this (None: no clipping, as the recipe).
        precision: ``"fp32"``, ``"bf16"`` or ``"fp16"`` autocast (fp16 with a gradient scaler).
        seed: Seeds initialisation, data order, masks and dropout.

    Bookkeeping:
        log_every: Updates between metrics records and progress lines.
        eval_every: Updates between held-out evaluations (0: at the end only).
        eval_max_blocks: Evaluate on at most this many held-out blocks (None: all).
        save_every: Updates between checkpoints (0: none, only the final model).
        keep_checkpoints: Newest checkpoints kept.
        resume: True to continue from the latest checkpoint in ``output_dir``, or a checkpoint path.
        overwrite: Start afresh even if ``output_dir`` holds checkpoints (they are removed).
        stop_at: Stop after this update (the schedule still runs to ``max_steps``), to split a run into jobs.
        save_dtype: Write the final model in this dtype (``"float16"`` halves its size).
        device: ``"cpu"``, ``"cuda"`` or None (the GPU if there is one).
        progress: Show a progress bar on stderr (rank 0).
        quiet: Print no status messages.
    """

    output_dir: str
    train_files: list[str] = field(default_factory=list)
    eval_files: list[str] = field(default_factory=list)
    dataset: str | None = None
    dataset_split: str = "train"
    eval_split: str | None = None
    text_column: str = "text"
    documents: str = "blank_line"
    eval_fraction: float = 0.01
    block_size: int = 128
    max_positions: int | None = None
    tokenizer: str | None = None
    vocab_size: int = 8192
    model: str | None = None
    hidden_size: int = 256
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    intermediate_size: int = 1024
    dropout: float = 0.1
    initializer_range: float = 0.02
    mask_rate: float = 0.4
    mask_split: Any = (1.0, 0.0, 0.0)
    batch_size: int = 32
    grad_accum: int = 1
    max_steps: int = 1000
    lr: float = 5e-4
    warmup_ratio: float = 0.06
    lr_power: float = 1.0
    end_lr_ratio: float = 0.0
    weight_decay: float = 0.01
    adam_betas: tuple[float, float] = (0.9, 0.98)
    adam_eps: float = 1e-6
    max_grad_norm: float | None = None
    precision: str = "fp32"
    seed: int = 0
    log_every: int = 10
    eval_every: int = 0
    eval_max_blocks: int | None = None
    save_every: int = 0
    keep_checkpoints: int = 2
    resume: bool | str = False
    overwrite: bool = False
    stop_at: int | None = None
    save_dtype: str | None = None
    device: str | None = None
    progress: bool = True
    quiet: bool = False

    def validate(self, *, need_data: bool = True) -> None:
        """Raises ValueError naming the first setting out of range (``need_data``: files or a dataset given)."""
        positive = ("block_size", "vocab_size", "batch_size", "grad_accum", "max_steps", "log_every",
                    "keep_checkpoints")
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.max_positions is not None and self.max_positions < self.block_size:
            raise ValueError(f"max_positions ({self.max_positions}) must be at least block_size ({self.block_size})")
        for name in ("eval_every", "save_every"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {self.precision!r}")
        if not 0.0 <= self.warmup_ratio <= 1.0:
            raise ValueError(f"warmup_ratio must be in [0, 1], got {self.warmup_ratio}")
        if self.lr <= 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if self.max_grad_norm is not None and self.max_grad_norm <= 0:
            raise ValueError(f"max_grad_norm must be positive, got {self.max_grad_norm}")
        if not 0.0 < self.mask_rate < 1.0:
            raise ValueError(f"mask_rate must be in (0, 1), got {self.mask_rate}")
        parse_split(self.mask_split)
        if need_data and not self.train_files and not self.dataset:
            raise ValueError("give training text files (train_files) or a dataset")
        if self.train_files and self.dataset:
            raise ValueError("give either train_files or a dataset, not both")

    @property
    def positions(self) -> int:
        """The longest input a new model takes."""
        return self.max_positions or self.block_size

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["mask_split"] = list(parse_split(self.mask_split))
        out["adam_betas"] = list(self.adam_betas)
        return out


class MaskedLMObjective(nn.Module):
    """Sum of MLM cross-entropies at the chosen positions, with the LM head run only there.

    Wraps a ``RobertaPreLayerNormForMaskedLM`` so that DistributedDataParallel sees one forward.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, positions: torch.Tensor, targets: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        where = torch.zeros(input_ids.numel(), dtype=torch.bool, device=input_ids.device)
        where = where.index_fill_(0, positions, True).view_as(input_ids)  # positions are sorted: row-major order
        logits = self.model(input_ids, logits_at=where).logits.float()  # (K, V): the LM head runs only there
        loss_sum = F.cross_entropy(logits, targets, reduction="sum")
        correct = (logits.argmax(dim=-1) == targets).sum()
        return loss_sum, correct


@dataclass
class PretrainResult:
    step: int
    output_dir: str
    train_loss: float | None
    eval: dict[str, float]
    checkpoint: str | None
    elapsed_s: float


def pretrain(config: PretrainConfig, *, texts: Iterable[str] | None = None,
             eval_texts: Iterable[str] | None = None) -> PretrainResult:
    """Pretrain (or continue pretraining) a ``RobertaPreLayerNormForMaskedLM``.

    Args:
        config: The run's settings.
        texts: Documents to train on instead of ``config.train_files`` / ``config.dataset``.
        eval_texts: Held-out documents instead of ``config.eval_files`` / ``eval_fraction``.

    Returns:
        The last step, the output folder, the last training loss and the held-out metrics.

    Raises:
        CorpusError: (a ValueError) if the corpus is empty or shorter than one block.
        CheckpointError: (an OSError) if the output cannot be written, or a checkpoint is missing,
            unreadable or from a different configuration.
        ValueError: For settings out of range.
    """
    config.validate(need_data=texts is None)
    dist = distributed.setup(config.device)
    run = _Run(config, dist)
    try:
        return run.run(texts, eval_texts)
    except KeyboardInterrupt:
        raise Interrupted(run.step, run.last_checkpoint, run.out, config.save_every) from None
    finally:
        dist.close()


class _Run:
    def __init__(self, config: PretrainConfig, dist: distributed.Dist) -> None:
        self.cfg = config
        self.dist = dist
        self.out = os.path.abspath(config.output_dir)
        self.ckpt_root = os.path.join(self.out, state.CHECKPOINTS)
        self.step = 0  # updates done, and the checkpoint to resume from (for Interrupted)
        self.last_checkpoint: str | None = None

    def say(self, message: str) -> None:
        if self.dist.is_main and not self.cfg.quiet:
            print(message, file=sys.stderr, flush=True)

    # ------------------------------------------------------------------------------------- set-up
    def prepare_output(self) -> tuple[str | None, dict[str, Any] | None, dict[str, Any] | None]:
        """Check the output folder; returns the checkpoint to resume from (and its state and config), if any.

        A folder that already holds a model (a finished run, a fine-tuned model) or checkpoints is never
        replaced without ``overwrite`` (or continued without ``resume``); ``model`` may not be the output.
        """
        cfg = self.cfg
        if cfg.model is not None and os.path.isdir(cfg.model) and same_folder(cfg.model, self.out):
            raise CheckpointError(f"output_dir {self.out} is the model this run starts from: write the new model "
                                  f"to another output_dir")
        has_checkpoints = state.latest_checkpoint(self.ckpt_root) is not None
        if not cfg.resume and not cfg.overwrite:
            if has_checkpoints:
                raise CheckpointError(f"{self.out} already holds checkpoints; pass resume=True to continue the run "
                                      f"or overwrite=True to start a new one")
            held = holds_model(self.out)
            if held:
                raise CheckpointError(f"{self.out} already holds a model ({held}); pass overwrite=True to replace "
                                      f"it, or choose another output_dir")
        error = None
        if self.dist.is_main:
            try:
                check_writable(self.out)
            except CheckpointError as e:
                error = str(e)
        error = self.dist.broadcast_object(error)
        if error is not None:
            raise CheckpointError(error)
        resume = None
        if cfg.resume:
            folder, saved_state, saved_config, notes = state.find_resumable(cfg.resume, self.out)
            if notes and self.dist.is_main:  # a warning even with quiet: the run goes on from an older step
                logger.warning("%s; resuming from %s, the newest checkpoint that can be read", "; ".join(notes), folder)
            resume = (folder, saved_state, saved_config)
        elif has_checkpoints:
            self.dist.barrier()
            if self.dist.is_main:
                shutil.rmtree(self.ckpt_root, ignore_errors=True)
        self.dist.barrier()
        if self.dist.is_main:  # what a killed save left behind: staging beside the output, and in checkpoints/
            state.remove_stale(self.ckpt_root)
            remove_stale_siblings(self.out)
        self.dist.barrier()
        return resume or (None, None, None)

    def load_texts(self, texts, eval_texts) -> tuple[list[str], list[str]]:
        cfg = self.cfg
        if texts is not None:
            train_docs = [t for t in texts if t.strip()]
        elif cfg.dataset:
            train_docs = dataset_documents(cfg.dataset, cfg.dataset_split, cfg.text_column)
        else:
            train_docs = read_documents(cfg.train_files, cfg.documents)
        if not train_docs:
            raise CorpusError("the training corpus is empty: no document has any text")
        if eval_texts is not None:
            eval_docs = [t for t in eval_texts if t.strip()]
        elif cfg.eval_files:
            eval_docs = read_documents(cfg.eval_files, cfg.documents)
        elif cfg.dataset and cfg.eval_split:
            eval_docs = dataset_documents(cfg.dataset, cfg.eval_split, cfg.text_column)
        else:
            train_docs, eval_docs = split_held_out(train_docs, cfg.eval_fraction, cfg.seed)
        return train_docs, eval_docs

    def load_tokenizer(self, train_docs: list[str], resume_from: str | None):
        cfg = self.cfg
        if resume_from is not None:
            return load_tokenizer(resume_from)
        if cfg.tokenizer:
            return load_tokenizer(cfg.tokenizer)
        if cfg.model:
            return load_tokenizer(tokenizer_folder(cfg.model))
        staging = os.path.join(self.out, ".tokenizer")
        if self.dist.is_main:
            self.say(f"training a byte-level BPE tokenizer (vocab {cfg.vocab_size}) on {len(train_docs)} documents")
            tokenizer = train_byte_level_bpe(train_docs, cfg.vocab_size)
            save_tokenizer(tokenizer, staging, model_max_length=cfg.positions)
        self.dist.barrier()
        return load_tokenizer(staging)

    def build_model(self, vocab_size: int, special: SpecialIds, resume_from: str | None):
        from ..torch.modeling import RobertaPreLayerNormForMaskedLM

        cfg = self.cfg
        torch.manual_seed(cfg.seed)
        source = resume_from or cfg.model
        if source is not None:
            model = RobertaPreLayerNormForMaskedLM.from_pretrained(source)
            if model.config.vocab_size < vocab_size:
                raise ValueError(f"the model's vocabulary ({model.config.vocab_size}) is smaller than the "
                                 f"tokenizer's ({vocab_size})")
        else:
            model = RobertaPreLayerNormForMaskedLM(RobertaPreLayerNormConfig(
                vocab_size=vocab_size, hidden_size=cfg.hidden_size, num_hidden_layers=cfg.num_hidden_layers,
                num_attention_heads=cfg.num_attention_heads, intermediate_size=cfg.intermediate_size,
                hidden_dropout_prob=cfg.dropout, attention_probs_dropout_prob=cfg.dropout,
                initializer_range=cfg.initializer_range,
                max_position_embeddings=cfg.positions + special.pad + 1, type_vocab_size=1,
                layer_norm_eps=1e-5, pad_token_id=special.pad, bos_token_id=special.bos,
                eos_token_id=special.eos,
            ))
        limit = model.config.max_input_length
        if cfg.block_size > limit:
            raise ValueError(f"block_size {cfg.block_size} is longer than the model's {limit} positions")
        if model.config.pad_token_id != special.pad:
            raise ValueError(f"the tokenizer's <pad> id ({special.pad}) differs from the model's pad_token_id "
                             f"({model.config.pad_token_id})")
        return model.to(self.dist.device).train()

    # ---------------------------------------------------------------------------------------- run
    def run(self, texts, eval_texts) -> PretrainResult:
        cfg, dist = self.cfg, self.dist
        t_start = time.monotonic()
        resume_from, saved_state, saved_config = self.prepare_output()
        self.last_checkpoint = resume_from

        train_docs, eval_docs = self.load_texts(texts, eval_texts)
        tokenizer = self.load_tokenizer(train_docs, resume_from)
        special = SpecialIds(tokenizer)
        vocab_size = tokenizer.get_vocab_size()
        train_stream = token_stream(train_docs, tokenizer)
        train_blocks = pack_blocks(train_stream, cfg.block_size, special.bos, what="training corpus")
        eval_blocks = pack_blocks(token_stream(eval_docs, tokenizer), cfg.block_size, special.bos,
                                  what="held-out split")
        if cfg.eval_max_blocks is not None:
            eval_blocks = eval_blocks[: cfg.eval_max_blocks]

        world = dist.world_size
        global_batch = cfg.batch_size * world * cfg.grad_accum
        steps_per_epoch = len(train_blocks) // global_batch
        if steps_per_epoch == 0:
            raise CorpusError(f"the training corpus packs into {len(train_blocks)} blocks, fewer than one global "
                              f"batch of {global_batch} (batch_size × processes × grad_accum)")

        run_config = cfg.to_dict() | {
            "global_batch": global_batch,
            "train_data": digest(train_blocks),
            "eval_data": digest(eval_blocks),
            "vocab_size_tokenizer": vocab_size,
        }
        if saved_config is not None:
            compare = lambda d: {k: v for k, v in d.items() if k not in FREE_ON_RESUME}  # noqa: E731
            diffs = state.config_differences(compare(saved_config), compare(run_config))
            if diffs:
                raise CheckpointError(f"cannot resume from {resume_from}: it was written with a different "
                                      f"configuration ({'; '.join(diffs)})")

        model = self.build_model(vocab_size, special, resume_from)
        objective: nn.Module = MaskedLMObjective(model)
        if dist.enabled:
            objective = nn.parallel.DistributedDataParallel(
                objective, device_ids=[dist.device.index] if dist.device.type == "cuda" else None
            )
        optimizer = build_optimizer(model, lr=cfg.lr, weight_decay=cfg.weight_decay,
                                    betas=tuple(cfg.adam_betas), eps=cfg.adam_eps)
        scheduler = build_scheduler(optimizer, cfg.max_steps, warmup_ratio=cfg.warmup_ratio,
                                    power=cfg.lr_power, end_ratio=cfg.end_lr_ratio)
        autocast_dtype = PRECISIONS[cfg.precision]
        scaler = torch.amp.GradScaler(dist.device.type) if cfg.precision == "fp16" else None
        masker = Masker(cfg.mask_rate, cfg.mask_split, special.mask, special.all, vocab_size, cfg.seed)
        unigram = unigram_table(train_stream, vocab_size, special.all)

        step = 0
        if saved_state is not None:
            step = int(saved_state["step"])
            optimizer.load_state_dict(saved_state["optimizer"])
            scheduler.load_state_dict(saved_state["scheduler"])
            if scaler is not None and saved_state.get("scaler"):
                scaler.load_state_dict(saved_state["scaler"])
            set_rng_state(saved_state["rng"], dist)
            self.say(f"resuming from {resume_from} at update {step}")
        else:
            torch.manual_seed(cfg.seed + dist.rank)  # dropout differs by rank, like the data

        self.say(f"{model.num_parameters():,} parameters; {len(train_blocks):,} training blocks of "
                 f"{cfg.block_size} tokens ({steps_per_epoch} updates per epoch), {len(eval_blocks):,} held-out "
                 f"blocks; global batch {global_batch} on {world} process(es), {dist.device}")

        metrics = MetricsLog(os.path.join(self.out, "metrics.jsonl"), enabled=dist.is_main,
                             resume_step=step if saved_state is not None else None)
        progress = Progress(cfg.max_steps, start=step, enabled=dist.is_main and cfg.progress)
        last_checkpoint = resume_from
        last_loss: float | None = None
        eval_result: dict[str, float] = {}
        window = {"loss": 0.0, "correct": 0.0, "targets": 0.0, "steps": 0, "t": time.monotonic()}
        end = min(cfg.max_steps, cfg.stop_at) if cfg.stop_at else cfg.max_steps
        permutation_cache: dict[int, np.ndarray] = {}

        def permutation(epoch: int) -> np.ndarray:
            if epoch not in permutation_cache:
                permutation_cache.clear()
                permutation_cache[epoch] = np.random.default_rng([cfg.seed, epoch]).permutation(len(train_blocks))
            return permutation_cache[epoch]

        def save(step_done: int) -> None:
            nonlocal last_checkpoint
            trainer_state = {
                "step": step_done,
                "data": {"epoch": step_done // steps_per_epoch, "update_in_epoch": step_done % steps_per_epoch,
                         "blocks_seen": step_done * global_batch},
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict() if scaler is not None else {},
                "rng": dist.all_gather_object(get_rng_state()),
                "world_size": world,
            }
            error = None
            if dist.is_main:
                try:
                    last_checkpoint = state.save_checkpoint(
                        self.ckpt_root, step_done, lambda folder: self.write_model(model, tokenizer, folder),
                        trainer_state, run_config, keep=cfg.keep_checkpoints,
                    )
                except CheckpointError as e:
                    error = str(e)
            error = dist.broadcast_object(error)  # every process stops if rank 0 could not save
            if error is not None:
                raise CheckpointError(error)
            self.last_checkpoint = os.path.join(self.ckpt_root, state.step_name(step_done))

        while step < end:
            epoch, in_epoch = divmod(step, steps_per_epoch)
            indices = permutation(epoch)[in_epoch * global_batch:(in_epoch + 1) * global_batch]
            part = cfg.batch_size * world
            micro = [indices[m * part + dist.rank * cfg.batch_size: m * part + (dist.rank + 1) * cfg.batch_size]
                     for m in range(cfg.grad_accum)]
            batches = [masker(train_blocks, idx, epoch) for idx in micro]
            total_targets = dist.all_reduce_sum([sum(b.num_targets for b in batches)])[0]
            scale = world / max(total_targets, 1.0)
            loss_sum = correct = 0.0
            for m, batch in enumerate(batches):
                sync = m == len(batches) - 1 or not dist.enabled
                with (contextlib.nullcontext() if sync else objective.no_sync()):
                    with torch.autocast(dist.device.type, dtype=autocast_dtype or torch.float32,
                                        enabled=autocast_dtype is not None):
                        batch_loss, batch_correct = objective(*to_device(batch, dist.device))
                    loss = batch_loss * scale
                    (scaler.scale(loss) if scaler is not None else loss).backward()
                loss_sum += float(batch_loss.detach())
                correct += float(batch_correct)
            if scaler is not None:
                scaler.unscale_(optimizer)
            if cfg.max_grad_norm is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
            if scaler is not None:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            lr = optimizer.param_groups[0]["lr"]
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            self.step = step

            loss_sum, correct = dist.all_reduce_sum([loss_sum, correct])
            window["loss"] += loss_sum
            window["correct"] += correct
            window["targets"] += total_targets
            window["steps"] += 1
            last_loss = loss_sum / max(total_targets, 1.0)
            if not math.isfinite(last_loss) and scaler is None:
                kept = (f"; the last checkpoint, {self.last_checkpoint}, is from before"
                        if self.last_checkpoint else "")
                raise TrainingDiverged(f"the loss is {last_loss} at update {step}: training diverged; lower the "
                                       f"learning rate (lr={cfg.lr:g}) or clip the gradients (max_grad_norm){kept}")
            if step % cfg.log_every == 0 or step == end:
                elapsed = time.monotonic() - window["t"]
                tokens_per_s = window["steps"] * global_batch * cfg.block_size / max(elapsed, 1e-9)
                record = {"step": step, "loss": window["loss"] / max(window["targets"], 1.0),
                          "accuracy": window["correct"] / max(window["targets"], 1.0), "lr": lr,
                          "tokens_per_s": tokens_per_s, "epoch": step / steps_per_epoch,
                          "elapsed_s": time.monotonic() - t_start}
                metrics.write(**record)
                progress.update(step, loss=record["loss"], lr=lr, tok_s=tokens_per_s)
                window = {"loss": 0.0, "correct": 0.0, "targets": 0.0, "steps": 0, "t": time.monotonic()}
            if (cfg.eval_every and step % cfg.eval_every == 0) or step == cfg.max_steps:
                eval_result = evaluate(model, eval_blocks, masker, cfg.batch_size, dist, autocast_dtype, unigram)
                metrics.write(step=step, **eval_result)
                if dist.is_main and cfg.progress:
                    progress.update(step, force=True, eval_loss=eval_result["eval_loss"],
                                    eval_acc=eval_result["eval_accuracy"])
            if (cfg.save_every and step % cfg.save_every == 0) or (step == end and (cfg.save_every or end < cfg.max_steps)):
                save(step)
        progress.close()

        if step >= cfg.max_steps and not eval_result:  # resumed at the very end
            eval_result = evaluate(model, eval_blocks, masker, cfg.batch_size, dist, autocast_dtype, unigram)
        if step >= cfg.max_steps and dist.is_main:
            final = model
            if cfg.save_dtype:
                final = model.to(torch_dtype(cfg.save_dtype))
            self.write_model(final, tokenizer, self.out)
            write_json(os.path.join(self.out, "training_config.json"), run_config, indent=2, sort_keys=True)
            write_json(os.path.join(self.out, "eval_results.json"), {"step": step, **eval_result}, indent=2,
                       sort_keys=True)
            if not plot_loss_curve(os.path.join(self.out, "metrics.jsonl"), os.path.join(self.out, "loss_curve.png")):
                self.say("no loss_curve.png: drawing it needs matplotlib (pip install 'roberta-prelayernorm[train]')")
            shutil.rmtree(os.path.join(self.out, ".tokenizer"), ignore_errors=True)
            self.say(f"saved the model to {self.out} (held-out MLM loss {eval_result['eval_loss']:.4f}, "
                     f"accuracy {eval_result['eval_accuracy']:.4f})")
        dist.barrier()
        return PretrainResult(step=step, output_dir=self.out, train_loss=last_loss, eval=eval_result,
                              checkpoint=last_checkpoint, elapsed_s=time.monotonic() - t_start)

    def write_model(self, model: nn.Module, tokenizer, folder: str) -> None:
        model.save_pretrained(folder)
        config = model.config
        save_tokenizer(tokenizer, folder, model_max_length=config.max_input_length)


# ---------------------------------------------------------------------------------------- helpers
def to_device(batch: MaskedBatch, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return (batch.input_ids.to(device, non_blocking=True), batch.positions.to(device, non_blocking=True),
            batch.targets.to(device, non_blocking=True))


@torch.no_grad()
def evaluate(model: nn.Module, blocks: np.ndarray, masker: Masker, batch_size: int, dist: distributed.Dist,
             autocast_dtype: torch.dtype | None, unigram: tuple[np.ndarray, int] | None = None) -> dict[str, float]:
    """Held-out MLM loss and accuracy at the chosen positions (fixed masks), sharded over processes.

    With ``unigram`` (log-probabilities and the most frequent token of the training data) the result also
    holds the unigram baseline: its loss and the accuracy of always predicting the most frequent token.
    """
    was_training = model.training
    model.eval()
    objective = MaskedLMObjective(model)
    mine = np.arange(dist.rank, len(blocks), dist.world_size)
    totals = [0.0, 0.0, 0.0, 0.0, 0.0]  # loss, correct, targets, unigram loss, unigram correct
    for start in range(0, len(mine), batch_size):
        batch = masker(blocks, mine[start:start + batch_size], epoch=-1)
        with torch.autocast(dist.device.type, dtype=autocast_dtype or torch.float32,
                            enabled=autocast_dtype is not None):
            loss_sum, correct = objective(*to_device(batch, dist.device))
        totals[0] += float(loss_sum)
        totals[1] += float(correct)
        totals[2] += batch.num_targets
        if unigram is not None:
            targets = batch.targets.numpy()
            totals[3] += float(-unigram[0][targets].sum())
            totals[4] += float((targets == unigram[1]).sum())
    totals = dist.all_reduce_sum(totals)
    model.train(was_training)
    n = max(totals[2], 1.0)
    result = {"eval_loss": totals[0] / n, "eval_accuracy": totals[1] / n, "eval_targets": int(totals[2])}
    if unigram is not None:
        result |= {"unigram_loss": totals[3] / n, "unigram_accuracy": totals[4] / n}
    return result


def unigram_table(stream: np.ndarray, vocab_size: int, special: Iterable[int]) -> tuple[np.ndarray, int]:
    """Add-one-smoothed unigram log-probabilities of the training tokens (specials excluded), and the argmax."""
    counts = np.bincount(stream.astype(np.int64), minlength=vocab_size).astype(np.float64)[:vocab_size]
    special = list(special)
    counts[special] = 0
    smoothed = counts + 1.0
    smoothed[special] = 0
    logp = np.full(vocab_size, -np.inf)
    keep = smoothed > 0
    logp[keep] = np.log(smoothed[keep] / smoothed.sum())
    return logp, int(np.argmax(counts))


def get_rng_state() -> dict[str, Any]:
    out: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        out["cuda"] = torch.cuda.get_rng_state()
    return out


def set_rng_state(states: list[dict[str, Any]], dist: distributed.Dist) -> None:
    """Restore this process's RNG state (exact continuation needs the same number of processes)."""
    mine = states[dist.rank] if len(states) == dist.world_size else states[0]
    torch.set_rng_state(mine["torch"])
    python_state = mine["python"]
    random.setstate((python_state[0], tuple(python_state[1]), python_state[2]))
    if "cuda" in mine and torch.cuda.is_available():
        torch.cuda.set_rng_state(mine["cuda"])
    if len(states) != dist.world_size:
        torch.manual_seed(int(torch.randint(0, 2**31 - 1, ()).item()) + dist.rank)


def same_folder(a: str, b: str) -> bool:
    """Whether two paths name the same folder (through links, ``..`` and case-insensitive file systems)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def holds_model(folder: str) -> str | None:
    """The model files ``folder`` holds (``"config.json, model.safetensors"``), or None."""
    if not os.path.isdir(folder):
        return None
    found = sorted(n for n in os.listdir(folder) if n == "config.json" or is_weights_file(n))
    return ", ".join(found) or None


def remove_stale_siblings(folder: str) -> None:
    """Remove the staging folders a killed final save of ``folder`` left beside it (``.tmp-<name>-…``)."""
    parent, name = os.path.split(os.path.abspath(folder))
    try:
        entries = os.listdir(parent)
    except OSError:
        return
    for entry in entries:
        if entry.startswith((f".tmp-{name}-", f".old-{name}-")) and os.path.isdir(os.path.join(parent, entry)):
            shutil.rmtree(os.path.join(parent, entry), ignore_errors=True)


def check_writable(folder: str) -> None:
    """Create ``folder`` and write a probe file into it.

    Raises:
        CheckpointError: Naming the folder and the reason.
    """
    try:
        os.makedirs(folder, exist_ok=True)
        probe = os.path.join(folder, f".write-test-{os.getpid()}")
        with open(probe, "w", encoding="utf-8") as f:
            f.write("ok")
        os.remove(probe)
    except OSError as e:
        raise CheckpointError(f"cannot write to the output folder {folder}: {e.strerror or e}") from None


__all__ = ["PretrainConfig", "PretrainResult", "pretrain", "evaluate", "MaskedLMObjective", "TOKENIZER_FILES",
           "TrainingDiverged", "Interrupted"]
