"""Helpers for the training tests: a small synthetic corpus and tiny pretraining settings."""

from __future__ import annotations

import random
from pathlib import Path

FIXTURE_TOKENIZER = str(Path(__file__).resolve().parents[1] / "fixtures" / "tokenizer")

SUBJECTS = ["the cat", "a dog", "my friend", "the teacher", "a small bird", "the old man", "her sister"]
VERBS = ["sees", "likes", "finds", "carries", "follows", "paints", "remembers"]
OBJECTS = ["the red ball", "a green apple", "the river", "a long letter", "the blue house", "some bread"]


def sentences(n: int, seed: int = 0) -> list[str]:
    """Simple English sentences from a tiny grammar (learnable by a tiny model)."""
    rng = random.Random(seed)
    return [f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}." for _ in range(n)]


def write_corpus(path: Path, documents: int = 60, per_document: int = 3, seed: int = 0) -> Path:
    """A text file of ``documents`` blank-line-separated documents of a few sentences each."""
    lines = sentences(documents * per_document, seed)
    blocks = [" ".join(lines[i:i + per_document]) for i in range(0, len(lines), per_document)]
    path.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    return path


def tiny_settings(output_dir: Path, corpus: Path, **overrides):
    """A PretrainConfig for a model of a few thousand parameters that trains in about a second."""
    from roberta_prelayernorm.training import PretrainConfig

    settings = dict(
        output_dir=str(output_dir), train_files=[str(corpus)], tokenizer=FIXTURE_TOKENIZER,
        hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=48, dropout=0.0,
        block_size=16, batch_size=4, max_steps=6, lr=3e-3, log_every=1, eval_fraction=0.2,
        progress=False, quiet=True, seed=0, device="cpu",
    )
    settings.update(overrides)
    return PretrainConfig(**settings)


WORDS = ("apple river stone cloud green quick music paper light sound table happy forest winter "
         "orange silver garden window summer yellow bridge castle dragon island mirror rocket tiger").split()


def write_repetition_corpus(path: Path, documents: int = 120, seed: int = 0) -> Path:
    """Documents that repeat one word 8-16 times: a model that reads its context learns it at once,
    while a unigram model (or a head that ignores the encoder) stays near 1 / len(WORDS)."""
    rng = random.Random(seed)
    docs = [" ".join([rng.choice(WORDS)] * rng.randrange(8, 17)) for _ in range(documents)]
    path.write_text("\n\n".join(docs) + "\n", encoding="utf-8")
    return path
