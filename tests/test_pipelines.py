"""Pipelines against the newest ``transformers`` pipelines (the oracle) on the same tiny model folders.

Both sides load the same folder: our tiny random model (vocab 800, the fixture tokenizer) saved with
``save_pretrained``. The folders' tokenizer config sets ``clean_up_tokenization_spaces: false``, because
the newest reference ignores the clean-up for BPE tokenizers while ours follows the config (true by
default, as 4.37.2); the 4.37.2 behaviour is pinned by ``test_pipelines_golden.py``.

The newest ``generate`` gives RoBERTa positions from 0 unless ``position_ids`` are passed, so the
text-generation reference is called with the positions the model itself uses (``pad + 1 ...``).

The helpers here (``model_folder``) also serve ``test_cli.py`` and ``test_doc_examples.py``.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

import roberta_prelayernorm as rp
from roberta_prelayernorm.pipelines import pipeline

FIXTURE_TOKENIZER = Path(__file__).parent / "fixtures" / "tokenizer"
ATOL = 1e-5
NER_LABELS = {0: "O", 1: "B-PER", 2: "I-PER", 3: "B-LOC", 4: "I-LOC"}
TEXTS = [
    "The capital of France is <mask>.",
    "Hello world! How are you today?",
    "  Zürich, café — naïve résumé 東京 😀 ok  ",
    "Jim Henson lives in New York City and works for the Muppets.",
    "a",
]


# -------------------------------------------------------------------------------------------- helpers
def model_folder(folder: Path, class_name: str, *, seed: int = 0, tokenizer_config: dict[str, Any] | None = None,
                 tokenizer: Path = FIXTURE_TOKENIZER, **config: Any) -> Path:
    """A tiny random model of ``class_name`` (every weight perturbed) with the fixture tokenizer
    (or the tokenizer files of another folder), ``tokenizer_config`` added to its config."""
    values = dict(vocab_size=800, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                  intermediate_size=37, max_position_embeddings=64, layer_norm_eps=1e-5,
                  hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    values.update(config)
    torch.manual_seed(seed)
    model = getattr(rp, class_name)(rp.RobertaPreLayerNormConfig(**values))
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.2)
    model.save_pretrained(folder)
    for f in tokenizer.iterdir():
        shutil.copy(f, folder / f.name)
    if tokenizer_config:
        path = folder / "tokenizer_config.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), **tokenizer_config}, indent=2))
    return folder


NO_CLEANUP = {"clean_up_tokenization_spaces": False}
FOLDERS: dict[str, tuple[str, dict[str, Any]]] = {
    "mlm": ("RobertaPreLayerNormForMaskedLM", {}),
    "cls": ("RobertaPreLayerNormForSequenceClassification", {"id2label": {0: "neg", 1: "neu", 2: "pos"}}),
    "multi": ("RobertaPreLayerNormForSequenceClassification",
              {"num_labels": 4, "problem_type": "multi_label_classification"}),
    "regression": ("RobertaPreLayerNormForSequenceClassification", {"num_labels": 1, "problem_type": "regression"}),
    "single": ("RobertaPreLayerNormForSequenceClassification", {"num_labels": 1}),
    "ner": ("RobertaPreLayerNormForTokenClassification", {"id2label": NER_LABELS}),
    "causal": ("RobertaPreLayerNormForCausalLM", {"is_decoder": True}),
    "qa": ("RobertaPreLayerNormForQuestionAnswering", {}),
}


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("pipeline_models")
    # model_max_length 32 < 62 positions: both sides cut token-classification windows at 32 tokens
    extra = {"ner": {"model_max_length": 32}}
    return {name: model_folder(root / name, cls, seed=i, tokenizer_config={**NO_CLEANUP, **extra.get(name, {})},
                               **config)
            for i, (name, (cls, config)) in enumerate(FOLDERS.items())}


@pytest.fixture(scope="module")
def reference(folders: dict[str, Path]):
    """``reference(task, name)``: the newest transformers pipeline on a folder (cached)."""
    transformers = pytest.importorskip("transformers")
    cache: dict[tuple[str, str], Any] = {}

    def get(task: str, name: str) -> Any:
        if (task, name) not in cache:
            cache[task, name] = transformers.pipeline(task, model=str(folders[name]), device="cpu")
        return cache[task, name]

    return get


def assert_same(ours: Any, theirs: Any, path: str = "") -> None:
    """Equal structure, keys, strings and ints; floats (numpy ones too) within ATOL."""
    if isinstance(theirs, dict):
        assert isinstance(ours, dict) and list(ours) == list(theirs), f"{path}: keys {list(ours)} != {list(theirs)}"
        for key in theirs:
            assert_same(ours[key], theirs[key], f"{path}.{key}")
    elif isinstance(theirs, (list, tuple)):
        assert isinstance(ours, (list, tuple)) and len(ours) == len(theirs), f"{path}: {ours!r} vs {theirs!r}"
        for i, (a, b) in enumerate(zip(ours, theirs)):
            assert_same(a, b, f"{path}[{i}]")
    elif isinstance(theirs, str) or isinstance(theirs, bool) or theirs is None:
        assert ours == theirs, f"{path}: {ours!r} != {theirs!r}"
    elif hasattr(theirs, "dtype") and str(theirs.dtype).startswith("int") or isinstance(theirs, int):
        assert ours == int(theirs) and not isinstance(ours, float), f"{path}: {ours!r} != {theirs!r}"
    else:
        assert isinstance(ours, float), f"{path}: {type(ours).__name__} is not a float"
        assert abs(ours - float(theirs)) <= ATOL, f"{path}: {ours} != {float(theirs)}"


pytestmark = [pytest.mark.oracle,
              pytest.mark.filterwarnings("ignore:Tokenizer does not support real words:UserWarning")]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models on a busy machine: one thread avoids OpenMP spinning (100x faster here)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ------------------------------------------------------------------------------------------ fill-mask
@pytest.mark.parametrize("kwargs", [{}, {"top_k": 3}, {"top_k": 2, "targets": ["Ġworld", " hello", "Ġthe", "x"]}])
def test_fill_mask_matches_reference(folders, reference, kwargs: dict[str, Any]) -> None:
    texts = ["The capital of France is <mask>.", "Hello <mask>!", "<mask> is a very very long word here, ok?",
             "Zürich café <mask> 東京 😀", "a <mask> b <mask> c"]
    ours = pipeline("fill-mask", folders["mlm"], batch_size=2)
    theirs = reference("fill-mask", "mlm")
    for text in texts:
        assert_same(ours(text, **kwargs), theirs(text, **kwargs), text)
    assert_same(ours(texts, **kwargs), theirs(texts, **kwargs), "batch")
    assert_same(ours(texts[:1], **kwargs), theirs(texts[:1], **kwargs), "list of one")


def test_fill_mask_several_masks_returns_a_list_per_mask(folders) -> None:
    out = pipeline("fill-mask", folders["mlm"])("a <mask> b <mask> c", top_k=2)
    assert len(out) == 2 and all(len(per_mask) == 2 for per_mask in out)
    assert out[0][0]["sequence"].startswith("<s>") and "<mask>" in out[0][0]["sequence"]


# --------------------------------------------------------------------------------- feature-extraction
def test_feature_extraction_matches_reference(folders, reference) -> None:
    ours = pipeline("feature-extraction", folders["mlm"], batch_size=3)
    theirs = reference("feature-extraction", "mlm")
    texts = TEXTS[1:]
    for a, b in zip(ours(texts), theirs(texts)):
        a, b = torch.tensor(a), torch.tensor(b)
        assert a.shape == b.shape and a.shape[0] == 1
        torch.testing.assert_close(a, b, atol=ATOL, rtol=0)
    single = ours(texts[0], return_tensors=True)
    torch.testing.assert_close(single, torch.tensor(theirs(texts[0])), atol=ATOL, rtol=0)


@pytest.mark.parametrize("pooling", ["mean", "cls"])
@pytest.mark.parametrize("normalize", [False, True])
def test_sentence_embeddings_pool_the_reference_hidden_states(folders, reference, pooling: str,
                                                              normalize: bool) -> None:
    ours = pipeline("feature-extraction", folders["mlm"], batch_size=4, pooling=pooling, normalize=normalize)
    texts = TEXTS[1:]
    embeddings = ours(texts)
    for text, got in zip(texts, embeddings):
        hidden = torch.tensor(reference("feature-extraction", "mlm")(text))[0]  # (tokens, hidden)
        want = hidden.mean(dim=0) if pooling == "mean" else hidden[0]
        if normalize:
            want = want / want.norm()
        torch.testing.assert_close(torch.tensor(got), want, atol=ATOL, rtol=0)


# -------------------------------------------------------------------------------- text-classification
@pytest.mark.parametrize("name", ["cls", "multi", "regression", "single"])
@pytest.mark.parametrize("kwargs", [{}, {"top_k": None}, {"top_k": 2}, {"function_to_apply": "sigmoid"},
                                    {"function_to_apply": "none", "top_k": 1}])
def test_text_classification_matches_reference(folders, reference, name: str, kwargs: dict[str, Any]) -> None:
    ours = pipeline("text-classification", folders[name], batch_size=2)
    theirs = reference("text-classification", name)
    texts = TEXTS[1:]
    assert_same(ours(texts[0], **kwargs), theirs(texts[0], **kwargs), "single")
    assert_same(ours(texts, **kwargs), theirs(texts, **kwargs), "batch")
    pair = {"text": "Is this a question?", "text_pair": "It is an answer, made longer."}
    assert_same(ours(pair, **kwargs), theirs(pair, **kwargs), "pair")
    assert_same(ours([pair, texts[1]], **kwargs), theirs([pair, texts[1]], **kwargs), "pair batch")


# ------------------------------------------------------------------------------- token-classification
@pytest.mark.parametrize("strategy", ["none", "simple", "first", "average", "max"])
def test_token_classification_matches_reference(folders, reference, strategy: str) -> None:
    ours = pipeline("token-classification", folders["ner"], batch_size=3)
    theirs = reference("token-classification", "ner")
    texts = ["Jim Henson lives in New York City.", "  Zürich,  café naïve 東京 😀 ok  ",
             "HuggingFace Inc. is a company", "x"]
    for ignore in (None, []):
        kwargs = {"aggregation_strategy": strategy, "ignore_labels": ignore}
        assert_same(ours(texts, **kwargs), theirs(texts, **kwargs), f"{strategy} ignore={ignore}")
        assert_same(ours(texts[0], **kwargs), theirs(texts[0], **kwargs), f"{strategy} single")


@pytest.mark.parametrize("strategy", ["simple", "max"])
def test_token_classification_stride_matches_reference(folders, reference, strategy: str) -> None:
    text = "Jim Henson was a nice puppet maker from Mississippi, and Kermit the Frog was green. " * 3
    kwargs = {"aggregation_strategy": strategy, "stride": 8, "ignore_labels": []}
    ours = pipeline("token-classification", folders["ner"])
    assert_same(ours(text, **kwargs), reference("token-classification", "ner")(text, **kwargs), "stride")


# ------------------------------------------------------------------------------------ text-generation
def test_text_generation_matches_reference_with_roberta_positions(folders) -> None:
    """Our pipeline against the reference model's ``generate`` (given RoBERTa positions) and tokenizer."""
    transformers = pytest.importorskip("transformers")
    model = transformers.RobertaPreLayerNormForCausalLM.from_pretrained(folders["causal"]).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(folders["causal"])
    ours = pipeline("text-generation", folders["causal"], batch_size=3)
    prompts = ["Hello world, this is", "The capital of France", "a", "Zürich café 東京"]
    for new, full, tensors in ((7, True, False), (5, False, False), (4, True, True)):
        got = ours(prompts, max_new_tokens=new, return_full_text=full, return_tensors=tensors)
        for prompt, result in zip(prompts, got):
            ids = torch.tensor([tokenizer(prompt, add_special_tokens=False)["input_ids"]])
            positions = torch.arange(2, 2 + ids.shape[1])[None]
            out = model.generate(ids, attention_mask=torch.ones_like(ids), position_ids=positions,
                                 max_new_tokens=new, do_sample=False, eos_token_id=2, pad_token_id=1)[0].tolist()
            text = tokenizer.decode(out[ids.shape[1]:], skip_special_tokens=True)
            want = {"generated_token_ids": out} if tensors else {"generated_text": prompt + text if full else text}
            assert_same(result, [want], prompt)


