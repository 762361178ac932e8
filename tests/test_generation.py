"""``generate``: cached decoding equals recomputing the whole sequence, and equals the reference's
``generate`` (newest transformers, given the positions RoBERTa uses; 4.37.2 in ``test_pipelines_golden.py``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import roberta_prelayernorm as rp
from model_helpers import perturb, reference_model, tiny
from roberta_prelayernorm.torch.generation import (
    GenerationConfig,
    GenerationMixin,
    filter_top_k,
    filter_top_p,
    generate,
    sample_next,
)
from roberta_prelayernorm.torch.modeling import position_ids_from_input_ids

PAD = 1


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def decoder(seed: int = 0, **config: object) -> rp.RobertaPreLayerNormForCausalLM:
    torch.manual_seed(seed)
    model = rp.RobertaPreLayerNormForCausalLM(rp.RobertaPreLayerNormConfig(**tiny(is_decoder=True, **config)))
    return perturb(model, seed).eval()


def prompts(lengths: list[int], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random prompts (no special tokens), left-padded to the longest."""
    gen = torch.Generator().manual_seed(seed)
    width = max(lengths)
    ids = torch.full((len(lengths), width), PAD)
    mask = torch.zeros(len(lengths), width, dtype=torch.long)
    for row, n in enumerate(lengths):
        ids[row, width - n:] = torch.randint(3, 99, (n,), generator=gen)
        mask[row, width - n:] = 1
    return ids, mask


