"""The files of a tokenizer folder, found through the one resolver of ``core.hub``."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer

from ..core.errors import CheckpointError
from ..core.hub import HUB_ID, HubOptions, offline, resolve_file

TOKENIZER_FILE = "tokenizer.json"
VOCAB_FILE = "vocab.json"
MERGES_FILE = "merges.txt"
CONFIG_FILE = "tokenizer_config.json"
SPECIAL_TOKENS_MAP_FILE = "special_tokens_map.json"
ADDED_TOKENS_FILE = "added_tokens.json"
TOKENIZER_FILES = (TOKENIZER_FILE, VOCAB_FILE, MERGES_FILE, CONFIG_FILE, SPECIAL_TOKENS_MAP_FILE,
                   ADDED_TOKENS_FILE)

logger = logging.getLogger("roberta_prelayernorm")


class TokenizerFileError(OSError, ValueError):
    """A tokenizer file that exists but cannot be read (corrupt ``tokenizer.json``, ``vocab.json`` that is
    not an object, a malformed ``merges.txt``); the message names the file. An ``OSError`` like other
    loading failures, and a ``ValueError`` as a malformed ``merges.txt`` was before."""


def resolve_files(name_or_path: str | os.PathLike[str], hub: HubOptions | None = None) -> dict[str, str | None]:
    """Finds the tokenizer files in a local folder or a hub repository; missing ones map to None.

    Raises:
        OSError: When nothing can be loaded from ``name_or_path`` (no folder, no such repository,
            offline without a cached copy, or no tokenizer files).
    """
    hub = hub or HubOptions()
    config_names = [CONFIG_FILE, SPECIAL_TOKENS_MAP_FILE, ADDED_TOKENS_FILE, TOKENIZER_FILE]
    looked_for = f"{TOKENIZER_FILE}, or {VOCAB_FILE} + {MERGES_FILE}"
    path = Path(name_or_path)
    if path.is_file():
        raise OSError(f"{str(name_or_path)!r} is a file; pass the folder that holds {looked_for}")
    if not path.is_dir() and not HUB_ID.fullmatch(str(name_or_path)):
        raise OSError(f"no folder named {str(name_or_path)!r} (and it is not a hub id of the form 'org/name')")

    def fetch(name: str) -> str | None:
        return resolve_file(name_or_path, name, hub, required=False)

    try:
        found = {name: fetch(name) for name in config_names}
        if found[TOKENIZER_FILE] is None:
            found[VOCAB_FILE] = fetch(VOCAB_FILE)
            found[MERGES_FILE] = fetch(MERGES_FILE) if found[VOCAB_FILE] is not None else None
        else:
            found[VOCAB_FILE] = found[MERGES_FILE] = None
    except CheckpointError as err:
        raise OSError(f"no tokenizer for {str(name_or_path)!r}: {err}; looked for {looked_for}") from None
    if found[TOKENIZER_FILE] is None and found[MERGES_FILE] is None:
        if path.is_dir():
            folder = path / hub.subfolder if hub.subfolder else path
            raise OSError(f"no tokenizer in the folder {str(folder)!r}: looked for {looked_for}")
        where = "the local cache (offline mode)" if hub.local_files_only or offline() else "the hub"
        raise OSError(f"no tokenizer for {str(name_or_path)!r} in {where}: looked for {looked_for}")
    return found


def tokenizer_folder(name_or_path: str | os.PathLike[str], hub: HubOptions | None = None) -> str:
    """A local folder holding the tokenizer of a model folder or hub id (downloaded when needed)."""
    if os.path.isdir(name_or_path):
        return os.fspath(name_or_path)
    files = resolve_files(name_or_path, hub)
    return os.path.dirname(next(path for path in files.values() if path))


def read_json(path: str | None) -> Any:
    """The JSON in ``path`` (None for None).

    Raises:
        TokenizerFileError: If the file is not UTF-8 JSON, naming it.
    """
    if path is None:
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise TokenizerFileError(f"{path} is not valid JSON: {err}") from None


def read_vocab(path: str) -> dict[str, int]:
    """A ``vocab.json``: an object mapping each token to its id.

    Raises:
        TokenizerFileError: If the file is not JSON, not an object, or holds an id that is not an integer.
    """
    vocab = read_json(path)
    if not isinstance(vocab, dict):
        raise TokenizerFileError(f"{path} holds a JSON {type(vocab).__name__}; a vocab.json is an object "
                                 f"mapping each token to its id, such as {{\"<s>\": 0, \"<pad>\": 1}}")
    for token, index in vocab.items():
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            raise TokenizerFileError(f"{path}: the id of {token!r} is {index!r}, not a non-negative integer")
    return vocab


def load_backend(tokenizer_file: str | os.PathLike[str] | None, vocab_file: str | os.PathLike[str] | None = None,
                 merges_file: str | os.PathLike[str] | None = None, *, specials: bool = False) -> Tokenizer:
    """The ``tokenizers`` backend of ``tokenizer.json``, or of ``vocab.json`` + ``merges.txt``.

    When ``tokenizer.json`` cannot be read and ``vocab.json`` and ``merges.txt`` are given, those are used
    instead, with a warning that names the broken file.

    Args:
        specials: For ``vocab.json`` + ``merges.txt``: also add RoBERTa's special tokens and template
            (see :func:`~roberta_prelayernorm.tokenizer.bpe.pipeline`).

    Raises:
        TokenizerFileError: Naming the file that cannot be read (and why).
    """
    from . import bpe

    if tokenizer_file is not None:
        try:
            return Tokenizer.from_file(os.fspath(tokenizer_file))
        except Exception as err:  # the backend raises a bare Exception without the file's name
            problem = f"{os.fspath(tokenizer_file)} is not a readable tokenizer.json ({str(err)[:200]})"
            if vocab_file is None or merges_file is None:
                raise TokenizerFileError(f"{problem}; the folder has no {VOCAB_FILE} + {MERGES_FILE} to use "
                                         f"instead") from None
            logger.warning("%s: using %s and %s instead", problem, os.fspath(vocab_file), os.fspath(merges_file))
    if vocab_file is None or merges_file is None:
        raise TokenizerFileError(f"no tokenizer files: give {TOKENIZER_FILE}, or {VOCAB_FILE} and {MERGES_FILE}")
    vocab, merges = read_vocab(os.fspath(vocab_file)), read_merges(os.fspath(merges_file))
    try:
        return bpe.pipeline(vocab, merges, specials=specials)
    except Exception as err:  # e.g. a merge whose pieces are not in the vocabulary
        raise TokenizerFileError(f"{os.fspath(vocab_file)} and {os.fspath(merges_file)} do not make a BPE "
                                 f"tokenizer: {str(err)[:200]}") from None


def read_merges(path: str) -> list[tuple[str, str]]:
    """Reads a GPT-2 style merges file: an optional ``#version`` line, then one ``left right`` pair a line."""
    merges = []
    with open(path, encoding="utf-8", errors="strict") as handle:
        for number, line in enumerate(_lines(handle, path), start=1):
            line = line.rstrip("\r\n")
            if not line or (number == 1 and line.startswith("#version")):
                continue
            parts = line.split()
            if len(parts) != 2:
                raise TokenizerFileError(
                    f"{path}, line {number}: expected two tokens separated by a space, got {line!r}"
                )
            merges.append((parts[0], parts[1]))
    return merges


def _lines(handle: Any, path: str) -> Any:
    try:
        yield from handle
    except UnicodeDecodeError as err:
        raise TokenizerFileError(f"{path} is not UTF-8 text ({err.reason} at byte {err.start})") from None
