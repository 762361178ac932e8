"""Fine-tuning tasks: reading their files, turning examples into model inputs, decoding predictions.

Each task reads its usual format:

- ``classification`` / ``regression``: CSV, TSV or JSON lines with a text column, an optional second
  text column (sentence pairs) and a label column;
- ``token-classification``: CoNLL-style files (one token per line, its tag in the last column, blank
  lines between sentences, ``-DOCSTART-`` lines skipped);
- ``question-answering``: SQuAD JSON (v1.1, or v2.0 with ``is_impossible`` unanswerable questions);
- ``multiple-choice``: SWAG-style JSON lines (``context``/``sent1``, optional ``question``/``sent2``,
  ``endings`` or ``ending0..N``, integer ``label``).
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch
from tokenizers import Encoding, Tokenizer

from ..core.batching import pad_rows
from ..core.tasks import class_name, for_finetune
from . import metrics as M


class DataError(ValueError):
    """A fine-tuning file that cannot be read or whose content does not fit the task."""


@dataclass
class Feature:
    """One model input (a task may split an example into several, as QA does for long contexts)."""

    example: int  # index of its example
    inputs: dict[str, list]  # input_ids, attention_mask (lists; lists of lists for multiple choice)
    target: dict[str, Any] = field(default_factory=dict)  # labels / start_positions / end_positions
    extra: dict[str, Any] = field(default_factory=dict)  # what decoding needs (offsets, word ids)


# ------------------------------------------------------------------------------------------ readers
class Rows(list):
    """The rows of a table file (a list of dicts), with ``lines[i]``: the line row ``i`` starts on."""

    def __init__(self, rows: list[dict[str, Any]], lines: list[int]) -> None:
        super().__init__(rows)
        self.lines = lines

    def where(self, path: str, index: int) -> str:
        """``"train.csv, row 3 (line 4)"``: the row's number and the line it starts on."""
        return f"{path}, row {index + 1} (line {self.lines[index]})"


def read_records(path: str) -> Rows:
    """Rows of a CSV, TSV or JSON-lines file (by extension; ``.json`` may also hold a list of rows).

    Each row is a dict; a CSV row with fewer cells than the header has None for the missing ones (the
    tasks refuse those they need, naming the row). A byte-order mark at the start is dropped.

    Raises:
        DataError: Naming the file and line: not UTF-8, a quoted CSV field that is never closed, a
            JSON line that does not parse or is not an object.
    """
    ext = os.path.splitext(path)[1].lower()
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            if ext in (".csv", ".tsv"):
                return _read_csv(f, path, "\t" if ext == ".tsv" else ",")
            if ext in (".jsonl", ".json"):
                text = f.read()
                if ext == ".json" and text.lstrip().startswith("["):
                    items = json.loads(text)
                    numbered = list(enumerate(items if isinstance(items, list) else [items], 1))
                    what = "item"
                else:
                    numbered = []
                    for n, line in enumerate(text.splitlines(), 1):
                        if line.strip():
                            try:
                                numbered.append((n, json.loads(line)))
                            except json.JSONDecodeError as e:
                                raise DataError(f"{path}, line {n}: not valid JSON ({e.msg})") from None
                    what = "line"
                for n, row in numbered:
                    if not isinstance(row, dict):
                        raise DataError(f"{path}, {what} {n}: expected a JSON object of columns, got "
                                        f"{type(row).__name__}")
                return Rows([row for _, row in numbered], [n for n, _ in numbered])
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise DataError(f"cannot read {path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise DataError(f"cannot read {path}: not valid JSON ({e.msg}, line {e.lineno})") from None
    raise DataError(f"{path}: unknown format {ext!r}; use .csv, .tsv, .jsonl or .json")


def _read_csv(handle: Any, path: str, delimiter: str) -> Rows:
    """Rows of a CSV/TSV file; a quote that is never closed is an error naming the line it opens on."""
    reader = csv.DictReader(handle, delimiter=delimiter, strict=True)
    rows, lines = [], []
    start = 2  # the line after the header
    try:
        for row in reader:
            start = reader.line_num - _newlines(row) if reader.line_num else start
            if None in row:  # more cells than the header
                width = len(reader.fieldnames or [])
                raise DataError(f"{path}, line {start}: {width + len(row[None])} cells, but the header has {width} "
                                f"(a {delimiter!r} inside an unquoted text?)")
            rows.append(row)
            lines.append(start)
            start = reader.line_num + 1
    except csv.Error as e:
        if "unexpected end of data" in str(e) or reader.line_num > start:
            raise DataError(f"{path}, line {start}: a quoted field opens here and is never closed (an unmatched "
                            f"\"); the rest of the file would become one text") from None
        raise DataError(f"{path}, line {reader.line_num}: not valid CSV ({e})") from None
    return Rows(rows, lines)


def _newlines(row: dict[Any, Any]) -> int:
    """Line breaks inside the quoted cells of a row (a row spans that many extra lines)."""
    return sum(v.count("\n") for v in row.values() if isinstance(v, str))


def read_conll(path: str) -> list[tuple[list[str], list[str]]]:
    """(tokens, tags) per sentence of a CoNLL file."""
    sentences: list[tuple[list[str], list[str]]] = []
    words: list[str] = []
    tags: list[str] = []
    try:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                parts = line.split()
                if not parts or parts[0] == "-DOCSTART-":
                    if words:
                        sentences.append((words, tags))
                        words, tags = [], []
                    continue
                if len(parts) < 2:
                    raise DataError(f"{path}, line {n}: expected a token and a tag, got {line.strip()!r}")
                words.append(parts[0])
                tags.append(parts[-1])
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror or e}") from None
    if words:
        sentences.append((words, tags))
    return sentences


