"""``text-classification``: labels of a text or a text pair, with softmax or sigmoid scores."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .base import Encoded, Pipeline, sigmoid, softmax

FUNCTIONS = ("softmax", "sigmoid", "none")
_UNSET = object()


class TextClassificationPipeline(Pipeline):
    """Classifies texts (``"a text"``) or pairs (``{"text": ..., "text_pair": ...}``).

    Call parameters:
        top_k: Not given: the best label per text, ``{"label", "score"}`` (a one-element list for a
            single text, as the reference). An int: the ``top_k`` best labels per text, best first;
            None: all labels, best first.
        function_to_apply: ``"softmax"``, ``"sigmoid"`` or ``"none"``. Default by the config: none for
            ``problem_type="regression"``, sigmoid for multi-label or a single label, else softmax.

    Returns:
        See ``top_k``; a list of inputs gives one result per input.
    """

    task = "text-classification"
    parameters = {"top_k": _UNSET, "function_to_apply": None}

    def __call__(self, inputs: Any, *, progress: Callable[[int], None] | None = None, **parameters: Any) -> Any:
        params = self.call_parameters(parameters, self.defaults)
        top_k, function = params["top_k"], self.function(params["function_to_apply"])
        legacy = top_k is _UNSET
        if not legacy and top_k is not None and (not isinstance(top_k, int) or top_k < 1):
            raise ValueError(f"top_k must be a positive integer or None, got {top_k!r}")
        single = isinstance(inputs, (str, dict))
        items = [inputs] if single else list(inputs)
        if not items:
            raise ValueError("no inputs: the list is empty")
        texts, pairs = self.split_pairs(items)
        singles = [i for i, p in enumerate(pairs) if p is None]
        doubles = [i for i, p in enumerate(pairs) if p is not None]
        rows = [None] * len(items)
        if singles:
            for i, e in zip(singles, self.encode([texts[i] for i in singles])):
                rows[i] = Encoded(e.ids, i)
        if doubles:
            for i, e in zip(doubles, self.encode([texts[i] for i in doubles], [pairs[i] for i in doubles])):
                rows[i] = Encoded(e.ids, i)
        scores: list[np.ndarray] = [None] * len(rows)  # type: ignore[list-item]
        for chunk, batch in self.batches(rows, progress):
            logits = self.runner(batch, ("logits",))["logits"]
            for row, value in zip(chunk, self.apply(function, logits)):
                scores[row.index] = value
        id2label = self.model.config.id2label
        results: list[Any] = []
        for value in scores:
            if legacy:
                best = int(value.argmax())
                results.append({"label": id2label[best], "score": value[best].item()})
            else:
                ranked = sorted(({"label": id2label[i], "score": s} for i, s in enumerate(value.tolist())),
                                key=lambda d: d["score"], reverse=True)
                results.append(ranked[:top_k] if top_k is not None else ranked)
        if single:  # as the reference: the best label of one text comes in a list, of one pair alone
            return [results[0]] if legacy and isinstance(inputs, str) else results[0]
        return results

    def function(self, name: str | None) -> str:
        if name is not None:
            if str(name).lower() not in FUNCTIONS:
                raise ValueError(f"function_to_apply must be one of {FUNCTIONS}, got {name!r}")
            return str(name).lower()
        config = self.model.config
        if config.problem_type == "regression":
            return "none"
        if config.problem_type == "multi_label_classification" or config.num_labels == 1:
            return "sigmoid"
        return "softmax"

    @staticmethod
    def apply(function: str, logits: np.ndarray) -> np.ndarray:
        if function == "softmax":
            return softmax(logits)
        if function == "sigmoid":
            return sigmoid(logits)
        return logits

    @staticmethod
    def split_pairs(items: list[Any]) -> tuple[list[str], list[str | None]]:
        """Texts, and the second text of each ``{"text", "text_pair"}`` dict (None for single texts)."""
        texts, pairs = [], []
        for i, item in enumerate(items):
            if isinstance(item, dict):
                if "text" not in item or set(item) - {"text", "text_pair"}:
                    raise ValueError(f"input {i}: a pair is a dict with keys 'text' and 'text_pair', "
                                     f"got {sorted(item)}")
                text, pair = item["text"], item.get("text_pair")
            else:
                text, pair = item, None
            for name, value in (("text", text), ("text_pair", pair)):
                if value is None and name == "text_pair":
                    continue
                if not isinstance(value, str):
                    raise TypeError(f"input {i}: {name} must be a str, got {type(value).__name__}")
                if not value.strip():
                    raise ValueError(f"input {i}: the {name} is an empty string")
            texts.append(text)
            pairs.append(pair)
        return texts, pairs
