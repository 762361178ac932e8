"""The tokenizer: ``roberta`` (the ``RobertaTokenizer`` class), ``encoding`` (``BatchEncoding``),
``files`` (finding and reading a tokenizer folder) and ``bpe`` (the one byte-level BPE builder and
trainer, which pretraining uses too). Framework-neutral: tensors are made only on request."""

from .encoding import BatchEncoding
from .roberta import AutoTokenizer, RobertaTokenizer, RobertaTokenizerFast

__all__ = ["AutoTokenizer", "BatchEncoding", "RobertaTokenizer", "RobertaTokenizerFast"]