def pad(rows: Sequence[Sequence[int]], value: int, length: int | None = None) -> torch.Tensor:
    """``core.batching.pad_rows`` as a long tensor."""
    return torch.from_numpy(pad_rows(rows, value, length=length or None))


# -------------------------------------------------------------------------------------------- tasks
class Task:
    """What a fine-tuning task is made of; subclasses fill it in."""

    name = ""
    model_class = ""  # name in roberta_prelayernorm.torch.modeling, from the task table
    main_metric = ""

    def __init__(self, *, max_length: int = 256, allow_single_class: bool = False, **options: Any) -> None:
        self.max_length = max_length
        self.allow_single_class = allow_single_class
        self.options = options
        self.warnings: list[str] = []  # said to the user after fit_labels

    def check_classes(self, path: str, what: str = "label") -> None:
        """A classifier needs two classes: one is an error, or a warning with ``allow_single_class``."""
        labels = getattr(self, "labels", [])
        if len(labels) != 1:
            return
        message = (f"{path}: every example has the {what} {labels[0]!r}, so the model would learn a single "
                   f"class and always predict it")
        if not self.allow_single_class:
            raise DataError(f"{message}; give data with two classes or more, name the classes with labels=a,b, or "
                            f"pass allow_single_class=True")
        self.warnings.append(message)

    # the label set, fitted on the training file (or given), saved in the config
    def fit_labels(self, examples: list[Any], given: Sequence[str] | None) -> None:
        pass

    def model_kwargs(self) -> dict[str, Any]:
        return {}

    def read(self, path: str) -> list[Any]:
        raise NotImplementedError

    def features(self, examples: list[Any], tokenizer: Tokenizer, *, training: bool) -> list[Feature]:
        raise NotImplementedError

    def collate(self, features: list[Feature], pad_id: int) -> dict[str, torch.Tensor]:
        batch = {"input_ids": pad([f.inputs["input_ids"] for f in features], pad_id),
                 "attention_mask": pad([f.inputs["attention_mask"] for f in features], 0)}
        for key in features[0].target if features else ():
            values = [f.target[key] for f in features]
            if isinstance(values[0], list):
                batch[key] = pad(values, -100, batch["input_ids"].shape[1])
            else:
                batch[key] = torch.tensor(values)
        return batch

    def outputs(self, output: Any) -> Any:
        """The tensors of a model output that decoding needs, per batch (moved to the CPU)."""
        return output.logits.float().cpu()

    def evaluate(self, examples: list[Any], features: list[Feature], outputs: list[Any]) -> tuple[dict, list]:
        """(metrics, predictions) from the per-batch outputs in feature order."""
        raise NotImplementedError


