"""RoBERTa-PreLayerNorm in PyTorch: embeddings → attention → layer → encoder → model, then the heads.

Module attribute names equal the Hugging Face checkpoint keys (``encoder.layer.0.attention.self.query``),
so checkpoints load with no renaming. Pre-LN in one line per block::

    x = x + attention(LN(x))        # RobertaPreLayerNormAttention
    x = x + ffn(LN(x))              # RobertaPreLayerNormIntermediate + RobertaPreLayerNormOutput

and one final ``LayerNorm`` after the last layer.
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass, replace
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint
from torch.utils.weak import WeakIdKeyDictionary

from ..core.config import RobertaPreLayerNormConfig
from ..core.inputs import check_ranges
from . import kernels, ort_engine
from .generation import GenerationMixin
from .losses import cross_entropy
from ..core import outputs
from ..core.outputs import (
    BaseModelOutputWithPoolingAndCrossAttentions,
    Cache,
    CausalLMOutputWithCrossAttentions,
    MaskedLMOutput,
    MultipleChoiceModelOutput,
    QuestionAnsweringModelOutput,
    SequenceClassifierOutput,
    TokenClassifierOutput,
)
from .pretrained import RobertaPreLayerNormPreTrainedModel

Tensor = torch.Tensor
LayerCache = tuple[Tensor, ...]


def _register_outputs() -> None:
    """The output classes as pytrees, as the reference's are, so that ``torch.export`` (and whatever
    flattens outputs with ``torch.utils._pytree``) takes a model that returns them."""
    from torch.utils._pytree import SUPPORTED_NODES

    for cls in vars(outputs).values():
        if (isinstance(cls, type) and issubclass(cls, outputs.ModelOutput) and cls is not outputs.ModelOutput
                and cls not in SUPPORTED_NODES):  # (registered already where this module is reloaded)
            torch.export.register_dataclass(cls, serialized_type_name=f"roberta_prelayernorm.{cls.__name__}")


_register_outputs()

ACT2FN: dict[str, Callable[[Tensor], Tensor]] = {
    "gelu": F.gelu,
    "gelu_new": lambda x: F.gelu(x, approximate="tanh"),
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "relu": F.relu,
    "silu": F.silu,
    "swish": F.silu,
}


def activation(name: str | Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    return name if callable(name) else ACT2FN[name]


def bound_norm(module: nn.LayerNorm) -> Callable[[Tensor], Tensor]:
    """``module`` as ``f(x)``, without the module call: torch's operator with the module's parameters bound."""
    parameters = module._parameters  # (``module.weight`` goes through ``nn.Module.__getattr__``)
    return functools.partial(torch.layer_norm, normalized_shape=module.normalized_shape, weight=parameters["weight"],
                             bias=parameters["bias"], eps=module.eps)


def _then(outer: Callable[[Tensor], Tensor], inner: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    return outer(inner(x))


# ------------------------------------------------------------------------------------------ embeddings
class RobertaPreLayerNormEmbeddings(nn.Module):
    """Word + token type (+ absolute position) embeddings, then LayerNorm and dropout."""

    def __init__(self, config: RobertaPreLayerNormConfig) -> None:
        super().__init__()
        self.padding_idx = config.pad_token_id
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=self.padding_idx)
        self.position_embeddings = nn.Embedding(
            config.max_position_embeddings, config.hidden_size, padding_idx=self.padding_idx
        )
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.absolute = config.position_embedding_type == "absolute"

    def forward(self, inputs_embeds: Tensor, token_type_ids: Tensor, position_ids: Tensor) -> Tensor:
        embeddings = inputs_embeds + self.token_type_embeddings(token_type_ids)
        if self.absolute:
            embeddings = embeddings + self.position_embeddings(position_ids)
        return self.dropout(self.LayerNorm(embeddings))


def position_ids_from_input_ids(input_ids: Tensor, padding_idx: int, past_length: int = 0) -> Tensor:
    """Real tokens count up from ``padding_idx + 1`` (after the cached ones); padding stays ``padding_idx``."""
    is_token = input_ids.ne(padding_idx).int()
    return ((torch.cumsum(is_token, dim=1) + past_length) * is_token).long() + padding_idx


# ---------------------------------------------------------------------------------------------- layouts
@dataclass
class Padded:
    """Attention over the padded (B, L) batch: the reference computation, for every feature and position.

    ``mask`` is additive, (B, 1, Lq or 1, Lk): 0 where a key is attended, ``finfo(dtype).min`` where not.
    ``zeroed`` is set only while tracing (``torch.jit.trace``), where the packed layout cannot be taken:
    (B, L) bool, the positions that the packed layout would leave at zero for these inputs, so that the
    traced graph gives what eager gives, padding included.
    """

    mask: Tensor | None = None
    zeroed: Tensor | None = None

    def pack(self, x: Tensor) -> Tensor:
        return x

    def unpack(self, x: Tensor) -> Tensor:
        if self.zeroed is None:
            return x
        return x.masked_fill(self.zeroed.view(*self.zeroed.shape, *[1] * (x.dim() - 2)), 0)


@dataclass
class Packed:
    """The real tokens of a (B, L) batch packed into (T,) rows, so that no work is spent on padding.

    Everything but attention runs on the rows. Attention runs on each sequence's rows alone (no mask, no
    padding): once per sequence on the CPU, in one variable-length flash-attention call on a GPU that has
    it (:func:`flash_varlen_runs`). Elsewhere on a GPU, and under ``torch.compile`` (whose graphs cannot
    loop over data-dependent lengths), it scatters the rows back into the padded layout for one masked
    call instead. Without padding
    ``indices`` is None and the rows are the (B, L) batch itself.
    """

    batch: int
    length: int
    causal: bool = False  # decoder self-attention
    indices: Tensor | None = None  # (T,) positions of real tokens in the flattened batch
    lengths: list[int] | None = None  # real tokens per sequence (their rows are consecutive)
    attn_mask: Tensor | None = None  # (B, 1, 1 or L, L) bool, True where attention is allowed
    # the last layer's layout only, when the head reads few positions: the (M,) rows it reads and how
    # many of them each sequence has; that layer computes queries, attention output and FFN only there
    queries: Tensor | None = None
    query_lengths: list[int] | None = None

    def pack(self, x: Tensor) -> Tensor:
        """(B, L, ...) → (T, ...)."""
        return x if self.indices is None else x.flatten(0, 1).index_select(0, self.indices)

    def unpack(self, x: Tensor) -> Tensor:
        """(T, ...) → (B, L, ...) with zeros at the padding."""
        if self.indices is None:
            return x
        out = x.new_zeros(self.batch * self.length, *x.shape[1:])
        return out.index_copy(0, self.indices, x).view(self.batch, self.length, *x.shape[1:])


Layout = Padded | Packed


# ------------------------------------------------------------------------------------------- attention
@functools.cache
def _varlen_attn() -> Callable[..., Tensor] | None:
    try:
        from torch.nn.attention.varlen import varlen_attn
    except ImportError:  # torch < 2.9
        return None
    return varlen_attn


@functools.cache
def _flash_capable(device: torch.device) -> bool:
    return torch.cuda.get_device_capability(device)[0] >= 8  # flash attention: Ampere and later


def flash_varlen_runs(rows: Tensor, head_dim: int, causal: bool, dropout_p: float) -> bool:
    """Whether torch's variable-length flash attention (``torch.nn.attention.varlen``, torch >= 2.9) runs
    on these packed rows: CUDA at compute capability 8.0 or later, fp16 or bf16, a head size that is a
    multiple of 8 up to 256, no dropout, not causal, and flash attention not switched off
    (``torch.backends.cuda.enable_flash_sdp(False)``, ``sdpa_kernel``)."""
    return (rows.is_cuda and rows.dtype in (torch.float16, torch.bfloat16) and head_dim % 8 == 0
            and head_dim <= 256 and not causal and dropout_p == 0.0 and torch.backends.cuda.flash_sdp_enabled()
            and _varlen_attn() is not None and _flash_capable(rows.device))


@functools.lru_cache(maxsize=64)
def row_offsets(lengths: tuple[int, ...], device: torch.device) -> Tensor:
    """(N + 1,) int32 on ``device``: where each sequence's rows start, then the row count (made once per
    batch shape, not once per layer)."""
    offsets = [0]
    for n in lengths:
        offsets.append(offsets[-1] + n)
    with torch.inference_mode(False):  # (kept for later calls: one made under inference_mode could not be saved
        return torch.tensor(offsets, dtype=torch.int32).to(device)  # for a backward pass)


class RobertaPreLayerNormSelfAttention(nn.Module):
    """Multi-head attention: self-attention, or cross-attention over ``encoder_hidden_states``."""

    def __init__(self, config: RobertaPreLayerNormConfig, position_embedding_type: str | None = None) -> None:
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout_p = config.attention_probs_dropout_prob
        self.position_embedding_type = position_embedding_type or config.position_embedding_type
        if self.position_embedding_type != "absolute":
            self.max_position_embeddings = config.max_position_embeddings
            self.distance_embedding = nn.Embedding(2 * config.max_position_embeddings - 1, self.head_dim)
        self.is_decoder = config.is_decoder

    def heads(self, x: Tensor) -> Tensor:
        """(..., L, H·D) → (..., H, L, D)."""
        return x.view(*x.shape[:-1], self.num_heads, self.head_dim).transpose(-3, -2)

    def forward(
        self,
        hidden_states: Tensor,
        layout: Layout,
        head_mask: Tensor | None = None,
        encoder_hidden_states: Tensor | None = None,
        past_key_value: LayerCache | None = None,
        output_attentions: bool = False,
    ) -> tuple[Tensor, Tensor | None, LayerCache | None]:
        dropout_p = self.dropout_p if self.training else 0.0
        if isinstance(layout, Packed):
            return self.packed_attention(hidden_states, layout, dropout_p), None, None
        if encoder_hidden_states is None and past_key_value is None:  # plain self-attention: one product
            query, key, value = (self.heads(t) for t in kernels.linears((self.query, self.key, self.value),
                                                                        hidden_states))
        else:
            query = self.heads(self.query(hidden_states))
        if encoder_hidden_states is not None and past_key_value is not None:
            key, value = past_key_value  # cross-attention: the encoder's keys/values never change
        elif encoder_hidden_states is not None:
            key, value = self.heads(self.key(encoder_hidden_states)), self.heads(self.value(encoder_hidden_states))
        elif past_key_value is not None:  # a decoder's next tokens: the cached keys and values first
            key, value = self.heads(self.key(hidden_states)), self.heads(self.value(hidden_states))
            key = torch.cat([past_key_value[0], key], dim=2)
            value = torch.cat([past_key_value[1], value], dim=2)
        present = (key, value) if self.is_decoder else None

        if not output_attentions and head_mask is None and self.position_embedding_type == "absolute":
            context = F.scaled_dot_product_attention(query, key, value, attn_mask=layout.mask, dropout_p=dropout_p)
            probs = None
        else:
            scores = query @ key.transpose(-1, -2)  # (B, H, Lq, Lk)
            if self.position_embedding_type != "absolute":
                scores = scores + self.relative_scores(query, key)
            scores = scores / math.sqrt(self.head_dim)
            if layout.mask is not None:
                scores = scores + layout.mask
            probs = F.dropout(scores.softmax(dim=-1), p=dropout_p)
            if head_mask is not None:
                probs = probs * head_mask
            context = probs @ value
        context = context.transpose(1, 2).flatten(2)  # (B, Lq, H·D)
        return context, probs, present

    def packed_attention(self, rows: Tensor, layout: Packed, dropout_p: float) -> Tensor:
        """Self-attention on packed rows (T, H) → context (T, H), or (M, H) at ``layout.queries``; see
        :class:`Packed`."""
        if layout.queries is not None:  # the last layer, read at a few rows: keys/values everywhere
            key, value = kernels.linears((self.key, self.value), rows)
            query = kernels.linear(self.query, rows.index_select(0, layout.queries))
            lengths = layout.lengths or [layout.length] * layout.batch
            if flash_varlen_runs(query, self.head_dim, False, dropout_p) and min(layout.query_lengths) > 0:
                return self.varlen_attention((query, key, value), layout.query_lengths, lengths)
            return self.sequence_attention((query, key, value), (layout.query_lengths, lengths, lengths),
                                           False, dropout_p)
        return self.attend(kernels.linears((self.query, self.key, self.value), rows), layout, dropout_p)

    def attend(self, qkv: Tensor | tuple[Tensor, Tensor, Tensor], layout: Packed, dropout_p: float = 0.0) -> Tensor:
        """Self-attention of packed rows' queries, keys and values ((T, H) or (B, L, H) each, or joined
        side by side: (..., 3·H)) → context."""
        query, key, value = qkv if isinstance(qkv, tuple) else qkv.chunk(3, dim=-1)
        if layout.lengths is not None and not torch.compiler.is_compiling():
            if flash_varlen_runs(query, self.head_dim, layout.causal, dropout_p):
                return self.varlen_attention((query, key, value), layout.lengths, layout.lengths)
            if query.device.type == "cpu":
                return self.sequence_attention((query, key, value), (layout.lengths,) * 3, layout.causal, dropout_p)
        # no padding, a graph being compiled, or a GPU without variable-length flash attention: one masked call
        query, key, value = (self.heads(layout.unpack(t)) for t in (query, key, value))  # (B, heads, L, D)
        context = F.scaled_dot_product_attention(
            query, key, value, attn_mask=layout.attn_mask, dropout_p=dropout_p,
            is_causal=layout.causal and layout.attn_mask is None,
        )
        return layout.pack(context.transpose(1, 2).flatten(2))

    def sequence_attention(self, qkv: tuple[Tensor, Tensor, Tensor], lengths: tuple[list[int], ...], causal: bool,
                           dropout_p: float) -> Tensor:
        """Attention run once per sequence: rows (n, H) of each sequence's queries, keys and values
        (``lengths``: rows per sequence of each) → (queries, H)."""
        contexts = []
        for q, k, v in zip(*(t.split(n) for t, n in zip(qkv, lengths))):  # one sequence
            if q.shape[0] == 0:
                continue
            q, k, v = (self.heads(t)[None] for t in (q, k, v))  # (1, heads, n, D)
            context = F.scaled_dot_product_attention(q, k, v, is_causal=causal, dropout_p=dropout_p)
            contexts.append(context[0].transpose(0, 1).flatten(1))  # (n, H)
        return contexts[0] if len(contexts) == 1 else torch.cat(contexts)

    def varlen_attention(self, qkv: tuple[Tensor, Tensor, Tensor], q_lengths: list[int], k_lengths: list[int]
                         ) -> Tensor:
        """What :meth:`sequence_attention` computes, in one variable-length flash-attention call (where
        :func:`flash_varlen_runs`)."""
        device = qkv[0].device
        context = _varlen_attn()(*(t.unflatten(-1, (self.num_heads, self.head_dim)) for t in qkv),
                                 row_offsets(tuple(q_lengths), device), row_offsets(tuple(k_lengths), device),
                                 max(q_lengths), max(k_lengths))
        return context.flatten(1)

    def relative_scores(self, query: Tensor, key: Tensor) -> Tensor:
        """Shaw et al. / Huang et al. relative position terms, added to q·kᵀ before scaling."""
        q_len, k_len = query.shape[2], key.shape[2]
        q_pos = torch.arange(k_len - q_len, k_len, device=query.device)[:, None]  # cached keys come first
        k_pos = torch.arange(k_len, device=query.device)[None, :]
        distance = self.distance_embedding(q_pos - k_pos + self.max_position_embeddings - 1).to(query.dtype)
        scores = torch.einsum("bhld,lrd->bhlr", query, distance)
        if self.position_embedding_type == "relative_key_query":
            scores = scores + torch.einsum("bhrd,lrd->bhlr", key, distance)
        return scores


class RobertaPreLayerNormSelfOutput(nn.Module):
    def __init__(self, config: RobertaPreLayerNormConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, context: Tensor, residual: Tensor) -> Tensor:
        """``residual + dropout(dense(context))``; without dropout the add is fused into the product."""
        if self.training and self.dropout.p > 0:
            return residual + self.dropout(self.dense(context))
        return kernels.linear(self.dense, context, residual=residual)


class RobertaPreLayerNormAttention(nn.Module):
    """``x + output(self(LayerNorm(x)))``: the pre-LN attention block."""

    def __init__(self, config: RobertaPreLayerNormConfig, position_embedding_type: str | None = None) -> None:
        super().__init__()
        self.self = RobertaPreLayerNormSelfAttention(config, position_embedding_type)
        self.output = RobertaPreLayerNormSelfOutput(config)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.pruned_heads: set[int] = set()

    def forward(
        self, hidden_states: Tensor, layout: Layout, *args: Any, **kwargs: Any
    ) -> tuple[Tensor, Tensor | None, LayerCache | None]:
        read_rows = isinstance(layout, Packed) and layout.queries is not None
        if read_rows:
            hidden_states = hidden_states.reshape(-1, hidden_states.shape[-1])  # (T, H)
        context, probs, present = self.self(self.LayerNorm(hidden_states), layout, *args, **kwargs)
        if read_rows:  # only the rows read go on
            hidden_states = hidden_states.index_select(0, layout.queries)
        return self.output(context, hidden_states), probs, present

    def prune_heads(self, heads: set[int]) -> None:
        """Remove ``heads`` (numbered as in the unpruned layer): the query/key/value rows and the output
        columns of those heads go; heads pruned before are skipped."""
        attention = self.self
        heads = set(heads) - self.pruned_heads
        if not heads:
            return
        current = [h for h in range(attention.num_heads + len(self.pruned_heads)) if h not in self.pruned_heads]
        keep = [i for i, h in enumerate(current) if h not in heads]  # positions of the kept heads now
        d = attention.head_dim
        index = torch.tensor([i * d + j for i in keep for j in range(d)], dtype=torch.long,
                             device=attention.query.weight.device)
        attention.query, attention.key, attention.value = (
            pruned_linear(layer, index, dim=0) for layer in (attention.query, attention.key, attention.value))
        self.output.dense = pruned_linear(self.output.dense, index, dim=1)
        attention.num_heads = len(keep)
        self.pruned_heads |= heads


def pruned_linear(layer: nn.Linear, index: Tensor, dim: int) -> nn.Linear:
    """A copy of ``layer`` keeping only the output (``dim=0``) or input (``dim=1``) features at ``index``."""
    weight = layer.weight.index_select(dim, index).detach().clone()
    new = nn.Linear(weight.shape[1], weight.shape[0], bias=layer.bias is not None, device=weight.device,
                    dtype=weight.dtype)
    with torch.no_grad():
        new.weight.copy_(weight)
        if layer.bias is not None:
            new.bias.copy_(layer.bias.index_select(0, index) if dim == 0 else layer.bias)
    new.weight.requires_grad_(layer.weight.requires_grad)
    if layer.bias is not None:
        new.bias.requires_grad_(layer.bias.requires_grad)
    return new


class RobertaPreLayerNormIntermediate(nn.Module):
    """``act(dense(LayerNorm(x)))``: the first half of the pre-LN feed-forward block."""

    def __init__(self, config: RobertaPreLayerNormConfig) -> None:
        super().__init__()
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.act = activation(config.hidden_act)
        self.act_name = config.hidden_act if config.hidden_act in kernels.ACTIVATIONS else None

    def forward(self, hidden_states: Tensor) -> Tensor:
        if self.act_name is None:  # a callable activation: not fused
            return self.act(self.dense(self.LayerNorm(hidden_states)))
        return kernels.linear(self.dense, self.LayerNorm(hidden_states), act=self.act_name)


class RobertaPreLayerNormOutput(nn.Module):
    def __init__(self, config: RobertaPreLayerNormConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.intermediate_size, config.hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, intermediate: Tensor, residual: Tensor) -> Tensor:
        """``residual + dropout(dense(intermediate))``; without dropout the add is fused into the product."""
        if self.training and self.dropout.p > 0:
            return residual + self.dropout(self.dense(intermediate))
        return kernels.linear(self.dense, intermediate, residual=residual)


class RobertaPreLayerNormLayer(nn.Module):
    """``x + attention(LN(x))`` (+ cross-attention), then ``x + ffn(LN(x))``."""

    def __init__(self, config: RobertaPreLayerNormConfig) -> None:
        super().__init__()
        self.attention = RobertaPreLayerNormAttention(config)
        if config.add_cross_attention:
            if not config.is_decoder:
                raise ValueError("add_cross_attention=True needs is_decoder=True")
            self.crossattention = RobertaPreLayerNormAttention(config, position_embedding_type="absolute")
        self.intermediate = RobertaPreLayerNormIntermediate(config)
        self.output = RobertaPreLayerNormOutput(config)

    def forward(
        self,
        hidden_states: Tensor,
        layout: Layout,
        head_mask: Tensor | None = None,
        encoder_hidden_states: Tensor | None = None,
        encoder_layout: Padded | None = None,
        past_key_value: LayerCache | None = None,
        output_attentions: bool = False,
    ) -> tuple[Tensor, Tensor | None, Tensor | None, LayerCache | None]:
        self_past = past_key_value[:2] if past_key_value is not None else None
        hidden_states, self_probs, present = self.attention(
            hidden_states, layout, head_mask, past_key_value=self_past, output_attentions=output_attentions
        )
        cross_probs = None
        if encoder_hidden_states is not None:
            if not hasattr(self, "crossattention"):
                raise ValueError("encoder_hidden_states were given, but the model has no cross-attention "
                                 "(set add_cross_attention=True in the config)")
            cross_past = past_key_value[2:4] if past_key_value is not None and len(past_key_value) == 4 else None
            hidden_states, cross_probs, cross_present = self.crossattention(
                hidden_states, encoder_layout, head_mask, encoder_hidden_states,
                past_key_value=cross_past, output_attentions=output_attentions,
            )
            if present is not None:
                present = present + cross_present
        hidden_states = self.output(self.intermediate(hidden_states), hidden_states)
        return hidden_states, self_probs, cross_probs, present


@dataclass
class PlainLayer:
    """What :meth:`RobertaPreLayerNormEncoder.plain_layers` reads of one layer, read once (each module
    attribute read costs ``nn.Module.__getattr__``): its attention and FFN modules, LayerNorms and products
    (q/k/v joined, attention output, FFN in, FFN out)."""

    attention: RobertaPreLayerNormSelfAttention
    attention_norm: nn.LayerNorm
    ffn: RobertaPreLayerNormIntermediate
    ffn_norm: nn.LayerNorm
    products: list[tuple[nn.Module, ...]]

    @staticmethod
    def of(layer: RobertaPreLayerNormLayer) -> PlainLayer | None:
        """None where a LayerNorm is not a plain ``nn.LayerNorm`` (replaced by the user)."""
        attention, ffn = layer.attention, layer.intermediate
        if type(attention.LayerNorm) is not nn.LayerNorm or type(ffn.LayerNorm) is not nn.LayerNorm:
            return None
        self_attention = attention.self
        return PlainLayer(self_attention, attention.LayerNorm, ffn, ffn.LayerNorm, [
            (self_attention.query, self_attention.key, self_attention.value), (attention.output.dense,),
            (ffn.dense,), (layer.output.dense,)])


class RobertaPreLayerNormEncoder(nn.Module):
    def __init__(self, config: RobertaPreLayerNormConfig) -> None:
        super().__init__()
        self.config = config
        self.layer = nn.ModuleList(RobertaPreLayerNormLayer(config) for _ in range(config.num_hidden_layers))
        self.gradient_checkpointing = False

    def forward(
        self,
        hidden_states: Tensor,
        layout: Layout,
        head_mask: list[Tensor | None],
        encoder_hidden_states: Tensor | None = None,
        encoder_layout: Padded | None = None,
        past_key_values: Cache | None = None,
        use_cache: bool = False,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
        last_layout: Packed | None = None,
    ) -> tuple[Tensor, Cache | None, tuple | None, tuple | None, tuple | None]:
        """``last_layout``, when given, is the last layer's (the rows the head reads, see :class:`Packed`)."""
        plan = self.plain_plan() if (
            isinstance(layout, Packed) and encoder_hidden_states is None and past_key_values is None
            and not (use_cache or output_attentions or output_hidden_states) and all(m is None for m in head_mask)
        ) else None
        if plan is not None:
            hidden_states = self.plain_layers(hidden_states, layout, plan[:-1] if last_layout is not None else plan)
            if last_layout is not None:
                hidden_states = self.layer[-1](hidden_states, last_layout)[0]
            return hidden_states, None, None, None, None
        all_hidden = [] if output_hidden_states else None
        all_attn = [] if output_attentions else None
        all_cross = [] if output_attentions and encoder_hidden_states is not None else None
        cache = [] if use_cache else None
        for i, layer in enumerate(self.layer):
            if all_hidden is not None:
                all_hidden.append(hidden_states)
            last = last_layout is not None and i == len(self.layer) - 1
            args = (hidden_states, last_layout if last else layout, head_mask[i], encoder_hidden_states, encoder_layout,
                    past_key_values[i] if past_key_values is not None else None, output_attentions)
            if self.gradient_checkpointing and self.training:
                hidden_states, attn, cross, present = checkpoint(layer, *args, use_reentrant=False)
            else:
                hidden_states, attn, cross, present = layer(*args)
            if cache is not None:
                cache.append(present)
            if all_attn is not None:
                all_attn.append(attn)
            if all_cross is not None:
                all_cross.append(cross)
        if all_hidden is not None:
            all_hidden.append(hidden_states)  # before the final LayerNorm, as in the reference
        as_tuple = lambda xs: tuple(xs) if xs is not None else None  # noqa: E731
        return hidden_states, as_tuple(cache), as_tuple(all_hidden), as_tuple(all_attn), as_tuple(all_cross)

    def plain_plan(self) -> list[PlainLayer] | None:
        """What :meth:`plain_layers` reads of each layer, or None where it would not give what the layers'
        modules give: autograd, a module in training mode (dropout), forward hooks (the modules are not
        called), LayerNorms that are not ``nn.LayerNorm``. Remade when any module was replaced."""
        if torch.is_grad_enabled() or torch.compiler.is_compiling() or torch.jit.is_tracing():
            return None
        modules = kernels.inference_modules(self)
        if modules is None:
            return None
        ids = tuple(map(id, modules))  # (the plan holds the modules: their ids stay theirs)
        kept = _PLANS.get(self)
        if kept is None or kept[0] != ids:
            kept = _PLANS[self] = (ids, [PlainLayer.of(layer) for layer in self.layer])
        return None if None in kept[1] else kept[1]

    def plain_layers(self, x: Tensor, layout: Packed, plan: list[PlainLayer]) -> Tensor:
        """The layers of ``plan`` on packed rows as plain pre-LN code, with the numbers of their modules'
        forwards in inference: each LayerNorm and product a callable with its weights bound, made for
        this call (on oneDNN's packs the library's operator itself, :meth:`kernels.Product.bound`), so
        that no Python runs between the operators but this loop and attention. What :meth:`forward` runs
        when nothing but the final states is asked for. A forward streams every weight through the caches
        and evicts the Python and dispatch code with them, so each Python call on the way to an operator
        is paid in memory reads: bound, the layers on one text took 0.96x the time of the same loop
        through ``Product.__call__`` (8 and 32 tokens, a 2-core AMD EPYC, the same numbers)."""
        products = kernels.products(self, [group for layer in plan for group in layer.products], x)
        # each layer's queries, keys and values, and its FFN's inner states, go where the last layer's were
        # (on MKL's packs): a new tensor of over 32 MB is new pages from the system every time (2,736 × 3,072
        # in fp32: 8,209 page faults, 10 ms a layer on a 2-core Xeon)
        qkv_out, inner = [None], [None]
        steps = []
        for i, layer in enumerate(plan):
            qkv, attention_out, ffn_in, ffn_out = products[4 * i: 4 * i + 4]
            act = layer.ffn.act_name
            ffn = (ffn_in.bound(act, reuse=inner) if act else
                   functools.partial(_then, layer.ffn.act, ffn_in.bound(reuse=inner)))
            steps.append((bound_norm(layer.attention_norm), qkv.bound(reuse=qkv_out), layer.attention.attend,
                          attention_out.bound(residual=True), bound_norm(layer.ffn_norm), ffn,
                          ffn_out.bound(residual=True)))
        for attention_norm, qkv, attend, attention_out, ffn_norm, ffn, ffn_out in steps:
            x = attention_out(attend(qkv(attention_norm(x)), layout), x)
            x = ffn_out(ffn(ffn_norm(x)), x)
        return x

    def dense(self, hidden_states: Tensor) -> Tensor:
        """Every layer on (B, L, H) rows of a batch without padding (its packed layout): what
        ``set_fast_path(compiled=True)`` runs through ``torch.compile``."""
        layout = Packed(hidden_states.shape[0], hidden_states.shape[1], self.config.is_decoder)
        for layer in self.layer:
            hidden_states = layer(hidden_states, layout)[0]
        return hidden_states