def recompute(model, ids: torch.Tensor, mask: torch.Tensor, steps: int, config: GenerationConfig,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """The naive loop: the whole sequence through the model at every step, no cache, no explicit positions."""
    for _ in range(steps):
        logits = model(input_ids=ids, attention_mask=mask, use_cache=False).logits[:, -1].float()
        token = sample_next(logits, config, generator)
        ids = torch.cat([ids, token[:, None]], dim=1)
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
    return ids


@pytest.mark.parametrize("position_embedding_type", ["absolute", "relative_key", "relative_key_query"])
@pytest.mark.parametrize("use_cache", [True, False])
def test_generate_equals_recomputation(position_embedding_type: str, use_cache: bool) -> None:
    model = decoder(position_embedding_type=position_embedding_type)
    ids, mask = prompts([6, 3, 1, 6])
    config = GenerationConfig(max_new_tokens=12, eos_token_id=None)
    out = generate(model, ids, mask, generation_config=config, use_cache=use_cache)
    assert out.shape == (4, 6 + 12)
    assert torch.equal(out, recompute(model, ids, mask, 12, config))


def test_sampling_equals_recomputation_with_the_same_generator() -> None:
    model = decoder(seed=3)
    ids, mask = prompts([5, 2, 4], seed=1)
    config = GenerationConfig(max_new_tokens=10, do_sample=True, temperature=0.7, top_k=12, top_p=0.8,
                              eos_token_id=None)
    out = generate(model, ids, mask, generation_config=config, seed=123)
    want = recompute(model, ids, mask, 10, config, torch.Generator().manual_seed(123))
    assert torch.equal(out, want)
    assert torch.equal(generate(model, ids, mask, generation_config=config, seed=123), out)  # reproducible
    assert not torch.equal(generate(model, ids, mask, generation_config=config, seed=124), out)


def test_left_padding_does_not_change_a_prompt_s_continuation() -> None:
    model = decoder(seed=1)
    ids, mask = prompts([7, 3], seed=2)
    batched = generate(model, ids, mask, max_new_tokens=9, eos_token_id=None)
    alone = generate(model, ids[1:, -3:], max_new_tokens=9, eos_token_id=None)
    assert torch.equal(batched[1, -12:], alone[0])


@pytest.mark.oracle
@pytest.mark.parametrize("sample", [False, True])
def test_generate_matches_reference_given_roberta_positions(tmp_path: Path, sample: bool) -> None:
    """The newest reference counts positions from 0; with the model's own position ids it agrees exactly."""
    reference = reference_model("RobertaPreLayerNormForCausalLM", seed=4, is_decoder=True)
    reference.save_pretrained(tmp_path)
    ours = rp.RobertaPreLayerNormForCausalLM.from_pretrained(tmp_path)
    ids, mask = prompts([6, 2, 4], seed=5)
    kwargs = dict(max_new_tokens=10, do_sample=sample, eos_token_id=2, pad_token_id=PAD)
    if sample:
        kwargs.update(top_k=15, top_p=0.85, temperature=1.4)
    torch.manual_seed(9)
    want = reference.generate(input_ids=ids, attention_mask=mask, position_ids=position_ids_from_input_ids(ids, PAD),
                              **kwargs)
    got = generate(ours, ids, mask, seed=9 if sample else None, **kwargs)
    assert torch.equal(got, want)


@pytest.mark.oracle
def test_filters_match_reference_warpers() -> None:
    from transformers.generation.logits_process import TopKLogitsWarper, TopPLogitsWarper

    scores = torch.randn(4, 50, generator=torch.Generator().manual_seed(0)) * 3
    ids = torch.zeros(4, 1, dtype=torch.long)
    for k in (1, 5, 49, 50):
        assert torch.equal(filter_top_k(scores, k), TopKLogitsWarper(k)(ids, scores.clone()))
    for p in (0.05, 0.5, 0.9, 0.999):
        assert torch.equal(filter_top_p(scores, p), TopPLogitsWarper(p)(ids, scores.clone()))


def test_eos_stops_and_pads_finished_rows() -> None:
    model = decoder(seed=2)
    ids, mask = prompts([4, 4, 4], seed=3)
    free = generate(model, ids, mask, max_new_tokens=8, eos_token_id=None)
    eos = int(free[0, 4 + 2])  # row 0 emits it as its third new token
    out = generate(model, ids, mask, max_new_tokens=8, eos_token_id=eos, pad_token_id=PAD)
    ends = []
    for row in range(3):
        new = free[row, 4:].tolist()
        end = new.index(eos) + 1 if eos in new else len(new)
        assert out[row, 4:4 + end].tolist() == new[:end]
        assert (out[row, 4 + end:] == PAD).all()
        ends.append(end)
    assert out.shape[1] == 4 + max(ends)  # stops when every row has ended


def test_num_return_sequences_and_defaults() -> None:
    model = decoder()
    ids, mask = prompts([3, 5])
    out = generate(model, ids, mask, do_sample=True, num_return_sequences=3, max_new_tokens=4, seed=0)
    assert out.shape == (6, 9) and torch.equal(out[:3, :5], ids[:1].expand(3, 5))
    assert generate(model, ids[:1, -3:], eos_token_id=None).shape == (1, 20)  # max_length 20 by default
    assert generate(model, None, max_new_tokens=3, eos_token_id=None)[0, 0] == model.config.bos_token_id


def test_mixin_gives_model_generate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rp.RobertaPreLayerNormForCausalLM, "generate", GenerationMixin.generate, raising=False)
    model = decoder()
    ids, mask = prompts([4, 2])
    assert torch.equal(model.generate(ids, mask, max_new_tokens=5), generate(model, ids, mask, max_new_tokens=5))
    assert GenerationMixin.generate(model, ids, mask, max_new_tokens=2).shape == (2, 6)


def test_generation_config_file(tmp_path: Path) -> None:
    model = decoder()
    (tmp_path / "generation_config.json").write_text(json.dumps(
        {"max_new_tokens": 3, "do_sample": True, "top_k": 7, "eos_token_id": [2, 5], "transformers_version": "x"}))
    config = GenerationConfig.from_pretrained(tmp_path, model.config)
    assert (config.max_new_tokens, config.do_sample, config.top_k, config.eos_ids(), config.pad_token_id) == (
        3, True, 7, [2, 5], 1)
    (tmp_path / "empty").mkdir()
    assert GenerationConfig.from_pretrained(tmp_path / "empty", model.config) == GenerationConfig.from_model_config(
        model.config)
    with pytest.raises(OSError, match="does not exist"):
        GenerationConfig.from_pretrained(tmp_path / "none", model.config)
    (tmp_path / "generation_config.json").write_text("{broken")
    with pytest.raises(OSError, match="not valid JSON"):
        GenerationConfig.from_pretrained(tmp_path)


