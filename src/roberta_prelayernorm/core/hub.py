"""Finding files: in a local folder, or in a hub repository (downloaded, or from the cache).

One resolver serves model weights, configs and tokenizers of every framework. It honours
``HF_HUB_OFFLINE``, ``cache_dir``, ``revision``, ``local_files_only``, ``token``, ``subfolder`` and
``force_download``; ``huggingface_hub`` is imported only when a hub id is asked for.
"""

from __future__ import annotations

import functools
import os
import re
import socket
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

from .errors import CheckpointError

HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")


@dataclass(frozen=True)
class HubOptions:
    """Where and how to look for the files of a hub repository."""

    cache_dir: str | os.PathLike | None = None
    revision: str | None = None
    local_files_only: bool = False
    token: str | bool | None = None
    subfolder: str = ""
    force_download: bool = False

    @classmethod
    def pop_from(cls, kwargs: dict[str, Any]) -> HubOptions:
        """The options among ``kwargs``, removed from it."""
        names = cls.__dataclass_fields__
        given = {k: kwargs.pop(k) for k in list(kwargs) if k in names}
        return cls(**{k: v for k, v in given.items() if v is not None})

    def as_kwargs(self) -> dict[str, Any]:
        return asdict(self)


def is_local(path: str) -> bool:
    """A string names a local path if it exists or if it cannot be a hub id (``name`` or ``org/name``)."""
    return os.path.exists(path) or not HUB_ID.fullmatch(path)


def offline() -> bool:
    """Whether ``HF_HUB_OFFLINE`` asks for the cache only."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}


PROBE_TIMEOUT_S = 3.0


@functools.lru_cache(maxsize=None)
def hub_reachable(endpoint: str | None = None) -> bool:
    """Whether a TCP connection to the hub (or to the HTTPS proxy, when one is set) opens within a few
    seconds; asked once per process. Without it, an unreachable hub costs some 30 s of retries per file.
    """
    if endpoint is None:
        endpoint = os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
    proxy = next((os.environ[k] for k in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")
                  if os.environ.get(k)), None)
    target = urlsplit(proxy if proxy and "://" in proxy else (f"http://{proxy}" if proxy else endpoint))
    host = target.hostname
    if not host:
        return True  # cannot tell: let huggingface_hub try
    port = target.port or (443 if target.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S):
            return True
    except OSError:
        return False


def resolve_file(path_or_repo: str | os.PathLike, filename: str, hub: HubOptions | None = None, *,
                 required: bool = True) -> str | None:
    """The local path of ``filename`` in a folder or a hub repo (downloaded or from the cache).

    Returns None when the file does not exist and ``required`` is False.

    Raises:
        CheckpointError: If the folder or repo cannot be read, or a required file is absent.
    """
    hub = hub or HubOptions()
    path_or_repo = os.fspath(path_or_repo)
    if os.path.isdir(path_or_repo):
        folder = os.path.join(path_or_repo, hub.subfolder) if hub.subfolder else path_or_repo
        candidate = os.path.join(folder, filename)
        if os.path.isfile(candidate):
            return candidate
        if required:
            raise CheckpointError(f"{folder} has no {filename}")
        return None
    if is_local(path_or_repo):
        if os.path.exists(path_or_repo):
            raise CheckpointError(f"{path_or_repo} is a file, not a folder: give the folder that holds {filename}")
        raise CheckpointError(f"{path_or_repo} does not exist")
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        HFValidationError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    if hub.local_files_only:
        why = "local_files_only=True"
    elif offline():
        why = "offline mode: HF_HUB_OFFLINE is set"
    elif not hub_reachable():  # fail at once instead of after ~30 s of retries
        why = "the hub cannot be reached"
    else:
        why = None
    try:
        return hf_hub_download(path_or_repo, filename, subfolder=hub.subfolder or None, cache_dir=hub.cache_dir,
                               revision=hub.revision, local_files_only=why is not None,
                               token=hub.token, force_download=hub.force_download)
    except HFValidationError:
        raise CheckpointError(f"{path_or_repo!r} is neither a local folder nor a valid hub id") from None
    except LocalEntryNotFoundError:  # a subclass of EntryNotFoundError: first
        # offline (HF_HUB_OFFLINE / local_files_only / no network) and not in the cache
        if not required and cached_repo_exists(path_or_repo, hub):
            return None
        if cached_repo_exists(path_or_repo, hub):
            raise CheckpointError(f"{filename} of hub repo {path_or_repo} is not in the cache "
                                  f"({why or 'no network'})") from None
        raise CheckpointError(f"{path_or_repo}: no such folder, and as a hub id it is not in the cache "
                              f"({why or 'the hub cannot be reached'})") from None
    except EntryNotFoundError:
        if required:
            raise CheckpointError(f"hub repo {path_or_repo} has no {filename}") from None
        return None
    except (RepositoryNotFoundError, GatedRepoError):
        raise CheckpointError(f"{path_or_repo}: no such folder, and no hub repo of that name (or it is private: "
                              f"pass token=...)") from None
    except RevisionNotFoundError:
        raise CheckpointError(f"hub repo {path_or_repo} has no revision {hub.revision!r}") from None
    except OSError as e:  # network errors are OSErrors already
        raise CheckpointError(f"could not fetch {filename} of {path_or_repo}: {e}") from None


def cached_repo_exists(repo_id: str, hub: HubOptions) -> bool:
    """Whether the cache holds a snapshot of ``repo_id`` (so a missing optional file is really absent)."""
    try:
        from huggingface_hub import snapshot_download

        snapshot_download(repo_id, cache_dir=hub.cache_dir, revision=hub.revision, local_files_only=True)
        return True
    except Exception:
        return False


def resolve_first(path_or_repo: str | os.PathLike, filenames: tuple[str, ...], hub: HubOptions | None = None
                  ) -> tuple[str, str] | None:
    """``(name, local path)`` of the first of ``filenames`` that the folder or repo has, or None."""
    for name in filenames:
        found = resolve_file(path_or_repo, name, hub, required=False)
        if found is not None:
            return name, found
    return None