def _encode_pair(tokenizer: Tokenizer, first: str, second: str | None, max_length: int) -> Encoding:
    tokenizer.enable_truncation(max_length=max_length, strategy="longest_first")
    try:
        return tokenizer.encode(first, second) if second is not None else tokenizer.encode(first)
    finally:
        tokenizer.no_truncation()


class SequenceClassification(Task):
    """One label (or one number, for regression) per text or text pair."""

    name = "classification"
    model_class = class_name(for_finetune("classification").head)
    main_metric = "accuracy"
    TEXT = ("text", "sentence", "sentence1", "text1", "question1", "premise")
    PAIR = ("text_pair", "sentence2", "text2", "question2", "hypothesis")

    def __init__(self, *, text_column: str | None = None, pair_column: str | None = None,
                 label_column: str = "label", **options: Any) -> None:
        super().__init__(**options)
        self.text_column, self.pair_column, self.label_column = text_column, pair_column, label_column
        self.labels: list[str] = []

    def read(self, path: str) -> list[dict[str, Any]]:
        rows = read_records(path)
        if not rows:
            raise DataError(f"{path} has no rows")
        columns = list(rows[0])
        if self.text_column is None:
            self.text_column = next((c for c in self.TEXT if c in columns), None)
            if self.text_column is None:
                raise DataError(f"{path}: no text column among {columns}; name it with text_column")
        if self.pair_column is None:
            self.pair_column = next((c for c in self.PAIR if c in columns), "")
        for name in (self.text_column, self.pair_column or None, self.label_column):
            if name and name not in columns:
                raise DataError(f"{path} has no column {name!r}; columns: {columns}")
        out = []
        for n, row in enumerate(rows):
            where = rows.where(path, n)
            for name in (self.text_column, self.pair_column or None, self.label_column):
                if name and row.get(name) is None:
                    cells = sum(v is not None for v in row.values())
                    raise DataError(f"{where}: no {name!r} value (the row has {cells} of the {len(columns)} "
                                    f"columns {columns})")
            text = row[self.text_column]
            if not isinstance(text, str):
                raise DataError(f"{where}: the text is not a string")
            out.append({"text": text, "pair": row[self.pair_column] if self.pair_column else None,
                        "label": row[self.label_column], "where": where, "path": path})
        return out

    def fit_labels(self, examples, given) -> None:
        if given:
            self.labels = [str(x) for x in given]
        else:
            found = {str(e["label"]) for e in examples}
            numeric = all(_is_int(x) for x in found)
            self.labels = sorted(found, key=lambda x: (int(x) if numeric else 0, x))
        self.check_classes(examples[0]["path"] if examples else "the training file")

    def label_id(self, example: dict) -> int:
        label = str(example["label"])
        if label not in self.labels:
            raise DataError(f"{example['where']}: label {label!r} is not in the label set {self.labels}")
        return self.labels.index(label)

    def model_kwargs(self) -> dict[str, Any]:
        return {"id2label": dict(enumerate(self.labels)), "label2id": {n: i for i, n in enumerate(self.labels)},
                "problem_type": "single_label_classification"}

    def features(self, examples, tokenizer, *, training):
        out = []
        for i, ex in enumerate(examples):
            enc = _encode_pair(tokenizer, ex["text"], ex["pair"], self.max_length)
            out.append(Feature(i, {"input_ids": enc.ids, "attention_mask": enc.attention_mask},
                               {"labels": self.target(ex)}))
        return out

    def target(self, example: dict) -> Any:
        return self.label_id(example)

    def evaluate(self, examples, features, outputs):
        logits = torch.cat(outputs)
        preds = logits.argmax(-1).tolist()
        gold = [f.target["labels"] for f in features]
        result = {"accuracy": M.accuracy(preds, gold),
                  "f1": M.f1_score(preds, gold, num_classes=len(self.labels)),
                  "matthews_correlation": M.matthews_corrcoef(preds, gold)}
        return result, [self.labels[p] for p in preds]