def test_bad_arguments() -> None:
    model = decoder()
    ids, mask = prompts([3])
    with pytest.raises(ValueError, match="is_decoder=False"):
        generate(rp.RobertaPreLayerNormForCausalLM(rp.RobertaPreLayerNormConfig(**tiny())), ids)
    assert generate(model, ids, max_new_tokens=35, eos_token_id=None).shape == (1, 38)  # 40 - pad - 1 positions
    with pytest.raises(ValueError, match="3 tokens plus 36 new tokens is longer than the model's 38 positions"):
        generate(model, ids, max_new_tokens=36)
    with pytest.raises(TypeError, match="unknown generation argument"):
        generate(model, ids, max_tokens=3)
    with pytest.raises(ValueError, match="temperature"):
        generate(model, ids, do_sample=True, temperature=0)
    with pytest.raises(ValueError, match="top_p"):
        generate(model, ids, do_sample=True, top_p=1.5)
    with pytest.raises(ValueError, match="do_sample"):
        generate(model, ids, num_return_sequences=2)
    with pytest.raises(ValueError, match="empty"):
        generate(model, ids[:, :0])
    with pytest.raises(TypeError, match="integers"):
        generate(model, ids.float())


# -------------------------------------------------------------- transformers 4.37.2, token for token
GOLDEN = Path(__file__).resolve().parent / "golden"


