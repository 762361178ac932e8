"""Write tests/golden/: tiny random RoBERTa-PreLayerNorm models and their transformers 4.37.2 outputs.

Run it with the pinned environment (``make golden`` builds ``.venv-golden`` from
``tests/reference/requirements-golden.txt`` and runs this script)::

    python tests/reference/make_golden.py [--out tests/golden]

Each case is one model class with a fixed seed, random LayerNorm and bias values (so that a
LayerNorm or bias in the wrong place shows up in the numbers) and one or more forward calls. The
file format is described in ``golden_format.py``; ``tests/test_golden.py`` replays the calls.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import transformers
from safetensors.torch import save_file
from torch import nn

import golden_format as fmt

TRANSFORMERS_VERSION = "4.37.2"
VOCAB = 99
PAD = 1  # pad_token_id; bos 0, eos 2; random tokens are drawn from [3, VOCAB)
HIDDEN = 16  # 4 heads of 4: keeps the 22 cases at about 1.3 MB in all
LAYERS = 2

BASE_CONFIG: dict[str, Any] = {
    "vocab_size": VOCAB,
    "hidden_size": HIDDEN,
    "num_hidden_layers": LAYERS,
    "num_attention_heads": 4,
    "intermediate_size": 37,
    "max_position_embeddings": 40,
    "type_vocab_size": 2,
    "initializer_range": 0.2,  # large enough that attention is far from uniform
    "pad_token_id": PAD,
    "bos_token_id": 0,
    "eos_token_id": 2,
}
EPS_1E5 = {"layer_norm_eps": 1e-5}  # the published checkpoints' value; other cases keep 1e-12
DECODER = {"is_decoder": True}
TRACE = {"output_hidden_states": True, "output_attentions": True}  # options of most calls


@dataclass
class Call:
    """One forward call: tensor inputs, non-tensor options, and where its cache comes from."""

    name: str
    inputs: dict[str, torch.Tensor]
    options: dict[str, bool] = field(default_factory=lambda: dict(TRACE))
    past_key_values_from: str | None = None  # an earlier call whose past_key_values are fed in


@dataclass
class Case:
    """One model (class, config, constructor kwargs) and the calls made on it."""

    name: str
    description: str
    model_class: str
    config: dict[str, Any]
    calls: list[Call]
    init_kwargs: dict[str, Any] = field(default_factory=dict)
    incremental: list[tuple[str, int]] = field(default_factory=list)  # (step call, first position in "full")


# ---------------------------------------------------------------------------------------------
# inputs


def tokens(g: torch.Generator, *shape: int) -> torch.Tensor:
    """Random non-special token ids."""
    return torch.randint(3, VOCAB, shape, generator=g)


def right_padded(g: torch.Generator, lengths: list[int], length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``<s> tokens </s>`` rows padded on the right to ``length``; returns (input_ids, attention_mask)."""
    ids = tokens(g, len(lengths), length)
    mask = torch.zeros(len(lengths), length, dtype=torch.long)
    for row, n in enumerate(lengths):
        ids[row, 0], ids[row, n - 1] = 0, 2
        ids[row, n:] = PAD
        mask[row, :n] = 1
    return ids, mask