_COMPILED: WeakIdKeyDictionary = WeakIdKeyDictionary()  # encoder → its compiled ``dense``, None once that failed
_PLANS: WeakIdKeyDictionary = WeakIdKeyDictionary()  # encoder → (ids of its modules, its plain_plan)


def compiled_dense(encoder: RobertaPreLayerNormEncoder, hidden_states: Tensor) -> Tensor:
    """``encoder.dense(hidden_states)`` through ``torch.compile`` with dynamic shapes, made on the first
    call (seconds; a new shape class compiles once more). Where compiling fails (no C++ compiler, say) a
    ``RuntimeWarning`` says why and the eager layers run from then on."""
    compiled = _COMPILED.get(encoder, False)
    if compiled is False:  # the function, not the bound method: the cache keeps no encoder alive
        compiled = _COMPILED[encoder] = torch.compile(RobertaPreLayerNormEncoder.dense, dynamic=True)
    if compiled is not None:
        try:
            return compiled(encoder, hidden_states)
        except Exception as e:  # the inputs were checked before: this is the compiler's failure
            _COMPILED[encoder] = None
            reason = str(e).strip().splitlines()[0] if str(e).strip() else ""
            warnings.warn(f"torch.compile of the encoder failed ({type(e).__name__}: {reason[:200]}); "
                          "the eager layers run instead", RuntimeWarning, stacklevel=3)
    return encoder.dense(hidden_states)


