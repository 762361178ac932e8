"""torchrun with 2 CPU processes (gloo, localhost only) matches one process with the same global batch."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
import torch
from training_helpers import FIXTURE_TOKENIZER, write_corpus

from roberta_prelayernorm import RobertaPreLayerNormForMaskedLM
from roberta_prelayernorm.cli import main
from roberta_prelayernorm.training.monitor import read_jsonl


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pretrain_args(corpus, out, batch_size: int) -> list[str]:
    return ["pretrain", "--train", str(corpus), "--output", str(out), "--tokenizer", FIXTURE_TOKENIZER,
            "--hidden-size", "32", "--layers", "2", "--heads", "4", "--intermediate-size", "48", "--dropout", "0",
            "--block-size", "16", "--batch-size", str(batch_size), "--max-steps", "4", "--log-every", "1",
            "--eval-fraction", "0.2", "--lr", "3e-3", "--save-every", "2", "--device", "cpu", "--no-progress",
            "--quiet"]


@pytest.mark.slow
def test_two_processes_match_one(tmp_path, capsys):
    corpus = write_corpus(tmp_path / "corpus.txt")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo", "MASTER_ADDR": "127.0.0.1"}
    env.pop("WORLD_SIZE", None)
    single = tmp_path / "single"
    assert main(pretrain_args(corpus, single, 4)) == 0  # in this process: one process, batch 4
    double = tmp_path / "double"
    launched = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", "2",
         "--master-addr", "127.0.0.1", "--master-port", str(free_port()),
         "-m", "roberta_prelayernorm", *pretrain_args(corpus, double, 2)],
        env=env, capture_output=True, text=True, timeout=300)
    assert launched.returncode == 0, launched.stderr[-3000:]

    def losses(folder):
        return [(r["step"], r["loss"]) for r in read_jsonl(folder / "metrics.jsonl") if "loss" in r]

    one, two = losses(single), losses(double)
    assert [s for s, _ in one] == [s for s, _ in two] == [1, 2, 3, 4]
    for (_, a), (_, b) in zip(one, two):
        assert abs(a - b) < 1e-5
    evals = [[r for r in read_jsonl(f / "metrics.jsonl") if "eval_loss" in r][-1] for f in (single, double)]
    assert evals[0]["eval_targets"] == evals[1]["eval_targets"]  # evaluation sharded over both ranks
    assert abs(evals[0]["eval_loss"] - evals[1]["eval_loss"]) < 1e-5
    a = RobertaPreLayerNormForMaskedLM.from_pretrained(single).state_dict()
    b = RobertaPreLayerNormForMaskedLM.from_pretrained(double).state_dict()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-5)
    # rank 0 alone wrote the checkpoints, with both ranks' RNG states
    state = torch.load(double / "checkpoints" / "step-00000004" / "trainer_state.pt", weights_only=True)
    assert state["world_size"] == 2 and len(state["rng"]) == 2
