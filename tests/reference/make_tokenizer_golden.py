"""Record how the fast RoBERTa tokenizer of transformers v4.37.2 behaves on the test fixture.

``tests/test_tokenization.py`` replays every recorded call on our tokenizer and compares. The
recording covers the points where the newest transformers (the live oracle of the other tests)
no longer behaves like v4.37.2, plus a broad sample of ordinary calls so that the v4.37.2
behaviour stays pinned whatever the newest transformers does:

- ``decode`` cleans up spaces before punctuation by default (``clean_up_tokenization_spaces``);
- loading from ``vocab.json`` + ``merges.txt`` without ``special_tokens_map.json`` keeps ``<mask>``
  stripping the space on its left;
- ``is_split_into_words=True`` needs ``add_prefix_space=True``;
- ``encode_plus``, ``batch_encode_plus``, ``build_inputs_with_special_tokens``, ... exist;
- ``save_pretrained`` writes vocab.json, merges.txt and added_tokens.json too;
- the hub id ``roberta-base`` without a tokenizer_config.json gets ``model_max_length`` 512.

Run from the repository root in an environment with the pins of ``requirements-golden.txt``
(transformers==4.37.2, tokenizers==0.15.2); it needs no network::

    python tests/reference/make_tokenizer_golden.py

Each case is a list of steps ``[method, args, kwargs]`` run on a freshly loaded tokenizer;
``method`` may also be ``"attr:<name>"`` (read an attribute), ``"len"`` or ``"saved_files"``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

os.environ["HF_HUB_OFFLINE"] = "1"  # before transformers reads it

import tokenizers  # noqa: E402
import transformers  # noqa: E402
from transformers import AutoTokenizer, RobertaTokenizerFast  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "tokenizer"
OUT = ROOT / "tests" / "golden" / "tokenizer_v4.37.2.json"

# Which fixture files each folder variant keeps.
VARIANTS = {
    "full": None,
    "vm": ["vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"],
    "vm_cfg": ["vocab.json", "merges.txt", "tokenizer_config.json"],
    "vm_bare": ["vocab.json", "merges.txt"],
    "tj": ["tokenizer.json"],
}
HUB_REPO = "roberta-base"  # served from an offline cache holding the fixture without its configs
HUB_FILES = ["tokenizer.json", "vocab.json", "merges.txt"]

TEXTS = [
    "Hello world",
    " Hello world",
    "Hello, world! How are you?",
    "Paris is <mask>.",
    "Paris is<mask>.",
    "<mask> is the capital",
    "a  <mask>  b <mask><mask>",
    "The <s> and </s> tokens, <pad> and <unk>.",
    "",
    " ",
    "   leading and trailing   ",
    "tab\there\nnew line\r\nwindows",
    "café naïve résumé Zürich Straße",
    "東京 日本語 中文 你好",
    "emoji 😀 🎉 👍 ❤️ 👩‍👩‍👧",
    "It's, isn't. Don't ? ! ok",
    "word 's 'quoted' do n't we 've they 're I 'm",
    "numbers 3.14 1,000,000 12/05/2023 $5.99 15%",
    "\u00a0non-breaking\u2003spaces\u200bzero-width",
    "Ｆｕｌｌｗｉｄｔｈ ﬁ ligature",
]


def prepare_folders(tmp: Path) -> dict[str, str]:
    """Copies the fixture into the folder variants and an offline hub cache; returns their paths."""
    folders = {}
    for name, files in VARIANTS.items():
        if files is None:
            folders[name] = str(FIXTURE)
            continue
        folder = tmp / name
        folder.mkdir()
        for file in files:
            shutil.copy(FIXTURE / file, folder / file)
        folders[name] = str(folder)
    snapshot = tmp / "hub" / f"models--{HUB_REPO.replace('/', '--')}" / "snapshots" / "0123456789abcdef"
    snapshot.mkdir(parents=True)
    for file in HUB_FILES:
        shutil.copy(FIXTURE / file, snapshot / file)
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text(snapshot.name)
    folders["hub"] = str(tmp / "hub")
    return folders


def load(folders: dict[str, str], folder: str, options: dict[str, Any]) -> Any:
    if folder == "hub":
        return RobertaTokenizerFast.from_pretrained(HUB_REPO, cache_dir=folders["hub"], **options)
    if folder == "full":
        return AutoTokenizer.from_pretrained(folders[folder], **options)
    return RobertaTokenizerFast.from_pretrained(folders[folder], **options)


def plain(value: Any) -> Any:
    """JSON-ready form of an output (BatchEncoding to dict, tuples to lists)."""
    if hasattr(value, "data") and isinstance(value.data, dict):
        value = value.data
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def run_step(tokenizer: Any, method: str, args: list[Any], kwargs: dict[str, Any], tmp: Path) -> Any:
    if method.startswith("attr:"):
        return plain(getattr(tokenizer, method[5:]))
    if method == "len":
        return len(tokenizer)
    if method == "saved_files":
        folder = Path(tempfile.mkdtemp(dir=tmp))
        tokenizer.save_pretrained(str(folder))
        return sorted(os.listdir(folder))
    return plain(getattr(tokenizer, method)(*args, **kwargs))


def cases(reference_ids: dict[str, list[int]]) -> list[dict[str, Any]]:
    """The recorded cases: {"id", "folder", "load", "steps"}."""
    out: list[dict[str, Any]] = []

    def case(
        case_id: str, folder: str, steps: list[list[Any]], load_options: dict[str, Any] | None = None
    ) -> None:
        out.append({"id": case_id, "folder": folder, "load": load_options or {}, "steps": steps})

    full_call = {"return_offsets_mapping": True, "return_special_tokens_mask": True, "return_length": True}
    for folder in ("full", "vm", "vm_cfg", "vm_bare", "tj"):
        for i, text in enumerate(TEXTS):
            case(f"{folder}/call/{i}", folder, [["__call__", [text], full_call], ["tokenize", [text], {}]])
    for folder in ("full", "vm_bare"):
        for i, text in enumerate(TEXTS):
            ids = reference_ids[text]
            case(
                f"{folder}/decode/{i}",
                folder,
                [
                    ["decode", [ids], {}],
                    ["decode", [ids], {"skip_special_tokens": True}],
                    ["decode", [ids], {"clean_up_tokenization_spaces": False}],
                ],
            )
    for folder in ("full", "vm", "vm_cfg", "vm_bare", "tj", "hub"):
        case(
            f"{folder}/attributes",
            folder,
            [
                ["attr:clean_up_tokenization_spaces", [], {}],
                ["attr:model_max_length", [], {}],
                ["attr:all_special_ids", [], {}],
                ["attr:all_special_tokens", [], {}],
                ["attr:special_tokens_map", [], {}],
                ["attr:additional_special_tokens", [], {}],
                ["attr:vocab_size", [], {}],
                ["len", [], {}],
                ["attr:mask_token_id", [], {}],
                ["attr:pad_token_id", [], {}],
            ],
        )
    case(
        "hub/call",
        "hub",
        [["__call__", ["Paris is <mask>. " * 200], {"truncation": True, "return_length": True}]],
    )
    case(
        "full/split_without_prefix_space",
        "full",
        [["__call__", [["Hello", "world"]], {"is_split_into_words": True}]],
    )
    case(
        "full/split_with_prefix_space",
        "full",
        [
            [
                "__call__",
                [[["Hello", "wor", "ld"], ["a", "<mask>"]]],
                {"is_split_into_words": True, "padding": True},
            ],
            [
                "__call__",
                [["Hello", "wor"], ["x", "y"]],
                {"is_split_into_words": True, "return_offsets_mapping": True},
            ],
        ],
        {"add_prefix_space": True},
    )
    case(
        "full/legacy_methods",
        "full",
        [
            ["encode_plus", ["a b", "c d"], {"return_token_type_ids": True}],
            [
                "encode_plus",
                ["one two three four five"],
                {"max_length": 5, "truncation": True, "padding": "max_length"},
            ],
            ["batch_encode_plus", [["a b", ["c", "d"], "e f g h"]], {"padding": True, "return_length": True}],
            ["batch_encode_plus", [[["a b", "x"], ["c", "d"]]], {"padding": "max_length", "max_length": 9}],
            ["encode", ["a b", "c"], {}],
            ["build_inputs_with_special_tokens", [[5, 6]], {}],
            ["build_inputs_with_special_tokens", [[5, 6], [7]], {}],
            ["create_token_type_ids_from_sequences", [[5, 6], [7]], {}],
            ["get_special_tokens_mask", [[0, 5, 2, 799, 1]], {"already_has_special_tokens": True}],
            ["convert_tokens_to_ids", [None], {}],
            ["convert_tokens_to_ids", [["<s>", "Ġthe", "not-a-token", "<mask>"]], {}],
            ["convert_ids_to_tokens", [[0, 5, 100, 799, 2]], {"skip_special_tokens": True}],
            ["num_special_tokens_to_add", [], {"pair": True}],
            ["attr:max_len_single_sentence", [], {}],
            ["attr:max_len_sentences_pair", [], {}],
        ],
    )
    case(
        "full/pairs_and_batches",
        "full",
        [
            [
                "__call__",
                ["Hello there", "How are you?"],
                {"return_token_type_ids": True, "return_offsets_mapping": True},
            ],
            ["__call__", ["Hello there", ""], {}],
            ["__call__", [["a b", "c"], ["x", ""]], {"padding": True}],
            [
                "__call__",
                [["a b c d", "e", ""]],
                {"padding": True, "pad_to_multiple_of": 4, "return_special_tokens_mask": True},
            ],
            [
                "__call__",
                [["a b c", "a"]],
                {"padding": "max_length", "max_length": 7, "pad_to_multiple_of": 4},
            ],
            ["__call__", [["a b c d e f g", "a"]], {"max_length": 5, "padding": True}],
            ["__call__", ["a b c d e f g"], {"max_length": 5}],
            ["__call__", ["word " * 600], {"truncation": True, "return_length": True}],
            ["__call__", ["word"], {"padding": "max_length", "return_length": True}],
            ["__call__", ["a b"], {"text_target": "c d e"}],
        ],
    )
    case(
        "full/left_sides",
        "full",
        [
            [
                "__call__",
                [["a b c d", "e"]],
                {"padding": True, "return_special_tokens_mask": True, "return_offsets_mapping": True},
            ],
            [
                "__call__",
                ["one two three four five six"],
                {"max_length": 5, "truncation": True, "return_overflowing_tokens": True, "stride": 1},
            ],
        ],
        {"padding_side": "left", "truncation_side": "left"},
    )
    long_a = "one two three four five six seven eight nine ten eleven twelve"
    long_b = "seven eight nine ten eleven twelve thirteen fourteen"
    case(
        "full/overflow",
        "full",
        [
            [
                "__call__",
                [long_a],
                {"max_length": 6, "truncation": True, "stride": 2, "return_overflowing_tokens": True},
            ],
            [
                "__call__",
                [[long_a, "short"]],
                {
                    "max_length": 7,
                    "truncation": True,
                    "stride": 1,
                    "return_overflowing_tokens": True,
                    "padding": True,
                    "return_offsets_mapping": True,
                },
            ],
            [
                "__call__",
                [long_a, long_b],
                {
                    "max_length": 12,
                    "truncation": "only_second",
                    "stride": 2,
                    "return_overflowing_tokens": True,
                },
            ],
            [
                "__call__",
                [long_a, long_b],
                {
                    "max_length": 12,
                    "truncation": "only_first",
                    "stride": 1,
                    "return_overflowing_tokens": True,
                },
            ],
            [
                "__call__",
                [long_a, "x"],
                {
                    "max_length": 10,
                    "truncation": "longest_first",
                    "stride": 1,
                    "return_overflowing_tokens": True,
                },
            ],
            ["__call__", [long_a, long_b], {"max_length": 9, "truncation": True}],
            ["__call__", [long_a, "x"], {"max_length": 5, "truncation": "only_second"}],
            [
                "__call__",
                [long_a],
                {"max_length": 4, "truncation": True, "stride": 3, "return_overflowing_tokens": True},
            ],
        ],
    )
    case(
        "full/pad",
        "full",
        [
            ["pad", [[{"input_ids": [0, 5, 2]}, {"input_ids": [0, 2]}]], {}],
            [
                "pad",
                [
                    [
                        {"input_ids": [0, 5, 2], "special_tokens_mask": [1, 0, 1], "labels": 1},
                        {"input_ids": [0, 2], "special_tokens_mask": [1, 1], "labels": 0},
                    ]
                ],
                {"pad_to_multiple_of": 4},
            ],
            ["pad", [{"input_ids": [0, 5, 2]}], {"padding": "max_length", "max_length": 6}],
            ["pad", [[{"input_ids": [0, 5, 2]}, {"input_ids": [0, 2]}]], {"padding": False}],
        ],
    )
    case(
        "full/added_tokens",
        "full",
        [
            ["add_tokens", [["newtok", "Ġthe"]], {}],
            ["add_special_tokens", [{"additional_special_tokens": ["<x>"], "cls_token": "<cls>"}], {}],
            ["__call__", ["a newtok <x> the <cls> b"], {"return_offsets_mapping": True}],
            ["tokenize", ["a newtok <x> the <cls> b"], {}],
            ["decode", [[0, 800, 801, 802, 2]], {"skip_special_tokens": True}],
            ["attr:all_special_tokens", [], {}],
            ["attr:all_special_ids", [], {}],
            ["attr:additional_special_tokens", [], {}],
            ["len", [], {}],
            ["saved_files", [], {}],
        ],
    )
    case("full/saved_files", "full", [["saved_files", [], {}]])
    case("tj/saved_files", "tj", [["saved_files", [], {}]])
    return out


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        folders = prepare_folders(tmp)
        reference = AutoTokenizer.from_pretrained(folders["full"])
        reference_ids = {text: reference(text)["input_ids"] for text in TEXTS}
        recorded = []
        for spec in cases(reference_ids):
            tokenizer = load(folders, spec["folder"], spec["load"])
            results = []
            for method, args, kwargs in spec["steps"]:
                try:
                    results.append(run_step(tokenizer, method, args, kwargs, tmp))
                except BaseException as err:  # noqa: BLE001 - the Rust side may panic
                    if isinstance(err, (KeyboardInterrupt, SystemExit)):
                        raise
                    results.append({"error": type(err).__name__})
            recorded.append({**spec, "expected": results})
    document = {
        "about": "written by tests/reference/make_tokenizer_golden.py; do not edit",
        "versions": {"transformers": transformers.__version__, "tokenizers": tokenizers.__version__},
        "hub_repo": HUB_REPO,
        "hub_files": HUB_FILES,
        "variants": VARIANTS,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    head = json.dumps(document, indent=1, ensure_ascii=False)[: -len("\n}")]
    body = ",\n".join("  " + json.dumps(case, ensure_ascii=False) for case in recorded)  # one case a line
    OUT.write_text(head + ',\n "cases": [\n' + body + "\n ]\n}\n", encoding="utf-8")
    print(
        f"wrote {OUT.relative_to(ROOT)}: {len(recorded)} cases ({transformers.__version__})", file=sys.stderr
    )


if __name__ == "__main__":
    main()