def test_text_generation_sampling_is_seeded(folders) -> None:
    gen = pipeline("text-generation", folders["causal"], batch_size=2)
    kwargs = {"max_new_tokens": 6, "do_sample": True, "top_k": 30, "top_p": 0.9, "seed": 5,
              "num_return_sequences": 2}
    first, second = gen(["Hello", "The capital"], **kwargs), gen(["Hello", "The capital"], **kwargs)
    assert first == second and len(first[0]) == 2
    assert gen(["Hello", "The capital"], **{**kwargs, "seed": 6}) != first
    # max_length counts each prompt's own tokens, also in a batch of prompts of different lengths
    for (result,), prompt in zip(gen(["a", "Hello world, this is"], max_length=12, return_tensors=True),
                                 ["a", "Hello world, this is"]):
        ids = result["generated_token_ids"]
        assert len(ids) == 12 or ids[-1] == 2
        assert ids[:len(gen.tokenizer(prompt, add_special_tokens=False)["input_ids"])] == gen.tokenizer(
            prompt, add_special_tokens=False)["input_ids"]


# ------------------------------------------------------------------------------- batching, devices
def test_results_do_not_depend_on_batch_size_or_order(folders) -> None:
    texts = TEXTS[1:] * 2
    one = pipeline("token-classification", folders["ner"], batch_size=1)(texts, aggregation_strategy="simple")
    many = pipeline("token-classification", folders["ner"], batch_size=8)(texts, aggregation_strategy="simple")
    assert_same(many, one)
    fill = pipeline("fill-mask", folders["mlm"], batch_size=8)
    masked = [t + " <mask>" for t in texts]
    assert_same(fill(masked[::-1])[::-1], fill(masked))


