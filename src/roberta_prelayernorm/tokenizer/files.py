"""The files of a tokenizer folder, found through the one resolver of ``core.hub``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

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
    if path is None:
        return None
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def read_merges(path: str) -> list[tuple[str, str]]:
    """Reads a GPT-2 style merges file: an optional ``#version`` line, then one ``left right`` pair a line."""
    merges = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.rstrip("\r\n")
            if not line or (number == 1 and line.startswith("#version")):
                continue
            parts = line.split()
            if len(parts) != 2:
                raise ValueError(
                    f"{path}, line {number}: expected two tokens separated by a space, got {line!r}"
                )
            merges.append((parts[0], parts[1]))
    return merges