def left_padded(g: torch.Generator, lengths: list[int], length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``<s> tokens`` rows padded on the left to ``length``; returns (input_ids, attention_mask)."""
    ids = tokens(g, len(lengths), length)
    mask = torch.zeros(len(lengths), length, dtype=torch.long)
    for row, n in enumerate(lengths):
        ids[row, : length - n] = PAD
        ids[row, length - n] = 0
        mask[row, length - n :] = 1
    return ids, mask


def masked_labels(g: torch.Generator, ids: torch.Tensor, mask: torch.Tensor, keep: float = 0.5) -> torch.Tensor:
    """Token labels: random ids at about ``keep`` of the attended positions, -100 elsewhere."""
    labels = tokens(g, *ids.shape)
    chosen = (torch.rand(ids.shape, generator=g) < keep) & mask.bool()
    return torch.where(chosen, labels, torch.full_like(labels, -100))


# ---------------------------------------------------------------------------------------------
# cases


def relative_cases(g: torch.Generator) -> list[Case]:
    """Relative position embeddings (gone from newer transformers) on a padded batch."""
    cases = []
    for kind, extra in [
        ("relative_key", {}),
        ("relative_key_query", {"num_hidden_layers": 3, "hidden_act": "gelu_new", **EPS_1E5}),
    ]:
        config = {"position_embedding_type": kind, **extra}
        ids, mask = right_padded(g, [8, 5], 8)
        cases.append(
            Case(
                f"{kind}_model",
                f"base model (with pooler), position_embedding_type={kind}, right-padded batch",
                "RobertaPreLayerNormModel",
                config,
                [Call("forward", {"input_ids": ids, "attention_mask": mask})],
            )
        )
        ids, mask = right_padded(g, [6, 8], 8)
        labels = masked_labels(g, ids, mask)
        cases.append(
            Case(
                f"{kind}_masked_lm",
                f"masked LM, position_embedding_type={kind}, right-padded batch, labels with -100",
                "RobertaPreLayerNormForMaskedLM",
                config,
                [Call("forward", {"input_ids": ids, "attention_mask": mask, "labels": labels})],
            )
        )
    return cases


def head_mask_case(g: torch.Generator) -> Case:
    """head_mask of shape (num_heads,) and (num_layers, num_heads) with zeros and fractions."""
    ids, mask = right_padded(g, [7, 4], 7)
    inputs = {"input_ids": ids, "attention_mask": mask}
    return Case(
        "head_mask",
        "base model, 3 layers, head_mask 1-D (num_heads,) then 2-D (num_layers, num_heads)",
        "RobertaPreLayerNormModel",
        {"num_hidden_layers": 3},
        [
            Call("mask_1d", {**inputs, "head_mask": torch.tensor([1.0, 0.0, 0.5, 1.0])}),
            Call(
                "mask_2d",
                {
                    **inputs,
                    "head_mask": torch.tensor(
                        [[1.0, 1.0, 0.0, 0.25], [0.0, 0.0, 0.0, 0.0], [0.75, 1.0, 1.0, 0.0]]
                    ),
                },
            ),
        ],
    )


def explicit_inputs_case(g: torch.Generator) -> Case:
    """token_type_ids, explicit position_ids, a 3-D attention mask, and inputs_embeds."""
    batch, length = 2, 6
    ids = tokens(g, batch, length)
    token_type_ids = torch.tensor([[0, 0, 0, 1, 1, 1], [0, 1, 0, 1, 0, 1]])
    position_ids = torch.tensor([[2, 3, 4, 5, 6, 7], [9, 4, 4, 20, 2, 11]])
    mask_3d = (torch.rand(batch, length, length, generator=g) < 0.6).long()
    mask_3d |= torch.eye(length, dtype=torch.long)  # every query sees at least itself
    embeds = torch.randn(batch, length, HIDDEN, generator=g)
    _, mask_2d = right_padded(g, [6, 3], length)
    return Case(
        "explicit_inputs",
        "base model: token_type_ids + explicit position_ids + 3-D (batch, from, to) attention mask; "
        "then inputs_embeds (positions pad+1..pad+L) with a padded 2-D mask",
        "RobertaPreLayerNormModel",
        EPS_1E5,
        [
            Call(
                "explicit",
                {
                    "input_ids": ids,
                    "attention_mask": mask_3d,
                    "token_type_ids": token_type_ids,
                    "position_ids": position_ids,
                },
            ),
            Call(
                "inputs_embeds",
                {"inputs_embeds": embeds, "attention_mask": mask_2d, "token_type_ids": token_type_ids},
            ),
        ],
    )


def head_cases(g: torch.Generator) -> list[Case]:
    """Every head class, with labels (some -100) so that the losses are recorded."""
    hidden = {"output_hidden_states": True}
    ids, mask = right_padded(g, [7, 5, 3], 7)
    batch, length = ids.shape
    encoder = {"input_ids": ids, "attention_mask": mask}

    def case(name: str, description: str, cls: str, config: dict[str, Any], calls: list[Call], **init: Any) -> Case:
        return Case(f"heads_{name}", description, f"RobertaPreLayerNorm{cls}", config, calls, init_kwargs=init)

    def one(inputs: dict[str, torch.Tensor]) -> list[Call]:
        return [Call("forward", inputs, hidden)]

    seq_labels = {
        "regression": torch.randn(batch, generator=g),
        "single_label": torch.tensor([0, 2, 1]),
        "multi_label": (torch.rand(batch, 3, generator=g) < 0.5).float(),
    }
    mc_ids, mc_mask = right_padded(g, [5, 3, 4, 5, 2, 4], 5)
    choices = {
        "input_ids": mc_ids.view(2, 3, 5),
        "attention_mask": mc_mask.view(2, 3, 5),
        "token_type_ids": (torch.arange(5) >= 3).long().expand(2, 3, 5).clone(),
        "labels": torch.tensor([2, 0]),
    }
    token_labels = torch.randint(0, 5, (batch, length), generator=g)
    token_labels[~mask.bool()] = -100
    token_labels[0, 0] = -100
    qa = {"start_positions": torch.tensor([2, 30, 0]), "end_positions": torch.tensor([-4, 5, 99])}
    return [
        case("model_pooler", "base model with pooler", "Model", {}, [Call("forward", encoder, TRACE)]),
        case(
            "model_no_pooler",
            "base model built with add_pooling_layer=False",
            "Model",
            EPS_1E5,
            one(encoder),
            add_pooling_layer=False,
        ),
        case(
            "causal_lm",
            "causal LM (is_decoder): with labels (loss on shifted labels; labels turn use_cache off), "
            "then without labels and without options (use_cache defaults to config.use_cache=True)",
            "ForCausalLM",
            DECODER,
            [
                Call("labels", {**encoder, "labels": masked_labels(g, ids, mask, keep=0.8)}, hidden),
                Call("no_labels", encoder, {}),
            ],
        ),
        case(
            "masked_lm",
            "masked LM with hidden_act=relu (the LM head keeps its exact gelu)",
            "ForMaskedLM",
            {"hidden_act": "relu"},
            one({**encoder, "labels": masked_labels(g, ids, mask)}),
        ),
        *(
            case(
                f"sequence_classification_{kind}",
                f"sequence classification, problem_type inferred as {kind} from num_labels and label dtype",
                "ForSequenceClassification",
                {"num_labels": 1 if kind == "regression" else 3, "classifier_dropout": 0.3, **EPS_1E5},
                one({**encoder, "labels": labels}),
            )
            for kind, labels in seq_labels.items()
        ),
        case(
            "multiple_choice",
            "multiple choice, inputs (batch=2, choices=3, length=5) with padding and token types",
            "ForMultipleChoice",
            EPS_1E5,
            one(choices),
        ),
        case(
            "token_classification",
            "token classification, 5 labels, -100 at padding, hidden_act=silu",
            "ForTokenClassification",
            {"num_labels": 5, "hidden_act": "silu"},
            one({**encoder, "labels": token_labels}),
        ),
        case(
            "question_answering",
            "question answering; positions 30, 99 clamp to length 7 (= ignore index), -4 clamps to 0; "
            "positions given as (batch,) then (batch, 1)",
            "ForQuestionAnswering",
            {},
            [
                Call("positions_1d", {**encoder, **qa}, hidden),
                Call("positions_2d", {**encoder, **{k: v[:, None] for k, v in qa.items()}}, hidden),
            ],
        ),
    ]


def decoder_case(
    name: str,
    description: str,
    config: dict[str, Any],
    ids: torch.Tensor,
    mask: torch.Tensor,
    prompt: int,
    extra: dict[str, torch.Tensor] | None = None,
) -> Case:
    """ForCausalLM decoding with a cache: step1 = prompt, step2 = 1 token, step3 = 2 tokens, and a
    no-cache ``full`` run over all tokens (to compare incremental decoding with recomputation)."""
    extra = extra or {}
    ends = [prompt, prompt + 1, prompt + 3]
    assert ends[-1] == ids.shape[1]
    calls, incremental, start = [], [], 0
    for i, end in enumerate(ends):
        step = f"step{i + 1}"
        inputs = {"input_ids": ids[:, start:end], "attention_mask": mask[:, :end], **extra}
        past = f"step{i}" if i else None
        calls.append(Call(step, inputs, {**TRACE, "use_cache": True}, past_key_values_from=past))
        incremental.append((step, start))
        start = end
    full = {"input_ids": ids, "attention_mask": mask, **extra}
    calls.append(Call("full", full, {**TRACE, "use_cache": False}))
    config = {**DECODER, **config}
    return Case(name, description, "RobertaPreLayerNormForCausalLM", config, calls, incremental=incremental)


def decoder_cases(g: torch.Generator) -> list[Case]:
    """Incremental decoding: absolute, relative, cross-attention (absolute and relative), left padding."""
    ids = tokens(g, 2, 8)
    ids[:, 0] = 0
    ones = torch.ones_like(ids)
    enc_mask = torch.tensor([[1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0, 0]])
    cross = {"encoder_hidden_states": torch.randn(2, 7, HIDDEN, generator=g), "encoder_attention_mask": enc_mask}
    left_ids, left_mask = left_padded(g, [8, 5], 8)
    return [
        decoder_case("decoder_absolute", "causal LM with cache, absolute positions", EPS_1E5, ids, ones, 5),
        decoder_case(
            "decoder_relative_key",
            "causal LM with cache, relative_key: 4.37.2 gives every query of a cached step the "
            "position key_length-1, so multi-token steps differ from recomputation",
            {"position_embedding_type": "relative_key"},
            ids,
            ones,
            5,
        ),
        decoder_case(
            "decoder_cross_attention",
            "causal LM with cross-attention over padded encoder states; cache holds 4 tensors per layer",
            {"add_cross_attention": True},
            ids,
            ones,
            5,
            cross,
        ),
        decoder_case(
            "decoder_cross_attention_relative_key_query",
            "cross-attention decoder with relative_key_query self-attention; 4.37.2 builds the "
            "cross-attention as absolute (no distance_embedding), so only self-attention is relative",
            {"add_cross_attention": True, "position_embedding_type": "relative_key_query", **EPS_1E5},
            ids,
            ones,
            5,
            cross,
        ),
        decoder_case(
            "decoder_left_padding",
            "causal LM with a left-padded batch; with a cache 4.37.2 counts the left pads into the "
            "position of new tokens, so cached steps differ from recomputation for padded rows",
            {},
            left_ids,
            left_mask,
            5,
        ),
    ]


def all_cases() -> list[Case]:
    """Every case, built from one generator so that inputs are reproducible."""
    g = torch.Generator().manual_seed(2024)
    cases = [*relative_cases(g), head_mask_case(g), explicit_inputs_case(g), *head_cases(g), *decoder_cases(g)]
    names = [case.name for case in cases]
    assert len(set(names)) == len(names), names
    return cases


# ---------------------------------------------------------------------------------------------
# writing


def build_model(case: Case) -> transformers.PreTrainedModel:
    """The case's model with seeded weights, random LayerNorm/bias values, in eval mode."""
    torch.manual_seed(zlib.crc32(case.name.encode()))
    config = transformers.RobertaPreLayerNormConfig(**{**BASE_CONFIG, **case.config})
    model = getattr(transformers, case.model_class)(config, **case.init_kwargs)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.LayerNorm):
                module.weight.copy_(1 + 0.5 * torch.randn_like(module.weight))
                module.bias.copy_(0.3 * torch.randn_like(module.bias))
            elif isinstance(module, nn.Linear) and module.bias is not None:
                module.bias.copy_(0.3 * torch.randn_like(module.bias))
    return model.eval()


