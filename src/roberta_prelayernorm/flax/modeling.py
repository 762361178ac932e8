"""RoBERTa-PreLayerNorm in Flax (``flax.linen``): embeddings → attention → layer → encoder → model, then heads.

Module names equal the parameter paths of the reference's ``flax_model.msgpack``
(``roberta_prelayernorm/encoder/layer/0/attention/self/query/kernel``), so its files load with no
renaming, and the PyTorch names differ only in the leaf (``core.layouts.flax``). Pre-LN in one line
per block::

    x = x + attention(LN(x))        # RobertaPreLayerNormAttention
    x = x + ffn(LN(x))              # RobertaPreLayerNormIntermediate + RobertaPreLayerNormOutput

and one final ``LayerNorm`` after the last layer. Every module takes ``dtype`` (the computation) and
``param_dtype`` (the parameters, float32 by default). The seven ``Flax…`` classes at the end wrap a
module and its parameters (see ``pretrained.py``).
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from ..core.config import RobertaPreLayerNormConfig
from .generation import FlaxGenerationMixin
from .outputs import (
    FlaxBaseModelOutputWithPoolingAndCrossAttentions,
    FlaxCausalLMOutputWithCrossAttentions,
    FlaxMaskedLMOutput,
    FlaxMultipleChoiceModelOutput,
    FlaxQuestionAnsweringModelOutput,
    FlaxSequenceClassifierOutput,
    FlaxTokenClassifierOutput,
)
from .pretrained import FlaxRobertaPreLayerNormPreTrainedModel, position_ids_from_input_ids

Array = jax.Array
Dtype = Any

# "gelu" is the exact (erf) GELU; flax's and jax's gelu default to the tanh approximation
ACT2FN: dict[str, Callable[[Array], Array]] = {
    "gelu": partial(nn.gelu, approximate=False),
    "gelu_new": partial(nn.gelu, approximate=True),
    "gelu_pytorch_tanh": partial(nn.gelu, approximate=True),
    "relu": nn.relu,
    "silu": nn.silu,
    "swish": nn.silu,
}


def dense(module: nn.Module, features: int) -> nn.Dense:
    """A dense layer with the reference initialisation: kernel N(0, initializer_range), bias 0."""
    return nn.Dense(features, dtype=module.dtype, param_dtype=module.param_dtype,
                    kernel_init=nn.initializers.normal(module.config.initializer_range))


def layer_norm(module: nn.Module) -> nn.LayerNorm:
    """A LayerNorm with the config's epsilon (flax's default is 1e-6)."""
    return nn.LayerNorm(epsilon=module.config.layer_norm_eps, dtype=module.dtype, param_dtype=module.param_dtype)


# ------------------------------------------------------------------------------------------ embeddings
class RobertaPreLayerNormEmbeddings(nn.Module):
    """Word + token type (+ absolute position) embeddings, then LayerNorm and dropout."""

    config: RobertaPreLayerNormConfig
    dtype: Dtype = jnp.float32
    param_dtype: Dtype = jnp.float32

    def setup(self) -> None:
        c = self.config
        embed = partial(nn.Embed, features=c.hidden_size, dtype=self.dtype, param_dtype=self.param_dtype,
                        embedding_init=nn.initializers.normal(c.initializer_range))
        self.word_embeddings = embed(c.vocab_size)
        self.position_embeddings = embed(c.max_position_embeddings)
        self.token_type_embeddings = embed(c.type_vocab_size)
        self.LayerNorm = layer_norm(self)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)

    def __call__(self, input_ids: Array, token_type_ids: Array, position_ids: Array, deterministic: bool) -> Array:
        x = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
        positions = self.position_embeddings(position_ids)  # called always, so the table is in the tree
        if self.config.position_embedding_type == "absolute":
            x = x + positions
        return self.dropout(self.LayerNorm(x), deterministic=deterministic)


# ------------------------------------------------------------------------------------------- attention
class RobertaPreLayerNormSelfAttention(nn.Module):
    """Multi-head attention: self-attention (causal in a decoder, with an optional key/value cache), or
    cross-attention over ``key_value_states``.

    The cache is the ``"cache"`` collection, as in the reference: ``cached_key`` / ``cached_value`` of
    shape (batch, max_length, heads, head_dim) and ``cache_index``, the number of positions written.
    """

    config: RobertaPreLayerNormConfig
    causal: bool = False
    position_embedding_type: str = "absolute"
    dtype: Dtype = jnp.float32
    param_dtype: Dtype = jnp.float32

    def setup(self) -> None:
        c = self.config
        self.num_heads = c.num_attention_heads
        self.head_dim = c.hidden_size // c.num_attention_heads
        self.query = dense(self, c.hidden_size)
        self.key = dense(self, c.hidden_size)
        self.value = dense(self, c.hidden_size)
        if self.position_embedding_type != "absolute":
            self.distance_embedding = nn.Embed(2 * c.max_position_embeddings - 1, self.head_dim, dtype=self.dtype,
                                               param_dtype=self.param_dtype,
                                               embedding_init=nn.initializers.normal(c.initializer_range))
        # one mask shared across batch and heads, as the reference's Flax attention dropout
        self.dropout = nn.Dropout(c.attention_probs_dropout_prob, broadcast_dims=(0, 1))

    def heads(self, x: Array) -> Array:
        """(B, L, H·D) → (B, L, H, D)."""
        return x.reshape(*x.shape[:2], self.num_heads, self.head_dim)

    def __call__(
        self,
        hidden_states: Array,
        mask: Array | None,  # bool (B, 1, 1 or Lq, Lk), True where attention is allowed
        head_mask: Array | None,  # (H,)
        key_value_states: Array | None = None,
        init_cache: bool = False,
        deterministic: bool = True,
        output_attentions: bool = False,
    ) -> tuple[Array, Array | None]:
        source = hidden_states if key_value_states is None else key_value_states
        query = self.heads(self.query(hidden_states))  # (B, Lq, H, D)
        key, value = self.heads(self.key(source)), self.heads(self.value(source))  # (B, Lk, H, D)
        q_start = 0
        if self.causal and (init_cache or self.has_variable("cache", "cached_key")):
            key, value, q_start = self.update_cache(key, value)
        q_pos = q_start + jnp.arange(query.shape[1])
        k_pos = jnp.arange(key.shape[1])
        if self.causal:  # also hides the cache rows not written yet
            allowed = (k_pos[None, :] <= q_pos[:, None])[None, None]
            mask = allowed if mask is None else mask & allowed

        scores = jnp.einsum("bqhd,bkhd->bhqk", query, key)  # (B, H, Lq, Lk)
        if self.position_embedding_type != "absolute":
            distance = q_pos[:, None] - k_pos[None, :] + self.config.max_position_embeddings - 1
            table = self.distance_embedding(distance)  # (Lq, Lk, D)
            scores = scores + jnp.einsum("bqhd,qkd->bhqk", query, table)
            if self.position_embedding_type == "relative_key_query":
                scores = scores + jnp.einsum("bkhd,qkd->bhqk", key, table)
        scores = scores / jnp.asarray(math.sqrt(self.head_dim), scores.dtype)
        if mask is not None:
            scores = scores + jnp.where(mask, 0.0, jnp.finfo(scores.dtype).min).astype(scores.dtype)
        probs = self.dropout(jax.nn.softmax(scores, axis=-1), deterministic=deterministic)
        if head_mask is not None:
            probs = probs * head_mask.astype(probs.dtype)[None, :, None, None]
        context = jnp.einsum("bhqk,bkhd->bqhd", probs, value)
        context = context.reshape(*context.shape[:2], -1)  # (B, Lq, H·D)
        return context, (probs if output_attentions else None)

    @nn.compact  # the cache variables are created here, on the first (init_cache) call
    def update_cache(self, key: Array, value: Array) -> tuple[Array, Array, Array | int]:
        """Write this call's keys/values at ``cache_index``; returns the whole cache and where the call's
        queries start. The first call (from ``init_cache``) only creates the variables."""
        initialized = self.has_variable("cache", "cached_key")
        cached_key = self.variable("cache", "cached_key", jnp.zeros, key.shape, key.dtype)
        cached_value = self.variable("cache", "cached_value", jnp.zeros, value.shape, value.dtype)
        cache_index = self.variable("cache", "cache_index", lambda: jnp.array(0, dtype=jnp.int32))
        if not initialized:
            return key, value, 0
        start = cache_index.value
        cached_key.value = lax.dynamic_update_slice(cached_key.value, key.astype(cached_key.value.dtype),
                                                    (0, start, 0, 0))
        cached_value.value = lax.dynamic_update_slice(cached_value.value, value.astype(cached_value.value.dtype),
                                                      (0, start, 0, 0))
        cache_index.value = start + key.shape[1]
        return cached_key.value.astype(key.dtype), cached_value.value.astype(value.dtype), start


class RobertaPreLayerNormSelfOutput(nn.Module):
    config: RobertaPreLayerNormConfig
    dtype: Dtype = jnp.float32
    param_dtype: Dtype = jnp.float32

    def setup(self) -> None:
        self.dense = dense(self, self.config.hidden_size)
        self.dropout = nn.Dropout(self.config.hidden_dropout_prob)

    def __call__(self, context: Array, deterministic: bool) -> Array:
        return self.dropout(self.dense(context), deterministic=deterministic)


class RobertaPreLayerNormAttention(nn.Module):
    """``x + output(self(LayerNorm(x)))``: the pre-LN attention block (cross-attention normalises only
    the query stream)."""

    config: RobertaPreLayerNormConfig
    causal: bool = False
    position_embedding_type: str = "absolute"
    dtype: Dtype = jnp.float32
    param_dtype: Dtype = jnp.float32

    def setup(self) -> None:
        self.self = RobertaPreLayerNormSelfAttention(self.config, self.causal, self.position_embedding_type,
                                                     self.dtype, self.param_dtype)
        self.output = RobertaPreLayerNormSelfOutput(self.config, self.dtype, self.param_dtype)
        self.LayerNorm = layer_norm(self)

    def __call__(self, hidden_states: Array, mask: Array | None, head_mask: Array | None,
                 key_value_states: Array | None = None, init_cache: bool = False, deterministic: bool = True,
                 output_attentions: bool = False) -> tuple[Array, Array | None]:
        context, probs = self.self(self.LayerNorm(hidden_states), mask, head_mask, key_value_states, init_cache,
                                   deterministic, output_attentions)
        return hidden_states + self.output(context, deterministic), probs


class RobertaPreLayerNormIntermediate(nn.Module):
    """``act(dense(LayerNorm(x)))``: the first half of the pre-LN feed-forward block."""

    config: RobertaPreLayerNormConfig
    dtype: Dtype = jnp.float32
    param_dtype: Dtype = jnp.float32

    def setup(self) -> None:
        self.LayerNorm = layer_norm(self)
        self.dense = dense(self, self.config.intermediate_size)

    def __call__(self, hidden_states: Array) -> Array:
        return ACT2FN[self.config.hidden_act](self.dense(self.LayerNorm(hidden_states)))


class RobertaPreLayerNormOutput(nn.Module):
    config: RobertaPreLayerNormConfig
    dtype: Dtype = jnp.float32
    param_dtype: Dtype = jnp.float32

    def setup(self) -> None:
        self.dense = dense(self, self.config.hidden_size)
        self.dropout = nn.Dropout(self.config.hidden_dropout_prob)

    def __call__(self, intermediate: Array, residual: Array, deterministic: bool) -> Array:
        return residual + self.dropout(self.dense(intermediate), deterministic=deterministic)


class RobertaPreLayerNormLayer(nn.Module):
    config: RobertaPreLayerNormConfig
    dtype: Dtype = jnp.float32
    param_dtype: Dtype = jnp.float32

    def setup(self) -> None:
        c = self.config
        self.attention = RobertaPreLayerNormAttention(c, c.is_decoder, c.position_embedding_type, self.dtype,
                                                      self.param_dtype)
        if c.add_cross_attention:  # always absolute, as in the reference
            self.crossattention = RobertaPreLayerNormAttention(c, False, "absolute", self.dtype, self.param_dtype)
        self.intermediate = RobertaPreLayerNormIntermediate(c, self.dtype, self.param_dtype)
        self.output = RobertaPreLayerNormOutput(c, self.dtype, self.param_dtype)

    def __call__(self, hidden_states: Array, mask: Array | None, head_mask: Array | None,
                 encoder_hidden_states: Array | None, encoder_mask: Array | None, init_cache: bool,
                 deterministic: bool, output_attentions: bool) -> tuple[Array, Array | None, Array | None]:
        x, self_probs = self.attention(hidden_states, mask, head_mask, init_cache=init_cache,
                                       deterministic=deterministic, output_attentions=output_attentions)
        cross_probs = None
        if encoder_hidden_states is not None:
            x, cross_probs = self.crossattention(x, encoder_mask, head_mask, encoder_hidden_states,
                                                 deterministic=deterministic, output_attentions=output_attentions)
        return self.output(self.intermediate(x), x, deterministic), self_probs, cross_probs


class RobertaPreLayerNormLayerCollection(nn.Module):
    """The layers, named ``0``, ``1``, …; with ``gradient_checkpointing`` each is recomputed in the
    backward pass (``nn.remat``) instead of keeping its activations."""

    config: RobertaPreLayerNormConfig
    dtype: Dtype = jnp.float32
    param_dtype: Dtype = jnp.float32
    gradient_checkpointing: bool = False

    def setup(self) -> None:
        layer = RobertaPreLayerNormLayer
        if self.gradient_checkpointing:  # flags are static; argument 0 is the module
            layer = nn.remat(layer, static_argnums=(6, 7, 8))
        self.layers = [layer(self.config, self.dtype, self.param_dtype, name=str(i))
                       for i in range(self.config.num_hidden_layers)]

    def __call__(self, hidden_states: Array, mask: Array | None, head_mask: Array | None,
                 encoder_hidden_states: Array | None, encoder_mask: Array | None, init_cache: bool,
                 deterministic: bool, output_attentions: bool, output_hidden_states: bool
                 ) -> tuple[Array, tuple | None, tuple | None, tuple | None]:
        all_hidden, all_attn, all_cross = [], [], []
        for i, layer in enumerate(self.layers):
            all_hidden.append(hidden_states)
            hidden_states, attn, cross = layer(hidden_states, mask, None if head_mask is None else head_mask[i],
                                               encoder_hidden_states, encoder_mask, init_cache, deterministic,
                                               output_attentions)
            all_attn.append(attn)
            all_cross.append(cross)
        all_hidden.append(hidden_states)  # before the final LayerNorm, as in the reference
        return (hidden_states,
                tuple(all_hidden) if output_hidden_states else None,
                tuple(all_attn) if output_attentions else None,
                tuple(all_cross) if output_attentions and encoder_hidden_states is not None else None)


class RobertaPreLayerNormEncoder(nn.Module):
    config: RobertaPreLayerNormConfig
    dtype: Dtype = jnp.float32
    param_dtype: Dtype = jnp.float32
    gradient_checkpointing: bool = False

    def setup(self) -> None:
        self.layer = RobertaPreLayerNormLayerCollection(self.config, self.dtype, self.param_dtype,
                                                        self.gradient_checkpointing)

    def __call__(self, *args: Any) -> tuple[Array, tuple | None, tuple | None, tuple | None]:
        return self.layer(*args)


class RobertaPreLayerNormPooler(nn.Module):
    config: RobertaPreLayerNormConfig
    dtype: Dtype = jnp.float32
    param_dtype: Dtype = jnp.float32

    def setup(self) -> None:
        self.dense = dense(self, self.config.hidden_size)

    def __call__(self, hidden_states: Array) -> Array:
        return jnp.tanh(self.dense(hidden_states[:, 0]))


def attention_mask_4d(mask: Array | None) -> Array | None:
    """0/1 (B, Lk) or (B, Lq, Lk) → bool (B, 1, 1 or Lq, Lk), True where attention is allowed."""
    if mask is None:
        return None
    mask = mask > 0
    return mask[:, None, None, :] if mask.ndim == 2 else mask[:, None, :, :]


# ------------------------------------------------------------------------------------------ the model
class RobertaPreLayerNormModule(nn.Module):
    """The bare encoder (or decoder, with ``is_decoder``): hidden states and an optional pooler output.

    Usable as a plain linen module: ``module.apply({"params": params}, input_ids, attention_mask)``.
    Without ``position_ids`` the positions come from ``input_ids`` (no cached tokens counted; the model
    classes count them).
    """

    config: RobertaPreLayerNormConfig
    dtype: Dtype = jnp.float32
    param_dtype: Dtype = jnp.float32
    add_pooling_layer: bool = True
    gradient_checkpointing: bool = False

    def setup(self) -> None:
        self.embeddings = RobertaPreLayerNormEmbeddings(self.config, self.dtype, self.param_dtype)
        self.encoder = RobertaPreLayerNormEncoder(self.config, self.dtype, self.param_dtype,
                                                  self.gradient_checkpointing)
        self.LayerNorm = layer_norm(self)
        if self.add_pooling_layer:
            self.pooler = RobertaPreLayerNormPooler(self.config, self.dtype, self.param_dtype)

    def __call__(
        self,
        input_ids: Array,
        attention_mask: Array | None = None,
        token_type_ids: Array | None = None,
        position_ids: Array | None = None,
        head_mask: Array | None = None,  # (layers, heads)
        encoder_hidden_states: Array | None = None,
        encoder_attention_mask: Array | None = None,
        init_cache: bool = False,
        deterministic: bool = True,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
    ) -> FlaxBaseModelOutputWithPoolingAndCrossAttentions:
        if token_type_ids is None:
            token_type_ids = jnp.zeros_like(input_ids)
        if position_ids is None:
            position_ids = position_ids_from_input_ids(input_ids, self.config.pad_token_id)
        hidden_states = self.embeddings(input_ids, token_type_ids, position_ids, deterministic)
        encoder_mask = None
        if encoder_hidden_states is not None:
            if encoder_attention_mask is None:
                encoder_attention_mask = jnp.ones(encoder_hidden_states.shape[:2], dtype=jnp.int32)
            encoder_mask = attention_mask_4d(encoder_attention_mask)
            encoder_hidden_states = encoder_hidden_states.astype(self.dtype)
        hidden_states, all_hidden, all_attn, all_cross = self.encoder(
            hidden_states, attention_mask_4d(attention_mask), head_mask, encoder_hidden_states, encoder_mask,
            init_cache, deterministic, output_attentions, output_hidden_states,
        )
        sequence_output = self.LayerNorm(hidden_states)
        pooled = self.pooler(sequence_output) if self.add_pooling_layer else None
        return FlaxBaseModelOutputWithPoolingAndCrossAttentions(
            last_hidden_state=sequence_output, pooler_output=pooled, hidden_states=all_hidden,
            attentions=all_attn, cross_attentions=all_cross,
        )


# ----------------------------------------------------------------------------------------------- heads
class RobertaPreLayerNormLMHead(nn.Module):
    """dense → gelu → layer_norm → decoder (the word embeddings when tied) + bias."""

    config: RobertaPreLayerNormConfig
    dtype: Dtype = jnp.float32
    param_dtype: Dtype = jnp.float32

    def setup(self) -> None:
        c = self.config
        self.dense = dense(self, c.hidden_size)
        self.layer_norm = layer_norm(self)
        self.decoder = nn.Dense(c.vocab_size, use_bias=False, dtype=self.dtype, param_dtype=self.param_dtype,
                                kernel_init=nn.initializers.normal(c.initializer_range))  # untied only
        self.bias = self.param("bias", nn.initializers.zeros, (c.vocab_size,), self.param_dtype)

    def __call__(self, features: Array, word_embeddings: Array | None) -> Array:
        x = self.layer_norm(ACT2FN["gelu"](self.dense(features)))
        if word_embeddings is None:
            x = self.decoder(x)
        else:
            x = x @ word_embeddings.T.astype(self.dtype)
        return x + self.bias.astype(self.dtype)


class RobertaPreLayerNormClassificationHead(nn.Module):
    """Token 0 → dropout → dense → tanh → dropout → out_proj."""

    config: RobertaPreLayerNormConfig
    dtype: Dtype = jnp.float32
    param_dtype: Dtype = jnp.float32

    def setup(self) -> None:
        self.dense = dense(self, self.config.hidden_size)
        self.dropout = nn.Dropout(classifier_dropout(self.config))
        self.out_proj = dense(self, self.config.num_labels)

    def __call__(self, features: Array, deterministic: bool) -> Array:
        x = jnp.tanh(self.dense(self.dropout(features[:, 0], deterministic=deterministic)))
        return self.out_proj(self.dropout(x, deterministic=deterministic))


def classifier_dropout(config: RobertaPreLayerNormConfig) -> float:
    return config.hidden_dropout_prob if config.classifier_dropout is None else config.classifier_dropout


class _HeadModule(nn.Module):
    """A base model under ``roberta_prelayernorm`` and a head; subclasses say which and what it computes."""

    config: RobertaPreLayerNormConfig
    dtype: Dtype = jnp.float32
    param_dtype: Dtype = jnp.float32
    gradient_checkpointing: bool = False
    add_pooling_layer = False

    def setup(self) -> None:
        self.roberta_prelayernorm = RobertaPreLayerNormModule(self.config, self.dtype, self.param_dtype,
                                                              self.add_pooling_layer, self.gradient_checkpointing)
        self.setup_head()

    def setup_head(self) -> None:
        raise NotImplementedError

    def base(self, input_ids: Array, *args: Any, **kwargs: Any) -> FlaxBaseModelOutputWithPoolingAndCrossAttentions:
        return self.roberta_prelayernorm(input_ids, *args, **kwargs)

    def word_embeddings(self) -> Array | None:
        """The embedding table the LM head decodes with, when tied."""
        if not self.config.tie_word_embeddings:
            return None
        return self.roberta_prelayernorm.variables["params"]["embeddings"]["word_embeddings"]["embedding"]


class RobertaPreLayerNormForMaskedLMModule(_HeadModule):
    def setup_head(self) -> None:
        self.lm_head = RobertaPreLayerNormLMHead(self.config, self.dtype, self.param_dtype)

    def __call__(self, input_ids: Array, *args: Any, deterministic: bool = True, **kwargs: Any) -> FlaxMaskedLMOutput:
        out = self.base(input_ids, *args, deterministic=deterministic, **kwargs)
        logits = self.lm_head(out.last_hidden_state, self.word_embeddings())
        return FlaxMaskedLMOutput(logits=logits, hidden_states=out.hidden_states, attentions=out.attentions)


class RobertaPreLayerNormForCausalLMModule(RobertaPreLayerNormForMaskedLMModule):
    def __call__(self, input_ids: Array, *args: Any, deterministic: bool = True, **kwargs: Any
                 ) -> FlaxCausalLMOutputWithCrossAttentions:
        out = self.base(input_ids, *args, deterministic=deterministic, **kwargs)
        logits = self.lm_head(out.last_hidden_state, self.word_embeddings())
        return FlaxCausalLMOutputWithCrossAttentions(logits=logits, hidden_states=out.hidden_states,
                                                     attentions=out.attentions, cross_attentions=out.cross_attentions)


class RobertaPreLayerNormForSequenceClassificationModule(_HeadModule):
    def setup_head(self) -> None:
        self.classifier = RobertaPreLayerNormClassificationHead(self.config, self.dtype, self.param_dtype)

    def __call__(self, input_ids: Array, *args: Any, deterministic: bool = True, **kwargs: Any
                 ) -> FlaxSequenceClassifierOutput:
        out = self.base(input_ids, *args, deterministic=deterministic, **kwargs)
        logits = self.classifier(out.last_hidden_state, deterministic)
        return FlaxSequenceClassifierOutput(logits=logits, hidden_states=out.hidden_states, attentions=out.attentions)


class RobertaPreLayerNormForMultipleChoiceModule(_HeadModule):
    """(B, C, L) inputs run as (B·C, L); the pooler output → dropout → ``classifier`` → (B, C)."""

    add_pooling_layer = True

    def setup_head(self) -> None:
        self.dropout = nn.Dropout(self.config.hidden_dropout_prob)
        self.classifier = dense(self, 1)

    def __call__(self, input_ids: Array, attention_mask: Array | None = None, token_type_ids: Array | None = None,
                 position_ids: Array | None = None, *args: Any, deterministic: bool = True, **kwargs: Any
                 ) -> FlaxMultipleChoiceModelOutput:
        num_choices = input_ids.shape[1]
        flat = lambda x: None if x is None else x.reshape(-1, x.shape[-1])  # noqa: E731
        out = self.base(flat(input_ids), flat(attention_mask), flat(token_type_ids), flat(position_ids), *args,
                        deterministic=deterministic, **kwargs)
        logits = self.classifier(self.dropout(out.pooler_output, deterministic=deterministic))
        return FlaxMultipleChoiceModelOutput(logits=logits.reshape(-1, num_choices), hidden_states=out.hidden_states,
                                             attentions=out.attentions)


class RobertaPreLayerNormForTokenClassificationModule(_HeadModule):
    def setup_head(self) -> None:
        self.dropout = nn.Dropout(classifier_dropout(self.config))
        self.classifier = dense(self, self.config.num_labels)

    def __call__(self, input_ids: Array, *args: Any, deterministic: bool = True, **kwargs: Any
                 ) -> FlaxTokenClassifierOutput:
        out = self.base(input_ids, *args, deterministic=deterministic, **kwargs)
        logits = self.classifier(self.dropout(out.last_hidden_state, deterministic=deterministic))
        return FlaxTokenClassifierOutput(logits=logits, hidden_states=out.hidden_states, attentions=out.attentions)


class RobertaPreLayerNormForQuestionAnsweringModule(_HeadModule):
    def setup_head(self) -> None:
        self.qa_outputs = dense(self, self.config.num_labels)

    def __call__(self, input_ids: Array, *args: Any, deterministic: bool = True, **kwargs: Any
                 ) -> FlaxQuestionAnsweringModelOutput:
        out = self.base(input_ids, *args, deterministic=deterministic, **kwargs)
        logits = self.qa_outputs(out.last_hidden_state)
        return FlaxQuestionAnsweringModelOutput(start_logits=logits[..., 0], end_logits=logits[..., 1],
                                                hidden_states=out.hidden_states, attentions=out.attentions)


# ------------------------------------------------------------------------------------- model classes
class FlaxRobertaPreLayerNormModel(FlaxRobertaPreLayerNormPreTrainedModel):
    """The bare model: ``last_hidden_state`` and ``pooler_output`` (``add_pooling_layer=False`` drops it)."""

    module_class = RobertaPreLayerNormModule


class FlaxRobertaPreLayerNormForCausalLM(FlaxRobertaPreLayerNormPreTrainedModel, FlaxGenerationMixin):
    """Next-token logits; with ``is_decoder=True`` a causal decoder with ``init_cache`` and ``generate``."""

    module_class = RobertaPreLayerNormForCausalLMModule


class FlaxRobertaPreLayerNormForMaskedLM(FlaxRobertaPreLayerNormPreTrainedModel):
    module_class = RobertaPreLayerNormForMaskedLMModule


class FlaxRobertaPreLayerNormForSequenceClassification(FlaxRobertaPreLayerNormPreTrainedModel):
    module_class = RobertaPreLayerNormForSequenceClassificationModule


class FlaxRobertaPreLayerNormForMultipleChoice(FlaxRobertaPreLayerNormPreTrainedModel):
    module_class = RobertaPreLayerNormForMultipleChoiceModule
    input_rank = 3  # (batch, choices, length)


class FlaxRobertaPreLayerNormForTokenClassification(FlaxRobertaPreLayerNormPreTrainedModel):
    module_class = RobertaPreLayerNormForTokenClassificationModule


class FlaxRobertaPreLayerNormForQuestionAnswering(FlaxRobertaPreLayerNormPreTrainedModel):
    module_class = RobertaPreLayerNormForQuestionAnsweringModule

    def __init__(self, config: RobertaPreLayerNormConfig, *args: Any, **kwargs: Any) -> None:
        if isinstance(config, RobertaPreLayerNormConfig) and config.num_labels != 2:
            raise ValueError(f"question answering predicts start and end: it needs num_labels=2, "
                             f"got {config.num_labels}")
        super().__init__(config, *args, **kwargs)


__all__ = [
    "FlaxRobertaPreLayerNormPreTrainedModel",
    "FlaxRobertaPreLayerNormModel",
    "FlaxRobertaPreLayerNormForCausalLM",
    "FlaxRobertaPreLayerNormForMaskedLM",
    "FlaxRobertaPreLayerNormForSequenceClassification",
    "FlaxRobertaPreLayerNormForMultipleChoice",
    "FlaxRobertaPreLayerNormForTokenClassification",
    "FlaxRobertaPreLayerNormForQuestionAnswering",
]
