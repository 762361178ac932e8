"""TensorFlow and Keras 3, imported once, with a one-line error when the environment cannot run them."""

from __future__ import annotations

import os

MIN_TENSORFLOW = (2, 16)
MIN_KERAS = (3, 0)
NEEDED = "TensorFlow >= 2.16 with Keras 3 (pip install 'roberta-prelayernorm[tf]')"


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split(".")[:2]:
        digits = "".join(c for c in piece if c.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def check_versions(tensorflow_version: str, keras_version: str | None = None, keras_backend: str | None = None
                   ) -> None:
    """Raise ``ImportError`` naming what is needed when the versions or the Keras backend do not fit."""
    if _version(tensorflow_version) < MIN_TENSORFLOW:
        raise ImportError(f"the TF classes need {NEEDED}; found TensorFlow {tensorflow_version}")
    if keras_version is None:
        return
    if _version(keras_version) < MIN_KERAS:
        raise ImportError(f"the TF classes need {NEEDED}; found Keras {keras_version} "
                          "(unset TF_USE_LEGACY_KERAS and install keras>=3)")
    if keras_backend != "tensorflow":
        raise ImportError(f"the TF classes need {NEEDED} on the TensorFlow backend; Keras runs on "
                          f"{keras_backend!r} (set KERAS_BACKEND=tensorflow)")


os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up banner is not our output
try:
    import tensorflow as tf
except ImportError as e:
    raise ImportError(f"the TF classes need {NEEDED} ({e})") from None
check_versions(getattr(tf, "__version__", "0"))  # before Keras, which fails obscurely on an old TensorFlow
try:
    import keras
except ImportError as e:
    raise ImportError(f"the TF classes need {NEEDED} ({e})") from None
check_versions(tf.__version__, keras.__version__, keras.backend.backend())

__all__ = ["tf", "keras", "check_versions"]