class Regression(SequenceClassification):
    name = "regression"
    main_metric = "pearson"

    def fit_labels(self, examples, given) -> None:
        self.labels = ["score"]

    def target(self, example: dict) -> float:
        try:
            return float(example["label"])
        except (TypeError, ValueError):
            raise DataError(f"{example['where']}: regression needs a number, got {example['label']!r}") from None

    def model_kwargs(self) -> dict[str, Any]:
        return {"id2label": {0: "score"}, "label2id": {"score": 0}, "problem_type": "regression"}

    def evaluate(self, examples, features, outputs):
        preds = torch.cat(outputs).squeeze(-1).tolist()
        gold = [f.target["labels"] for f in features]
        return {"pearson": M.pearson(preds, gold), "spearman": M.spearman(preds, gold),
                "mse": M.mean_squared_error(preds, gold)}, preds


class TokenClassification(Task):
    """A tag per word; the first sub-token of each word carries it (the others are ignored)."""

    name = "token-classification"
    model_class = class_name(for_finetune("token-classification").head)
    main_metric = "f1"

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.labels: list[str] = []
        self.paths: dict[int, str] = {}

    def read(self, path: str):
        sentences = read_conll(path)
        if not sentences:
            raise DataError(f"{path} has no sentences")
        return [{"words": w, "tags": t, "where": path} for w, t in sentences]

    def fit_labels(self, examples, given) -> None:
        if given:
            self.labels = [str(x) for x in given]
        else:
            found = {t for e in examples for t in e["tags"]}
            self.labels = sorted(found, key=lambda t: (t != "O", t[2:], t))  # O first, then by entity type
        self.check_classes(examples[0]["where"] if examples else "the training file", what="tag")

    def model_kwargs(self):
        return {"id2label": dict(enumerate(self.labels)), "label2id": {n: i for i, n in enumerate(self.labels)}}

    def features(self, examples, tokenizer, *, training):
        out = []
        tokenizer.enable_truncation(max_length=self.max_length)
        try:
            for i, ex in enumerate(examples):
                for tag in ex["tags"]:
                    if tag not in self.labels:
                        raise DataError(f"{ex['where']}: tag {tag!r} is not in the label set {self.labels}")
                # RoBERTa's add_prefix_space=True: every word starts with a space
                enc = tokenizer.encode([" " + w for w in ex["words"]], is_pretokenized=True)
                labels, seen = [], set()
                for word in enc.word_ids:
                    if word is None or word in seen:
                        labels.append(-100)
                    else:
                        seen.add(word)
                        labels.append(self.labels.index(ex["tags"][word]))
                out.append(Feature(i, {"input_ids": enc.ids, "attention_mask": enc.attention_mask},
                                   {"labels": labels}, {"word_ids": enc.word_ids}))
        finally:
            tokenizer.no_truncation()
        return out

    def evaluate(self, examples, features, outputs):
        preds_by_feature = [row for batch in outputs for row in batch.argmax(-1).tolist()]
        true_tags, pred_tags = [], []
        correct = total = 0
        for feature, pred in zip(features, preds_by_feature):
            ex = examples[feature.example]
            tags = ["O"] * len(ex["words"])  # words cut off by max_length are predicted O
            seen = set()
            for position, word in enumerate(feature.extra["word_ids"]):
                if word is not None and word not in seen:
                    seen.add(word)
                    tags[word] = self.labels[pred[position]]
            true_tags.append(ex["tags"])
            pred_tags.append(tags)
            correct += sum(a == b for a, b in zip(tags, ex["tags"]))
            total += len(tags)
        scores = M.entity_scores(true_tags, pred_tags)
        return {"f1": scores["f1"], "precision": scores["precision"], "recall": scores["recall"],
                "accuracy": correct / max(total, 1)}, pred_tags


