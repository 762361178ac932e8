"""``RobertaTokenizer``: the RoBERTa byte-level BPE tokenizer, built on the Rust ``tokenizers`` library.

It behaves like the fast RoBERTa tokenizer of Hugging Face transformers v4.37.2: same files on
disk, same ids, offsets, padding, truncation and overflow, same decoding (including the default
clean-up of spaces before punctuation). ``tokenizers`` does the actual work; this module turns the
user's arguments into backend settings and the backend's encodings into a :class:`BatchEncoding`.

``torch`` and ``numpy`` are imported only when ``return_tensors`` asks for them, and
``huggingface_hub`` only when a tokenizer is fetched from the hub.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from tokenizers import AddedToken, Encoding, Tokenizer

from ..core.batching import pad_list
from ..core.hub import HubOptions, resolve_file
from . import bpe
from .encoding import BatchEncoding, _to_python, _tensor_type
from .files import (
    ADDED_TOKENS_FILE,
    CONFIG_FILE,
    MERGES_FILE,
    SPECIAL_TOKENS_MAP_FILE,
    TOKENIZER_FILE,
    VOCAB_FILE,
    TokenizerFileError,
    load_backend,
    read_json,
    resolve_files,
)

__all__ = ["AutoTokenizer", "BatchEncoding", "RobertaTokenizer", "RobertaTokenizerFast"]

logger = logging.getLogger(__name__)


VERY_LARGE_INTEGER = int(1e30)  # model_max_length when the checkpoint sets none ("no limit")
_LARGE_INTEGER = int(1e20)  # above this, model_max_length counts as unset

# model_max_length of the original RoBERTa hub ids, whose folders carry no tokenizer_config.json.
_KNOWN_MAX_LENGTHS = {
    name: 512
    for name in (
        "roberta-base",
        "roberta-large",
        "roberta-large-mnli",
        "distilroberta-base",
        "roberta-base-openai-detector",
        "roberta-large-openai-detector",
    )
}

# Named special tokens in the order of the reference (it fixes the order of `all_special_ids`).
SPECIAL_TOKEN_NAMES = (
    "bos_token",
    "eos_token",
    "unk_token",
    "sep_token",
    "pad_token",
    "cls_token",
    "mask_token",
)

_PADDING_STRATEGIES = ("longest", "max_length", "do_not_pad")
_TRUNCATION_STRATEGIES = ("longest_first", "only_first", "only_second", "do_not_truncate")
_SIDES = ("left", "right")

# Keys of tokenizer_config.json that describe files or loading, not the tokenizer itself.
_NOT_INIT_KEYS = {
    "tokenizer_class",
    "name_or_path",
    "tokenizer_file",
    "vocab_file",
    "merges_file",
    "special_tokens_map_file",
    "auto_map",
    "init_inputs",
    "fast_tokenizer_files",
    "backend",
    "is_local",
    "local_files_only",
}


class InvalidTokenIdError(ValueError, OverflowError):
    """A token id that cannot be one (negative, or too large for the backend's 32-bit ids)."""


def _check_ids(ids: Any) -> None:
    """Raises InvalidTokenIdError for a negative id or one of 2**32 or more (the backend's overflow)."""
    flat = [i for row in ids for i in row] if ids and isinstance(ids[0], list) else ids
    numbers = [i for i in flat if isinstance(i, int)]
    if numbers and (min(numbers) < 0 or max(numbers) >= 2**32):
        bad = next(i for i in numbers if i < 0 or i >= 2**32)
        raise InvalidTokenIdError(f"{bad} is not a token id: ids are integers from 0 to the vocabulary size - 1")


def _lone_surrogate(inputs: Any) -> str | None:
    """A message naming the first text of ``inputs`` (texts, pairs or word lists) with a lone surrogate."""
    def texts(item: Any) -> Iterator[str]:
        if isinstance(item, str):
            yield item
        elif isinstance(item, (list, tuple)):
            for part in item:
                yield from texts(part)

    for index, item in enumerate(inputs):
        for text in texts(item):
            for position, char in enumerate(text):
                if "\ud800" <= char <= "\udfff":
                    return (f"text {index} holds a lone surrogate {char!r} at character {position}, which is not "
                            f"Unicode text (undecodable bytes read with errors='surrogateescape'?): decode the "
                            f"input strictly, or with errors='replace'")
    return None


def _hybrid_method(func: Callable[..., Any]) -> Any:
    """Lets ``func`` be called on the class or on an instance; it receives whichever it was called on."""

    class _Descriptor:
        def __get__(self, instance: Any, owner: type) -> Callable[..., Any]:
            return functools.wraps(func)(functools.partial(func, owner if instance is None else instance))

    return _Descriptor()


def _added_token(value: Any, **defaults: Any) -> Any:
    """Turns a saved token (a dict, possibly tagged ``"__type": "AddedToken"``) into an ``AddedToken``."""
    if isinstance(value, dict):
        fields = {key: item for key, item in value.items() if key != "__type"}
        return AddedToken(**{**defaults, **fields})
    return value


def _token_state(token: AddedToken, *, with_special: bool = True) -> dict[str, Any]:
    state = dict(token.__getstate__())
    if not with_special:
        state.pop("special", None)
    return state


def _padding_strategy(padding: Any) -> str:
    padding = getattr(padding, "value", padding)
    if padding is True:
        return "longest"
    if padding is False or padding is None:
        return "do_not_pad"
    if padding in _PADDING_STRATEGIES:
        return padding
    raise ValueError(f"padding must be True, False, 'longest', 'max_length' or 'do_not_pad', got {padding!r}")


def _truncation_strategy(truncation: Any) -> str:
    truncation = getattr(truncation, "value", truncation)
    if truncation is True:
        return "longest_first"
    if truncation is False or truncation is None:
        return "do_not_truncate"
    if truncation in _TRUNCATION_STRATEGIES:
        return truncation
    raise ValueError(
        "truncation must be True, False, 'longest_first', 'only_first', 'only_second' or 'do_not_truncate', "
        f"got {truncation!r}"
    )


def _check_side(name: str, value: str) -> str:
    if value not in _SIDES:
        raise ValueError(f"{name} must be 'left' or 'right', got {value!r}")
    return value


def _is_text(value: Any, pretokenized: bool) -> bool:
    if pretokenized:
        return isinstance(value, (list, tuple)) and all(isinstance(word, str) for word in value)
    return isinstance(value, str)


def _special_token_property(name: str) -> property:
    """The ``bos_token``-style attribute: reads a str, accepts a str or an ``AddedToken``."""

    def get(self: RobertaTokenizer) -> str | None:
        token = getattr(self, f"_{name}")
        return None if token is None else str(token)

    def set_(self: RobertaTokenizer, value: str | AddedToken | None) -> None:
        if value is not None and not isinstance(value, (str, AddedToken)):
            raise TypeError(f"{name} must be a str or a tokenizers.AddedToken, got {type(value).__name__}")
        if name == "mask_token" and isinstance(value, str):  # RoBERTa's mask eats the space before it
            value = AddedToken(value, lstrip=True, rstrip=False, normalized=False, special=True)
        setattr(self, f"_{name}", value)

    return property(get, set_, doc=f"The {name.replace('_', ' ')}, or None when unset.")


def _special_token_id_property(name: str) -> property:
    """The ``bos_token_id``-style attribute, read and set through the vocabulary."""

    def get(self: RobertaTokenizer) -> int | None:
        token = getattr(self, f"_{name}")
        return None if token is None else self.convert_tokens_to_ids(str(token))

    def set_(self: RobertaTokenizer, value: int | None) -> None:
        setattr(self, name, None if value is None else self.convert_ids_to_tokens(value))

    return property(get, set_, doc=f"The id of the {name.replace('_', ' ')}, or None when unset.")


class RobertaTokenizer:
    """RoBERTa's byte-level BPE tokenizer (the fast one of transformers v4.37.2, on ``tokenizers``).

    Texts are split GPT-2 style, spaces are part of the following token (``"Ġworld"``), and
    sequences are wrapped as ``<s> A </s>`` or ``<s> A </s></s> B </s>``. ``<mask>`` swallows the
    space on its left, so ``"Paris is <mask>."`` gives ``[..., "Ġis", " <mask>", "."]``.

    Usually built with :meth:`from_pretrained`; the constructor takes the files directly.

    Args:
        vocab_file: ``vocab.json`` (token to id), used with ``merges_file`` when there is no
            ``tokenizer_file``.
        merges_file: ``merges.txt``, the BPE merges in priority order.
        tokenizer_file: ``tokenizer.json``, the whole ``tokenizers`` pipeline; preferred when given.
        tokenizer_object: A ready ``tokenizers.Tokenizer`` to use (copied).
        errors: Kept for compatibility with the reference config; byte-level decoding replaces
            invalid UTF-8 either way.
        bos_token: Beginning of sequence token.
        eos_token: End of sequence token.
        sep_token: Separator token, closes each sequence.
        cls_token: Classifier token, opens the encoded input.
        unk_token: Unknown token (byte-level BPE never needs it, but ids must exist).
        pad_token: Padding token.
        mask_token: Mask token; a plain string becomes a token that strips the space on its left.
        additional_special_tokens: More tokens never split and skipped by
            ``decode(skip_special_tokens=True)``.
        add_prefix_space: Add a space before the text, so its first word is tokenized like any
            other. Required for ``is_split_into_words=True``.
        trim_offsets: Leave the leading space out of the offsets of tokens.
        model_max_length: Longest input of the model; the default length for truncation and
            ``padding="max_length"``. Unset means unlimited.
        padding_side: ``"right"`` or ``"left"``.
        truncation_side: ``"right"`` or ``"left"``.
        model_input_names: Names of the model inputs; ``"token_type_ids"`` in it makes the
            tokenizer return them by default.
        clean_up_tokenization_spaces: Let ``decode`` remove spaces before punctuation and
            contractions (``"it 's ."`` becomes ``"it's."``), as the reference does by default.
        added_tokens_decoder: Added tokens by id, as saved in ``tokenizer_config.json``; missing
            ones are added to the vocabulary.
        name_or_path: Where the tokenizer came from.
        **kwargs: Other keys of ``tokenizer_config.json``; kept and written back by
            :meth:`save_pretrained`.

    Raises:
        ValueError: When no vocabulary is given, or a side or token argument is invalid.
    """

    vocab_files_names = {
        "vocab_file": VOCAB_FILE,
        "merges_file": MERGES_FILE,
        "tokenizer_file": TOKENIZER_FILE,
    }
    model_input_names: list[str] = ["input_ids", "attention_mask"]
    padding_side: str = "right"
    truncation_side: str = "right"

    def __init__(
        self,
        vocab_file: str | os.PathLike[str] | None = None,
        merges_file: str | os.PathLike[str] | None = None,
        tokenizer_file: str | os.PathLike[str] | None = None,
        *,
        tokenizer_object: Tokenizer | None = None,
        errors: str = "replace",
        bos_token: str | AddedToken | None = "<s>",
        eos_token: str | AddedToken | None = "</s>",
        sep_token: str | AddedToken | None = "</s>",
        cls_token: str | AddedToken | None = "<s>",
        unk_token: str | AddedToken | None = "<unk>",
        pad_token: str | AddedToken | None = "<pad>",
        mask_token: str | AddedToken | None = "<mask>",
        additional_special_tokens: Sequence[str | AddedToken] | None = None,
        add_prefix_space: bool = False,
        trim_offsets: bool = True,
        model_max_length: int | None = None,
        padding_side: str | None = None,
        truncation_side: str | None = None,
        model_input_names: Sequence[str] | None = None,
        clean_up_tokenization_spaces: bool = True,
        added_tokens_decoder: Mapping[int | str, AddedToken | dict[str, Any]] | None = None,
        name_or_path: str = "",
        **kwargs: Any,
    ) -> None:
        if tokenizer_object is not None:
            backend = Tokenizer.from_str(tokenizer_object.to_str())
        elif tokenizer_file is not None or (vocab_file is not None and merges_file is not None):
            # a tokenizer.json that cannot be read falls back to vocab.json + merges.txt (warned)
            backend = load_backend(tokenizer_file, vocab_file, merges_file)
        else:
            raise ValueError(
                "RobertaTokenizer needs tokenizer_file, or vocab_file and merges_file, or tokenizer_object"
            )
        self._tokenizer = backend

        # Padding and truncation baked into tokenizer.json only give defaults; each call sets its own.
        if backend.padding is not None:
            padding_side = padding_side or backend.padding["direction"]
        if backend.truncation is not None:
            truncation_side = truncation_side or backend.truncation["direction"]
        backend.no_padding()
        backend.no_truncation()

        self.name_or_path = str(name_or_path)
        self.model_max_length = int(model_max_length) if model_max_length is not None else VERY_LARGE_INTEGER
        self.padding_side = _check_side("padding_side", padding_side or type(self).padding_side)
        self.truncation_side = _check_side("truncation_side", truncation_side or type(self).truncation_side)
        self.model_input_names = list(model_input_names or type(self).model_input_names)
        self.clean_up_tokenization_spaces = bool(clean_up_tokenization_spaces)
        self.add_prefix_space = bool(add_prefix_space)
        self.trim_offsets = bool(trim_offsets)
        self.errors = errors
        self.init_kwargs: dict[str, Any] = dict(kwargs)  # unknown config keys, written back on save
        self._warned: set[str] = set()

        # Special tokens given as plain strings take the flags of the same token in the saved added
        # tokens or in tokenizer.json (that is how <mask> keeps its lstrip).
        saved = {int(index): _added_token(token) for index, token in (added_tokens_decoder or {}).items()}
        known = {str(token): token for token in backend.get_added_tokens_decoder().values()}
        known.update({str(token): token for token in saved.values()})
        self._bos_token = self._eos_token = self._unk_token = self._sep_token = None
        self._pad_token = self._cls_token = self._mask_token = None
        given = dict(
            bos_token=bos_token,
            eos_token=eos_token,
            unk_token=unk_token,
            sep_token=sep_token,
            pad_token=pad_token,
            cls_token=cls_token,
            mask_token=mask_token,
        )
        for name, value in given.items():
            value = _added_token(value, special=True)
            if isinstance(value, str) and value in known:
                value = known[value]
            setattr(self, name, value)
        self._additional_special_tokens: list[str | AddedToken] = []
        if additional_special_tokens:
            self.additional_special_tokens = [
                _added_token(t, special=True) for t in additional_special_tokens
            ]

        self._add_missing_tokens([saved[index] for index in sorted(saved)])
        for index, token in saved.items():
            if (actual := backend.token_to_id(str(token))) != index:
                logger.warning("added token %r got id %s instead of the saved %s", str(token), actual, index)
        self._configure_backend()

    # ----------------------------------------------------------------------------------------------
    # Loading and saving

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | os.PathLike[str],
        *,
        cache_dir: str | os.PathLike[str] | None = None,
        revision: str | None = None,
        local_files_only: bool = False,
        token: str | bool | None = None,
        force_download: bool = False,
        subfolder: str = "",
        **kwargs: Any,
    ) -> RobertaTokenizer:
        """Loads a tokenizer from a folder or a hub repository.

        ``tokenizer.json`` is used when present, else ``vocab.json`` + ``merges.txt``;
        ``tokenizer_config.json``, ``special_tokens_map.json`` and ``added_tokens.json`` add the
        settings and special tokens. Hub downloads honour ``HF_HUB_OFFLINE``.

        Args:
            pretrained_model_name_or_path: A local folder, or a hub id such as ``"org/name"``.
            cache_dir: Hub cache folder (default: the huggingface_hub cache).
            revision: Hub branch, tag or commit.
            local_files_only: Use only files already in the hub cache.
            token: Hub access token.
            force_download: Download again even when cached.
            subfolder: Folder inside the repository or local folder.
            **kwargs: Constructor arguments that override the saved config, e.g.
                ``add_prefix_space=True`` or ``model_max_length=128``.

        Returns:
            The tokenizer.

        Raises:
            OSError: When the folder or repository is missing or holds no tokenizer files.
        """
        hub = HubOptions(cache_dir=cache_dir, revision=revision, local_files_only=local_files_only, token=token,
                         subfolder=subfolder, force_download=force_download)
        files = resolve_files(pretrained_model_name_or_path, hub)
        config = read_json(files[CONFIG_FILE]) or {}
        config_class = config.get("tokenizer_class")
        if config_class and not config_class.replace("Fast", "").startswith("Roberta"):
            logger.warning(
                "%s saves a %s; loading it as a RobertaTokenizer may tokenize differently",
                pretrained_model_name_or_path,
                config_class,
            )
        init = {key: value for key, value in config.items() if key not in _NOT_INIT_KEYS}
        if "max_len" in init:  # the name of model_max_length in very old configs
            init.setdefault("model_max_length", init.pop("max_len"))
        if "extra_special_tokens" in init and "additional_special_tokens" not in init:
            extra = init.pop("extra_special_tokens")  # the transformers v5 name
            if isinstance(extra, list):
                init["additional_special_tokens"] = extra
        init = {
            key: _added_token(value, special=True) if key in SPECIAL_TOKEN_NAMES else value
            for key, value in init.items()
        }
        if isinstance(init.get("additional_special_tokens"), list):
            init["additional_special_tokens"] = [
                _added_token(t, special=True) for t in init["additional_special_tokens"]
            ]

        if "added_tokens_decoder" not in init:
            # Older folders: special tokens in special_tokens_map.json, extra tokens in added_tokens.json.
            for key, value in (read_json(files[SPECIAL_TOKENS_MAP_FILE]) or {}).items():
                if kwargs.get(key):
                    continue
                if key == "additional_special_tokens" and isinstance(value, list):
                    merged = list(init.get("additional_special_tokens") or [])
                    for token in (_added_token(t, special=True) for t in value):
                        if str(token) not in map(str, merged):
                            merged.append(token)
                    init[key] = merged
                elif key in SPECIAL_TOKEN_NAMES:
                    init[key] = _added_token(value, special=True)
            added = read_json(files[ADDED_TOKENS_FILE])
            if added:
                specials = {str(init[key]) for key in SPECIAL_TOKEN_NAMES if init.get(key) is not None}
                specials |= {str(t) for t in init.get("additional_special_tokens") or []}
                init["added_tokens_decoder"] = {
                    index: AddedToken(
                        content, normalized=content not in specials, special=content in specials
                    )
                    for content, index in added.items()
                }
        init.update(kwargs)
        name = str(pretrained_model_name_or_path)
        if name in _KNOWN_MAX_LENGTHS:
            init["model_max_length"] = min(
                init.get("model_max_length") or VERY_LARGE_INTEGER, _KNOWN_MAX_LENGTHS[name]
            )
        init.setdefault("name_or_path", name)
        try:
            return cls(
                vocab_file=files[VOCAB_FILE],
                merges_file=files[MERGES_FILE],
                tokenizer_file=files[TOKENIZER_FILE],
                **init,
            )
        except TokenizerFileError:
            if files[TOKENIZER_FILE] is None or files[VOCAB_FILE] is not None:
                raise
            # tokenizer.json is unreadable: vocab.json + merges.txt, when the folder or repo has them
            vocab = resolve_file(pretrained_model_name_or_path, VOCAB_FILE, hub, required=False)
            merges = resolve_file(pretrained_model_name_or_path, MERGES_FILE, hub, required=False) if vocab else None
            if vocab is None or merges is None:
                raise
            return cls(vocab_file=vocab, merges_file=merges, tokenizer_file=files[TOKENIZER_FILE], **init)

    def save_pretrained(
        self, save_directory: str | os.PathLike[str], *, filename_prefix: str | None = None, **_: Any
    ) -> tuple[str, ...]:
        """Writes the tokenizer so that this class or transformers' ``AutoTokenizer`` loads it back.

        Writes ``tokenizer_config.json``, ``special_tokens_map.json``, ``tokenizer.json``,
        ``vocab.json``, ``merges.txt`` and, when tokens were added past the vocabulary,
        ``added_tokens.json``.

        Args:
            save_directory: Folder to write into (created when missing).
            filename_prefix: Prefix for the file names (``"{prefix}-tokenizer.json"``).

        Returns:
            The paths written.

        Raises:
            OSError: When ``save_directory`` is an existing file.
        """
        folder = Path(save_directory)
        if folder.is_file():
            raise OSError(f"cannot save the tokenizer into {str(folder)!r}: it is a file, not a folder")
        folder.mkdir(parents=True, exist_ok=True)
        prefix = f"{filename_prefix}-" if filename_prefix else ""

        def write_json(name: str, data: Any) -> str:
            path = folder / f"{prefix}{name}"
            path.write_text(
                json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8"
            )
            return str(path)

        config: dict[str, Any] = copy.deepcopy(self.init_kwargs)
        config.update(
            add_prefix_space=self.add_prefix_space,
            trim_offsets=self.trim_offsets,
            errors=self.errors,
            model_max_length=self.model_max_length,
            clean_up_tokenization_spaces=self.clean_up_tokenization_spaces,
            added_tokens_decoder={
                str(i): _token_state(t) for i, t in sorted(self.added_tokens_decoder.items())
            },
            tokenizer_class="RobertaTokenizer",
        )
        config.update(self.special_tokens_map)
        if self.padding_side != type(self).padding_side:
            config["padding_side"] = self.padding_side
        if self.truncation_side != type(self).truncation_side:
            config["truncation_side"] = self.truncation_side
        if self.model_input_names != type(self).model_input_names:
            config["model_input_names"] = self.model_input_names
        written = [write_json(CONFIG_FILE, config)]

        def saved_form(token: str | AddedToken) -> Any:
            return _token_state(token, with_special=False) if isinstance(token, AddedToken) else token

        special_map: dict[str, Any] = {
            name: saved_form(getattr(self, f"_{name}"))
            for name in SPECIAL_TOKEN_NAMES
            if getattr(self, f"_{name}")
        }
        if self._additional_special_tokens:
            special_map["additional_special_tokens"] = [
                saved_form(t) for t in self._additional_special_tokens
            ]
        written.append(write_json(SPECIAL_TOKENS_MAP_FILE, special_map))

        beyond = {
            token: index for token, index in self.added_tokens_encoder.items() if index >= self.vocab_size
        }
        if beyond:
            written.append(write_json(ADDED_TOKENS_FILE, beyond))
        written.extend(self._tokenizer.model.save(str(folder), filename_prefix))

        state = json.loads(self._tokenizer.to_str())
        merges = state.get("model", {}).get("merges")
        if merges and all(isinstance(m, list) and not any(" " in part for part in m) for m in merges):
            state["model"]["merges"] = [" ".join(m) for m in merges]  # the classic form old readers expect
        tokenizer_path = folder / f"{prefix}{TOKENIZER_FILE}"
        tokenizer_path.write_text(json.dumps(state, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(str(tokenizer_path))
        return tuple(written)

    @_hybrid_method
    def train_new_from_iterator(
        self_or_cls: RobertaTokenizer | type[RobertaTokenizer],
        text_iterator: Iterable[str] | Iterable[Sequence[str]],
        vocab_size: int,
        length: int | None = None,
        new_special_tokens: Sequence[str | AddedToken] | None = None,
        special_tokens_map: Mapping[str, str] | None = None,
        **trainer_kwargs: Any,
    ) -> RobertaTokenizer:
        """Trains a new byte-level BPE tokenizer on texts, with RoBERTa's vocabulary layout.

        ``<s>``, ``<pad>``, ``</s>``, ``<unk>`` take ids 0..3, the byte alphabet and merges follow,
        and ``<mask>`` comes last (id ``vocab_size - 1``); extra special tokens go after it. Called on
        an instance, the new tokenizer keeps its special tokens and settings; called on the class,
        it uses the defaults.

        Args:
            text_iterator: Texts, or batches (lists) of texts.
            vocab_size: Size of the vocabulary, ``<mask>`` included.
            length: Number of items in ``text_iterator``, for the progress bar.
            new_special_tokens: More special tokens, added after ``<mask>``.
            special_tokens_map: Renames special tokens, e.g. ``{"<s>": "<bos>"}``.
            **trainer_kwargs: Passed to ``tokenizers.trainers.BpeTrainer`` (``min_frequency``,
                ``show_progress``, ...).

        Returns:
            The new tokenizer.
        """
        template = self_or_cls if isinstance(self_or_cls, RobertaTokenizer) else None
        cls = type(self_or_cls) if template is not None else self_or_cls
        rename = dict(special_tokens_map or {})

        def special(name: str, default: str) -> str | AddedToken | None:
            token = getattr(template, f"_{name}") if template is not None else default
            if token is None or str(token) not in rename:
                return token
            if isinstance(token, AddedToken):
                return AddedToken(
                    rename[str(token)], **{k: v for k, v in _token_state(token).items() if k != "content"}
                )
            return rename[str(token)]

        tokens = {
            name: special(name, default)
            for name, default in (
                ("bos_token", "<s>"),
                ("pad_token", "<pad>"),
                ("eos_token", "</s>"),
                ("unk_token", "<unk>"),
                ("sep_token", "</s>"),
                ("cls_token", "<s>"),
                ("mask_token", "<mask>"),
            )
        }
        first = list(
            dict.fromkeys(
                str(tokens[n]) for n in ("bos_token", "pad_token", "eos_token", "unk_token") if tokens[n]
            )
        )
        mask = str(tokens["mask_token"]) if tokens["mask_token"] is not None else None
        has_mask = mask is not None and mask not in first

        vocab, merges = bpe.train(text_iterator, vocab_size, first_specials=first, mask=mask if has_mask else None,
                                  length=length, **trainer_kwargs)

        extra = list(template._additional_special_tokens) if template is not None else []
        extra += list(new_special_tokens or [])
        settings: dict[str, Any] = {}
        if template is not None:
            settings = dict(
                add_prefix_space=template.add_prefix_space,
                trim_offsets=template.trim_offsets,
                model_max_length=template.model_max_length,
                padding_side=template.padding_side,
                truncation_side=template.truncation_side,
                model_input_names=template.model_input_names,
                clean_up_tokenization_spaces=template.clean_up_tokenization_spaces,
                errors=template.errors,
                **copy.deepcopy(template.init_kwargs),
            )
        return cls(
            tokenizer_object=bpe.pipeline(vocab, merges),
            additional_special_tokens=extra or None,
            **tokens,
            **settings,
        )

    # ----------------------------------------------------------------------------------------------
    # Backend set-up

    def _add_missing_tokens(self, saved: list[AddedToken]) -> None:
        """Adds saved tokens and special tokens the backend lacks, specials as special tokens."""
        present = set(self.added_tokens_encoder)
        to_add: list[str | AddedToken] = list(saved)
        names = {str(t) for t in to_add} | present
        for token in self.all_special_tokens_extended:
            if str(token) not in names:
                to_add.append(token)
                names.add(str(token))
        specials = set(self.all_special_tokens)
        run: list[str | AddedToken] = []
        run_special: bool | None = None
        for token in to_add:  # consecutive runs, so the backend rebuilds its matcher only a few times
            is_special = str(token) in specials or bool(getattr(token, "special", False))
            if run and is_special != run_special:
                self._add_to_backend(run, special=bool(run_special))
                run = []
            run.append(token)
            run_special = is_special
        if run:
            self._add_to_backend(run, special=bool(run_special))

    def _add_to_backend(self, tokens: list[str | AddedToken], *, special: bool) -> int:
        if special:
            return self._tokenizer.add_special_tokens(tokens)
        return self._tokenizer.add_tokens(tokens)

    def _configure_backend(self) -> None:
        """Gives the pre-tokenizer and post-processor this tokenizer's prefix-space and offset settings.

        A tokenizer built from ``vocab.json`` + ``merges.txt`` also gets its RoBERTa post-processor
        here, once the special tokens have ids.
        """
        backend = self._tokenizer
        pre = json.loads(backend.pre_tokenizer.__getstate__()) if backend.pre_tokenizer is not None else None
        post = (
            json.loads(backend.post_processor.__getstate__()) if backend.post_processor is not None else None
        )
        if post is None and self.cls_token is not None and self.sep_token is not None:
            post = {
                "type": "RobertaProcessing",
                "sep": [self.sep_token, backend.token_to_id(self.sep_token)],
                "cls": [self.cls_token, backend.token_to_id(self.cls_token)],
                "trim_offsets": True,
                "add_prefix_space": self.add_prefix_space,
            }
        wanted = {"add_prefix_space": self.add_prefix_space, "trim_offsets": self.trim_offsets}
        changed = backend.post_processor is None and post is not None
        if pre is not None and pre.get("add_prefix_space", self.add_prefix_space) != self.add_prefix_space:
            pre["add_prefix_space"] = self.add_prefix_space
            changed = True
        for key, value in wanted.items():
            if post is not None and post.get(key, value) != value:
                post[key] = value
                changed = True
        if changed:  # rebuild through JSON: works for every component type and `tokenizers` version
            state = json.loads(backend.to_str())
            state["pre_tokenizer"], state["post_processor"] = pre, post
            self._tokenizer = Tokenizer.from_str(json.dumps(state))

    @property
    def backend_tokenizer(self) -> Tokenizer:
        """The ``tokenizers.Tokenizer`` doing the work."""
        return self._tokenizer

    @property
    def is_fast(self) -> bool:
        """Always True: the tokenizer runs on the Rust backend."""
        return True

    # ----------------------------------------------------------------------------------------------
    # Special tokens

    bos_token = _special_token_property("bos_token")
    eos_token = _special_token_property("eos_token")
    unk_token = _special_token_property("unk_token")
    sep_token = _special_token_property("sep_token")
    pad_token = _special_token_property("pad_token")
    cls_token = _special_token_property("cls_token")
    mask_token = _special_token_property("mask_token")
    bos_token_id = _special_token_id_property("bos_token")
    eos_token_id = _special_token_id_property("eos_token")
    unk_token_id = _special_token_id_property("unk_token")
    sep_token_id = _special_token_id_property("sep_token")
    pad_token_id = _special_token_id_property("pad_token")
    cls_token_id = _special_token_id_property("cls_token")
    mask_token_id = _special_token_id_property("mask_token")

    pad_token_type_id = 0  # type id given to padding

    @property
    def additional_special_tokens(self) -> list[str]:
        """Special tokens beyond the named ones."""
        return [str(token) for token in self._additional_special_tokens]

    @additional_special_tokens.setter
    def additional_special_tokens(self, tokens: Sequence[str | AddedToken]) -> None:
        if isinstance(tokens, (str, AddedToken)) or not all(isinstance(t, (str, AddedToken)) for t in tokens):
            raise TypeError("additional_special_tokens must be a list of str or tokenizers.AddedToken")
        self._additional_special_tokens = list(tokens)

    @property
    def additional_special_tokens_ids(self) -> list[int]:
        """Ids of :attr:`additional_special_tokens`."""
        return self.convert_tokens_to_ids(self.additional_special_tokens)

    @property
    def special_tokens_map(self) -> dict[str, str | list[str]]:
        """The set special tokens by attribute name, as strings."""
        result: dict[str, str | list[str]] = {
            name: str(getattr(self, f"_{name}")) for name in SPECIAL_TOKEN_NAMES if getattr(self, f"_{name}")
        }
        if self._additional_special_tokens:
            result["additional_special_tokens"] = self.additional_special_tokens
        return result

    @property
    def special_tokens_map_extended(self) -> dict[str, Any]:
        """Like :attr:`special_tokens_map`, keeping ``AddedToken`` objects as they are."""
        result: dict[str, Any] = {
            name: getattr(self, f"_{name}") for name in SPECIAL_TOKEN_NAMES if getattr(self, f"_{name}")
        }
        if self._additional_special_tokens:
            result["additional_special_tokens"] = list(self._additional_special_tokens)
        return result

    @property
    def all_special_tokens_extended(self) -> list[str | AddedToken]:
        """Every special token once, named ones first, as set (str or ``AddedToken``)."""
        seen: set[str] = set()
        tokens = []
        for value in self.special_tokens_map_extended.values():
            for token in value if isinstance(value, list) else [value]:
                if str(token) not in seen:
                    seen.add(str(token))
                    tokens.append(token)
        return tokens

    @property
    def all_special_tokens(self) -> list[str]:
        """Every special token once, as strings."""
        return [str(token) for token in self.all_special_tokens_extended]

    @property
    def all_special_ids(self) -> list[int]:
        """Ids of :attr:`all_special_tokens`."""
        return self.convert_tokens_to_ids(self.all_special_tokens)

    def add_special_tokens(
        self, special_tokens_dict: Mapping[str, Any], replace_additional_special_tokens: bool = True
    ) -> int:
        """Sets special tokens by name (``{"pad_token": "<p>"}``) and adds new ones to the vocabulary.

        Args:
            special_tokens_dict: Attribute names (``bos_token`` ... ``mask_token``,
                ``additional_special_tokens``) to tokens.
            replace_additional_special_tokens: Replace the list of additional special tokens
                instead of extending it (replaced tokens stay in the vocabulary).

        Returns:
            The number of tokens added to the vocabulary.

        Raises:
            ValueError: For an unknown name or a value of the wrong type.
        """
        to_add: list[AddedToken] = []
        for name, value in special_tokens_dict.items():
            if name == "additional_special_tokens":
                if isinstance(value, (str, AddedToken)) or not all(
                    isinstance(t, (str, AddedToken)) for t in value
                ):
                    raise ValueError(
                        "additional_special_tokens must be a list of str or tokenizers.AddedToken"
                    )
                tokens = [
                    AddedToken(t, normalized=False, special=True) if isinstance(t, str) else t
                    for t in value
                    if replace_additional_special_tokens or str(t) not in self.additional_special_tokens
                ]
                if replace_additional_special_tokens and tokens:
                    self._additional_special_tokens = list(tokens)
                else:
                    self._additional_special_tokens.extend(tokens)
                to_add.extend(tokens)
            elif name in SPECIAL_TOKEN_NAMES:
                if not isinstance(value, (str, AddedToken)):
                    raise ValueError(
                        f"{name} must be a str or a tokenizers.AddedToken, got {type(value).__name__}"
                    )
                token = AddedToken(value, normalized=False, special=True) if isinstance(value, str) else value
                setattr(self, name, token)
                if token not in to_add:
                    to_add.append(token)
            else:
                raise ValueError(
                    f"unknown special token name {name!r}; use one of {', '.join(SPECIAL_TOKEN_NAMES)} "
                    "or additional_special_tokens"
                )
        return self.add_tokens(to_add, special_tokens=True)

    def add_tokens(
        self, new_tokens: str | AddedToken | Sequence[str | AddedToken], special_tokens: bool = False
    ) -> int:
        """Adds tokens that are never split; new ones get ids after the current vocabulary.

        Args:
            new_tokens: A token or a list of tokens (str or ``tokenizers.AddedToken``).
            special_tokens: Add them as special tokens (skipped by ``decode(skip_special_tokens=True)``).

        Returns:
            The number of tokens the backend reports as added.
        """
        if not new_tokens:
            return 0
        if isinstance(new_tokens, (str, AddedToken)):
            new_tokens = [new_tokens]
        return self._add_to_backend(list(new_tokens), special=special_tokens)

    # ----------------------------------------------------------------------------------------------
    # Vocabulary

    @property
    def vocab_size(self) -> int:
        """Size of the base vocabulary, without added tokens."""
        return self._tokenizer.get_vocab_size(with_added_tokens=False)

    def __len__(self) -> int:
        """Size of the full vocabulary, added tokens included."""
        return self._tokenizer.get_vocab_size(with_added_tokens=True)

    def get_vocab(self) -> dict[str, int]:
        """The full vocabulary (token to id), added tokens included."""
        return self._tokenizer.get_vocab(with_added_tokens=True)

    @property
    def vocab(self) -> dict[str, int]:
        """Same as :meth:`get_vocab`."""
        return self.get_vocab()

    @property
    def added_tokens_decoder(self) -> dict[int, AddedToken]:
        """Added tokens (special ones included) by id."""
        return self._tokenizer.get_added_tokens_decoder()

    @property
    def added_tokens_encoder(self) -> dict[str, int]:
        """Added tokens to ids, sorted by id."""
        return {str(token): index for index, token in sorted(self.added_tokens_decoder.items())}

    def get_added_vocab(self) -> dict[str, int]:
        """Same as :attr:`added_tokens_encoder`."""
        return self.added_tokens_encoder

    def convert_tokens_to_ids(self, tokens: str | Sequence[str] | None) -> int | list[int] | None:
        """Token string(s) to id(s); unknown tokens map to the id of ``unk_token``."""
        if tokens is None:
            return None
        if isinstance(tokens, str):
            index = self._tokenizer.token_to_id(tokens)
            return index if index is not None else self.unk_token_id
        return [self.convert_tokens_to_ids(token) for token in tokens]

    def convert_ids_to_tokens(
        self, ids: int | Sequence[int], skip_special_tokens: bool = False
    ) -> str | list[str] | None:
        """Id(s) to token string(s); None for an id outside the vocabulary."""
        ids = _to_python(ids)
        _check_ids([ids] if isinstance(ids, int) else ids)
        if isinstance(ids, int):
            return self._tokenizer.id_to_token(ids)
        special = set(self.all_special_ids) if skip_special_tokens else set()
        return [self._tokenizer.id_to_token(int(i)) for i in ids if int(i) not in special]

    def convert_tokens_to_string(self, tokens: Sequence[str]) -> str:
        """Joins token strings back into text (byte-level decoding)."""
        return self._tokenizer.decoder.decode(list(tokens))

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        """How many special tokens encoding adds: 2 for a single text, 4 for a pair."""
        return self._tokenizer.num_special_tokens_to_add(pair)

    @property
    def max_len_single_sentence(self) -> int:
        """Longest single text that fits ``model_max_length`` with its special tokens."""
        return self.model_max_length - self.num_special_tokens_to_add(pair=False)

    @property
    def max_len_sentences_pair(self) -> int:
        """Longest pair that fits ``model_max_length`` with its special tokens."""
        return self.model_max_length - self.num_special_tokens_to_add(pair=True)

    def build_inputs_with_special_tokens(
        self, token_ids_0: list[int], token_ids_1: list[int] | None = None
    ) -> list[int]:
        """Wraps ids as ``<s> A </s>`` or ``<s> A </s></s> B </s>``."""
        single = [self.cls_token_id, *token_ids_0, self.sep_token_id]
        return (
            single if token_ids_1 is None else [*single, self.sep_token_id, *token_ids_1, self.sep_token_id]
        )

    def create_token_type_ids_from_sequences(
        self, token_ids_0: list[int], token_ids_1: list[int] | None = None
    ) -> list[int]:
        """Zeros for the wrapped input: RoBERTa does not use token types."""
        return [0] * len(self.build_inputs_with_special_tokens(token_ids_0, token_ids_1))

    def get_special_tokens_mask(
        self,
        token_ids_0: list[int],
        token_ids_1: list[int] | None = None,
        already_has_special_tokens: bool = False,
    ) -> list[int]:
        """1 for special tokens, 0 for others.

        Args:
            token_ids_0: Ids of the first sequence, or of the whole input when
                ``already_has_special_tokens``.
            token_ids_1: Ids of the second sequence of a pair.
            already_has_special_tokens: The ids already contain the special tokens; mark them.
        """
        if already_has_special_tokens:
            if token_ids_1 is not None:
                raise ValueError("token_ids_1 must be None when the ids already have special tokens")
            special = set(self.all_special_ids)
            return [1 if index in special else 0 for index in _to_python(token_ids_0)]
        mask = [1, *[0] * len(token_ids_0), 1]
        return mask if token_ids_1 is None else [*mask, 1, *[0] * len(token_ids_1), 1]

    # ----------------------------------------------------------------------------------------------
    # Encoding

    def __call__(
        self,
        text: str | Sequence[str] | Sequence[Sequence[str]] | None = None,
        text_pair: str | Sequence[str] | Sequence[Sequence[str]] | None = None,
        *,
        text_target: str | Sequence[str] | Sequence[Sequence[str]] | None = None,
        text_pair_target: str | Sequence[str] | Sequence[Sequence[str]] | None = None,
        add_special_tokens: bool = True,
        padding: bool | str = False,
        truncation: bool | str | None = None,
        max_length: int | None = None,
        stride: int = 0,
        is_split_into_words: bool = False,
        pad_to_multiple_of: int | None = None,
        padding_side: str | None = None,
        return_tensors: str | None = None,
        return_token_type_ids: bool | None = None,
        return_attention_mask: bool | None = None,
        return_overflowing_tokens: bool = False,
        return_special_tokens_mask: bool = False,
        return_offsets_mapping: bool = False,
        return_length: bool = False,
        verbose: bool = True,
    ) -> BatchEncoding:
        """Tokenizes a text, a pair, or a batch of texts or pairs.

        Args:
            text: A string, a list of strings (a batch), or with ``is_split_into_words`` a list of
                words (one text) or a list of lists of words (a batch).
            text_pair: The second sequence(s) of pairs, shaped like ``text``.
            text_target: Texts whose ids become ``labels`` (or the whole output without ``text``).
            text_pair_target: Second sequences for ``text_target``.
            add_special_tokens: Wrap sequences in ``<s>`` ... ``</s>``.
            padding: True or ``"longest"`` (to the longest row), ``"max_length"`` (to
                ``max_length`` or ``model_max_length``), False (none).
            truncation: True or ``"longest_first"``, ``"only_first"``, ``"only_second"``, False.
                Giving only ``max_length`` means ``"longest_first"``.
            max_length: Length limit for truncation and ``padding="max_length"``; defaults to
                ``model_max_length``.
            stride: With ``return_overflowing_tokens``, tokens shared by consecutive windows.
            is_split_into_words: The input is already split into words (needs
                ``add_prefix_space=True``).
            pad_to_multiple_of: Round the padded length up to a multiple of this.
            padding_side: ``"left"`` or ``"right"`` for this call (default: the tokenizer's).
            return_tensors: ``"pt"`` (torch), ``"np"`` (numpy) or None (lists).
            return_token_type_ids: Return ``token_type_ids`` (all zeros for RoBERTa).
            return_attention_mask: Return ``attention_mask`` (default True).
            return_overflowing_tokens: Return truncated-away tokens as extra rows, with
                ``overflow_to_sample_mapping`` giving each row's input.
            return_special_tokens_mask: Return ``special_tokens_mask`` (1 on special tokens).
            return_offsets_mapping: Return ``offset_mapping``: each token's (start, end) characters.
            return_length: Return ``length``: each row's number of tokens.
            verbose: Log warnings about ignored or implied settings.

        Returns:
            The encoding; for one text the values are flat lists (unless tensors or overflow rows
            are asked for).

        Raises:
            ValueError: For text of the wrong type, pair batches of another length, invalid
                strategies, or truncation settings that cannot be met.
            TypeError: For a single ``text_pair`` string with a batch of texts.
        """
        options = dict(
            add_special_tokens=add_special_tokens,
            padding=padding,
            truncation=truncation,
            max_length=max_length,
            stride=stride,
            is_split_into_words=is_split_into_words,
            pad_to_multiple_of=pad_to_multiple_of,
            padding_side=padding_side,
            return_tensors=return_tensors,
            return_token_type_ids=return_token_type_ids,
            return_attention_mask=return_attention_mask,
            return_overflowing_tokens=return_overflowing_tokens,
            return_special_tokens_mask=return_special_tokens_mask,
            return_offsets_mapping=return_offsets_mapping,
            return_length=return_length,
            verbose=verbose,
        )
        if text is None and text_target is None:
            raise ValueError("give the text to tokenize (text=...) or text_target=...")
        if text_target is None:
            return self._call_one(text, text_pair, **options)
        target = self._call_one(text_target, text_pair_target, **options)
        if text is None:
            return target
        encoded = self._call_one(text, text_pair, **options)
        encoded["labels"] = target["input_ids"]
        return encoded

    def _call_one(self, text: Any, text_pair: Any, **options: Any) -> BatchEncoding:
        pretokenized = options["is_split_into_words"]
        for name, value in (("text", text), ("text_pair", text_pair)):
            if value is not None and not isinstance(value, (str, list, tuple)):
                raise ValueError(
                    f"{name} must be a str, a list of str (a batch, or the words of one text with "
                    f"is_split_into_words=True) or a list of lists of str, got {type(value).__name__}"
                )
        if pretokenized:
            batched = isinstance(text, (list, tuple)) and bool(text) and isinstance(text[0], (list, tuple))
        else:
            batched = isinstance(text, (list, tuple))
        if not batched:
            return self.encode_plus(text, text_pair, **options)
        if isinstance(text_pair, str):
            raise TypeError("with a batch of texts, text_pair must be a list of the same length, not a str")
        if text_pair is not None and len(text) != len(text_pair):
            raise ValueError(f"text is a batch of {len(text)} but text_pair a batch of {len(text_pair)}")
        inputs = list(zip(text, text_pair, strict=True)) if text_pair is not None else list(text)
        return self.batch_encode_plus(inputs, **options)

    def encode(
        self,
        text: str | Sequence[str],
        text_pair: str | Sequence[str] | None = None,
        add_special_tokens: bool = True,
        padding: bool | str = False,
        truncation: bool | str | None = None,
        max_length: int | None = None,
        stride: int = 0,
        return_tensors: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """Encodes one text (or pair) and returns only its ``input_ids``; see :meth:`__call__`."""
        return self.encode_plus(
            text,
            text_pair,
            add_special_tokens=add_special_tokens,
            padding=padding,
            truncation=truncation,
            max_length=max_length,
            stride=stride,
            return_tensors=return_tensors,
            **kwargs,
        )["input_ids"]

    def encode_plus(
        self, text: str | Sequence[str], text_pair: str | Sequence[str] | None = None, **options: Any
    ) -> BatchEncoding:
        """Encodes one text or pair; takes the options of :meth:`__call__`."""
        pretokenized = options.get("is_split_into_words", False)
        kind = "a list of str (is_split_into_words=True)" if pretokenized else "a str"
        if not _is_text(text, pretokenized):
            raise ValueError(f"text must be {kind}, got {type(text).__name__}: {text!r:.80}")
        if text_pair is not None and not _is_text(text_pair, pretokenized):
            raise ValueError(f"text_pair must be {kind}, got {type(text_pair).__name__}: {text_pair!r:.80}")
        # As in the reference, an empty text_pair counts as no pair.
        item = (text, text_pair) if text_pair else text
        return self._encode([item], single=True, **options)

    def batch_encode_plus(self, batch_text_or_text_pairs: Sequence[Any], **options: Any) -> BatchEncoding:
        """Encodes a batch of texts or ``(text, text_pair)`` pairs; takes the options of :meth:`__call__`."""
        if not isinstance(batch_text_or_text_pairs, (list, tuple)):
            raise TypeError(
                f"the batch must be a list or tuple, got {type(batch_text_or_text_pairs).__name__}"
            )
        pretokenized = options.get("is_split_into_words", False)
        inputs = []
        for index, item in enumerate(batch_text_or_text_pairs):
            if _is_text(item, pretokenized):
                inputs.append(item)
            elif (
                isinstance(item, (list, tuple))
                and len(item) == 2
                and all(_is_text(part, pretokenized) for part in item)
            ):
                inputs.append(tuple(item))
            else:
                kind = "list of str (words)" if pretokenized else "str"
                raise ValueError(
                    f"batch item {index} must be a {kind} or a pair of them, "
                    f"got {type(item).__name__}: {item!r:.80}"
                )
        return self._encode(inputs, single=False, **options)

    def _resolve_strategies(
        self,
        padding: Any,
        truncation: Any,
        max_length: int | None,
        pad_to_multiple_of: int | None,
        verbose: bool,
    ) -> tuple[str, str, int | None]:
        """Turns the padding/truncation arguments into strategies and a length, like the reference."""
        if max_length is not None and (padding is False or padding is None) and truncation is None:
            self._warn(
                verbose,
                "implicit-truncation",
                "max_length is set but truncation is not: truncating with 'longest_first'. "
                "Pass truncation=True (or a strategy) to make this explicit.",
            )
            truncation = "longest_first"
        pad = _padding_strategy(padding)
        trunc = _truncation_strategy(truncation)
        if padding is True and max_length is not None and trunc == "do_not_truncate":
            self._warn(
                verbose,
                "padding-ignores-max-length",
                "max_length is ignored by padding=True; use padding='max_length'",
            )
        if max_length is None:
            unlimited = self.model_max_length > _LARGE_INTEGER
            if pad == "max_length":
                if unlimited:
                    self._warn(
                        verbose,
                        "pad-no-max",
                        "padding='max_length' without max_length or model_max_length: not padding",
                    )
                    pad = "do_not_pad"
                else:
                    max_length = self.model_max_length
            if trunc != "do_not_truncate":
                if unlimited:
                    self._warn(
                        verbose,
                        "truncate-no-max",
                        "truncation without max_length or model_max_length: not truncating",
                    )
                    trunc = "do_not_truncate"
                else:
                    max_length = self.model_max_length
        if pad != "do_not_pad" and (self.pad_token is None or self.pad_token_id is None):
            raise ValueError(
                "padding needs a pad token: set tokenizer.pad_token or add one with "
                "tokenizer.add_special_tokens({'pad_token': '<pad>'})"
            )
        if (
            trunc != "do_not_truncate"
            and pad != "do_not_pad"
            and pad_to_multiple_of is not None
            and max_length is not None
            and max_length % pad_to_multiple_of
        ):
            raise ValueError(
                f"truncation length {max_length} is not a multiple of pad_to_multiple_of={pad_to_multiple_of}"
            )
        return pad, trunc, max_length

    def _warn(self, verbose: bool, key: str, message: str) -> None:
        if verbose and key not in self._warned:
            self._warned.add(key)
            logger.warning(message)

    @contextlib.contextmanager
    def _backend_settings(
        self,
        pad: str,
        trunc: str,
        max_length: int | None,
        stride: int,
        pad_to_multiple_of: int | None,
        side: str,
    ) -> Iterator[None]:
        """Sets truncation and padding on the backend for one call, then clears them."""
        backend = self._tokenizer
        try:
            if trunc != "do_not_truncate":
                assert max_length is not None
                backend.enable_truncation(
                    max_length, stride=stride, strategy=trunc, direction=self.truncation_side
                )
            if pad != "do_not_pad":
                backend.enable_padding(
                    direction=side,
                    pad_id=self.pad_token_id,
                    pad_type_id=self.pad_token_type_id,
                    pad_token=self.pad_token,
                    length=max_length if pad == "max_length" else None,
                    pad_to_multiple_of=pad_to_multiple_of,
                )
            yield
        finally:
            backend.no_truncation()
            backend.no_padding()

    def _encode(
        self,
        inputs: list[Any],
        *,
        single: bool,
        add_special_tokens: bool = True,
        padding: bool | str = False,
        truncation: bool | str | None = None,
        max_length: int | None = None,
        stride: int = 0,
        is_split_into_words: bool = False,
        pad_to_multiple_of: int | None = None,
        padding_side: str | None = None,
        return_tensors: str | None = None,
        return_token_type_ids: bool | None = None,
        return_attention_mask: bool | None = None,
        return_overflowing_tokens: bool = False,
        return_special_tokens_mask: bool = False,
        return_offsets_mapping: bool = False,
        return_length: bool = False,
        verbose: bool = True,
    ) -> BatchEncoding:
        if is_split_into_words and not self.add_prefix_space:
            raise ValueError(
                "is_split_into_words=True needs a tokenizer with add_prefix_space=True, e.g. "
                "RobertaTokenizer.from_pretrained(path, add_prefix_space=True)"
            )
        tensor_type = _tensor_type(return_tensors)
        side = _check_side("padding_side", padding_side or self.padding_side)
        pad, trunc, max_length = self._resolve_strategies(
            padding, truncation, max_length, pad_to_multiple_of, verbose
        )
        if return_token_type_ids is None:
            return_token_type_ids = "token_type_ids" in self.model_input_names
        if return_attention_mask is None:
            return_attention_mask = "attention_mask" in self.model_input_names

        with self._backend_settings(pad, trunc, max_length, stride, pad_to_multiple_of, side):
            try:
                encodings = self._tokenizer.encode_batch(
                    inputs, is_pretokenized=is_split_into_words, add_special_tokens=add_special_tokens
                )
            except BaseException as err:  # the backend reports impossible truncations as Exception or a panic
                if type(err) is Exception or type(err).__name__ == "PanicException":
                    raise ValueError(f"cannot encode with these truncation settings: {err}") from err
                if isinstance(err, TypeError) and (found := _lone_surrogate(inputs)) is not None:
                    raise ValueError(found) from None
                raise

        fields: list[tuple[str, Callable[[Encoding], Any]]] = [("input_ids", lambda e: e.ids)]
        if return_token_type_ids:
            fields.append(("token_type_ids", lambda e: e.type_ids))
        if return_attention_mask:
            fields.append(("attention_mask", lambda e: e.attention_mask))
        if return_special_tokens_mask:
            fields.append(("special_tokens_mask", lambda e: e.special_tokens_mask))
        if return_offsets_mapping:
            fields.append(("offset_mapping", lambda e: e.offsets))
        if return_length:
            fields.append(("length", lambda e: len(e.ids)))

        rows: list[Encoding] = []
        sample: list[int] = []
        for index, encoding in enumerate(encodings):
            group = [encoding, *encoding.overflowing] if return_overflowing_tokens else [encoding]
            rows.extend(group)
            sample.extend([index] * len(group))
        data: dict[str, Any] = {name: [get(row) for row in rows] for name, get in fields}
        if return_overflowing_tokens:
            data["overflow_to_sample_mapping"] = sample
        if verbose and max_length is None:
            for ids in data["input_ids"]:
                self._warn_if_too_long(len(ids))

        if single and tensor_type is None and not return_overflowing_tokens:
            data = {
                key: value[0] if value and isinstance(value[0], list) else value
                for key, value in data.items()
            }
        return BatchEncoding(data, rows, tensor_type=tensor_type)

    def _warn_if_too_long(self, length: int) -> None:
        if length > self.model_max_length:
            self._warn(
                True,
                "too-long",
                f"token sequence of length {length} is longer than model_max_length={self.model_max_length}; "
                "the model will fail on it (pass truncation=True)",
            )

    def tokenize(
        self, text: str, pair: str | None = None, add_special_tokens: bool = False, **options: Any
    ) -> list[str]:
        """Splits a text (or pair) into token strings, without special tokens by default."""
        return self.encode_plus(text, pair, add_special_tokens=add_special_tokens, **options).tokens()

    def pad(
        self,
        encoded_inputs: Any,
        padding: bool | str = True,
        max_length: int | None = None,
        pad_to_multiple_of: int | None = None,
        padding_side: str | None = None,
        return_attention_mask: bool | None = None,
        return_tensors: str | None = None,
        verbose: bool = True,
    ) -> BatchEncoding:
        """Pads already encoded inputs, e.g. a list of per-example dicts in a data collator.

        Pads ``input_ids`` with the pad id, ``attention_mask`` with 0, ``token_type_ids`` with 0 and
        ``special_tokens_mask`` with 1; other keys (labels, ...) are left as they are.

        Args:
            encoded_inputs: One encoding (dict or :class:`BatchEncoding`), a dict of batched lists,
                or a list of encodings. Values may be lists, numpy arrays or torch tensors.
            padding: True or ``"longest"``, ``"max_length"``, or False (only adds the attention mask).
            max_length: Target length for ``"max_length"``.
            pad_to_multiple_of: Round the length up to a multiple of this.
            padding_side: ``"left"`` or ``"right"`` (default: the tokenizer's).
            return_attention_mask: Return ``attention_mask`` (default True).
            return_tensors: ``"pt"``, ``"np"`` or None; defaults to the type of the inputs.
            verbose: Log warnings about implied settings.

        Returns:
            The padded batch.

        Raises:
            ValueError: When ``input_ids`` is missing or the inputs have an unknown type.
        """
        if (
            isinstance(encoded_inputs, (list, tuple))
            and encoded_inputs
            and isinstance(encoded_inputs[0], Mapping)
        ):
            encoded_inputs = {key: [example[key] for example in encoded_inputs] for key in encoded_inputs[0]}
        if not isinstance(encoded_inputs, Mapping):
            raise ValueError(
                "pad() takes an encoding, a dict of lists or a list of encodings, "
                f"got {type(encoded_inputs).__name__}"
            )
        main = self.model_input_names[0]
        if main not in encoded_inputs:
            raise ValueError(f"pad() needs {main!r} in its inputs, got the keys {list(encoded_inputs)}")
        required = encoded_inputs[main]
        if required is None or (hasattr(required, "__len__") and len(required) == 0):
            result = dict(encoded_inputs)
            if return_attention_mask:
                result["attention_mask"] = []
            return BatchEncoding(result)

        first = required[0]
        if isinstance(first, (list, tuple)):
            first = next((row[0] for row in required if len(row)), None)
        if first is not None and not isinstance(first, (int, list, tuple)):
            module = type(first).__module__
            if module.startswith("torch"):
                return_tensors = return_tensors or "pt"
            elif module.startswith("numpy"):
                return_tensors = return_tensors or "np"
            else:
                raise ValueError(
                    f"pad() cannot read values of type {type(first).__name__}; use lists, numpy or torch"
                )
            encoded_inputs = {key: _to_python(value) for key, value in encoded_inputs.items()}

        side = _check_side("padding_side", padding_side or self.padding_side)
        pad, _, max_length = self._resolve_strategies(padding, False, max_length, None, verbose)
        if return_attention_mask is None:
            return_attention_mask = "attention_mask" in self.model_input_names
        required = encoded_inputs[main]
        if not isinstance(required[0], (list, tuple)):  # a single example
            padded = self._pad_one(
                dict(encoded_inputs), pad, max_length, pad_to_multiple_of, side, return_attention_mask
            )
            return BatchEncoding(padded, tensor_type=return_tensors)

        size = len(required)
        for key, value in encoded_inputs.items():
            if len(value) != size:
                raise ValueError(f"pad(): {key!r} has {len(value)} rows but {main!r} has {size}")
        if pad == "longest":
            pad, max_length = "max_length", max(len(row) for row in required)
        batch: dict[str, list[Any]] = {}
        for index in range(size):
            example = {key: value[index] for key, value in encoded_inputs.items()}
            padded = self._pad_one(example, pad, max_length, pad_to_multiple_of, side, return_attention_mask)
            for key, value in padded.items():
                batch.setdefault(key, []).append(value)
        return BatchEncoding(batch, tensor_type=return_tensors)

    def _pad_one(
        self,
        example: dict[str, Any],
        pad: str,
        max_length: int | None,
        pad_to_multiple_of: int | None,
        side: str,
        return_attention_mask: bool,
    ) -> dict[str, Any]:
        main = self.model_input_names[0]
        ids = list(example[main])
        if pad == "longest":
            max_length = len(ids)
        if max_length is not None and pad_to_multiple_of is not None and max_length % pad_to_multiple_of:
            max_length = (max_length // pad_to_multiple_of + 1) * pad_to_multiple_of
        if return_attention_mask and "attention_mask" not in example:
            example["attention_mask"] = [1] * len(ids)
        missing = (max_length - len(ids)) if pad != "do_not_pad" and max_length is not None else 0
        if missing <= 0:
            return example
        fill = {
            main: self.pad_token_id,
            "attention_mask": 0,
            "token_type_ids": self.pad_token_type_id,
            "special_tokens_mask": 1,
        }
        for key, value in fill.items():
            if key in example and (key != "attention_mask" or return_attention_mask):
                example[key] = pad_list(example[key], value, max_length, side)
        return example

    # ----------------------------------------------------------------------------------------------
    # Decoding

    def decode(
        self,
        token_ids: int | Sequence[int] | Any,
        skip_special_tokens: bool = False,
        clean_up_tokenization_spaces: bool | None = None,
        **_: Any,
    ) -> str:
        """Turns ids back into text.

        Args:
            token_ids: An id or a sequence of ids (list, numpy array or torch tensor).
            skip_special_tokens: Leave special tokens out.
            clean_up_tokenization_spaces: Remove spaces before punctuation and contractions;
                defaults to the tokenizer's setting (True unless the config says otherwise).

        Returns:
            The text. Ids past the vocabulary are left out, as the reference's fast tokenizer does.

        Raises:
            InvalidTokenIdError: (a ``ValueError``, and an ``OverflowError`` as the reference raises) for
                a negative id or one of 2**32 or more.
        """
        token_ids = _to_python(token_ids)
        if isinstance(token_ids, int):
            token_ids = [token_ids]
        _check_ids(token_ids)
        text = self._tokenizer.decode(token_ids, skip_special_tokens=skip_special_tokens)
        if clean_up_tokenization_spaces is None:
            clean_up_tokenization_spaces = self.clean_up_tokenization_spaces
        return self.clean_up_tokenization(text) if clean_up_tokenization_spaces else text

    def batch_decode(
        self,
        sequences: Sequence[Sequence[int]] | Any,
        skip_special_tokens: bool = False,
        clean_up_tokenization_spaces: bool | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Decodes each row of ``sequences``; see :meth:`decode`."""
        return [
            self.decode(
                row,
                skip_special_tokens=skip_special_tokens,
                clean_up_tokenization_spaces=clean_up_tokenization_spaces,
                **kwargs,
            )
            for row in sequences
        ]

    @staticmethod
    def clean_up_tokenization(text: str) -> str:
        """Removes the space before ``. ? ! ,`` and English contractions (``"do n't"`` to ``"don't"``)."""
        for before, after in (
            (" .", "."),
            (" ?", "?"),
            (" !", "!"),
            (" ,", ","),
            (" ' ", "'"),
            (" n't", "n't"),
            (" 'm", "'m"),
            (" 's", "'s"),
            (" 've", "'ve"),
            (" 're", "'re"),
        ):
            text = text.replace(before, after)
        return text

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name_or_path={self.name_or_path!r}, vocab_size={self.vocab_size}, "
            f"model_max_length={self.model_max_length}, padding_side={self.padding_side!r}, "
            f"truncation_side={self.truncation_side!r}, special_tokens={self.special_tokens_map}, "
            f"add_prefix_space={self.add_prefix_space}, "
            f"clean_up_tokenization_spaces={self.clean_up_tokenization_spaces})"
        )


RobertaTokenizerFast = RobertaTokenizer


class AutoTokenizer:
    """Loads the tokenizer of a RoBERTa-PreLayerNorm checkpoint: ``AutoTokenizer.from_pretrained(path)``."""

    def __init__(self) -> None:
        raise OSError("AutoTokenizer is not instantiated; use AutoTokenizer.from_pretrained(path_or_hub_id)")

    @classmethod
    def from_pretrained(
        cls, pretrained_model_name_or_path: str | os.PathLike[str], **kwargs: Any
    ) -> RobertaTokenizer:
        """Same as :meth:`RobertaTokenizer.from_pretrained`."""
        return RobertaTokenizer.from_pretrained(pretrained_model_name_or_path, **kwargs)
