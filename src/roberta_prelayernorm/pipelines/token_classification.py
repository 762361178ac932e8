"""``token-classification``: a label per token, or entities grouped from them, with character offsets.

Aggregation strategies:

- ``none``: every token that is not special, ``{"entity", "score", "index", "word", "start", "end"}``;
- ``simple``: adjacent tokens with the same tag (``B-X`` starts one, ``I-X`` or ``X`` continues it)
  become one entity ``{"entity_group", "score" (mean), "word", "start", "end"}``;
- ``first`` / ``average`` / ``max``: first the tokens of each word get one label (that of the word's
  first token, of the average scores, or of its most confident token), then words are grouped as in
  ``simple``.

A token continues the word before it when no space separates them in the text (RoBERTa's byte-level
BPE has no ``##`` marker). Entities whose label is in ``ignore_labels`` (default ``["O"]``) are left out.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from .base import Encoded, Pipeline, as_batch, softmax

STRATEGIES = ("none", "simple", "first", "average", "max")


class TokenClassificationPipeline(Pipeline):
    """Labels tokens (named entities, parts of speech, ...).

    Call parameters:
        aggregation_strategy: One of ``none`` (default), ``simple``, ``first``, ``average``, ``max``.
        ignore_labels: Labels to leave out (default ``["O"]``).
        stride: Instead of truncating a text longer than the model allows, cut it into windows that
            share ``stride`` tokens, and keep of overlapping entities the longer (then the more
            confident) one. Needs an aggregation other than ``none``.

    Returns:
        Per text, a list of dicts (see the module documentation). One text gives its list alone.
    """

    task = "token-classification"
    parameters = {"aggregation_strategy": "none", "ignore_labels": None, "stride": None}

    def __call__(self, inputs: str | list[str], *, progress: Callable[[int], None] | None = None,
                 **parameters: Any) -> Any:
        params = self.call_parameters(parameters, self.defaults)
        strategy = str(params["aggregation_strategy"] or "none").lower()
        if strategy not in STRATEGIES:
            raise ValueError(f"aggregation_strategy must be one of {STRATEGIES}, "
                             f"got {params['aggregation_strategy']!r}")
        ignore = ["O"] if params["ignore_labels"] is None else list(params["ignore_labels"])
        stride = params["stride"]
        texts, single = as_batch(inputs)
        rows = self.windows(texts, stride, strategy) if stride is not None else [
            Encoded(e.ids, i, e) for i, e in enumerate(self.encode(texts))]
        scores: list[np.ndarray] = [None] * len(rows)  # type: ignore[list-item]
        order = {id(row): n for n, row in enumerate(rows)}
        for chunk, batch in self.batches(rows, progress):
            probs = softmax(self.runner(batch, ("logits",))["logits"])
            for r, row in enumerate(chunk):
                scores[order[id(row)]] = probs[r, :len(row.ids)]
        results: list[list[dict[str, Any]]] = [[] for _ in texts]
        windows = [0] * len(texts)
        for row, probs in zip(rows, scores):
            entities = self.aggregate(self.tokens(texts[row.index], row.encoding, probs), strategy)
            results[row.index].extend(e for e in entities
                                      if e.get("entity", e.get("entity_group")) not in ignore)
            windows[row.index] += 1
        results = [self.resolve_overlaps(r) if n > 1 else r for r, n in zip(results, windows)]
        return results[0] if single else results

    # -------------------------------------------------------------------------------------- windows
    def windows(self, texts: Sequence[str], stride: int, strategy: str) -> list[Encoded]:
        if strategy == "none":
            raise ValueError("stride needs an aggregation_strategy other than 'none' (overlapping windows "
                             "are merged entity by entity)")
        limit = self.max_tokens
        if not isinstance(stride, int) or not 0 <= stride < limit - 2:
            raise ValueError(f"stride must be an integer in [0, {limit - 2}) for this model, got {stride!r}")
        rows = []
        for i, text in enumerate(texts):
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"input {i} is an empty string" if isinstance(text, str)
                                 else f"input {i} must be a str, got {type(text).__name__}")
            encoding = self.tokenizer(text, truncation=True, max_length=limit, stride=stride,
                                      return_overflowing_tokens=True, verbose=False).encodings
            rows.extend(Encoded(e.ids, i, e, w) for w, e in enumerate(encoding))
        return rows

    @staticmethod
    def resolve_overlaps(entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Of entities that overlap (from neighbouring windows) keep the longer, then the more confident."""
        if not entities:
            return entities
        kept = []
        ordered = sorted(entities, key=lambda e: e["start"])
        current = ordered[0]
        for entity in ordered:
            if current["start"] <= entity["start"] < current["end"]:
                longer = entity["end"] - entity["start"] - (current["end"] - current["start"])
                if longer > 0 or (longer == 0 and entity["score"] > current["score"]):
                    current = entity
            else:
                kept.append(current)
                current = entity
        kept.append(current)
        return kept

    # ---------------------------------------------------------------------------------------- tokens
    def tokens(self, text: str, encoding: Any, probs: np.ndarray) -> list[dict[str, Any]]:
        """The non-special tokens: token string, scores, character span, whether it continues a word."""
        tokenizer = self.tokenizer
        prefix = getattr(tokenizer.backend_tokenizer.model, "continuing_subword_prefix", None)
        unk = tokenizer.unk_token_id
        out = []
        for index, (token_id, special) in enumerate(zip(encoding.ids, encoding.special_tokens_mask)):
            if special:
                continue
            start, end = encoding.offsets[index]
            word = tokenizer.convert_ids_to_tokens(token_id)
            piece = text[start:end]
            if prefix:
                continuation = len(word) != len(piece)
            else:
                continuation = start > 0 and " " not in text[start - 1:start + 1]
            if token_id == unk:
                word, continuation = piece, False
            out.append({"word": word, "scores": probs[index], "start": start, "end": end, "index": index,
                        "continuation": continuation})
        return out

    # ----------------------------------------------------------------------------------- aggregation
    def aggregate(self, tokens: list[dict[str, Any]], strategy: str) -> list[dict[str, Any]]:
        id2label = self.model.config.id2label
        if strategy in ("none", "simple"):
            labelled = []
            for t in tokens:
                best = int(t["scores"].argmax())
                labelled.append({"entity": id2label[best], "score": t["scores"][best].item(), "index": t["index"],
                                 "word": t["word"], "start": t["start"], "end": t["end"]})
            if strategy == "none":
                return labelled
        else:
            labelled = [self.label_word(word, strategy) for word in self.words(tokens)]
        return self.group(labelled)

    @staticmethod
    def words(tokens: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
        words: list[list[dict[str, Any]]] = []
        for t in tokens:
            if words and t["continuation"]:
                words[-1].append(t)
            else:
                words.append([t])
        return words

    def label_word(self, tokens: list[dict[str, Any]], strategy: str) -> dict[str, Any]:
        """One label for the tokens of a word."""
        if strategy == "first":
            scores = tokens[0]["scores"]
        elif strategy == "max":
            scores = max(tokens, key=lambda t: t["scores"].max().item())["scores"]
        else:  # average
            scores = np.stack([t["scores"] for t in tokens]).mean(axis=0)
        best = int(scores.argmax())
        return {"entity": self.model.config.id2label[best], "score": scores[best].item(),
                "word": self.tokenizer.convert_tokens_to_string([t["word"] for t in tokens]),
                "start": tokens[0]["start"], "end": tokens[-1]["end"]}

    def group(self, labelled: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Adjacent tokens/words with the same tag, ``B-`` starting a new group, become one entity."""
        groups: list[list[dict[str, Any]]] = []
        for item in labelled:
            begins, tag = split_tag(item["entity"])
            if groups and not begins and tag == split_tag(groups[-1][-1]["entity"])[1]:
                groups[-1].append(item)
            else:
                groups.append([item])
        return [{
            "entity_group": g[0]["entity"].split("-", 1)[-1],  # the reference's rule: after the first "-"
            "score": sum(i["score"] for i in g) / len(g),
            "word": self.tokenizer.convert_tokens_to_string([i["word"] for i in g]),
            "start": g[0]["start"],
            "end": g[-1]["end"],
        } for g in groups]


def split_tag(label: str) -> tuple[bool, str]:
    """``"B-PER"`` → (True, "PER"); ``"I-PER"`` and ``"PER"`` → (False, "PER")."""
    if label.startswith("B-"):
        return True, label[2:]
    if label.startswith("I-"):
        return False, label[2:]
    return False, label
