"""``feature-extraction``: the encoder's last hidden states, or one pooled sentence embedding per text."""

from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F

from .base import Encoded, Pipeline, as_batch

POOLINGS = ("mean", "cls")


class FeatureExtractionPipeline(Pipeline):
    """Hidden states of the base model (after its final LayerNorm), whatever head the model has.

    Call parameters:
        pooling: None (default): every token's vector, as the reference pipeline. ``"mean"``: the
            average over the text's tokens (``<s>`` and ``</s>`` included, padding never).
            ``"cls"``: the vector of the first token ``<s>``.
        normalize: Scale each pooled vector to unit length (cosine similarity is then a dot product).
        return_tensors: Give torch tensors instead of nested lists.

    Returns:
        Per text, without pooling a ``[1][tokens][hidden]`` nested list (a (1, tokens, hidden) tensor);
        with pooling a ``[hidden]`` list (a (hidden,) tensor). One text gives its result alone.
    """

    task = "feature-extraction"
    model_class = "RobertaPreLayerNormModel"
    init_kwargs = {"add_pooling_layer": False}
    parameters = {"pooling": None, "normalize": False, "return_tensors": False}

    def check_model(self, model: torch.nn.Module) -> None:
        if not hasattr(model, "base_model"):
            raise TypeError(f"feature-extraction needs a RoBERTa-PreLayerNorm model, got a {type(model).__name__}")

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
        outputs: list[torch.Tensor] = [None] * len(rows)  # type: ignore[list-item]
        base = self.model.base_model
        with torch.no_grad():
            for chunk, batch in self.batches(rows, progress):
                hidden = base(**batch, return_dict=True).last_hidden_state.float()
                if pooling == "cls":
                    pooled = hidden[:, 0]
                elif pooling == "mean":
                    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                    pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1)
                if pooling is not None and normalize:
                    pooled = F.normalize(pooled, dim=-1)
                for r, row in enumerate(chunk):
                    value = pooled[r] if pooling is not None else hidden[r, :len(row.ids)].unsqueeze(0)
                    outputs[row.index] = value.cpu()
        results = outputs if params["return_tensors"] else [t.tolist() for t in outputs]
        return results[0] if single else results
