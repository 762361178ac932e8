"""The exceptions a user can catch, shared by every framework."""

from __future__ import annotations

from dataclasses import dataclass, field


class CheckpointError(OSError):
    """A checkpoint could not be found, read or matched to the model (catch as ``OSError``)."""


class CheckpointShapeError(CheckpointError, ValueError):
    """Checkpoint tensors whose shapes do not fit the model's config (also a ``ValueError``)."""


@dataclass
class LoadingInfo:
    """What loading did not match; returned by ``from_pretrained(output_loading_info=True)``."""

    missing_keys: list[str] = field(default_factory=list)
    unexpected_keys: list[str] = field(default_factory=list)
    mismatched_keys: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)
    error_msgs: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, list]:
        return {"missing_keys": self.missing_keys, "unexpected_keys": self.unexpected_keys,
                "mismatched_keys": self.mismatched_keys, "error_msgs": self.error_msgs}

    def shape_error(self) -> CheckpointShapeError:
        """The error for ``mismatched_keys``, naming the first five."""
        listed = "; ".join(f"{k}: checkpoint {a}, model {b}" for k, a, b in self.mismatched_keys[:5])
        more = f" (and {len(self.mismatched_keys) - 5} more)" if len(self.mismatched_keys) > 5 else ""
        return CheckpointShapeError(
            f"the checkpoint's shapes do not fit the config: {listed}{more}. Check the config, or pass "
            f"ignore_mismatched_sizes=True to initialise these weights instead"
        )
