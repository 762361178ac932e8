"""Evaluation metrics of the fine-tuning tasks, written out (no scikit-learn, scipy or seqeval needed).

- classification: accuracy, F1 (binary: of the positive class; more classes: macro average), Matthews
  correlation (the multi-class form of Gorodkin 2004, equal to scikit-learn's ``matthews_corrcoef``);
- regression: Pearson and Spearman correlation (ties get average ranks), mean squared error;
- extractive QA: SQuAD exact match and token F1 with the official answer normalisation (v1.1 and v2.0:
  an unanswerable question has the empty answer);
- token classification: entity-level precision, recall and F1 as seqeval's default mode (conlleval's
  chunking rules, so IOB1, IOB2 and IOBES tags all work; entities must match in type and span).
"""

from __future__ import annotations

import collections
import math
import re
import string
from typing import Hashable, Sequence


# ----------------------------------------------------------------------------------- classification
def accuracy(predictions: Sequence[Hashable], labels: Sequence[Hashable]) -> float:
    _same_length(predictions, labels)
    return sum(p == t for p, t in zip(predictions, labels)) / len(labels) if labels else 0.0


def f1_score(predictions: Sequence[int], labels: Sequence[int], *, num_classes: int | None = None,
             positive: int = 1) -> float:
    """Binary F1 of class ``positive`` when there are two classes, else the macro average over classes."""
    _same_length(predictions, labels)
    classes = range(num_classes) if num_classes is not None else sorted(set(labels) | set(predictions))
    classes = list(classes)
    if len(classes) <= 2:
        return _f1_of(predictions, labels, positive)
    return sum(_f1_of(predictions, labels, c) for c in classes) / len(classes)


def _f1_of(predictions: Sequence[int], labels: Sequence[int], cls: int) -> float:
    tp = sum(p == cls and t == cls for p, t in zip(predictions, labels))
    fp = sum(p == cls and t != cls for p, t in zip(predictions, labels))
    fn = sum(p != cls and t == cls for p, t in zip(predictions, labels))
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def matthews_corrcoef(predictions: Sequence[int], labels: Sequence[int]) -> float:
    """Matthews correlation coefficient, multi-class (R_K); 0 when undefined."""
    _same_length(predictions, labels)
    n = len(labels)
    classes = sorted(set(labels) | set(predictions))
    pred_count = collections.Counter(predictions)
    true_count = collections.Counter(labels)
    correct = sum(p == t for p, t in zip(predictions, labels))
    cov_ytyp = correct * n - sum(pred_count[k] * true_count[k] for k in classes)
    cov_ypyp = n * n - sum(pred_count[k] ** 2 for k in classes)
    cov_ytyt = n * n - sum(true_count[k] ** 2 for k in classes)
    if cov_ypyp == 0 or cov_ytyt == 0:
        return 0.0
    return cov_ytyp / math.sqrt(cov_ytyt * cov_ypyp)


# ---------------------------------------------------------------------------------------- regression
def pearson(x: Sequence[float], y: Sequence[float]) -> float:
    """Pearson correlation; 0 when either side is constant."""
    _same_length(x, y)
    n = len(x)
    if n < 2:
        return 0.0
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    return sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else 0.0


def ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, ties sharing their average rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return out


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman rank correlation (Pearson of the tie-averaged ranks)."""
    return pearson(ranks(x), ranks(y))


def mean_squared_error(predictions: Sequence[float], labels: Sequence[float]) -> float:
    _same_length(predictions, labels)
    return sum((p - t) ** 2 for p, t in zip(predictions, labels)) / len(labels) if labels else 0.0


# ------------------------------------------------------------------------------------------- SQuAD
def normalize_answer(text: str) -> str:
    """Lower case, drop punctuation, the articles a/an/the and extra whitespace (the official script)."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def squad_exact(prediction: str, truth: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(truth))