def test_batches_are_sorted_by_length(folders) -> None:
    pipe = pipeline("feature-extraction", folders["mlm"], batch_size=2)
    seen = []
    original = pipe.model.base_model.forward

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs["attention_mask"].sum(dim=1).tolist())
        return original(*args, **kwargs)

    pipe.model.base_model.forward = spy
    pipe(["a", "a much longer text with many words in it", "a b", "medium length text here"])
    flat = [n for batch in seen for n in batch]
    assert flat == sorted(flat, reverse=True) and len(seen) == 2


def test_dtype_and_device_arguments(folders) -> None:
    pipe = pipeline("fill-mask", folders["mlm"], device="cpu", dtype="bfloat16")
    assert pipe.model.dtype == torch.bfloat16 and pipe.device == torch.device("cpu")
    out = pipe("Hello <mask>!", top_k=3)
    assert [o["token"] for o in out] and all(0 <= o["score"] <= 1 for o in out)
    with pytest.raises(ValueError, match="unknown dtype"):
        pipeline("fill-mask", folders["mlm"], dtype="float8")


def test_model_objects_and_task_inference(folders) -> None:
    model = rp.RobertaPreLayerNormForMaskedLM.from_pretrained(folders["mlm"])
    tokenizer = rp.AutoTokenizer.from_pretrained(folders["mlm"])
    by_object = pipeline("fill-mask", model, tokenizer)("Hello <mask>!")
    assert_same(by_object, pipeline(model=str(folders["mlm"]))("Hello <mask>!"))
    assert pipeline(model=str(folders["ner"])).task == "token-classification"
    assert pipeline("sentiment-analysis", folders["cls"]).task == "text-classification"
    with pytest.raises(ValueError, match="tokenizer"):
        pipeline("fill-mask", model)
    with pytest.raises(TypeError, match="RobertaPreLayerNormForSequenceClassification"):
        pipeline("text-classification", model, tokenizer)