class QuestionAnswering(Task):
    """Extractive QA: start and end of the answer in the context; ``<s>`` (position 0) when unanswerable.

    Long contexts are cut into windows of ``max_length`` tokens overlapping by ``doc_stride``.
    """

    name = "question-answering"
    model_class = class_name(for_finetune("question-answering").head)
    main_metric = "f1"

    def __init__(self, *, doc_stride: int = 64, max_answer_length: int = 30, **options: Any) -> None:
        super().__init__(**options)
        self.doc_stride, self.max_answer_length = doc_stride, max_answer_length

    def read(self, path: str):
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
            raise DataError(f"cannot read {path}: {e}") from None
        if not isinstance(data, dict) or not isinstance(data.get("data"), list):
            raise DataError(f"{path} is not SQuAD JSON: expected {{\"data\": [...]}}")
        out = []
        try:
            for article in data["data"]:
                for paragraph in article.get("paragraphs", []):
                    context = paragraph["context"]
                    for qa in paragraph.get("qas", []):
                        answers = [] if qa.get("is_impossible") else qa.get("answers", [])
                        for a in answers:
                            if context[a["answer_start"]: a["answer_start"] + len(a["text"])] != a["text"]:
                                raise DataError(f"{path}, question {qa['id']}: the answer {a['text']!r} is not at "
                                                f"answer_start {a['answer_start']} of its context")
                        out.append({"id": str(qa["id"]), "question": qa["question"].strip(), "context": context,
                                    "answers": answers})
        except (KeyError, TypeError, AttributeError) as e:
            what = f"the key {e.args[0]!r} is missing" if isinstance(e, KeyError) else str(e)
            raise DataError(f"{path} is not SQuAD JSON: {what} (question {len(out) + 1})") from None
        if not out:
            raise DataError(f"{path} has no questions")
        return out

    def features(self, examples, tokenizer, *, training):
        out = []
        max_question = self.max_length // 2
        for i, ex in enumerate(examples):
            question = ex["question"]
            q = tokenizer.encode(question, add_special_tokens=False)
            if len(q.ids) > max_question:  # keep the question's first tokens
                question = question[: q.offsets[max_question - 1][1]]
            budget = self.max_length - min(len(q.ids), max_question) - 4
            tokenizer.enable_truncation(max_length=self.max_length, strategy="only_second",
                                        stride=min(self.doc_stride, max(budget - 1, 0)))
            try:
                enc = tokenizer.encode(question, ex["context"])
            finally:
                tokenizer.no_truncation()
            for window in [enc] + list(enc.overflowing):
                context_positions = [p for p, s in enumerate(window.sequence_ids) if s == 1]
                start = end = 0
                if ex["answers"]:
                    a = ex["answers"][0]
                    char_start, char_end = a["answer_start"], a["answer_start"] + len(a["text"])
                    first, last = context_positions[0], context_positions[-1]
                    if window.offsets[first][0] <= char_start and window.offsets[last][1] >= char_end:
                        start = next(p for p in context_positions if window.offsets[p][1] > char_start)
                        end = next(p for p in reversed(context_positions) if window.offsets[p][0] < char_end)
                out.append(Feature(i, {"input_ids": window.ids, "attention_mask": window.attention_mask},
                                   {"start_positions": start, "end_positions": end},
                                   {"offsets": [window.offsets[p] if window.sequence_ids[p] == 1 else None
                                                for p in range(len(window.ids))]}))
        return out

    def outputs(self, output):
        return torch.stack([output.start_logits.float(), output.end_logits.float()], dim=-1).cpu()

    def evaluate(self, examples, features, outputs):
        """Spans scored as the question-answering pipeline scores them (``pipelines.question_answering``'s
        ``window_probabilities`` and ``best_spans``), so both give a model the same answers."""
        from ..pipelines.question_answering import best_spans, window_probabilities

        logits = [row for batch in outputs for row in batch]  # each (L_padded, 2)
        best: dict[int, tuple[float, str]] = {}
        null: dict[int, float] = {}
        for feature, pair in zip(features, logits):
            offsets = feature.extra["offsets"]
            n = len(offsets)
            allowed = np.array([o is not None for o in offsets])
            allowed[0] = True  # <s>: the no-answer position
            start, end, null_score = window_probabilities(pair[:n, 0].numpy(), pair[:n, 1].numpy(), allowed)
            null[feature.example] = min(null.get(feature.example, np.inf), null_score)
            allowed[0] = False
            context = examples[feature.example]["context"]
            for s, e, score in best_spans(start, end, allowed, 1, self.max_answer_length):
                if score > best.get(feature.example, (-np.inf, ""))[0]:
                    best[feature.example] = (score, context[offsets[s][0]: offsets[e][1]])
        predictions = {}
        any_unanswerable = any(not ex["answers"] for ex in examples)
        for i, ex in enumerate(examples):
            score, text = best.get(i, (-np.inf, ""))
            if any_unanswerable and null.get(i, -np.inf) > score:
                text = ""
            predictions[ex["id"]] = text
        references = {ex["id"]: [a["text"] for a in ex["answers"]] for ex in examples}
        return M.squad_metrics(predictions, references), predictions


