"""``fill-mask``: the most likely tokens at each ``<mask>``.

The LM head runs only at the mask positions (a (masks, vocab) matrix instead of (batch, length, vocab)).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .base import Encoded, Pipeline, as_batch, logger, softmax


class FillMaskPipeline(Pipeline):
    """Predicts the token at each ``<mask>`` of a text.

    Call parameters:
        top_k: How many predictions per mask (default 5).
        targets: Score only these tokens (a str or list). A target that is not a vocabulary token is
            tokenized and its first token used, with a warning.

    Returns:
        Per text, ``top_k`` dicts ``{"score", "token", "token_str", "sequence"}``, best first. A text
        with several masks gives one such list per mask (each filled alone; its ``sequence`` keeps the
        special tokens and the other masks). One text, or a list of one, gives its result alone; a list
        gives a list of results.

    Raises:
        ValueError: For a text without ``<mask>``, an empty text, or targets that give no token.
    """

    task = "fill-mask"
    parameters = {"top_k": 5, "targets": None}

    def check_model(self, model: Any) -> None:
        super().check_model(model)
        if self.tokenizer.mask_token_id is None:
            raise ValueError("fill-mask needs a tokenizer with a mask token")

    def __call__(self, inputs: str | list[str], *, progress: Callable[[int], None] | None = None,
                 **parameters: Any) -> list[Any]:
        params = self.call_parameters(parameters, self.defaults)
        top_k = params["top_k"]
        if not isinstance(top_k, int) or top_k < 1:
            raise ValueError(f"top_k must be a positive integer, got {top_k!r}")
        texts, single = as_batch(inputs)
        single = single or len(texts) == 1  # as the reference: a list of one gives its result alone
        target_ids = self.target_ids(params["targets"]) if params["targets"] is not None else None

        mask_id = self.tokenizer.mask_token_id
        rows = []
        for i, encoding in enumerate(self.encode(texts)):
            if mask_id not in encoding.ids:
                raise ValueError(f"input {i} has no {self.tokenizer.mask_token} token (after truncation, if it was "
                                 f"truncated): fill-mask predicts the token at each {self.tokenizer.mask_token}")
            rows.append(Encoded(encoding.ids, i, encoding))
        probs: list[np.ndarray] = [None] * len(rows)  # type: ignore[list-item]
        for chunk, batch in self.batches(rows, progress):
            where = batch["input_ids"] == mask_id  # masks are real tokens: never padding
            logits = self.runner(batch, ("logits",), logits_at=where)["logits"]  # (masks in the batch, vocab)
            counts = np.cumsum(where.sum(axis=1))[:-1]
            for row, part in zip(chunk, np.split(softmax(logits), counts)):
                probs[row.index] = part
        results = [self.postprocess(row.ids, p, top_k, target_ids) for row, p in zip(rows, probs)]
        return results[0] if single else results

    def postprocess(self, ids: list[int], probs: np.ndarray, top_k: int, target_ids: list[int] | None
                    ) -> list[dict[str, Any]] | list[list[dict[str, Any]]]:
        """``probs`` (masks, vocab) → per mask the ``top_k`` propositions."""
        tokenizer = self.tokenizer
        positions = [i for i, t in enumerate(ids) if t == tokenizer.mask_token_id]
        single_mask = len(positions) == 1
        if target_ids is not None:
            probs = probs[:, target_ids]
        k = min(top_k, probs.shape[-1])
        indices = np.argsort(-probs, axis=-1, kind="stable")[:, :k]
        values = np.take_along_axis(probs, indices, axis=-1)
        per_mask = []
        for position, scores, chosen in zip(positions, values.tolist(), indices.tolist()):
            propositions = []
            for score, index in zip(scores, chosen):
                token = target_ids[index] if target_ids is not None else index
                filled = list(ids)
                filled[position] = token
                propositions.append({
                    "score": score,
                    "token": token,
                    "token_str": tokenizer.decode([token]),
                    "sequence": tokenizer.decode(filled, skip_special_tokens=single_mask),
                })
            per_mask.append(propositions)
        return per_mask[0] if single_mask else per_mask

    def target_ids(self, targets: str | list[str]) -> list[int]:
        """Vocabulary ids of the targets; a target that is not a token gives its first token (warned)."""
        if isinstance(targets, str):
            targets = [targets]
        vocab = self.tokenizer.get_vocab()
        ids: list[int] = []
        for target in targets:
            index = vocab.get(target)
            if index is None:
                pieces = self.tokenizer(target, add_special_tokens=False, verbose=False)["input_ids"]
                if not pieces:
                    logger.warning("target %r gives no token: ignored", target)
                    continue
                index = pieces[0]
                logger.warning("target %r is not a token of the vocabulary: using %r instead", target,
                               self.tokenizer.convert_ids_to_tokens(index))
            if index not in ids:
                ids.append(index)
        if not ids:
            raise ValueError(f"none of the targets {targets!r} is a token")
        return ids