def squad_f1(prediction: str, truth: str) -> float:
    pred_tokens = normalize_answer(prediction).split()
    true_tokens = normalize_answer(truth).split()
    if not pred_tokens or not true_tokens:  # unanswerable: right only if both are empty
        return float(pred_tokens == true_tokens)
    common = collections.Counter(pred_tokens) & collections.Counter(true_tokens)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred_tokens), same / len(true_tokens)
    return 2 * precision * recall / (precision + recall)


def squad_metrics(predictions: dict[str, str], references: dict[str, list[str]]) -> dict[str, float]:
    """SQuAD exact match and F1 in percent (the best over the gold answers of each question).

    An unanswerable question has ``[]`` (or ``[""]``) as references; it is right when the prediction is
    empty. With unanswerable questions present, ``has_answer_*`` and ``no_answer_*`` are added (v2.0).
    """
    exact, f1, has, no = [], [], [], []
    for qid, golds in references.items():
        golds = [g for g in golds if normalize_answer(g)] or [""]
        pred = predictions.get(qid, "")
        e = max(squad_exact(pred, g) for g in golds)
        f = max(squad_f1(pred, g) for g in golds)
        exact.append(e)
        f1.append(f)
        (no if golds == [""] else has).append((e, f))
    n = max(len(exact), 1)
    out = {"exact_match": 100 * sum(exact) / n, "f1": 100 * sum(f1) / n}
    if no:
        for name, group in (("has_answer", has), ("no_answer", no)):
            if group:
                out[f"{name}_exact"] = 100 * sum(e for e, _ in group) / len(group)
                out[f"{name}_f1"] = 100 * sum(f for _, f in group) / len(group)
    return out


# ------------------------------------------------------------------------------- entity-level F1
def _split_tag(tag: str) -> tuple[str, str]:
    """``"B-PER"`` → ("B", "PER"); ``"O"`` → ("O", "_")."""
    return tag[:1], tag[1:].split("-", maxsplit=1)[-1] or "_"


def _end_of_chunk(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    return (
        prev_tag in ("E", "S")
        or (prev_tag in ("B", "I") and tag in ("B", "S", "O"))
        or (prev_tag not in ("O", ".") and prev_type != type_)
    )


def _start_of_chunk(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    return (
        tag in ("B", "S")
        or (prev_tag in ("E", "S", "O") and tag in ("E", "I"))
        or (tag not in ("O", ".") and prev_type != type_)
    )


def get_entities(tags: Sequence[str] | Sequence[Sequence[str]]) -> list[tuple[str, int, int]]:
    """Entities as ``(type, first, last)`` over the tags (sentences are joined with an ``O`` between).

    The chunking rules are conlleval's: a chunk starts at B/S, at I/E after O (IOB1), or where the type
    changes, and ends before a tag that starts a new one.
    """
    if tags and not isinstance(tags[0], str):
        flat: list[str] = []
        for sentence in tags:
            flat.extend(list(sentence) + ["O"])
        tags = flat
    entities = []
    prev_tag, prev_type, begin = "O", "", 0
    for i, chunk in enumerate(list(tags) + ["O"]):
        tag, type_ = _split_tag(chunk)
        if _end_of_chunk(prev_tag, tag, prev_type, type_):
            entities.append((prev_type, begin, i - 1))
        if _start_of_chunk(prev_tag, tag, prev_type, type_):
            begin = i
        prev_tag, prev_type = tag, type_
    return entities


def entity_scores(true_tags: Sequence[Sequence[str]], pred_tags: Sequence[Sequence[str]]) -> dict[str, float]:
    """Micro-averaged entity precision, recall and F1 over sentences (seqeval's default mode)."""
    if len(true_tags) != len(pred_tags) or any(len(a) != len(b) for a, b in zip(true_tags, pred_tags)):
        raise ValueError("true and predicted tag sequences differ in length")
    true_set = set(get_entities(true_tags))
    pred_set = set(get_entities(pred_tags))
    correct = len(true_set & pred_set)
    precision = correct / len(pred_set) if pred_set else 0.0
    recall = correct / len(true_set) if true_set else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def _same_length(a: Sequence, b: Sequence) -> None:
    if len(a) != len(b):
        raise ValueError(f"predictions ({len(a)}) and labels ({len(b)}) differ in length")
