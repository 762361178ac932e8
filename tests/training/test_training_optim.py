"""AdamW groups and the warmup + polynomial-decay schedule."""

from __future__ import annotations

import pytest
import torch

from roberta_prelayernorm import RobertaPreLayerNormConfig, RobertaPreLayerNormForMaskedLM
from roberta_prelayernorm.training.optim import build_optimizer, build_scheduler, warmup_polynomial


def test_no_decay_on_biases_and_layernorms_and_tied_weight_once():
    model = RobertaPreLayerNormForMaskedLM(RobertaPreLayerNormConfig(
        vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=20))
    opt = build_optimizer(model, lr=1e-3)
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 0.01 and no_decay["weight_decay"] == 0.0
    names = {id(p): n for n, p in model.named_parameters()}  # tied aliases appear once here too
    assert all(p.dim() == 2 for p in decay["params"])
    no_decay_names = {names[id(p)] for p in no_decay["params"]}
    assert "roberta_prelayernorm.LayerNorm.weight" in no_decay_names
    assert "lm_head.bias" in no_decay_names
    assert "roberta_prelayernorm.encoder.layer.0.attention.self.query.bias" in no_decay_names
    all_params = decay["params"] + no_decay["params"]
    assert len({id(p) for p in all_params}) == len(all_params) == len(list(model.parameters()))
    assert opt.defaults["betas"] == (0.9, 0.98) and opt.defaults["eps"] == 1e-6


def test_schedule_values_by_hand():
    f = warmup_polynomial(10, 2)
    assert [f(s) for s in range(10)] == pytest.approx([0.5, 1.0, 1.0, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125])
    g = warmup_polynomial(6, 0, power=2.0, end_ratio=0.1)
    assert g(0) == 1.0 and g(3) == pytest.approx(0.1 + 0.9 * 0.25)


def test_scheduler_follows_ratio():
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([param], lr=2.0)
    sched = build_scheduler(opt, 100, warmup_ratio=0.06)
    lrs = []
    for _ in range(100):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[5] == pytest.approx(2.0) and lrs[0] == pytest.approx(2.0 / 6)
    assert max(lrs) == pytest.approx(2.0) and lrs[-1] == pytest.approx(2.0 / 94)
