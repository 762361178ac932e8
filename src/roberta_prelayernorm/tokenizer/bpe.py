"""The one byte-level BPE builder and trainer, used by the tokenizer and by pretraining.

``pipeline`` wraps a vocabulary and merges in RoBERTa's ``tokenizers`` pipeline (byte-level
pre-tokenizer and decoder; with ``specials``, also the ``<s> A </s></s> B </s>`` post-processor and
the special tokens, as in ``roberta-base``'s ``tokenizer.json``). ``train`` learns a vocabulary with
RoBERTa's layout: the first special tokens take ids 0…, the byte alphabet and merges follow, and the
mask token comes last.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

FIRST_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")
MASK = "<mask>"

Merges = list[tuple[str, str]]


def pipeline(vocab: dict[str, int], merges: Merges, *, specials: bool = False) -> Tokenizer:
    """A RoBERTa byte-level BPE pipeline over ``vocab`` and ``merges``.

    Args:
        specials: Also add RoBERTa's post-processor and special tokens (``<mask>`` strips the space
            on its left), for code that uses the backend directly. ``RobertaTokenizer`` sets them itself.
    """
    backend = Tokenizer(models.BPE(vocab=vocab, merges=merges, dropout=None, continuing_subword_prefix="",
                                   end_of_word_suffix=""))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    if specials:
        backend.post_processor = processors.RobertaProcessing(
            ("</s>", vocab["</s>"]), ("<s>", vocab["<s>"]), trim_offsets=True, add_prefix_space=False
        )
        tokens = [AddedToken(t, normalized=True, special=True) for t in FIRST_SPECIALS]
        tokens.append(AddedToken(MASK, lstrip=True, normalized=False, special=True))
        backend.add_special_tokens(tokens)
    return backend


def train(texts: Iterable[str] | Iterable[Sequence[str]], vocab_size: int, *,
          first_specials: Sequence[str] = FIRST_SPECIALS, mask: str | None = MASK, length: int | None = None,
          **trainer_kwargs: Any) -> tuple[dict[str, int], Merges]:
    """Learn a byte-level BPE vocabulary and merges from ``texts`` (texts, or batches of texts).

    Args:
        vocab_size: Size of the vocabulary, ``mask`` included.
        first_specials: Tokens that take ids 0, 1, … in this order.
        mask: The token appended last (None: no mask token).
        length: Number of items in ``texts``, for the progress bar.
        **trainer_kwargs: Passed to ``tokenizers.trainers.BpeTrainer`` (``min_frequency``, ``show_progress``).

    Raises:
        ValueError: If ``vocab_size`` leaves no room beyond the bytes and special tokens.
    """
    first = list(dict.fromkeys(first_specials))
    has_mask = mask is not None and mask not in first
    smallest = 256 + len(first) + int(has_mask)
    if vocab_size < smallest:
        raise ValueError(f"vocab_size must be at least {smallest} (256 bytes + special tokens), got {vocab_size}")
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size - int(has_mask), special_tokens=first,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), **trainer_kwargs)
    backend.train_from_iterator(texts, trainer=trainer, length=length)
    state = json.loads(backend.to_str())["model"]
    vocab = dict(state["vocab"])
    if has_mask:
        vocab[mask] = len(vocab)
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in state["merges"]]
    return vocab, merges  # type: ignore[return-value]