# ------------------------------------------------------------------------------------------ bad input
def test_bad_input_gives_clear_errors(folders, caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(KeyError, match="unknown task 'summarize'.*fill-mask"):
        pipeline("summarize", folders["mlm"])
    with pytest.raises(ValueError, match="no text-classification head"):
        pipeline("text-classification", folders["mlm"])
    with pytest.raises(ValueError, match="no question-answering head"):
        pipeline("question-answering", folders["ner"])
    with pytest.raises(ValueError, match="is_decoder=False"):
        pipeline("text-generation", folders["mlm"])
    fill = pipeline("fill-mask", folders["mlm"])
    with pytest.raises(ValueError, match="input 1 has no <mask>"):
        fill(["a <mask>", "no mask here"])
    with pytest.raises(ValueError, match="input 0 is an empty string"):
        fill("")
    with pytest.raises(ValueError, match="empty"):
        pipeline("text-classification", folders["cls"])(["fine", "  "])
    with pytest.raises(TypeError, match="takes no parameter 'topk'"):
        fill("a <mask>", topk=3)
    with pytest.raises(ValueError, match="none of the targets"):
        fill("a <mask>", targets=[""])
    with pytest.raises(OSError, match="cache"):
        pipeline("fill-mask", "nobody-here/not-a-cached-model")
    with pytest.raises(OSError, match="does not exist"):
        pipeline("fill-mask", "/no/such/folder")
    with pytest.raises(ValueError, match="unknown device"):
        pipeline("fill-mask", folders["mlm"], device="toaster")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="device 'cuda': no CUDA GPU is available"):
            pipeline("fill-mask", folders["mlm"], device="cuda")
    qa = pipeline("question-answering", folders["qa"])
    with pytest.raises(ValueError, match="leaves no room for the context"):
        qa(question="why " * 40, context="Because.", max_seq_len=32, doc_stride=4)
    with pytest.raises(ValueError, match="the context is empty"):
        qa(question="Why?", context=" ")