class RobertaPreLayerNormPooler(nn.Module):
    def __init__(self, config: RobertaPreLayerNormConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, hidden_states: Tensor) -> Tensor:
        return kernels.linear(self.dense, hidden_states[:, 0], act="tanh")


# ------------------------------------------------------------------------------------------ the model
@dataclass
class Encoded:
    """What :meth:`RobertaPreLayerNormModel.encode` gives the heads: the final hidden states as rows of
    ``layout`` (packed real tokens, or the padded batch) and the requested extras, already padded."""

    rows: Tensor
    layout: Layout
    hidden_states: tuple[Tensor, ...] | None = None
    past_key_values: Cache | None = None
    attentions: tuple[Tensor, ...] | None = None
    cross_attentions: tuple[Tensor, ...] | None = None
    read_at: Tensor | None = None  # set when ``rows`` are only those at these (B, L) positions, row-major
    pooled: Tensor | None = None  # the pooler's output, where the onnxruntime engine computed it

    @property
    def last_hidden_state(self) -> Tensor:
        """(B, L, H); zeros at padding when packed."""
        if self.read_at is not None:
            raise RuntimeError("the final hidden states were computed only where the head reads them")
        return self.layout.unpack(self.rows)

    def first_tokens(self) -> Tensor:
        """(B, 1, H): each sequence's first final state, which the classifiers and the pooler read; from
        an ``encode(read_at=first_tokens_mask(...))`` that may have computed only those."""
        if self.read_at is not None:  # one row per sequence, in order
            return self.rows[:, None]
        return self.last_hidden_state[:, :1]


