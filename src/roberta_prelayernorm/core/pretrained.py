"""What ``from_pretrained`` does the same way in every framework: sorting its keyword arguments, loading the
config, and reporting what the checkpoint did not match."""

from __future__ import annotations

import inspect
import logging
import os
from typing import Any, Callable

from .config import RobertaPreLayerNormConfig
from .errors import LoadingInfo
from .hub import HubOptions

HUB_ONLY = ("subfolder", "force_download")


def config_and_kwargs(path: str | os.PathLike, config: RobertaPreLayerNormConfig | None, init: Callable,
                      hub_kwargs: dict[str, Any], kwargs: dict[str, Any]
                      ) -> tuple[RobertaPreLayerNormConfig, HubOptions, dict[str, Any]]:
    """``(config, hub options, constructor kwargs)`` of a ``from_pretrained`` call.

    ``kwargs`` holds hub options (``subfolder``...), constructor arguments (those of ``init``, such as
    ``add_pooling_layer``) and config overrides (``num_labels=3``); the config is read from ``path`` unless
    given.

    Raises:
        TypeError: For config overrides next to an explicit ``config``.
    """
    kwargs = dict(kwargs)
    hub = HubOptions.pop_from(dict(kwargs, **hub_kwargs))
    for name in HUB_ONLY:
        kwargs.pop(name, None)
    init_names = set(inspect.signature(init).parameters) - {"self", "config", "args", "inputs", "kwargs"}
    init_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in init_names}
    if config is None:
        config = RobertaPreLayerNormConfig.from_pretrained(os.fspath(path), **hub.as_kwargs(), **kwargs)
    elif kwargs:
        raise TypeError(f"unexpected arguments {sorted(kwargs)} (config overrides need config=None)")
    return config, hub, init_kwargs


def warn_about(info: LoadingInfo, logger: logging.Logger, class_name: str, path: str) -> None:
    """The warnings of a load that did not match the model exactly."""
    if info.missing_keys:
        logger.warning("Some weights of %s were not in the checkpoint at %s and are newly initialized: %s. "
                       "Train the model before using it for predictions.", class_name, path, info.missing_keys)
    if info.unexpected_keys:
        logger.warning("Some weights of the checkpoint at %s were not used by %s: %s",
                       path, class_name, info.unexpected_keys)
    if info.mismatched_keys:
        logger.warning("Some weights of %s were newly initialized because their shapes did not fit: %s",
                       class_name, info.mismatched_keys)