def test_too_long_texts_are_truncated_with_one_warning(folders, caplog: pytest.LogCaptureFixture) -> None:
    long = "word " * 200 + "<mask>"
    classify = pipeline("text-classification", folders["cls"])
    with caplog.at_level(logging.WARNING, logger="roberta_prelayernorm"):
        out = classify([long, long, "short"])
    assert len(out) == 3 and out[0] == out[1]
    warnings = [r for r in caplog.records if "truncated" in r.getMessage()]
    assert len(warnings) == 1 and "2 of 3 inputs" in warnings[0].getMessage()
    with pytest.raises(ValueError, match="no <mask>"):  # the mask was cut off
        pipeline("fill-mask", folders["mlm"])(long)


def test_default_model_resolution(folders, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from roberta_prelayernorm.pipelines import base

    monkeypatch.setattr(base, "PACKAGE_DIR", tmp_path / "pkg" / "src" / "roberta_prelayernorm")
    monkeypatch.delenv(base.DEFAULT_MODEL_ENV, raising=False)
    with pytest.raises(OSError, match="no default model"):
        pipeline("fill-mask")
    installed = tmp_path / "pkg" / "src" / "roberta_prelayernorm" / "models"
    shutil.copytree(folders["mlm"], installed / "default")
    assert base.default_model_path("fill-mask") == str(installed / "default")
    assert pipeline("fill-mask").task == "fill-mask"
    assert base.default_model_path("text-classification") == str(installed / "default")
    shutil.copytree(folders["cls"], installed / "text-classification")
    assert base.default_model_path("text-classification") == str(installed / "text-classification")
    monkeypatch.setenv(base.DEFAULT_MODEL_ENV, str(folders["ner"]))
    assert base.default_model_path("fill-mask") == str(folders["ner"])