def first_tokens_mask(shape: tuple[int, int], device: torch.device) -> Tensor:
    """(B, L) bool, True at each sequence's first position."""
    where = torch.zeros(shape, dtype=torch.bool, device=device)
    where[:, 0] = True
    return where


class RobertaPreLayerNormModel(RobertaPreLayerNormPreTrainedModel):
    """The bare encoder (or decoder, with ``is_decoder``): hidden states and an optional pooler output."""

    compile_fast_path = False  # (also for models pickled before it existed)
    fast_engine = "torch"

    def __init__(self, config: RobertaPreLayerNormConfig, add_pooling_layer: bool = True) -> None:
        super().__init__(config)
        self.embeddings = RobertaPreLayerNormEmbeddings(config)
        self.encoder = RobertaPreLayerNormEncoder(config)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.pooler = RobertaPreLayerNormPooler(config) if add_pooling_layer else None
        self.use_fast_path = True  # set_fast_path(False): always the padded layout
        self.compile_fast_path = False  # set_fast_path(True, compiled=True): batches without padding compiled
        self.fast_engine = "torch"  # set_fast_path(True, engine="onnxruntime"): batches without padding there
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embeddings.word_embeddings

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.embeddings.word_embeddings = value

    def forward(
        self,
        input_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        position_ids: Tensor | None = None,
        head_mask: Tensor | None = None,
        inputs_embeds: Tensor | None = None,
        encoder_hidden_states: Tensor | None = None,
        encoder_attention_mask: Tensor | None = None,
        past_key_values: Cache | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> BaseModelOutputWithPoolingAndCrossAttentions | tuple:
        return_dict = self.config.use_return_dict if return_dict is None else return_dict
        encoded = self.encode(input_ids, attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds,
                              encoder_hidden_states, encoder_attention_mask, past_key_values, use_cache,
                              output_attentions, output_hidden_states, head_follows=False)
        sequence_output = encoded.last_hidden_state
        pooled_output = encoded.pooled
        if pooled_output is None and self.pooler is not None:
            pooled_output = self.pooler(sequence_output)
        if not return_dict:
            rest = (encoded.past_key_values, encoded.hidden_states, encoded.attentions, encoded.cross_attentions)
            return (sequence_output, pooled_output) + tuple(x for x in rest if x is not None)
        return BaseModelOutputWithPoolingAndCrossAttentions(
            last_hidden_state=sequence_output,
            pooler_output=pooled_output,
            hidden_states=encoded.hidden_states,
            past_key_values=encoded.past_key_values,
            attentions=encoded.attentions,
            cross_attentions=encoded.cross_attentions,
        )

    def encode(
        self,
        input_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        position_ids: Tensor | None = None,
        head_mask: Tensor | None = None,
        inputs_embeds: Tensor | None = None,
        encoder_hidden_states: Tensor | None = None,
        encoder_attention_mask: Tensor | None = None,
        past_key_values: Cache | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        *,
        labels: Tensor | None = None,
        label_shift: int = 0,
        label_classes: int | None = None,
        padding_is_read: bool = False,
        read_at: Tensor | None = None,
        head_follows: bool = True,
    ) -> Encoded:
        """The forward pass, for the heads: final hidden states as rows of the layout chosen for this call.

        The layout is chosen once, from the inputs and the requested features: packed real tokens
        (:class:`Packed`) when nothing needs the padded batch, else :class:`Padded`, the reference
        computation. A head asks for what it needs: ``padding_is_read`` when it reads positions that may
        be padding (a loss over every position), ``labels`` so that their values are checked
        (``label_classes``) and a label on padding selects the padded layout (``label_shift=1`` for the
        causal LM). ``read_at`` ((B, L) bool): the head reads the final states only there, so that the
        last layer may compute its queries, attention output and FFN only at those rows (an encoder
        on the packed layout without ``output_hidden_states``; ``Encoded.read_at`` says whether it did).
        ``head_follows=False`` (the base model's own forward): no head runs in torch after the encoder, so
        that the onnxruntime engine may leave its threads spinning after a run (see :mod:`.ort_engine`).
        Inputs are checked with one device-to-host synchronisation.
        """
        config = self.config
        output_attentions = config.output_attentions if output_attentions is None else output_attentions
        output_hidden_states = config.output_hidden_states if output_hidden_states is None else output_hidden_states
        use_cache = (config.use_cache if use_cache is None else use_cache) and config.is_decoder
        if self.encoder.gradient_checkpointing and self.training:
            use_cache = False

        padded_needed = (
            not self.use_fast_path or padding_is_read or output_attentions or head_mask is not None or use_cache
            or past_key_values is not None or encoder_hidden_states is not None
            or config.position_embedding_type != "absolute"
        )
        tracing = torch.jit.is_tracing() or torch.jit.is_scripting()  # a graph cannot pack by values
        engine = (self.fast_engine == "onnxruntime" and not padded_needed and not output_hidden_states
                  and not tracing and not torch.is_grad_enabled() and not torch.compiler.is_compiling())
        if engine and input_ids is not None and inputs_embeds is None and labels is None:
            ran = ort_engine.run_ids(self, input_ids, attention_mask, token_type_ids, position_ids,
                                     spin_after=not head_follows)  # (its checks in NumPy, no torch operator)
            if ran is not None:
                return Encoded(ran[0], Packed(*input_ids.shape), pooled=ran[1])
            engine = False  # (declined for these ids: not asked again below)

        batch, length = self.check_inputs(input_ids, inputs_embeds, token_type_ids, position_ids,
                                          encoder_hidden_states)
        past_length = past_key_values[0][0].shape[2] if past_key_values is not None else 0
        device = (input_ids if input_ids is not None else inputs_embeds).device
        if position_ids is None:
            if input_ids is not None:
                position_ids = position_ids_from_input_ids(input_ids, config.pad_token_id, past_length)
            else:
                start = config.pad_token_id + 1
                position_ids = torch.arange(start, start + length, device=device).expand(batch, length)
        if token_type_ids is None:
            token_type_ids = torch.zeros(batch, length, dtype=torch.long, device=device)
        if output_hidden_states or config.is_decoder or not config.num_hidden_layers:
            read_at = None  # every final state is returned, or the decoder's causal queries
        packed, last = self.plan(input_ids, attention_mask, token_type_ids, position_ids, past_length + length,
                                 try_packing=not padded_needed and not tracing, labels=labels,
                                 label_shift=label_shift, label_classes=label_classes, read_at=read_at)
        if packed is not None:  # every layer runs on the real tokens only
            if engine and packed.indices is None:  # (every row: ``read_at`` unused)
                ran = ort_engine.run(self, input_ids, inputs_embeds, token_type_ids, position_ids,
                                     spin_after=not head_follows)
                if ran is not None:  # no padding: the whole forward in onnxruntime
                    return Encoded(ran[0], packed, pooled=ran[1])
            if inputs_embeds is None:
                inputs_embeds = self.embeddings.word_embeddings(packed.pack(input_ids))
            else:
                inputs_embeds = packed.pack(inputs_embeds)
            x = self.embeddings(inputs_embeds, packed.pack(token_type_ids), packed.pack(position_ids))
            if (self.compile_fast_path and packed.indices is None and last is None and not output_hidden_states
                    and not torch.is_grad_enabled() and not torch.compiler.is_compiling()
                    and not kernels.hooked_within(self.encoder)):
                x, all_hidden = compiled_dense(self.encoder, x), None  # no padding: the compiled layers
            else:
                x, _, all_hidden, _, _ = self.encoder(x, packed, [None] * config.num_hidden_layers,
                                                      output_hidden_states=output_hidden_states, last_layout=last)
            all_hidden = tuple(packed.unpack(h) for h in all_hidden) if all_hidden is not None else None
            return Encoded(self.LayerNorm(x), packed, all_hidden, read_at=read_at if last is not None else None)

        if inputs_embeds is None:
            inputs_embeds = self.embeddings.word_embeddings(input_ids)
        hidden_states = self.embeddings(inputs_embeds, token_type_ids, position_ids)
        zeroed = None
        if tracing and not padded_needed and isinstance(attention_mask, Tensor):
            zeroed = self.packed_zeros(attention_mask, labels, label_shift)
        if attention_mask is None:
            attention_mask = torch.ones(batch, past_length + length, device=device)
        layout = Padded(self.extended_attention_mask(attention_mask, (batch, length), past_length,
                                                     hidden_states.dtype), zeroed)
        encoder_layout = None
        if encoder_hidden_states is not None:
            enc_batch, enc_length = encoder_hidden_states.shape[:2]
            if encoder_attention_mask is None:
                encoder_attention_mask = torch.ones(enc_batch, enc_length, device=device)
            encoder_layout = Padded(self.extended_attention_mask(
                encoder_attention_mask, (batch, length), enc_length, hidden_states.dtype, causal=False,
                name="encoder_attention_mask",
            ))
        hidden_states, cache, all_hidden, all_attn, all_cross = self.encoder(
            hidden_states, layout, self.layer_head_masks(head_mask), encoder_hidden_states, encoder_layout,
            past_key_values, use_cache, output_attentions, output_hidden_states,
        )
        if zeroed is not None and all_hidden is not None:
            all_hidden = tuple(layout.unpack(h) for h in all_hidden)
        return Encoded(self.LayerNorm(hidden_states), layout, all_hidden, cache, all_attn, all_cross)

    def plan(self, input_ids: Tensor | None, attention_mask: Any, token_type_ids: Tensor, position_ids: Tensor,
             total_length: int, *, try_packing: bool, labels: Tensor | None = None, label_shift: int = 0,
             label_classes: int | None = None, read_at: Tensor | None = None) -> tuple[Packed | None, Packed | None]:
        """Check the inputs' values and choose the layout, with one device-to-host synchronisation.

        Ids outside their embedding tables, integer masks with values other than 0 and 1, and labels
        outside ``[0, label_classes)`` (other than -100) raise a ``ValueError`` naming them. Returns the
        :class:`Packed` layout when ``try_packing`` and the mask allows it, else None (the padded layout):
        fractional or 3-D masks, masks with holes, left padding (the pooler and classifiers read token 0)
        and labels on padding keep the reference computation. The second layout is the last layer's
        when ``read_at`` lets it run at fewer rows (real tokens only, not all of them), else None.
        """
        config = self.config
        if torch.compiler.is_compiling() or torch.jit.is_tracing():  # a graph cannot read values: no checks
            if try_packing and attention_mask is None:
                return Packed(*token_type_ids.shape, config.is_decoder), None
            return None, None
        mask2d = (isinstance(attention_mask, Tensor) and attention_mask.dim() == 2
                  and tuple(attention_mask.shape) == tuple(token_type_ids.shape))
        stats: dict[str, Tensor] = {}
        if input_ids is not None:
            stats["ids"] = torch.stack([input_ids.min(), input_ids.max()])
        stats["types"] = torch.stack([token_type_ids.min(), token_type_ids.max()])
        if config.position_embedding_type == "absolute":
            stats["positions"] = torch.stack([position_ids.min(), position_ids.max()])
        if labels is not None and label_classes is not None:
            counted = labels != -100
            stats["labels"] = torch.stack([torch.where(counted, labels, 0).min(), torch.where(counted, labels, 0).max()])
        if isinstance(attention_mask, Tensor) and not attention_mask.is_floating_point():
            stats["binary"] = ((attention_mask == 0) | (attention_mask == 1)).all()[None]
        keep = attention_mask != 0 if mask2d else None
        if keep is not None and labels is not None and tuple(labels.shape) == tuple(keep.shape):
            stats["labels_on_padding"] = ((labels[:, label_shift:] != -100) & ~keep[:, :keep.shape[1] - label_shift]
                                          ).any()[None]
        if try_packing and keep is not None:
            stats["fractional"] = ((attention_mask != 0) & (attention_mask != 1)).any()[None]
            stats["holes"] = (keep[:, 1:] & ~keep[:, :-1]).any()[None]  # a real token after padding
            stats["lengths"] = keep.sum(1)
        if try_packing and read_at is not None:
            read_at = read_at.to(token_type_ids.device)
            stats["read"] = read_at.sum(1)
            if keep is not None:
                stats["read_on_padding"] = (read_at & ~keep).any()[None]
        names = list(stats)
        values = torch.cat([v.reshape(-1).long() for v in stats.values()]).tolist()  # the one synchronisation
        got: dict[str, list[int]] = {}
        for name in names:
            got[name], values = values[:stats[name].numel()], values[stats[name].numel():]
        check_ranges(config, got, total_length, label_classes)
        if not try_packing:
            return None, None
        batch, length = token_type_ids.shape
        if attention_mask is None:
            packed = Packed(batch, length, config.is_decoder)
        elif keep is None or got["fractional"][0] or got["holes"][0] or got.get("labels_on_padding", [0])[0]:
            return None, None
        elif min(got["lengths"]) == length:
            packed = Packed(batch, length, config.is_decoder)
        elif min(got["lengths"]) == 0:
            return None, None  # an all-padding row: the reference attends to every position there
        else:
            lengths = got["lengths"]
            indices = torch.cat([torch.arange(i * length, i * length + n) for i, n in enumerate(lengths)])
            attn_mask = keep[:, None, None, :]
            if config.is_decoder:
                attn_mask = attn_mask & torch.ones(length, length, dtype=torch.bool, device=keep.device).tril()
            packed = Packed(batch, length, config.is_decoder, indices.to(keep.device), lengths, attn_mask)
        if read_at is None or got.get("read_on_padding", [0])[0] or sum(got["read"]) >= sum(packed.lengths or
                                                                                            [batch * length]):
            return packed, None
        # the positions read (their count is known: no second synchronisation), then their rows
        queries = torch.nonzero_static(read_at.reshape(-1), size=sum(got["read"])).squeeze(1)
        if packed.indices is not None:  # the row of a position: the real tokens before it
            queries = (keep.reshape(-1).long().cumsum(0) - 1).index_select(0, queries)
        return packed, replace(packed, queries=queries, query_lengths=got["read"])

    def packed_zeros(self, attention_mask: Tensor, labels: Tensor | None, label_shift: int) -> Tensor | None:
        """While tracing: the (B, L) positions where the packed layout, had :meth:`plan` chosen it for
        these values, would leave zeros (the padding of a right-padded 0/1 mask without empty rows), as
        tensor operations that the graph replays on any input; None when it never would."""
        if attention_mask.dim() != 2:
            return None
        keep = attention_mask != 0
        packable = ~((attention_mask != 0) & (attention_mask != 1)).any()  # no fractional values
        packable = packable & ~(keep[:, 1:] & ~keep[:, :-1]).any() & keep.any(dim=1).all()  # no holes, no empty row
        if labels is not None and tuple(labels.shape) == tuple(keep.shape):
            length = keep.shape[1]
            packable = packable & ~((labels[:, label_shift:] != -100) & ~keep[:, :length - label_shift]).any()
        return ~keep & packable

    # -------------------------------------------------------------------------------- input handling
    def check_inputs(self, input_ids: Tensor | None, inputs_embeds: Tensor | None, token_type_ids: Tensor | None,
                     position_ids: Tensor | None, encoder_hidden_states: Tensor | None) -> tuple[int, int]:
        """Exactly one of ``input_ids`` / ``inputs_embeds``; types and shapes that fit; returns (B, L)."""
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("give exactly one of input_ids and inputs_embeds")
        hidden = self.config.hidden_size
        if input_ids is not None:
            check_integer_tensor("input_ids", input_ids)
            if input_ids.dim() != 2:
                raise ValueError(f"input_ids must have shape (batch, length), got {tuple(input_ids.shape)}")
            shape = tuple(input_ids.shape)
        else:
            if not isinstance(inputs_embeds, Tensor) or not inputs_embeds.is_floating_point():
                raise TypeError("inputs_embeds must be a floating-point torch.Tensor")
            if inputs_embeds.dim() != 3 or inputs_embeds.shape[-1] != hidden:
                raise ValueError(f"inputs_embeds must have shape (batch, length, hidden_size={hidden}), "
                                 f"got {tuple(inputs_embeds.shape)}")
            if inputs_embeds.dtype != self.dtype:
                raise TypeError(f"inputs_embeds has dtype {inputs_embeds.dtype}, the model's weights {self.dtype}")
            shape = tuple(inputs_embeds.shape[:2])
        if shape[1] == 0:
            raise ValueError(f"{'input_ids' if input_ids is not None else 'inputs_embeds'} is empty: length 0")
        for name, ids in (("token_type_ids", token_type_ids), ("position_ids", position_ids)):
            if ids is not None:
                check_integer_tensor(name, ids)
                if tuple(ids.shape) != shape and not (name == "position_ids" and tuple(ids.shape) == (1, shape[1])):
                    raise ValueError(f"{name} has shape {tuple(ids.shape)}, the input {shape}")
        if encoder_hidden_states is not None and (
            not isinstance(encoder_hidden_states, Tensor) or encoder_hidden_states.dim() != 3
            or encoder_hidden_states.shape[0] != shape[0] or encoder_hidden_states.shape[-1] != hidden
        ):
            got = tuple(encoder_hidden_states.shape) if isinstance(encoder_hidden_states, Tensor) else None
            raise ValueError(f"encoder_hidden_states must have shape ({shape[0]}, encoder length, "
                             f"hidden_size={hidden}), got {got}")
        return shape

    def extended_attention_mask(
        self,
        mask: Tensor,
        query_shape: tuple[int, int],
        key_length_or_past: int,
        dtype: torch.dtype,
        *,
        causal: bool | None = None,
        name: str = "attention_mask",
    ) -> Tensor:
        """A 0/1 mask (B, Lk) or (B, Lq, Lk) → additive (B, 1, Lq or 1, Lk): 0 kept, ``finfo.min`` masked.

        For self-attention ``key_length_or_past`` is the cached length and keys are ``past + Lq``; in
        decoder mode a 2-D mask is combined with the causal mask. For cross-attention it is the encoder length.
        """
        batch, q_len = query_shape
        causal = self.config.is_decoder if causal is None else causal
        k_len = key_length_or_past + q_len if name == "attention_mask" else key_length_or_past
        if not isinstance(mask, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(mask).__name__}")
        if mask.dim() == 2 and mask.shape == (batch, k_len):
            mask = mask[:, None, None, :].to(dtype)
            if causal:
                keys = torch.arange(k_len, device=mask.device)
                queries = torch.arange(k_len - q_len, k_len, device=mask.device)
                mask = mask * (keys[None, :] <= queries[:, None]).to(dtype)[None, None]
        elif mask.dim() == 3 and mask.shape == (batch, q_len, k_len):
            mask = mask[:, None, :, :].to(dtype)
        else:
            raise ValueError(f"{name} has shape {tuple(mask.shape)}; expected ({batch}, {k_len}) or "
                             f"({batch}, {q_len}, {k_len}) for this input")
        return (1.0 - mask) * torch.finfo(dtype).min

    def layer_head_masks(self, head_mask: Tensor | None) -> list[Tensor | None]:
        """``head_mask`` of shape (heads,) or (layers, heads) → one (1, heads, 1, 1) mask per layer."""
        layers, heads = self.config.num_hidden_layers, self.config.num_attention_heads
        if head_mask is None:
            return [None] * layers
        if self.config.pruned_heads:
            raise ValueError("head_mask cannot be combined with pruned heads (config.pruned_heads): the layers "
                             "no longer have num_attention_heads heads each")
        if head_mask.dim() == 1 and head_mask.shape[0] == heads:
            head_mask = head_mask.expand(layers, heads)
        elif head_mask.dim() != 2 or tuple(head_mask.shape) != (layers, heads):
            raise ValueError(f"head_mask has shape {tuple(head_mask.shape)}; expected ({heads},) or ({layers}, {heads})")
        head_mask = head_mask.to(self.dtype)
        return [head_mask[i][None, :, None, None] for i in range(layers)]


# ----------------------------------------------------------------------------------------------- heads
class RobertaPreLayerNormLMHead(nn.Module):
    """dense → gelu → layer_norm → decoder (tied to the word embeddings) + bias."""

    def __init__(self, config: RobertaPreLayerNormConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))
        self.decoder.bias = self.bias

    def forward(self, features: Tensor) -> Tensor:
        return kernels.decoder_linear(self.decoder, self.layer_norm(kernels.linear(self.dense, features, act="gelu")))


