"""``question-answering``: the span of a context that answers a question (as transformers 4.37.2).

A context too long for the model is split into windows of ``max_seq_len`` tokens (question included)
that overlap by ``doc_stride`` tokens. In each window the start and end logits of the context tokens
(and of ``<s>``) become probabilities; a span's score is ``p_start · p_end`` over spans with
``start <= end < start + max_answer_len``. The best spans of all windows compete; with
``handle_impossible_answer`` the empty answer competes too, scored by the lowest ``p_start(<s>) ·
p_end(<s>)`` of the windows.

``window_probabilities`` and ``best_spans`` are the one span decoder: fine-tuning's evaluation
(``training.tasks.QuestionAnswering``) scores spans with them too, so a model gives the same answer in
both. Probabilities rather than summed logits, because a probability is comparable across windows (each
window's logits have an offset of their own) and because it is what the 4.37.2 pipeline does.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .base import Encoded, Pipeline, softmax


class QuestionAnsweringPipeline(Pipeline):
    """Extractive question answering.

    Inputs: ``qa(question="...", context="...")``, ``qa({"question": ..., "context": ...})``, a list of
    such dicts, ``qa(question=[...], context=[...])`` or ``qa(question=[...], context="...")``.

    Call parameters:
        top_k: Answers per question (default 1); fewer when the context has fewer candidates.
        max_answer_len: Longest answer in tokens (default 15).
        max_seq_len: Tokens per window, question and special tokens included (default
            ``min(384, what the model takes)``).
        doc_stride: Tokens shared by neighbouring windows (default ``min(max_seq_len // 2, 128)``).
        handle_impossible_answer: Let the empty answer ``{"answer": "", "start": 0, "end": 0}`` compete.
        align_to_words: Widen the answer to whole words of the context (default True).

    Returns:
        Per question ``{"score", "start", "end", "answer"}`` (character offsets into the context), or
        a list of them, best first, when there are several; a list of questions gives a list of those.

    Raises:
        ValueError: For an empty question or context, or a question too long for ``max_seq_len``.
    """

    task = "question-answering"
    parameters = {"top_k": 1, "max_answer_len": 15, "max_seq_len": None, "doc_stride": None,
                  "handle_impossible_answer": False, "align_to_words": True}

    def __call__(self, *args: Any, question: Any = None, context: Any = None,
                 progress: Callable[[int], None] | None = None, **parameters: Any) -> Any:
        params = self.call_parameters(parameters, self.defaults)
        for name in ("top_k", "max_answer_len"):
            if not isinstance(params[name], int) or params[name] < 1:
                raise ValueError(f"{name} must be a positive integer, got {params[name]!r}")
        examples = self.examples(args, question, context)
        max_seq_len = params["max_seq_len"] or min(self.max_tokens, 384)
        if max_seq_len > self.max_tokens:
            raise ValueError(f"max_seq_len={max_seq_len} is more than the model takes ({self.max_tokens} tokens)")
        stride = params["doc_stride"] if params["doc_stride"] is not None else min(max_seq_len // 2, 128)
        if stride > max_seq_len:
            raise ValueError(f"doc_stride ({stride}) is larger than max_seq_len ({max_seq_len})")

        rows = [row for i, (q, c) in enumerate(examples) for row in self.windows(i, q, c, max_seq_len, stride)]
        logits: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for chunk, batch in self.batches(rows, progress):
            out = self.runner(batch, ("start_logits", "end_logits"))
            start, end = out["start_logits"], out["end_logits"]
            for r, row in enumerate(chunk):
                logits[id(row)] = (start[r, :len(row.ids)], end[r, :len(row.ids)])
        results = []
        for i, (_, context_text) in enumerate(examples):
            windows = [(row, *logits[id(row)]) for row in rows if row.index == i]
            answers = self.answers(windows, context_text, params)
            results.append(answers[0] if len(answers) == 1 else answers)
        return results[0] if len(results) == 1 else results

    # ------------------------------------------------------------------------------------- inputs
    @staticmethod
    def examples(args: tuple, question: Any, context: Any) -> list[tuple[str, str]]:
        if args:
            if question is not None or context is not None:
                raise TypeError("give the inputs either positionally or as question=/context=, not both")
            if len(args) == 2 and all(isinstance(a, str) for a in args):
                items: list[Any] = [{"question": args[0], "context": args[1]}]
            elif len(args) == 1:
                items = args[0] if isinstance(args[0], (list, tuple)) else [args[0]]
            else:
                raise TypeError("question-answering takes one dict (or list of dicts), or question and context")
        elif question is not None and context is not None:
            if isinstance(question, (list, tuple)):
                contexts = [context] * len(question) if isinstance(context, str) else list(context)
                if len(contexts) != len(question):
                    raise ValueError(f"{len(question)} questions but {len(contexts)} contexts")
                items = [{"question": q, "context": c} for q, c in zip(question, contexts)]
            else:
                items = [{"question": question, "context": context}]
        else:
            raise TypeError("question-answering needs question= and context= (or dicts with both keys)")
        if not items:
            raise ValueError("no inputs: the list is empty")
        examples = []
        for i, item in enumerate(items):
            if not isinstance(item, dict) or "question" not in item or "context" not in item:
                raise ValueError(f"input {i} must be a dict with keys 'question' and 'context'")
            for key in ("question", "context"):
                if not isinstance(item[key], str):
                    raise ValueError(f"input {i}: {key} must be a str, got {type(item[key]).__name__}")
                if not item[key].strip():
                    raise ValueError(f"input {i}: the {key} is empty")
            examples.append((item["question"], item["context"]))
        return examples

    def windows(self, index: int, question: str, context: str, max_seq_len: int, stride: int) -> list[Encoded]:
        """The question with each window of the context (or the context with the question, if the
        tokenizer pads on the left), and which tokens may be part of an answer."""
        question_first = self.tokenizer.padding_side == "right"
        pair = [question, context] if question_first else [context, question]
        try:
            encodings = self.tokenizer([pair], truncation="only_second" if question_first else "only_first",
                                       max_length=max_seq_len, stride=stride, return_overflowing_tokens=True,
                                       verbose=False).encodings
        except ValueError:
            length = len(self.tokenizer(question, add_special_tokens=False, verbose=False)["input_ids"])
            raise ValueError(f"input {index}: the question ({length} tokens) leaves no room for the context in "
                             f"windows of max_seq_len={max_seq_len} tokens with doc_stride={stride}: "
                             f"shorten it or raise max_seq_len") from None
        rows = []
        cls = self.tokenizer.cls_token_id
        for encoding in encodings:
            # 4.37.2: with question first only context tokens (and <s>) are allowed; otherwise every token
            allowed = [(s == 1 if question_first else True) or t == cls
                       for s, t in zip(encoding.sequence_ids, encoding.ids)]
            rows.append(Encoded(encoding.ids, index, encoding, np.array(allowed)))
        return rows

    # ------------------------------------------------------------------------------------ answers
    def answers(self, windows: list[tuple[Encoded, np.ndarray, np.ndarray]], context: str,
                params: dict[str, Any]) -> list[dict[str, Any]]:
        top_k, impossible = params["top_k"], params["handle_impossible_answer"]
        sequence = 1 if self.tokenizer.padding_side == "right" else 0
        null_score = 1e6
        answers = []
        for row, start_logits, end_logits in windows:
            allowed = row.extra
            start, end, null = window_probabilities(start_logits, end_logits, allowed)
            if impossible:
                null_score = min(null_score, null)
            for s, e, score in best_spans(start, end, allowed, top_k, params["max_answer_len"]):
                first, last = self.char_span(row.encoding, s, e, sequence, params["align_to_words"])
                answers.append({"score": score, "start": first, "end": last, "answer": context[first:last]})
        if impossible:
            answers.append({"score": null_score, "start": 0, "end": 0, "answer": ""})
        return sorted(answers, key=lambda a: a["score"], reverse=True)[:top_k]

    @staticmethod
    def char_span(encoding: Any, s: int, e: int, sequence: int, align_to_words: bool) -> tuple[int, int]:
        """Characters of tokens ``s..e`` in the context; with ``align_to_words`` those of their words."""
        if align_to_words:
            try:
                first = encoding.word_to_chars(encoding.token_to_word(s), sequence_index=sequence)[0]
                last = encoding.word_to_chars(encoding.token_to_word(e), sequence_index=sequence)[1]
                return first, last
            except (TypeError, ValueError, IndexError, OverflowError):  # a special token has no word
                pass
        return encoding.offsets[s][0], encoding.offsets[e][1]


def window_probabilities(start_logits: np.ndarray, end_logits: np.ndarray, allowed: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray, float]:
    """Start and end probabilities of one window (a softmax over the ``allowed`` tokens, ``<s>`` at 0
    included) with ``<s>`` then set to 0, and the no-answer score ``p_start(<s>) · p_end(<s>)``."""
    start = softmax(np.where(allowed, start_logits, -10000.0))
    end = softmax(np.where(allowed, end_logits, -10000.0))
    null = float(start[0] * end[0])
    start[0] = end[0] = 0.0
    return start, end, null


def best_spans(start: np.ndarray, end: np.ndarray, allowed: np.ndarray, top_k: int, max_answer_len: int
               ) -> list[tuple[int, int, float]]:
    """The ``top_k`` best ``(start, end, p_start · p_end)`` with ``start <= end < start + max_answer_len``,
    of which those that start and end on allowed tokens are kept (so possibly fewer than ``top_k``)."""
    scores = np.tril(np.triu(start[:, None] * end[None, :]), k=max_answer_len - 1)
    flat = scores.reshape(-1)
    order = np.argsort(-flat, kind="stable")[:top_k]
    length = scores.shape[1]
    spans = []
    for index in order.tolist():
        s, e = divmod(index, length)
        if bool(allowed[s]) and bool(allowed[e]):
            spans.append((s, e, float(flat[index])))
    return spans