class MultipleChoice(Task):
    """Pick one of several endings: each choice is the pair (context, question + ending)."""

    name = "multiple-choice"
    model_class = class_name(for_finetune("multiple-choice").head)
    main_metric = "accuracy"

    def read(self, path: str):
        rows = read_records(path)
        if not rows:
            raise DataError(f"{path} has no rows")
        out = []
        for n, row in enumerate(rows, 1):
            where = f"{path}, row {n}"
            context = row.get("context", row.get("sent1"))
            question = row.get("question", row.get("sent2", "")) or ""
            endings = row.get("endings") or row.get("choices")
            if endings is None:
                endings = [row[k] for k in sorted((k for k in row if k.startswith("ending") and k[6:].isdigit()),
                                                  key=lambda k: int(k[6:]))]
            if context is None or not endings:
                raise DataError(f"{where}: expected 'context' (or 'sent1') and 'endings' (or ending0..N)")
            label = row.get("label")
            if not _is_int(label) or not 0 <= int(label) < len(endings):
                raise DataError(f"{where}: label {label!r} is not the index of one of its {len(endings)} choices")
            out.append({"context": context, "question": question, "endings": list(endings), "label": int(label),
                        "where": where})
        counts = {len(e["endings"]) for e in out}
        if len(counts) > 1:
            raise DataError(f"{path}: every question needs the same number of choices, found {sorted(counts)}")
        return out

    def features(self, examples, tokenizer, *, training):
        out = []
        for i, ex in enumerate(examples):
            ids, masks = [], []
            for ending in ex["endings"]:
                second = f"{ex['question']} {ending}".strip()
                enc = _encode_pair(tokenizer, ex["context"], second, self.max_length)
                ids.append(enc.ids)
                masks.append(enc.attention_mask)
            out.append(Feature(i, {"input_ids": ids, "attention_mask": masks}, {"labels": ex["label"]}))
        return out

    def collate(self, features, pad_id):
        length = max(len(r) for f in features for r in f.inputs["input_ids"])
        ids = torch.stack([pad(f.inputs["input_ids"], pad_id, length) for f in features])
        mask = torch.stack([pad(f.inputs["attention_mask"], 0, length) for f in features])
        return {"input_ids": ids, "attention_mask": mask, "labels": torch.tensor([f.target["labels"] for f in features])}

    def evaluate(self, examples, features, outputs):
        preds = torch.cat(outputs).argmax(-1).tolist()
        gold = [f.target["labels"] for f in features]
        return {"accuracy": M.accuracy(preds, gold)}, preds


TASKS: dict[str, type[Task]] = {
    "classification": SequenceClassification,
    "regression": Regression,
    "token-classification": TokenClassification,
    "question-answering": QuestionAnswering,
    "multiple-choice": MultipleChoice,
}


def _is_int(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    try:
        int(str(value))
        return True
    except ValueError:
        return False
