"""``rpln download``: a hub model (weights, config, tokenizer) into a folder."""

from __future__ import annotations

import argparse
import fnmatch
import os
import shutil

from . import CLIError, UsageError

HELP = "download a model from the Hugging Face hub into a folder"

EPILOG = """\
examples:
  rpln download andreasmadsen/efficient_mlm_m0.40 --to models/efficient_mlm_m0.40
  rpln download org/model --revision v1.0 --to models/model
  HF_HUB_OFFLINE=1 rpln download org/model --to models/model     # from the local cache only

Without --to the files stay in the hub cache and its folder is printed. Only the files the library
uses are fetched (config, safetensors or PyTorch weights, tokenizer files); --all fetches everything.
The files are copied into a staging folder beside --to and moved in at once; a --to folder that
already holds a model is refused unless --overwrite, which replaces its model files.
"""

PATTERNS = ["config.json", "generation_config.json", "*.safetensors", "model.safetensors.index.json",
            "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt",
            "added_tokens.json", "README.md"]
TORCH_PATTERNS = ["pytorch_model.bin", "pytorch_model-*.bin", "pytorch_model.bin.index.json"]


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("download", help=HELP, description=HELP, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("repo_id", metavar="HUB_ID", help="hub id, e.g. andreasmadsen/efficient_mlm_m0.40")
    p.add_argument("--to", metavar="FOLDER", help="copy the files into this folder (default: keep them in the cache)")
    p.add_argument("--overwrite", action="store_true", help="replace the model in a --to folder that holds one")
    p.add_argument("--revision", help="branch, tag or commit")
    p.add_argument("--cache-dir", metavar="FOLDER", help="hub cache folder (default: the huggingface_hub cache)")
    p.add_argument("--all", action="store_true", help="every file of the repo, not only those the library uses")
    p.add_argument("--token", help="hub token for private repos (default: the saved login)")
    return p


def run(args: argparse.Namespace) -> int:
    from ..core.hub import HUB_ID

    if os.path.exists(args.repo_id) or not HUB_ID.fullmatch(args.repo_id):
        raise UsageError(f"{args.repo_id!r} is not a hub id (org/name): nothing to download")
    if args.overwrite and not args.to:
        raise UsageError("--overwrite replaces the model in --to: give --to FOLDER")
    if args.to:
        from ..convert import check_output

        check_output(args.to, args.overwrite)  # before any download
    patterns = None if args.all else PATTERNS
    snapshot = fetch(args, patterns)
    files = select(snapshot, patterns)
    if not any(f.endswith(".safetensors") for f in files) and not args.all:
        snapshot = fetch(args, TORCH_PATTERNS)  # older repos: PyTorch weights only
        files += select(snapshot, TORCH_PATTERNS)
    if "config.json" not in files:
        raise CLIError(f"hub repo {args.repo_id} has no config.json: not a model repo")
    if not any(f.endswith((".safetensors", ".bin")) for f in files):
        raise CLIError(f"hub repo {args.repo_id} has no weights (model.safetensors or pytorch_model.bin)")
    from ..core.config import RobertaPreLayerNormConfig

    RobertaPreLayerNormConfig.from_pretrained(os.path.join(snapshot, "config.json"))  # a model of this family?
    target = snapshot
    if args.to:
        from ..convert import is_model_file
        from ..core.files import staging_folder

        target = args.to
        with staging_folder(target, replaces=is_model_file if args.overwrite else lambda name: False) as staging:
            for name in files:
                destination = os.path.join(staging, name)
                os.makedirs(os.path.dirname(destination), exist_ok=True)
                shutil.copyfile(os.path.realpath(os.path.join(snapshot, name)), destination)
    size = sum(os.path.getsize(os.path.join(target, f)) for f in files)
    print(f"{args.repo_id}: {len(files)} files ({size / 1e6:.1f} MB) in {target}")
    return 0


def fetch(args: argparse.Namespace, patterns: list[str] | None) -> str:
    """The snapshot folder in the cache (downloaded unless offline)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HFValidationError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    from ..core.hub import hub_reachable, offline

    try:  # an unreachable hub: the cache at once, not after ~30 s of retries
        return snapshot_download(args.repo_id, revision=args.revision, cache_dir=args.cache_dir,
                                 allow_patterns=patterns, token=args.token,
                                 local_files_only=offline() or not hub_reachable())
    except LocalEntryNotFoundError:
        raise CLIError(f"{args.repo_id} is not in the hub cache and the hub cannot be reached "
                       "(offline mode or no network)") from None
    except GatedRepoError:
        raise CLIError(f"hub repo {args.repo_id} is gated: accept its terms on the hub and log in") from None
    except RepositoryNotFoundError:
        raise CLIError(f"no hub repo {args.repo_id!r} (or it is private: pass --token)") from None
    except RevisionNotFoundError:
        raise CLIError(f"hub repo {args.repo_id} has no revision {args.revision!r}") from None
    except HFValidationError as e:
        raise CLIError(f"{args.repo_id!r} is not a valid hub id ({e})") from None


def select(snapshot: str, patterns: list[str] | None) -> list[str]:
    """Files of the snapshot (relative paths) that match the patterns (all when None)."""
    found: list[str] = []
    for root, _, names in os.walk(snapshot):
        for name in names:
            relative = os.path.relpath(os.path.join(root, name), snapshot)
            if patterns is None or any(fnmatch.fnmatch(relative, p) for p in patterns):
                found.append(relative)
    return sorted(found)
