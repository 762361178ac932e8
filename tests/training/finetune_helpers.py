"""Small synthetic fine-tuning tasks that a working head learns quickly and a broken one cannot."""

from __future__ import annotations

import json
import random
from pathlib import Path

FILLER = "apple river stone cloud green music paper light sound table happy forest winter orange".split()
ANIMALS = "zebra tiger horse camel".split()
CITIES = ["new york", "paris", "los angeles", "rome"]


def base_model(folder: Path, *, seed: int = 0) -> Path:
    """A tiny untrained RoBERTa-PreLayerNorm with a tokenizer whose words are single tokens."""
    import torch

    from roberta_prelayernorm import RobertaPreLayerNormConfig, RobertaPreLayerNormForMaskedLM
    from roberta_prelayernorm.training.text import SpecialIds, save_tokenizer, train_byte_level_bpe

    words = FILLER + ANIMALS + " ".join(CITIES).split() + ["which", "animal", "is", "it", "the", "a", "?"]
    texts = [" ".join(random.Random(i).sample(words, 8)) for i in range(300)]
    tokenizer = train_byte_level_bpe(texts, 400, min_frequency=1)
    ids = SpecialIds(tokenizer)
    torch.manual_seed(seed)
    model = RobertaPreLayerNormForMaskedLM(RobertaPreLayerNormConfig(
        vocab_size=tokenizer.get_vocab_size(), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=64, max_position_embeddings=66, type_vocab_size=1, layer_norm_eps=1e-5,
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, initializer_range=0.1,
        pad_token_id=ids.pad, bos_token_id=ids.bos, eos_token_id=ids.eos))
    model.save_pretrained(folder)
    save_tokenizer(tokenizer, folder, model_max_length=64)
    return folder


def filler(rng: random.Random, n: int) -> list[str]:
    return [rng.choice(FILLER) for _ in range(n)]


def classification_rows(n: int, seed: int) -> list[dict]:
    """label "yes" when an animal occurs in the text, "no" otherwise; a second text as a pair."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        words = filler(rng, rng.randrange(4, 9))
        label = rng.random() < 0.5
        if label:
            words.insert(rng.randrange(len(words) + 1), rng.choice(ANIMALS))
        rows.append({"sentence1": " ".join(words), "sentence2": " ".join(filler(rng, 3)),
                     "label": "yes" if label else "no"})
    return rows


def regression_rows(n: int, seed: int) -> list[dict]:
    """score = number of animals in the text (0-3)."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        words = filler(rng, rng.randrange(4, 8))
        count = rng.randrange(4)
        for _ in range(count):
            words.insert(rng.randrange(len(words) + 1), rng.choice(ANIMALS))
        rows.append({"text": " ".join(words), "label": count})
    return rows


def conll_text(n: int, seed: int) -> str:
    """Animals are B-ANI; cities (one or two words) are B-LOC I-LOC; the rest O."""
    rng = random.Random(seed)
    lines = ["-DOCSTART- -X- O O", ""]
    for _ in range(n):
        tokens: list[tuple[str, str]] = [(w, "O") for w in filler(rng, rng.randrange(3, 7))]
        for _ in range(rng.randrange(1, 3)):
            at = rng.randrange(len(tokens) + 1)
            if rng.random() < 0.5:
                entity = [(rng.choice(ANIMALS), "B-ANI")]
            else:
                city = rng.choice(CITIES).split()
                entity = [(w, ("B-LOC" if i == 0 else "I-LOC")) for i, w in enumerate(city)]
            tokens[at:at] = entity
        lines += [f"{w} NN O {t}" for w, t in tokens] + [""]
    return "\n".join(lines)


def squad_json(n: int, seed: int, *, unanswerable: float = 0.3) -> dict:
    """"which animal is it?" over filler text holding one animal (the answer) or none (unanswerable)."""
    rng = random.Random(seed)
    paragraphs = []
    for i in range(n):
        words = filler(rng, rng.randrange(5, 12))
        impossible = rng.random() < unanswerable
        answers = []
        if not impossible:
            at = rng.randrange(len(words) + 1)
            animal = rng.choice(ANIMALS)
            words.insert(at, animal)
            start = len(" ".join(words[:at])) + (1 if at else 0)
            answers = [{"text": animal, "answer_start": start}]
        paragraphs.append({"context": " ".join(words), "qas": [
            {"id": f"q{seed}-{i}", "question": "which animal is it?", "answers": answers,
             "is_impossible": impossible}]})
    return {"version": "v2.0", "data": [{"title": "synthetic", "paragraphs": paragraphs}]}


def swag_rows(n: int, seed: int, choices: int = 4) -> list[dict]:
    """The right ending is the only one with an animal in it."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        endings = [" ".join(filler(rng, 3)) for _ in range(choices)]
        label = rng.randrange(choices)
        words = endings[label].split()
        words[rng.randrange(3)] = rng.choice(ANIMALS)
        endings[label] = " ".join(words)
        rows.append({"sent1": " ".join(filler(rng, 5)), "sent2": "then", "ending0": endings[0],
                     "ending1": endings[1], "ending2": endings[2], "ending3": endings[3], "label": label})
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_csv(path: Path, rows: list[dict], delimiter: str = ",") -> Path:
    import csv

    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)
    return path