def golden_script():
    import importlib.util

    path = Path(__file__).resolve().parent / "reference" / "make_dropin_golden.py"
    spec = importlib.util.spec_from_file_location("make_dropin_golden", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # imports transformers only in main()
    return module


@pytest.fixture(scope="module")
def golden_lm():
    """The recorded causal LM, rebuilt from the script's weight recipe (its checksum checked first)."""
    from safetensors.torch import load_file

    data = json.loads((GOLDEN / "dropin_generation.json").read_text(encoding="utf-8"))
    assert data["generated_with"]["transformers"] == "4.37.2"
    recipe = golden_script()
    spec = data["model"]
    state = recipe.lm_state_dict(spec["parameters"], spec["seed"])
    model = rp.RobertaPreLayerNormForCausalLM(rp.RobertaPreLayerNormConfig(**spec["config"])).eval()
    info = model.load_checkpoint_state(state)
    assert not info.unexpected_keys and all(k.startswith("lm_head.decoder.") for k in info.missing_keys)
    return model, data["cases"], load_file(str(GOLDEN / "dropin_generation.safetensors"))


def flat_fields(name: str, out: object, fields: list[str]) -> dict[str, torch.Tensor]:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "golden_format", Path(__file__).resolve().parent / "reference" / "golden_format.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    flat = {}
    for field in fields:
        flat.update(module.flatten(f"{name}.{field}", out[field]))
    return flat


@pytest.mark.golden
@pytest.mark.parametrize("case", [c[0] for c in golden_script().GENERATION_CASES])
def test_generate_matches_4_37_2(golden_lm, case: str) -> None:
    """Greedy, sampling, beam search and beam sampling with the score processors, and the
    return_dict_in_generate outputs (scores, sequence scores, beam indices, attentions, hidden states)."""
    model, cases, tensors = golden_lm
    recorded = next(c for c in cases if c["name"] == case)
    ids = torch.tensor(recorded["input_ids"])
    out = generate(model, ids, torch.ones_like(ids), seed=recorded["seed"], **recorded["parameters"])
    sequences = out if isinstance(out, torch.Tensor) else out.sequences
    assert sequences.tolist() == recorded["output"]
    if not recorded["fields"]:
        assert isinstance(out, torch.Tensor)
        return
    assert out.keys() == recorded["fields"] + (["past_key_values"] if "past_key_values" in out.keys() else [])
    got = flat_fields(case, out, recorded["fields"])
    want = {k: v for k, v in tensors.items() if k.startswith(case + ".")}
    assert got.keys() == want.keys()
    for key, value in want.items():
        if value.is_floating_point():
            finite = torch.isfinite(value)
            assert torch.equal(finite, torch.isfinite(got[key])) and torch.equal(value[~finite], got[key][~finite])
            torch.testing.assert_close(got[key][finite], value[finite], atol=1e-5, rtol=0, msg=key)
        else:
            assert torch.equal(got[key], value), key


# ------------------------------------------------------------------- the newest reference, live
@pytest.fixture(scope="module")
def reference_and_ours(tmp_path_factory: pytest.TempPathFactory):
    reference = reference_model("RobertaPreLayerNormForCausalLM", seed=4, is_decoder=True)
    with torch.no_grad():  # never generate the padding token: it has no position of its own (module docstring)
        reference.lm_head.bias[PAD] -= 30
    folder = tmp_path_factory.mktemp("lm")
    reference.save_pretrained(folder)
    return reference, rp.RobertaPreLayerNormForCausalLM.from_pretrained(folder)


@pytest.mark.oracle
@pytest.mark.parametrize("kwargs", [
    {"num_beams": 3},
    {"num_beams": 3, "num_return_sequences": 3, "repetition_penalty": 1.3, "no_repeat_ngram_size": 2},
    {"num_beams": 4, "length_penalty": 0.5, "early_stopping": True, "num_return_sequences": 2, "min_new_tokens": 3},
    {"bad_words_ids": [[5], [7, 8]], "repetition_penalty": 0.8, "min_length": 9},
])
def test_beam_search_and_processors_match_reference_on_left_padding(reference_and_ours, kwargs: dict) -> None:
    """Left-padded prompts, given the model's own positions (the newest reference counts them from 0).
    (Beam sampling is compared with 4.37.2 only, above: the newest samples beams differently.)"""
    reference, ours = reference_and_ours
    ids, mask = prompts([6, 2, 4], seed=5)
    common = dict(max_new_tokens=8, eos_token_id=2, pad_token_id=PAD, **kwargs)
    torch.manual_seed(3)
    want = reference.generate(input_ids=ids, attention_mask=mask, position_ids=position_ids_from_input_ids(ids, PAD),
                              **common)
    assert torch.equal(generate(ours, ids, mask, seed=3, **common), want)


@pytest.mark.oracle
@pytest.mark.parametrize("kwargs", [{}, {"num_beams": 3, "num_return_sequences": 2, "length_penalty": 0.5}])
def test_inputs_embeds_as_the_prompt(reference_and_ours, kwargs: dict) -> None:
    """The new tokens only, as the reference returns them (4.37.2 refuses inputs_embeds for this model),
    and the same new tokens as from the ids whose embeddings they are."""
    reference, ours = reference_and_ours
    ids, mask = prompts([6, 6, 6], seed=5)
    embeds = ours.get_input_embeddings()(ids).detach()
    common = dict(max_new_tokens=8, eos_token_id=2, pad_token_id=PAD, **kwargs)
    got = generate(ours, inputs_embeds=embeds, **common)
    want = reference.generate(inputs_embeds=embeds, attention_mask=mask,
                              position_ids=position_ids_from_input_ids(ids, PAD), **common)
    assert torch.equal(got, want)
    from_ids = generate(ours, ids, **common)
    assert torch.equal(got, from_ids[:, 6:6 + got.shape[1]])
    assert generate(ours, inputs_embeds=embeds, max_length=10, eos_token_id=None).shape == (3, 4)  # counts the prompt
    with pytest.raises(ValueError, match="not both"):
        generate(ours, ids, inputs_embeds=embeds)


@pytest.mark.parametrize("position_embedding_type", ["absolute", "relative_key_query"])
@pytest.mark.parametrize("sample", [False, True])
def test_beam_search_with_cache_equals_recomputation(position_embedding_type: str, sample: bool) -> None:
    """Left-padded prompts too: the cached steps get the positions the whole sequence would give them."""
    model = decoder(seed=2, position_embedding_type=position_embedding_type)
    ids, mask = prompts([5, 3, 5], seed=4)
    kwargs = dict(max_new_tokens=9, num_beams=3, num_return_sequences=2, eos_token_id=2, pad_token_id=PAD,
                  return_dict_in_generate=True, output_scores=True, do_sample=sample, top_k=20)
    cached = generate(model, ids, mask, seed=7, **kwargs)
    recomputed = generate(model, ids, mask, use_cache=False, seed=7, **kwargs)
    assert torch.equal(cached.sequences, recomputed.sequences)
    assert torch.equal(cached.beam_indices, recomputed.beam_indices)
    torch.testing.assert_close(cached.sequences_scores, recomputed.sequences_scores, atol=1e-5, rtol=0)


def test_output_objects() -> None:
    model = decoder(seed=1)
    ids, mask = prompts([4, 4], seed=1)
    out = generate(model, ids, mask, max_new_tokens=3, eos_token_id=None, return_dict_in_generate=True,
                   output_scores=True, output_attentions=True, output_hidden_states=True)
    assert isinstance(out, rp.torch.generation.GenerateDecoderOnlyOutput)
    assert out.sequences.shape == (2, 7) and len(out.scores) == 3 and out.scores[0].shape == (2, 99)
    assert [a[0].shape for a in out.attentions] == [(2, 4, 4, 4), (2, 4, 1, 5), (2, 4, 1, 6)]
    assert [len(h) for h in out.hidden_states] == [3, 3, 3] and out.hidden_states[1][0].shape == (2, 1, 32)
    assert torch.equal(out.scores[0].argmax(-1), out.sequences[:, 4])
    beams = generate(model, ids, mask, max_new_tokens=3, num_beams=2, return_dict_in_generate=True)
    assert isinstance(beams, rp.torch.generation.GenerateBeamDecoderOnlyOutput)
    assert beams.sequences_scores is None and beams.scores is None and beams.beam_indices is None
    assert torch.equal(beams.sequences, generate(model, ids, mask, max_new_tokens=3, num_beams=2))


def test_the_model_generation_config_is_the_default() -> None:
    model = decoder(seed=1)
    ids, mask = prompts([4, 4], seed=1)
    assert model.generation_config == GenerationConfig.from_model_config(model.config)
    model.generation_config = model.generation_config.updated(num_beams=3, max_new_tokens=5, repetition_penalty=1.4)
    assert torch.equal(generate(model, ids, mask), generate(model, ids, mask, generation_config=GenerationConfig(
        num_beams=3, max_new_tokens=5, repetition_penalty=1.4, bos_token_id=0, eos_token_id=2, pad_token_id=1)))


@pytest.mark.parametrize("kwargs, match", [
    ({"num_beams": 2, "num_return_sequences": 3}, r"num_return_sequences=3 is larger than num_beams=2"),
    ({"num_return_sequences": 2}, r"num_return_sequences=2 is larger than num_beams=1"),
    ({"do_sample": True, "top_p": 0.0}, r"top_p must be in \(0, 1\]"),
    ({"top_p": 1.2}, r"top_p must be in \(0, 1\]"),
    ({"max_new_tokens": 0}, r"max_new_tokens must be a positive integer"),
    ({"max_new_tokens": -3}, r"max_new_tokens must be a positive integer"),
    ({"num_beams": 0}, r"num_beams must be a positive integer"),
    ({"num_beams": 2.0}, r"num_beams must be a positive integer"),
    ({"num_beams": 4, "num_beam_groups": 2}, r"num_beam_groups=2"),
    ({"penalty_alpha": 0.6, "top_k": 4}, r"penalty_alpha.*contrastive search"),
    ({"early_stopping": "sometimes", "num_beams": 2}, r"early_stopping must be True, False or 'never'"),
    ({"repetition_penalty": 0.0}, r"repetition_penalty must be > 0"),
    ({"no_repeat_ngram_size": -1}, r"no_repeat_ngram_size"),
    ({"bad_words_ids": [5, 6]}, r"bad_words_ids must be a non-empty list of non-empty lists"),
    ({"bad_words_ids": [[2]]}, r"only end-of-sequence tokens"),
    ({"bad_words_ids": [[150]]}, r"bad_words_ids holds token ids \[150\], outside the vocabulary of 99"),
    ({"min_new_tokens": -1}, r"min_new_tokens"),
])
def test_contradicting_or_bad_generation_arguments(kwargs: dict, match: str) -> None:
    model = decoder()
    ids, _ = prompts([3])
    with pytest.raises(ValueError, match=match):
        generate(model, ids, **kwargs)