class RobertaPreLayerNormClassificationHead(nn.Module):
    """Token 0 → dropout → dense → tanh → dropout → out_proj."""

    def __init__(self, config: RobertaPreLayerNormConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout = nn.Dropout(classifier_dropout(config))
        self.out_proj = nn.Linear(config.hidden_size, config.num_labels)

    def forward(self, features: Tensor) -> Tensor:
        x = kernels.linear(self.dense, self.dropout(features[:, 0]), act="tanh")
        return self.out_proj(self.dropout(x))


def classifier_dropout(config: RobertaPreLayerNormConfig) -> float:
    return config.hidden_dropout_prob if config.classifier_dropout is None else config.classifier_dropout


def check_integer_tensor(name: str, x: object) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.is_floating_point() or x.is_complex() or x.dtype == torch.bool:
        raise TypeError(f"{name} must hold integers, got dtype {x.dtype}")


def check_labels(labels: Tensor, expected: tuple[int, ...] | list[tuple[int, ...]], name: str = "labels",
                 *, integer: bool = False) -> None:
    """Labels of a fitting shape (and an integer dtype for class ids). Their values are checked in
    :meth:`RobertaPreLayerNormModel.plan`, with the inputs, in the forward's one synchronisation."""
    shapes = expected if isinstance(expected, list) else [expected]
    if not isinstance(labels, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(labels).__name__}")
    if tuple(labels.shape) not in shapes:
        wanted = " or ".join(str(s) for s in shapes)
        raise ValueError(f"{name} has shape {tuple(labels.shape)}, which does not fit the logits: expected {wanted}")
    if integer:
        check_integer_tensor(name, labels)


def check_positions(logits_at: Tensor, shape: tuple[int, int]) -> None:
    if not isinstance(logits_at, Tensor) or logits_at.dtype != torch.bool or tuple(logits_at.shape) != shape:
        got = (tuple(logits_at.shape), logits_at.dtype) if isinstance(logits_at, Tensor) else type(logits_at).__name__
        raise ValueError(f"logits_at must be a bool tensor of the input's shape {shape}, got {got}")


def tuple_output(loss: Tensor | None, *outputs: Any) -> tuple:
    """The ``return_dict=False`` form: the loss (if any), then every output that is not None."""
    rest = tuple(x for x in outputs if x is not None)
    return ((loss,) + rest) if loss is not None else rest


class LanguageModel(RobertaPreLayerNormPreTrainedModel):
    """What the masked and the causal LM share: the LM head, tied to the word embeddings, run on the
    real tokens only, or only at ``logits_at`` (the sparse LM head)."""

    _tied_weights_keys = ["lm_head.decoder.weight", "lm_head.decoder.bias"]

    def __init__(self, config: RobertaPreLayerNormConfig) -> None:
        super().__init__(config)
        self.roberta_prelayernorm = RobertaPreLayerNormModel(config, add_pooling_layer=False)
        self.lm_head = RobertaPreLayerNormLMHead(config)
        self.post_init()

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head.decoder

    def set_output_embeddings(self, new_embeddings: nn.Linear) -> None:
        self.lm_head.decoder = new_embeddings
        self.lm_head.bias = new_embeddings.bias

    def logits(self, encoded: Encoded, logits_at: Tensor | None) -> Tensor:
        """(B, L, V) logits (zeros at padding when packed), or (count, V) at ``logits_at`` in row-major order."""
        if logits_at is None:
            return encoded.layout.unpack(self.lm_head(encoded.rows))
        if encoded.read_at is not None:  # the encoder computed the final states only there
            return self.lm_head(encoded.rows)
        return self.lm_head(encoded.last_hidden_state[logits_at.to(encoded.rows.device)])


class RobertaPreLayerNormForMaskedLM(LanguageModel):
    def forward(
        self,
        input_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        position_ids: Tensor | None = None,
        head_mask: Tensor | None = None,
        inputs_embeds: Tensor | None = None,
        encoder_hidden_states: Tensor | None = None,
        encoder_attention_mask: Tensor | None = None,
        labels: Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        *,
        logits_at: Tensor | None = None,
    ) -> MaskedLMOutput | tuple:
        """The reference's forward, plus ``logits_at``: a (batch, length) bool tensor that runs the LM
        head only there (pretraining, fill-mask); ``logits`` are then (count, vocab) in row-major order
        and the loss is over those positions."""
        return_dict = self.config.use_return_dict if return_dict is None else return_dict
        base = self.roberta_prelayernorm
        shape = base.check_inputs(input_ids, inputs_embeds, token_type_ids, position_ids, encoder_hidden_states)
        if labels is not None:
            check_labels(labels, shape, integer=True)
        if logits_at is not None:
            check_positions(logits_at, shape)
        encoded = base.encode(
            input_ids, attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds,
            encoder_hidden_states, encoder_attention_mask, output_attentions=output_attentions,
            output_hidden_states=output_hidden_states, labels=labels, label_classes=self.config.vocab_size,
            read_at=logits_at,
        )
        logits = self.logits(encoded, logits_at)
        loss = None
        if labels is not None:
            labels = labels.to(logits.device)
            targets = labels[logits_at.to(logits.device)] if logits_at is not None else labels.view(-1)
            loss = cross_entropy(logits.view(-1, logits.shape[-1]), targets)
        if not return_dict:
            return tuple_output(loss, logits, encoded.hidden_states, encoded.attentions)
        return MaskedLMOutput(loss=loss, logits=logits, hidden_states=encoded.hidden_states,
                              attentions=encoded.attentions)


class RobertaPreLayerNormForCausalLM(LanguageModel, GenerationMixin):
    def forward(
        self,
        input_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        position_ids: Tensor | None = None,
        head_mask: Tensor | None = None,
        inputs_embeds: Tensor | None = None,
        encoder_hidden_states: Tensor | None = None,
        encoder_attention_mask: Tensor | None = None,
        labels: Tensor | None = None,
        past_key_values: Cache | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        *,
        logits_at: Tensor | None = None,
    ) -> CausalLMOutputWithCrossAttentions | tuple:
        """The reference's forward, plus ``logits_at`` (generation asks for the last position only);
        with labels the loss needs every position, so ``logits_at`` cannot be combined with them."""
        return_dict = self.config.use_return_dict if return_dict is None else return_dict
        base = self.roberta_prelayernorm
        shape = base.check_inputs(input_ids, inputs_embeds, token_type_ids, position_ids, encoder_hidden_states)
        if labels is not None:
            check_labels(labels, shape, integer=True)
            use_cache = False
            if logits_at is not None:
                raise ValueError("the causal LM's loss needs the logits at every position: pass labels or logits_at")
        if logits_at is not None:
            check_positions(logits_at, shape)
        encoded = base.encode(
            input_ids, attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds,
            encoder_hidden_states, encoder_attention_mask, past_key_values, use_cache,
            output_attentions, output_hidden_states, labels=labels, label_shift=1,
            label_classes=self.config.vocab_size,
        )
        logits = self.logits(encoded, logits_at)
        loss = None
        if labels is not None:
            shifted = logits[:, :-1].reshape(-1, logits.shape[-1])
            loss = cross_entropy(shifted, labels[:, 1:].to(logits.device).reshape(-1))
        if not return_dict:
            return tuple_output(loss, logits, encoded.past_key_values, encoded.hidden_states, encoded.attentions,
                                encoded.cross_attentions)
        return CausalLMOutputWithCrossAttentions(
            loss=loss, logits=logits, past_key_values=encoded.past_key_values, hidden_states=encoded.hidden_states,
            attentions=encoded.attentions, cross_attentions=encoded.cross_attentions,
        )


class RobertaPreLayerNormForSequenceClassification(RobertaPreLayerNormPreTrainedModel):
    def __init__(self, config: RobertaPreLayerNormConfig) -> None:
        super().__init__(config)
        self.roberta_prelayernorm = RobertaPreLayerNormModel(config, add_pooling_layer=False)
        self.classifier = RobertaPreLayerNormClassificationHead(config)
        self.post_init()

    def forward(
        self,
        input_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        position_ids: Tensor | None = None,
        head_mask: Tensor | None = None,
        inputs_embeds: Tensor | None = None,
        labels: Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> SequenceClassifierOutput | tuple:
        return_dict = self.config.use_return_dict if return_dict is None else return_dict
        base = self.roberta_prelayernorm
        shape = base.check_inputs(input_ids, inputs_embeds, token_type_ids, position_ids, None)
        problem_type = self.problem_type(labels, shape[0]) if labels is not None else None
        single = problem_type == "single_label_classification"
        device = (input_ids if input_ids is not None else inputs_embeds).device
        encoded = base.encode(
            input_ids, attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds,
            output_attentions=output_attentions, output_hidden_states=output_hidden_states,
            labels=labels if single else None, label_classes=self.config.num_labels,
            read_at=first_tokens_mask(shape, device),
        )
        logits = self.classifier(encoded.first_tokens())
        loss = self.classification_loss(logits, labels, problem_type) if labels is not None else None
        if not return_dict:
            return tuple_output(loss, logits, encoded.hidden_states, encoded.attentions)
        return SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=encoded.hidden_states,
                                        attentions=encoded.attentions)

    def problem_type(self, labels: Tensor, batch: int) -> str:
        """``config.problem_type``, or inferred from the labels; checks the labels' shape for it."""
        num_labels = self.config.num_labels
        problem_type = self.config.problem_type
        if problem_type is None:
            if num_labels == 1:
                problem_type = "regression"
            elif isinstance(labels, Tensor) and not labels.is_floating_point():
                problem_type = "single_label_classification"
            else:
                problem_type = "multi_label_classification"
        if problem_type == "regression":
            check_labels(labels, [(batch,), (batch, 1)] if num_labels == 1 else [(batch, num_labels)])
        elif problem_type == "single_label_classification":
            check_labels(labels, [(batch,), (batch, 1)], integer=True)
        else:
            check_labels(labels, (batch, num_labels))
        return problem_type

    def classification_loss(self, logits: Tensor, labels: Tensor, problem_type: str) -> Tensor:
        """MSE, cross-entropy or BCE by problem type."""
        num_labels = self.config.num_labels
        labels = labels.to(logits.device)
        if problem_type == "regression":
            if num_labels == 1:
                return F.mse_loss(logits.squeeze(), labels.squeeze().to(logits.dtype))
            return F.mse_loss(logits, labels.to(logits.dtype))
        if problem_type == "single_label_classification":
            return F.cross_entropy(logits.view(-1, num_labels), labels.view(-1))
        return F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))


