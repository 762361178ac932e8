"""``feature-extraction``: the encoder's last hidden states, or one pooled sentence embedding per text."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .base import Encoded, Pipeline, as_batch

POOLINGS = ("mean", "cls")


class FeatureExtractionPipeline(Pipeline):
    """Hidden states of the base model (after its final LayerNorm), whatever head the model has.

    Call parameters:
        pooling: None (default): every token's vector, as the reference pipeline. ``"mean"``: the
            average over the text's tokens (``<s>`` and ``</s>`` included, padding never).
            ``"cls"``: the vector of the first token ``<s>``.
        normalize: Scale each pooled vector to unit length (cosine similarity is then a dot product).
        return_tensors: Give arrays of the model's framework (torch tensors, TF tensors, JAX arrays)
            instead of nested lists.

    Returns:
        Per text, without pooling a ``[1][tokens][hidden]`` nested list (a (1, tokens, hidden) tensor);
        with pooling a ``[hidden]`` list (a (hidden,) tensor). One text gives its result alone.
    """

    task = "feature-extraction"
    parameters = {"pooling": None, "normalize": False, "return_tensors": False}

    def __call__(self, inputs: str | list[str], *, progress: Callable[[int], None] | None = None,
                 **parameters: Any) -> Any:
        params = self.call_parameters(parameters, self.defaults)
        pooling, normalize = params["pooling"], params["normalize"]
        if pooling is not None and pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS} or None, got {pooling!r}")
        if normalize and pooling is None:
            raise ValueError("normalize needs pooling='mean' or 'cls' (it scales one vector per text)")
        texts, single = as_batch(inputs)
        rows = [Encoded(e.ids, i) for i, e in enumerate(self.encode(texts))]
        outputs: list[np.ndarray] = [None] * len(rows)  # type: ignore[list-item]
        for chunk, batch in self.batches(rows, progress):
            hidden = self.runner(batch, ("last_hidden_state",), base=True)["last_hidden_state"]
            if pooling == "cls":
                pooled = hidden[:, 0]
            elif pooling == "mean":
                mask = batch["attention_mask"][..., None].astype(hidden.dtype)
                pooled = (hidden * mask).sum(axis=1) / mask.sum(axis=1)
            if pooling is not None and normalize:
                pooled = pooled / np.maximum(np.linalg.norm(pooled, axis=-1, keepdims=True), 1e-12)
            for r, row in enumerate(chunk):
                outputs[row.index] = pooled[r] if pooling is not None else hidden[r, :len(row.ids)][None]
        results = [self.as_tensor(t) for t in outputs] if params["return_tensors"] else [t.tolist() for t in outputs]
        return results[0] if single else results

    def as_tensor(self, array: np.ndarray) -> Any:
        """An array of the model's framework."""
        framework = self.runner.framework
        if framework == "pt":
            import torch

            return torch.from_numpy(array)
        if framework == "tf":
            import tensorflow as tf

            return tf.constant(array)
        import jax.numpy as jnp

        return jnp.asarray(array)
