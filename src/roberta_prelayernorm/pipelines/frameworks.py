"""One thin adapter per framework between the pipelines and a model: numpy batches in, numpy out.

Pre- and post-processing (tokenizing, batching, softmax, spans, aggregation) are written once, on
numpy, in the task modules; only :class:`Runner` knows the framework. Each runner takes the padded
``{"input_ids", "attention_mask"}`` batch and returns the requested output fields as float32 arrays.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.generation import GenerationConfig

FRAMEWORKS = ("pt", "tf", "flax")


def framework_of(model: Any) -> str:
    """``"pt"``, ``"tf"`` or ``"flax"``: the family a model object belongs to.

    Raises:
        TypeError: For an object that is none of this library's models.
    """
    module = type(model).__module__
    if module.startswith("roberta_prelayernorm.tf"):
        return "tf"
    if module.startswith("roberta_prelayernorm.flax"):
        return "flax"
    if module.startswith("roberta_prelayernorm.torch") or hasattr(model, "roberta_prelayernorm") \
            or hasattr(model, "base_model"):
        return "pt"
    raise TypeError(f"not a RoBERTa-PreLayerNorm model of this library: {type(model).__name__}")


class Runner:
    """Runs one model on numpy batches.

    Args:
        model: A model of this library's PyTorch, TensorFlow or Flax family.
        device: Where a PyTorch model runs (``"cpu"``, ``"cuda:0"``, an index); TF and Flax place
            computations themselves.
        dtype: Cast a PyTorch model object to this dtype first (None: keep it).
    """

    framework = ""

    def __init__(self, model: Any, device: Any = None, dtype: str | None = None) -> None:
        self.model = model
        self.device = device if device is not None else "cpu"

    @property
    def config(self) -> Any:
        return self.model.config

    def __call__(self, batch: dict[str, np.ndarray], fields: tuple[str, ...], *, base: bool = False,
                 logits_at: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """The output ``fields`` as float32 arrays; ``base``: of the bare encoder under a head model;
        ``logits_at``: (B, L) bool, logits only there, (count, vocab) in row-major order."""
        raise NotImplementedError

    def rng(self, seed: int | None) -> Any:
        """The random stream that :meth:`generate` samples from across a call's batches."""
        return seed

    def generate(self, batch: dict[str, np.ndarray], config: GenerationConfig, rng: Any) -> np.ndarray:
        """(rows, prompt + new) ids of the model's ``generate``."""
        raise NotImplementedError


class TorchRunner(Runner):
    framework = "pt"

    def __init__(self, model: Any, device: Any = None, dtype: str | None = None) -> None:
        from ..torch.devices import resolve_device

        super().__init__(model, device)
        self.device = resolve_device(device)
        try:
            if dtype is not None and dtype != "auto":
                from ..torch.pretrained import torch_dtype

                model = model.to(torch_dtype(dtype))
            self.model = model.to(self.device).eval()
        except (AssertionError, RuntimeError) as e:  # e.g. "Torch not compiled with CUDA enabled"
            raise ValueError(f"cannot use device {self.device}: {e}") from None

    def __call__(self, batch: dict[str, np.ndarray], fields: tuple[str, ...], *, base: bool = False,
                 logits_at: np.ndarray | None = None) -> dict[str, np.ndarray]:
        import torch

        with torch.no_grad():
            inputs = {k: torch.as_tensor(v, device=self.device) for k, v in batch.items()}
            model = self.model.base_model if base else self.model
            if logits_at is not None:
                inputs["logits_at"] = torch.as_tensor(logits_at, device=self.device)
            out = model(**inputs, return_dict=True)
            return {f: getattr(out, f).float().cpu().numpy() for f in fields}

    def rng(self, seed: int | None) -> Any:
        import torch

        return torch.Generator(device=self.device).manual_seed(seed) if seed is not None else None

    def generate(self, batch: dict[str, np.ndarray], config: GenerationConfig, rng: Any) -> np.ndarray:
        import torch

        from ..torch.generation import generate

        ids, mask = (torch.as_tensor(batch[k], device=self.device) for k in ("input_ids", "attention_mask"))
        return generate(self.model, ids, mask, generation_config=config, generator=rng).cpu().numpy()


class ArrayRunner(Runner):
    """TensorFlow and Flax models: called on numpy arrays, their outputs read back with ``np.asarray``."""

    def __init__(self, model: Any, device: Any = None, dtype: str | None = None) -> None:
        super().__init__(model, device)
        if device not in (None, "cpu", -1):
            raise ValueError(f"device={device!r} is for PyTorch models; {self.framework} models place their "
                             "computations themselves")

    def __call__(self, batch: dict[str, np.ndarray], fields: tuple[str, ...], *, base: bool = False,
                 logits_at: np.ndarray | None = None) -> dict[str, np.ndarray]:
        inputs = {k: v.astype(np.int32) for k, v in batch.items()}
        model = getattr(self.model, "base_model", self.model) if base else self.model
        out = self.call(model, inputs)
        arrays = {f: np.asarray(getattr(out, f), dtype=np.float32) for f in fields}
        if logits_at is not None:  # no sparse LM head here: select after the full head
            arrays = {f: a[logits_at] if f == "logits" else a for f, a in arrays.items()}
        return arrays

    def call(self, model: Any, inputs: dict[str, np.ndarray]) -> Any:
        return model(**inputs)

    def generate(self, batch: dict[str, np.ndarray], config: GenerationConfig, rng: Any) -> np.ndarray:
        out = self.model.generate(batch["input_ids"].astype(np.int32),
                                  attention_mask=batch["attention_mask"].astype(np.int32),
                                  generation_config=config, seed=rng)
        return np.asarray(getattr(out, "sequences", out))


class KerasRunner(ArrayRunner):
    framework = "tf"

    def call(self, model: Any, inputs: dict[str, np.ndarray]) -> Any:
        return model(**inputs, training=False)


class FlaxRunner(ArrayRunner):
    framework = "flax"


RUNNERS: dict[str, type[Runner]] = {"pt": TorchRunner, "tf": KerasRunner, "flax": FlaxRunner}


def runner(model: Any, device: Any = None, dtype: str | None = None) -> Runner:
    """The runner of a model object's framework."""
    return RUNNERS[framework_of(model)](model, device, dtype)