class RobertaPreLayerNormForMultipleChoice(RobertaPreLayerNormPreTrainedModel):
    def __init__(self, config: RobertaPreLayerNormConfig) -> None:
        super().__init__(config)
        self.roberta_prelayernorm = RobertaPreLayerNormModel(config)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.classifier = nn.Linear(config.hidden_size, 1)
        self.post_init()

    def forward(
        self,
        input_ids: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        labels: Tensor | None = None,
        position_ids: Tensor | None = None,
        head_mask: Tensor | None = None,
        inputs_embeds: Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> MultipleChoiceModelOutput | tuple:
        return_dict = self.config.use_return_dict if return_dict is None else return_dict
        source = input_ids if input_ids is not None else inputs_embeds
        if source is None or source.dim() != (3 if input_ids is not None else 4):
            raise ValueError("multiple choice takes input_ids of shape (batch, choices, length) "
                             "or inputs_embeds of shape (batch, choices, length, hidden)")
        num_choices = source.shape[1]
        if labels is not None:
            check_labels(labels, (source.shape[0],), integer=True)
        flat = lambda x: x.reshape(-1, x.shape[-1]) if x is not None else None  # noqa: E731
        base = self.roberta_prelayernorm
        encoded = base.encode(
            flat(input_ids), flat(attention_mask), flat(token_type_ids), flat(position_ids), head_mask,
            inputs_embeds.reshape(-1, *inputs_embeds.shape[-2:]) if inputs_embeds is not None else None,
            output_attentions=output_attentions, output_hidden_states=output_hidden_states,
            labels=labels, label_classes=num_choices,
            read_at=first_tokens_mask((source.shape[0] * num_choices, source.shape[2]), source.device),
        )
        pooled = base.pooler(encoded.first_tokens())
        logits = self.classifier(self.dropout(pooled)).view(-1, num_choices)
        loss = F.cross_entropy(logits, labels.to(logits.device)) if labels is not None else None
        if not return_dict:
            return tuple_output(loss, logits, encoded.hidden_states, encoded.attentions)
        return MultipleChoiceModelOutput(loss=loss, logits=logits, hidden_states=encoded.hidden_states,
                                         attentions=encoded.attentions)


class RobertaPreLayerNormForTokenClassification(RobertaPreLayerNormPreTrainedModel):
    def __init__(self, config: RobertaPreLayerNormConfig) -> None:
        super().__init__(config)
        self.roberta_prelayernorm = RobertaPreLayerNormModel(config, add_pooling_layer=False)
        self.dropout = nn.Dropout(classifier_dropout(config))
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(
        self,
        input_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        position_ids: Tensor | None = None,
        head_mask: Tensor | None = None,
        inputs_embeds: Tensor | None = None,
        labels: Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> TokenClassifierOutput | tuple:
        return_dict = self.config.use_return_dict if return_dict is None else return_dict
        base = self.roberta_prelayernorm
        shape = base.check_inputs(input_ids, inputs_embeds, token_type_ids, position_ids, None)
        if labels is not None:
            check_labels(labels, shape, integer=True)
        encoded = base.encode(
            input_ids, attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds,
            output_attentions=output_attentions, output_hidden_states=output_hidden_states,
            labels=labels, label_classes=self.config.num_labels,
        )
        logits = encoded.layout.unpack(self.classifier(self.dropout(encoded.rows)))
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.view(-1, self.config.num_labels), labels.to(logits.device).view(-1))
        if not return_dict:
            return tuple_output(loss, logits, encoded.hidden_states, encoded.attentions)
        return TokenClassifierOutput(loss=loss, logits=logits, hidden_states=encoded.hidden_states,
                                     attentions=encoded.attentions)


class RobertaPreLayerNormForQuestionAnswering(RobertaPreLayerNormPreTrainedModel):
    def __init__(self, config: RobertaPreLayerNormConfig) -> None:
        super().__init__(config)
        if config.num_labels != 2:
            raise ValueError(f"question answering predicts start and end: it needs num_labels=2, "
                             f"got {config.num_labels}")
        self.roberta_prelayernorm = RobertaPreLayerNormModel(config, add_pooling_layer=False)
        self.qa_outputs = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(
        self,
        input_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        position_ids: Tensor | None = None,
        head_mask: Tensor | None = None,
        inputs_embeds: Tensor | None = None,
        start_positions: Tensor | None = None,
        end_positions: Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> QuestionAnsweringModelOutput | tuple:
        return_dict = self.config.use_return_dict if return_dict is None else return_dict
        base = self.roberta_prelayernorm
        batch, _ = base.check_inputs(input_ids, inputs_embeds, token_type_ids, position_ids, None)
        with_loss = start_positions is not None and end_positions is not None
        if with_loss:
            for name, positions in (("start_positions", start_positions), ("end_positions", end_positions)):
                check_labels(positions, [(batch,), (batch, 1)], name)
        # the loss normalises over every position, padding included: only the padded layout has the
        # reference's values there
        encoded = base.encode(
            input_ids, attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds,
            output_attentions=output_attentions, output_hidden_states=output_hidden_states, padding_is_read=with_loss,
        )
        logits = encoded.layout.unpack(self.qa_outputs(encoded.rows))
        start_logits, end_logits = (x.squeeze(-1).contiguous() for x in logits.split(1, dim=-1))
        loss = None
        if with_loss:
            ignored = start_logits.shape[1]  # positions outside the sequence are clamped to L and ignored
            losses = [F.cross_entropy(logits_, positions.reshape(-1).to(logits_.device).clamp(0, ignored),
                                      ignore_index=ignored)
                      for positions, logits_ in ((start_positions, start_logits), (end_positions, end_logits))]
            loss = (losses[0] + losses[1]) / 2
        if not return_dict:
            return tuple_output(loss, start_logits, end_logits, encoded.hidden_states, encoded.attentions)
        return QuestionAnsweringModelOutput(loss=loss, start_logits=start_logits, end_logits=end_logits,
                                            hidden_states=encoded.hidden_states, attentions=encoded.attentions)


# ------------------------------------------------------------------------------------- auto classes
def _auto(cls: type[RobertaPreLayerNormPreTrainedModel], name: str) -> type:
    """``AutoModel...``: the one class of this family for that task."""
    return type(name, (), {"from_pretrained": staticmethod(cls.from_pretrained),
                           "from_config": staticmethod(lambda config, **kw: cls(config, **kw)),
                           "__doc__": f"Loads a :class:`{cls.__name__}`."})


AutoModel = _auto(RobertaPreLayerNormModel, "AutoModel")
AutoModelForCausalLM = _auto(RobertaPreLayerNormForCausalLM, "AutoModelForCausalLM")
AutoModelForMaskedLM = _auto(RobertaPreLayerNormForMaskedLM, "AutoModelForMaskedLM")
AutoModelForSequenceClassification = _auto(RobertaPreLayerNormForSequenceClassification,
                                           "AutoModelForSequenceClassification")
AutoModelForMultipleChoice = _auto(RobertaPreLayerNormForMultipleChoice, "AutoModelForMultipleChoice")
AutoModelForTokenClassification = _auto(RobertaPreLayerNormForTokenClassification, "AutoModelForTokenClassification")
AutoModelForQuestionAnswering = _auto(RobertaPreLayerNormForQuestionAnswering, "AutoModelForQuestionAnswering")
