"""Metrics against hand-computed values and against independent computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roberta_prelayernorm.training import metrics as M


def test_classification_by_hand():
    pred = [1, 0, 1, 1, 0, 0]
    gold = [1, 0, 0, 1, 1, 0]
    # TP=2 FP=1 FN=1 TN=2
    assert M.accuracy(pred, gold) == pytest.approx(4 / 6)
    assert M.f1_score(pred, gold) == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))
    assert M.matthews_corrcoef(pred, gold) == pytest.approx((2 * 2 - 1 * 1) / math.sqrt(3 * 3 * 3 * 3))
    assert M.matthews_corrcoef([1, 1, 1], [0, 1, 0]) == 0.0  # constant prediction: undefined → 0
    # three classes: macro F1 of per-class F1 = (1, 2/3, 0)
    assert M.f1_score([0, 1, 1, 2], [0, 1, 2, 1], num_classes=3) == pytest.approx((1 + 0.5 + 0) / 3)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 1)), min_size=2, max_size=40))
def test_binary_mcc_matches_the_textbook_formula(pairs):
    pred, gold = map(list, zip(*pairs))
    tp = sum(p == 1 and g == 1 for p, g in pairs)
    tn = sum(p == 0 and g == 0 for p, g in pairs)
    fp = sum(p == 1 and g == 0 for p, g in pairs)
    fn = sum(p == 0 and g == 1 for p, g in pairs)
    denominator = math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    expected = (tp * tn - fp * fn) / denominator if denominator else 0.0
    assert M.matthews_corrcoef(pred, gold) == pytest.approx(expected, abs=1e-12)


def test_correlations():
    x = [1.0, 2.0, 3.0, 4.0, 5.0]
    y = [2.0, 1.0, 4.0, 3.0, 7.0]
    assert M.pearson(x, y) == pytest.approx(np.corrcoef(x, y)[0, 1])
    # ranks of y: 2 1 4 3 5 → d² = 1+1+1+1+0 = 4 → 1 - 6·4 / (5·24) = 0.8
    assert M.spearman(x, y) == pytest.approx(0.8)
    assert M.ranks([10, 20, 20, 5]) == [2.0, 3.5, 3.5, 1.0]
    assert M.spearman([1, 2, 3], [5, 5, 5]) == 0.0
    assert M.mean_squared_error([1, 2], [2, 4]) == pytest.approx(2.5)


def test_squad_by_hand():
    assert M.normalize_answer("The  Cat, sat!") == "cat sat"
    assert M.squad_f1("the cat sat", "cat sat down") == pytest.approx(0.8)
    predictions = {"a": "Cat sat", "b": "a dog", "c": "", "d": "something"}
    references = {"a": ["the cat sat", "cat"], "b": ["dog", "a big dog"], "c": [], "d": [""]}
    result = M.squad_metrics(predictions, references)
    # a: EM 1; b: EM 1 ("a dog" → "dog"); c: no answer, predicted empty → 1; d: no answer, predicted text → 0
    assert result["exact_match"] == pytest.approx(75.0)
    assert result["f1"] == pytest.approx(75.0)
    assert result["has_answer_exact"] == 100.0 and result["no_answer_exact"] == 50.0


def test_entities_by_hand():
    true = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "I-ORG"]]
    # true: PER(0,1) LOC(3,3) ORG(5,5); pred: PER(0,1) ORG(3,3) ORG(5,6) → 1 correct of 3 and 3
    assert M.get_entities(true) == [("PER", 0, 1), ("LOC", 3, 3), ("ORG", 5, 5)]
    scores = M.entity_scores(true, pred)
    assert scores == {"precision": pytest.approx(1 / 3), "recall": pytest.approx(1 / 3), "f1": pytest.approx(1 / 3)}
    # conlleval rules: an I- after O starts an entity (IOB1); a type change splits one
    assert M.get_entities(["I-PER", "I-PER", "I-LOC", "O", "B-PER", "I-LOC"]) == [
        ("PER", 0, 1), ("LOC", 2, 2), ("PER", 4, 4), ("LOC", 5, 5)]
    # IOBES
    assert M.get_entities(["S-PER", "B-LOC", "E-LOC", "O"]) == [("PER", 0, 0), ("LOC", 1, 2)]


def iob2_spans(sentences):
    """An independent IOB2 reader: B-X opens an entity, I-X continues one of the same type, else it closes."""
    spans, offset = set(), 0
    for tags in sentences:
        current = None
        for i, tag in enumerate(tags + ["O"]):
            continues = current is not None and tag == f"I-{current[0]}"
            if not continues and current is not None:
                spans.add((current[0], current[1], offset + i - 1))
                current = None
            if tag.startswith("B-"):
                current = (tag[2:], offset + i)
            elif tag.startswith("I-") and current is None:
                current = (tag[2:], offset + i)  # an I- without B- opens an entity, as conlleval does
        offset += len(tags) + 1
    return spans


TAGS = st.sampled_from(["O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC"])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(TAGS, min_size=1, max_size=12), min_size=1, max_size=4), st.randoms())
def test_entity_f1_matches_an_independent_computation(true, rnd):
    pred = [[t if rnd.random() < 0.7 else rnd.choice(["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]) for t in s]
            for s in true]
    t_spans, p_spans = iob2_spans(true), iob2_spans(pred)
    assert set(M.get_entities(true)) == t_spans
    correct = len(t_spans & p_spans)
    p = correct / len(p_spans) if p_spans else 0.0
    r = correct / len(t_spans) if t_spans else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    assert M.entity_scores(true, pred)["f1"] == pytest.approx(f1)
