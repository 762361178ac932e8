"""``BatchEncoding``: what a tokenizer call returns, as lists, numpy, torch, TensorFlow or JAX arrays.

The framework of ``return_tensors`` is imported only when asked for.
"""

from __future__ import annotations

import logging
from collections import UserDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from tokenizers import Encoding

logger = logging.getLogger("roberta_prelayernorm.tokenizer")


class CharSpan(NamedTuple):
    """A span of characters in the original text: ``text[start:end]``."""

    start: int
    end: int


class TokenSpan(NamedTuple):
    """A span of tokens in an encoding: ``tokens[start:end]``."""

    start: int
    end: int


def _to_python(value: Any) -> Any:
    """Turns tensors, arrays and numpy scalars (also nested in lists or dicts) into Python objects."""
    if isinstance(value, Mapping):
        return {key: _to_python(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_python(item) for item in value]
    if type(value).__module__.startswith("torch"):
        return value.detach().cpu().tolist()
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return value.tolist()
    return value


def _tensor_type(return_tensors: Any) -> str | None:
    value = getattr(return_tensors, "value", return_tensors)  # accepts enums with a .value too
    if value is None or value in ("pt", "np", "tf", "jax"):
        return value
    raise ValueError(f"return_tensors must be 'pt', 'np', 'tf', 'jax' or None, got {return_tensors!r}")


class BatchEncoding(UserDict):
    """The output of a tokenizer call: a dict of lists or tensors, plus the backend encodings.

    Keys read as attributes too (``enc.input_ids``). When the tokenizer produced it, the
    ``tokenizers.Encoding`` of each row is kept, which maps between characters, words and tokens
    (``word_ids``, ``char_to_token``, ...).

    Args:
        data: The outputs, e.g. ``{"input_ids": ..., "attention_mask": ...}``.
        encoding: The backend encoding(s), one per row.
        tensor_type: ``"pt"`` or ``"np"`` to turn the lists into tensors right away.
        prepend_batch_axis: Wrap each value in a batch of one before the conversion.
        n_sequences: 1 for single texts, 2 for pairs; read from the encodings when not given.
    """

    def __init__(
        self,
        data: Mapping[str, Any] | None = None,
        encoding: Encoding | Sequence[Encoding] | None = None,
        tensor_type: str | None = None,
        prepend_batch_axis: bool = False,
        n_sequences: int | None = None,
    ) -> None:
        super().__init__(data)
        if isinstance(encoding, Encoding):
            encoding = [encoding]
        self._encodings = list(encoding) if encoding is not None else None
        if n_sequences is None and self._encodings:
            n_sequences = self._encodings[0].n_sequences
        self._n_sequences = n_sequences
        self.convert_to_tensors(tensor_type, prepend_batch_axis=prepend_batch_axis)

    def __getitem__(self, item: Any) -> Any:
        """A value by key, a backend ``Encoding`` by row number, or a slice of rows."""
        if isinstance(item, str):
            return self.data[item]
        if self._encodings is not None:
            return self._encodings[item]
        if isinstance(item, slice):
            return {key: value[item] for key, value in self.data.items()}
        raise KeyError(f"{item!r}: use a key name, or a row number when the encodings are available")

    def __getattr__(self, name: str) -> Any:
        data = self.__dict__.get("data")
        if data is not None and name in data:
            return data[name]
        raise AttributeError(f"'BatchEncoding' object has no attribute {name!r}")

    def __getstate__(self) -> dict[str, Any]:
        return {"data": self.data, "encodings": self._encodings, "n_sequences": self._n_sequences}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.data = state["data"]
        self._encodings = state["encodings"]
        self._n_sequences = state.get("n_sequences")

    @property
    def encodings(self) -> list[Encoding] | None:
        """The backend encodings, one per row, or None when the data did not come from the tokenizer."""
        return self._encodings

    @property
    def n_sequences(self) -> int | None:
        """1 when rows hold single texts, 2 when they hold pairs, None when unknown."""
        return self._n_sequences

    @property
    def is_fast(self) -> bool:
        """Whether the backend encodings are available."""
        return self._encodings is not None

    def _encoding(self, batch_index: int) -> Encoding:
        if self._encodings is None:
            raise ValueError(
                "this BatchEncoding has no backend encodings (it was made by pad() or by hand), "
                "so it cannot map between characters, words and tokens"
            )
        return self._encodings[batch_index]

    def _token_position(self, first: int, second: int | None) -> tuple[Encoding, int]:
        batch_index, token_index = (0, first) if second is None else (first, second)
        encoding = self._encoding(batch_index)
        if token_index < 0:
            token_index += len(encoding.ids)
        return encoding, token_index

    def tokens(self, batch_index: int = 0) -> list[str]:
        """The token strings of row ``batch_index``."""
        return self._encoding(batch_index).tokens

    def word_ids(self, batch_index: int = 0) -> list[int | None]:
        """For each token of a row, the index of its word in its sequence (None for special tokens)."""
        return self._encoding(batch_index).word_ids

    def sequence_ids(self, batch_index: int = 0) -> list[int | None]:
        """For each token of a row, 0 or 1 for the sequence of the pair it comes from (None for specials)."""
        return self._encoding(batch_index).sequence_ids

    def token_to_sequence(self, batch_or_token_index: int, token_index: int | None = None) -> int | None:
        """The sequence (0 or 1) a token belongs to; call with ``(token)`` or ``(row, token)``."""
        encoding, index = self._token_position(batch_or_token_index, token_index)
        return encoding.token_to_sequence(index)

    def token_to_word(self, batch_or_token_index: int, token_index: int | None = None) -> int | None:
        """The word index of a token within its sequence; call with ``(token)`` or ``(row, token)``."""
        encoding, index = self._token_position(batch_or_token_index, token_index)
        return encoding.token_to_word(index)

    def token_to_chars(self, batch_or_token_index: int, token_index: int | None = None) -> CharSpan | None:
        """The characters a token covers in its text, or None for special tokens."""
        encoding, index = self._token_position(batch_or_token_index, token_index)
        span = encoding.token_to_chars(index)
        return CharSpan(*span) if span is not None else None

    def char_to_token(
        self, batch_or_char_index: int, char_index: int | None = None, sequence_index: int = 0
    ) -> int | None:
        """The token that covers a character of sequence ``sequence_index``, or None (e.g. a space)."""
        batch_index, index = (
            (0, batch_or_char_index) if char_index is None else (batch_or_char_index, char_index)
        )
        return self._encoding(batch_index).char_to_token(index, sequence_index)

    def word_to_tokens(
        self, batch_or_word_index: int, word_index: int | None = None, sequence_index: int = 0
    ) -> TokenSpan | None:
        """The tokens of a word of sequence ``sequence_index``, or None when it has none."""
        batch_index, index = (
            (0, batch_or_word_index) if word_index is None else (batch_or_word_index, word_index)
        )
        span = self._encoding(batch_index).word_to_tokens(index, sequence_index)
        return TokenSpan(*span) if span is not None else None

    def word_to_chars(
        self, batch_or_word_index: int, word_index: int | None = None, sequence_index: int = 0
    ) -> CharSpan | None:
        """The characters of a word of sequence ``sequence_index``."""
        batch_index, index = (
            (0, batch_or_word_index) if word_index is None else (batch_or_word_index, word_index)
        )
        span = self._encoding(batch_index).word_to_chars(index, sequence_index)
        return CharSpan(*span) if span is not None else None

    def char_to_word(
        self, batch_or_char_index: int, char_index: int | None = None, sequence_index: int = 0
    ) -> int | None:
        """The word that holds a character of sequence ``sequence_index``."""
        batch_index, index = (
            (0, batch_or_char_index) if char_index is None else (batch_or_char_index, char_index)
        )
        return self._encoding(batch_index).char_to_word(index, sequence_index)

    def convert_to_tensors(
        self, tensor_type: str | None = None, prepend_batch_axis: bool = False
    ) -> BatchEncoding:
        """Turns every value into a ``torch`` tensor (``"pt"``), ``numpy`` array (``"np"``), TensorFlow tensor
        (``"tf"``) or JAX array (``"jax"``) in place.

        Raises:
            ValueError: When rows have different lengths and ``"pt"`` is asked (pad them first), or
                ``tensor_type`` is not supported.
        """
        tensor_type = _tensor_type(tensor_type)
        if tensor_type is None:
            return self
        if tensor_type == "pt":
            import torch

            def as_tensor(value: Any) -> Any:
                if isinstance(value, list) and value and type(value[0]).__module__ == "numpy":
                    import numpy as np

                    value = np.array(value)
                if isinstance(value, list) and not value:
                    return torch.tensor(value, dtype=torch.long)
                return torch.tensor(value)

            is_tensor: Callable[[Any], bool] = torch.is_tensor
        elif tensor_type == "np":
            import numpy as np

            def as_tensor(value: Any) -> Any:
                rows = (
                    isinstance(value, (list, tuple))
                    and value
                    and isinstance(value[0], (list, tuple, np.ndarray))
                )
                if rows and len({len(row) for row in value}) > 1:  # ragged rows: an array of arrays
                    return np.array([np.asarray(row) for row in value] + [None], dtype=object)[:-1]
                return np.asarray(value)

            def is_tensor(value: Any) -> bool:
                return isinstance(value, np.ndarray)
        else:  # "tf" or "jax": through a rectangular numpy array of int32 ids, as the reference
            import numpy as np

            if tensor_type == "tf":
                import tensorflow as tf

                make, is_tensor = tf.constant, tf.is_tensor
            else:
                import jax
                import jax.numpy as jnp

                make = jnp.asarray

                def is_tensor(value: Any) -> bool:
                    return isinstance(value, jax.Array)

            def as_tensor(value: Any) -> Any:
                array = np.asarray(value)
                if array.dtype == object:
                    raise ValueError("ragged rows")
                if array.dtype.kind in "iu" or array.size == 0:
                    array = array.astype(np.int32)
                return make(array)

        for key, value in self.data.items():
            if prepend_batch_axis:
                value = [value]
            if is_tensor(value):
                continue
            try:
                self.data[key] = as_tensor(value)
            except Exception as err:
                raise ValueError(
                    f"cannot make a tensor of {key!r}: its rows probably have different lengths. "
                    "Pass padding=True (and truncation=True) to get rows of the same length."
                ) from err
        return self

    def to(self, device: Any) -> BatchEncoding:
        """Moves every torch tensor to ``device`` (a str, an int or a ``torch.device``), in place."""
        import torch

        if not isinstance(device, (str, int, torch.device)):
            logger.warning("BatchEncoding.to() takes a device, not %r; nothing was moved", device)
            return self
        self.data = {
            key: value.to(device=device) if torch.is_tensor(value) else value
            for key, value in self.data.items()
        }
        return self