def tuple_layout(as_tuple: tuple[Any, ...], as_dict: transformers.utils.ModelOutput) -> list[str | None]:
    """Names the dict field behind each entry of the ``return_dict=False`` tuple (None for None)."""
    fields = iter(as_dict.keys())
    layout: list[str | None] = []
    for item in as_tuple:
        if item is None:
            layout.append(None)
            continue
        name = next(fields)
        assert fmt.identical(item, as_dict[name]), name
        layout.append(name)
    assert next(fields, None) is None, "tuple is missing dict fields"
    return layout


def run_case(case: Case) -> tuple[dict[str, Any], dict[str, torch.Tensor], transformers.PreTrainedModel]:
    """Runs the calls; returns (case.json content, io tensors, model)."""
    model = build_model(case)
    tensors: dict[str, torch.Tensor] = {}
    outputs: dict[str, Any] = {}
    call_specs = []
    for call in case.calls:
        kwargs: dict[str, Any] = {**call.inputs, **call.options}
        if call.past_key_values_from:
            kwargs["past_key_values"] = outputs[call.past_key_values_from].past_key_values
        with torch.no_grad():
            out = model(**kwargs, return_dict=True)
            as_tuple = model(**kwargs, return_dict=False)
        outputs[call.name] = out
        tensors.update({fmt.input_prefix(call.name) + k: v for k, v in call.inputs.items()})
        tensors.update(fmt.flatten_output(call.name, out))
        call_specs.append(
            {
                "name": call.name,
                "options": call.options,
                "past_key_values_from": call.past_key_values_from,
                "fields": list(out.keys()),
                "tuple_fields": tuple_layout(as_tuple, out),
            }
        )
    spec: dict[str, Any] = {
        "description": case.description,
        "class": case.model_class,
        "init_kwargs": case.init_kwargs,
        "calls": call_specs,
        "generated_with": {"transformers": transformers.__version__, "torch": torch.__version__},
    }
    if case.incremental:
        full_logits = outputs["full"].logits
        full_mask = next(call for call in case.calls if call.name == "full").inputs["attention_mask"]
        steps = []
        for step, start in case.incremental:
            diff = fmt.incremental_max_diff(outputs[step].logits, full_logits, full_mask, start)
            steps.append({"call": step, "start": start, "matches_full": diff <= fmt.ATOL})
        spec["incremental"] = {"full": "full", "steps": steps}
    return spec, tensors, model


def write_case(case: Case, out_dir: Path) -> None:
    """Writes one case folder."""
    spec, tensors, model = run_case(case)
    folder = out_dir / case.name
    model.save_pretrained(folder, safe_serialization=True)
    save_file({k: v.clone().contiguous() for k, v in tensors.items()}, str(folder / fmt.IO_FILE))
    (folder / fmt.CASE_FILE).write_text(json.dumps(spec, indent=2) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "golden")
    args = parser.parse_args(argv)
    if transformers.__version__ != TRANSFORMERS_VERSION:
        sys.exit(f"make_golden.py needs transformers=={TRANSFORMERS_VERSION}, found {transformers.__version__}")
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    for stale in args.out.iterdir():  # old case folders; README.md stays
        if stale.is_dir() and (stale / fmt.CASE_FILE).exists():
            shutil.rmtree(stale)
    cases = all_cases()
    for case in cases:
        write_case(case, args.out)
        print(f"wrote {case.name}")
    (args.out / fmt.INDEX_FILE).write_text(json.dumps([c.name for c in cases], indent=2) + "\n")


if __name__ == "__main__":
    main()
