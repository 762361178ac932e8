"""RoBERTa-PreLayerNorm in TensorFlow on Keras 3: embeddings → attention → layer → encoder → main layer, then
the heads.

Layer names equal the reference's TF weight names, so each variable's path is its name in ``tf_model.h5``
(``tf_roberta_pre_layer_norm_for_masked_lm/roberta_prelayernorm/encoder/layer_._0/attention/self/query/kernel``)
and attribute names equal the PyTorch module names (``layer.attention.self.query``). Pre-LN, one line per block::

    x = x + attention(LN(x))        # TFRobertaPreLayerNormAttention
    x = x + ffn(LN(x))              # TFRobertaPreLayerNormIntermediate + TFRobertaPreLayerNormOutput

and one final ``LayerNorm`` after the last layer. Every layer builds its weights from the config alone, so a
model has all its variables once constructed (no dummy forward pass). Value checks of the inputs (ids in
range, label classes) run in eager mode; shapes are checked wherever they are known.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from ..core.config import RobertaPreLayerNormConfig
from ..core.inputs import check_ranges
from .backend import keras, tf
from .generation import TFGenerationMixin
from .outputs import (
    TFBaseModelOutputWithPoolingAndCrossAttentions,
    TFCausalLMOutputWithCrossAttentions,
    TFMaskedLMOutput,
    TFMultipleChoiceModelOutput,
    TFQuestionAnsweringModelOutput,
    TFSequenceClassifierOutput,
    TFTokenClassifierOutput,
)
from .pretrained import TFRobertaPreLayerNormPreTrainedModel

Tensor = tf.Tensor
LayerCache = tuple  # (key, value) of self-attention, then (key, value) of cross-attention: (B, heads, L, D) each

ACT2FN: dict[str, Callable[[Tensor], Tensor]] = {
    "gelu": lambda x: tf.nn.gelu(x, approximate=False),
    "gelu_new": lambda x: tf.nn.gelu(x, approximate=True),
    "gelu_pytorch_tanh": lambda x: tf.nn.gelu(x, approximate=True),
    "relu": tf.nn.relu,
    "silu": tf.nn.silu,
    "swish": tf.nn.silu,
}


def activation(name: str | Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    return name if callable(name) else ACT2FN[name]


def initializer(config: RobertaPreLayerNormConfig) -> keras.initializers.Initializer:
    """The reference's TF initialisation of kernels and embeddings."""
    return keras.initializers.TruncatedNormal(stddev=config.initializer_range)


def dense(config: RobertaPreLayerNormConfig, units: int, name: str) -> keras.layers.Dense:
    return keras.layers.Dense(units, kernel_initializer=initializer(config), name=name)


def layer_norm(config: RobertaPreLayerNormConfig, name: str) -> keras.layers.LayerNormalization:
    return keras.layers.LayerNormalization(epsilon=config.layer_norm_eps, name=name)


def shape_of(x: Tensor) -> list[int | Tensor]:
    """Static dimensions where known, dynamic ones elsewhere."""
    dynamic = tf.shape(x)
    return [d if d is not None else dynamic[i] for i, d in enumerate(x.shape)]


# ------------------------------------------------------------------------------------------ embeddings
class TFRobertaPreLayerNormWordEmbeddings(keras.layers.Layer):
    """The (vocab, hidden) table, its variable named ``weight`` as in the reference (also the tied LM decoder)."""

    def __init__(self, config: RobertaPreLayerNormConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config = config

    def build(self, input_shape: Any = None) -> None:
        self.weight = self.add_weight(name="weight", shape=(self.config.vocab_size, self.config.hidden_size),
                                      initializer=initializer(self.config))

    def call(self, input_ids: Tensor) -> Tensor:
        return no_gradient_at_padding(tf.gather(self.weight, input_ids), input_ids, self.config.pad_token_id)


def no_gradient_at_padding(vectors: Tensor, ids: Tensor, padding_idx: int | None) -> Tensor:
    """Looked-up vectors whose padding rows get no gradient through the lookup (PyTorch's ``padding_idx``)."""
    if padding_idx is None:
        return vectors
    return tf.where((ids == padding_idx)[..., None], tf.stop_gradient(vectors), vectors)


class TFRobertaPreLayerNormEmbeddings(keras.layers.Layer):
    """Word + token type (+ absolute position) embeddings, then LayerNorm and dropout."""

    def __init__(self, config: RobertaPreLayerNormConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config = config
        # (in the reference's order of weights, which Keras 2's ordered loading of tf_model.h5 relies on)
        self.word_embeddings = TFRobertaPreLayerNormWordEmbeddings(config, name="word_embeddings")
        self.token_type_embeddings = keras.layers.Embedding(
            config.type_vocab_size, config.hidden_size, embeddings_initializer=initializer(config),
            name="token_type_embeddings")
        self.position_embeddings = keras.layers.Embedding(
            config.max_position_embeddings, config.hidden_size, embeddings_initializer=initializer(config),
            name="position_embeddings")
        self.LayerNorm = layer_norm(config, "LayerNorm")
        self.dropout = keras.layers.Dropout(config.hidden_dropout_prob)
        self.absolute = config.position_embedding_type == "absolute"

    def build(self, input_shape: Any = None) -> None:
        for table in (self.word_embeddings, self.position_embeddings, self.token_type_embeddings):
            table.build(None)
        self.LayerNorm.build((None, self.config.hidden_size))

    def call(self, inputs_embeds: Tensor, token_type_ids: Tensor, position_ids: Tensor, training: bool = False
             ) -> Tensor:
        embeddings = inputs_embeds + self.token_type_embeddings(token_type_ids)
        if self.absolute:
            embeddings = embeddings + no_gradient_at_padding(self.position_embeddings(position_ids), position_ids,
                                                             self.config.pad_token_id)
        return self.dropout(self.LayerNorm(embeddings), training=training)


def position_ids_from_input_ids(input_ids: Tensor, padding_idx: int, past_length: int | Tensor = 0) -> Tensor:
    """Real tokens count up from ``padding_idx + 1`` (after the cached ones); padding stays ``padding_idx``."""
    is_token = tf.cast(tf.not_equal(input_ids, padding_idx), tf.int32)
    return (tf.cumsum(is_token, axis=1) + past_length) * is_token + padding_idx


# ------------------------------------------------------------------------------------------- attention
class TFRobertaPreLayerNormSelfAttention(keras.layers.Layer):
    """Multi-head attention: self-attention, or cross-attention over ``encoder_hidden_states``."""

    def __init__(self, config: RobertaPreLayerNormConfig, position_embedding_type: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config = config
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.query = dense(config, config.hidden_size, "query")
        self.key = dense(config, config.hidden_size, "key")
        self.value = dense(config, config.hidden_size, "value")
        self.dropout = keras.layers.Dropout(config.attention_probs_dropout_prob)
        self.position_embedding_type = position_embedding_type or config.position_embedding_type
        if self.position_embedding_type != "absolute":
            self.max_position_embeddings = config.max_position_embeddings
            self.distance_embedding = keras.layers.Embedding(
                2 * config.max_position_embeddings - 1, self.head_dim, embeddings_initializer=initializer(config),
                name="distance_embedding")
        self.is_decoder = config.is_decoder

    def build(self, input_shape: Any = None) -> None:
        for projection in (self.query, self.key, self.value):
            projection.build((None, self.config.hidden_size))
        if self.position_embedding_type != "absolute":
            self.distance_embedding.build(None)

    def heads(self, x: Tensor) -> Tensor:
        """(B, L, H·D) → (B, H, L, D)."""
        x = tf.reshape(x, (tf.shape(x)[0], -1, self.num_heads, self.head_dim))
        return tf.transpose(x, (0, 2, 1, 3))

    def call(
        self,
        hidden_states: Tensor,
        attention_mask: Tensor | None = None,
        head_mask: Tensor | None = None,
        encoder_hidden_states: Tensor | None = None,
        past_key_value: LayerCache | None = None,
        output_attentions: bool = False,
        training: bool = False,
    ) -> tuple[Tensor, Tensor | None, LayerCache | None]:
        query = self.heads(self.query(hidden_states))
        if encoder_hidden_states is not None and past_key_value is not None:
            key, value = past_key_value  # cross-attention: the encoder's keys/values never change
        elif encoder_hidden_states is not None:
            key, value = self.heads(self.key(encoder_hidden_states)), self.heads(self.value(encoder_hidden_states))
        else:
            key, value = self.heads(self.key(hidden_states)), self.heads(self.value(hidden_states))
            if past_key_value is not None:
                key = tf.concat([past_key_value[0], key], axis=2)
                value = tf.concat([past_key_value[1], value], axis=2)
        present = (key, value) if self.is_decoder else None

        scores = tf.matmul(query, key, transpose_b=True)  # (B, H, Lq, Lk)
        if self.position_embedding_type != "absolute":
            scores = scores + self.relative_scores(query, key)
        scores = scores / math.sqrt(self.head_dim)
        if attention_mask is not None:
            scores = scores + attention_mask
        probs = self.dropout(tf.nn.softmax(scores, axis=-1), training=training)
        if head_mask is not None:
            probs = probs * head_mask
        context = tf.transpose(tf.matmul(probs, value), (0, 2, 1, 3))  # (B, Lq, H, D)
        context = tf.reshape(context, (tf.shape(context)[0], -1, self.num_heads * self.head_dim))
        return context, probs if output_attentions else None, present

    def relative_scores(self, query: Tensor, key: Tensor) -> Tensor:
        """Shaw et al. / Huang et al. relative position terms, added to q·kᵀ before scaling."""
        q_len, k_len = tf.shape(query)[2], tf.shape(key)[2]
        q_pos = tf.range(k_len - q_len, k_len)[:, None]  # cached keys come first
        k_pos = tf.range(k_len)[None, :]
        distance = self.distance_embedding(q_pos - k_pos + self.max_position_embeddings - 1)  # (Lq, Lk, D)
        scores = tf.einsum("bhld,lrd->bhlr", query, distance)
        if self.position_embedding_type == "relative_key_query":
            scores = scores + tf.einsum("bhrd,lrd->bhlr", key, distance)
        return scores


class TFRobertaPreLayerNormSelfOutput(keras.layers.Layer):
    def __init__(self, config: RobertaPreLayerNormConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config = config
        self.dense = dense(config, config.hidden_size, "dense")
        self.dropout = keras.layers.Dropout(config.hidden_dropout_prob)

    def build(self, input_shape: Any = None) -> None:
        self.dense.build((None, self.config.hidden_size))

    def call(self, context: Tensor, training: bool = False) -> Tensor:
        return self.dropout(self.dense(context), training=training)


class TFRobertaPreLayerNormAttention(keras.layers.Layer):
    """``x + output(self(LayerNorm(x)))``: the pre-LN attention block."""

    output = None  # the sublayer named "output" below, not Keras's functional-API property of that name

    def __init__(self, config: RobertaPreLayerNormConfig, position_embedding_type: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config = config
        self.self = TFRobertaPreLayerNormSelfAttention(config, position_embedding_type, name="self")
        self.output = TFRobertaPreLayerNormSelfOutput(config, name="output")
        self.LayerNorm = layer_norm(config, "LayerNorm")

    def build(self, input_shape: Any = None) -> None:
        self.self.build(None)
        self.output.build(None)
        self.LayerNorm.build((None, self.config.hidden_size))

    def call(self, hidden_states: Tensor, attention_mask: Tensor | None = None, head_mask: Tensor | None = None,
             encoder_hidden_states: Tensor | None = None, past_key_value: LayerCache | None = None,
             output_attentions: bool = False, training: bool = False
             ) -> tuple[Tensor, Tensor | None, LayerCache | None]:
        context, probs, present = self.self(
            self.LayerNorm(hidden_states), attention_mask, head_mask, encoder_hidden_states, past_key_value,
            output_attentions=output_attentions, training=training,
        )
        return hidden_states + self.output(context, training=training), probs, present


class TFRobertaPreLayerNormIntermediate(keras.layers.Layer):
    """``act(dense(LayerNorm(x)))``: the first half of the pre-LN feed-forward block."""

    def __init__(self, config: RobertaPreLayerNormConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config = config
        self.LayerNorm = layer_norm(config, "LayerNorm")
        self.dense = dense(config, config.intermediate_size, "dense")
        self.act = activation(config.hidden_act)

    def build(self, input_shape: Any = None) -> None:
        self.LayerNorm.build((None, self.config.hidden_size))
        self.dense.build((None, self.config.hidden_size))

    def call(self, hidden_states: Tensor) -> Tensor:
        return self.act(self.dense(self.LayerNorm(hidden_states)))


class TFRobertaPreLayerNormOutput(keras.layers.Layer):
    def __init__(self, config: RobertaPreLayerNormConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config = config
        self.dense = dense(config, config.hidden_size, "dense")
        self.dropout = keras.layers.Dropout(config.hidden_dropout_prob)

    def build(self, input_shape: Any = None) -> None:
        self.dense.build((None, self.config.intermediate_size))

    def call(self, intermediate: Tensor, residual: Tensor, training: bool = False) -> Tensor:
        return residual + self.dropout(self.dense(intermediate), training=training)


class TFRobertaPreLayerNormLayer(keras.layers.Layer):
    output = None  # the sublayer named "output" below, not Keras's functional-API property of that name

    def __init__(self, config: RobertaPreLayerNormConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.attention = TFRobertaPreLayerNormAttention(config, name="attention")
        if config.add_cross_attention:
            if not config.is_decoder:
                raise ValueError("add_cross_attention=True needs is_decoder=True")
            self.crossattention = TFRobertaPreLayerNormAttention(config, position_embedding_type="absolute",
                                                                 name="crossattention")
        self.intermediate = TFRobertaPreLayerNormIntermediate(config, name="intermediate")
        self.output = TFRobertaPreLayerNormOutput(config, name="output")

    def build(self, input_shape: Any = None) -> None:
        for sublayer in (self.attention, getattr(self, "crossattention", None), self.intermediate, self.output):
            if sublayer is not None:
                sublayer.build(None)

    def call(
        self,
        hidden_states: Tensor,
        attention_mask: Tensor | None = None,
        head_mask: Tensor | None = None,
        encoder_hidden_states: Tensor | None = None,
        encoder_attention_mask: Tensor | None = None,
        past_key_value: LayerCache | None = None,
        output_attentions: bool = False,
        training: bool = False,
    ) -> tuple[Tensor, Tensor | None, Tensor | None, LayerCache | None]:
        self_past = past_key_value[:2] if past_key_value is not None else None
        hidden_states, self_probs, present = self.attention(
            hidden_states, attention_mask, head_mask, past_key_value=self_past, output_attentions=output_attentions,
            training=training,
        )
        cross_probs = None
        if encoder_hidden_states is not None:
            if not hasattr(self, "crossattention"):
                raise ValueError("encoder_hidden_states were given, but the model has no cross-attention "
                                 "(set add_cross_attention=True in the config)")
            cross_past = past_key_value[2:4] if past_key_value is not None and len(past_key_value) == 4 else None
            hidden_states, cross_probs, cross_present = self.crossattention(
                hidden_states, encoder_attention_mask, head_mask, encoder_hidden_states, past_key_value=cross_past,
                output_attentions=output_attentions, training=training,
            )
            if present is not None:
                present = present + cross_present
        hidden_states = self.output(self.intermediate(hidden_states), hidden_states, training=training)
        return hidden_states, self_probs, cross_probs, present


class TFRobertaPreLayerNormEncoder(keras.layers.Layer):
    def __init__(self, config: RobertaPreLayerNormConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.layer = [TFRobertaPreLayerNormLayer(config, name=f"layer_._{i}") for i in range(config.num_hidden_layers)]

    def build(self, input_shape: Any = None) -> None:
        for layer in self.layer:
            layer.build(None)

    def call(
        self,
        hidden_states: Tensor,
        attention_mask: Tensor | None,
        head_mask: list[Tensor | None],
        encoder_hidden_states: Tensor | None,
        encoder_attention_mask: Tensor | None,
        past_key_values: tuple[LayerCache, ...] | None,
        use_cache: bool = False,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
        training: bool = False,
    ) -> tuple[Tensor, tuple | None, tuple | None, tuple | None, tuple | None]:
        all_hidden = [] if output_hidden_states else None
        all_attn = [] if output_attentions else None
        all_cross = [] if output_attentions and encoder_hidden_states is not None else None
        cache = [] if use_cache else None
        for i, layer in enumerate(self.layer):
            if all_hidden is not None:
                all_hidden.append(hidden_states)
            hidden_states, attn, cross, present = layer(
                hidden_states, attention_mask, head_mask[i], encoder_hidden_states, encoder_attention_mask,
                past_key_values[i] if past_key_values is not None else None,
                output_attentions=output_attentions, training=training,
            )
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


class TFRobertaPreLayerNormPooler(keras.layers.Layer):
    def __init__(self, config: RobertaPreLayerNormConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config = config
        self.dense = dense(config, config.hidden_size, "dense")

    def build(self, input_shape: Any = None) -> None:
        self.dense.build((None, self.config.hidden_size))

    def call(self, hidden_states: Tensor) -> Tensor:
        return tf.tanh(self.dense(hidden_states[:, 0]))


# ------------------------------------------------------------------------------------- the main layer
class TFRobertaPreLayerNormMainLayer(keras.layers.Layer):
    """The bare encoder (or decoder, with ``is_decoder``), named ``roberta_prelayernorm`` in every model."""

    def __init__(self, config: RobertaPreLayerNormConfig, add_pooling_layer: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config = config
        # (in the reference's order of weights: the embeddings come last)
        self.encoder = TFRobertaPreLayerNormEncoder(config, name="encoder")
        self.LayerNorm = layer_norm(config, "LayerNorm")
        self.pooler = TFRobertaPreLayerNormPooler(config, name="pooler") if add_pooling_layer else None
        self.embeddings = TFRobertaPreLayerNormEmbeddings(config, name="embeddings")

    def build(self, input_shape: Any = None) -> None:
        self.embeddings.build(None)
        self.encoder.build(None)
        self.LayerNorm.build((None, self.config.hidden_size))
        if self.pooler is not None:
            self.pooler.build(None)

    def call(
        self,
        input_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        position_ids: Tensor | None = None,
        head_mask: Tensor | None = None,
        inputs_embeds: Tensor | None = None,
        encoder_hidden_states: Tensor | None = None,
        encoder_attention_mask: Tensor | None = None,
        past_key_values: tuple[LayerCache, ...] | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        training: bool = False,
    ) -> TFBaseModelOutputWithPoolingAndCrossAttentions:
        config = self.config
        output_attentions = config.output_attentions if output_attentions is None else output_attentions
        output_hidden_states = config.output_hidden_states if output_hidden_states is None else output_hidden_states
        use_cache = (config.use_cache if use_cache is None else use_cache) and config.is_decoder

        batch, length = self.check_inputs(input_ids, inputs_embeds, token_type_ids, position_ids,
                                          encoder_hidden_states)
        past_length = shape_of(past_key_values[0][0])[2] if past_key_values is not None else 0
        if position_ids is None:
            if input_ids is not None:
                position_ids = position_ids_from_input_ids(input_ids, config.pad_token_id, past_length)
            else:
                start = config.pad_token_id + 1
                position_ids = tf.broadcast_to(tf.range(start, start + length), (batch, length))
        if token_type_ids is None:
            token_type_ids = tf.zeros((batch, length), dtype=tf.int32)
        self.check_ranges(input_ids, token_type_ids, position_ids, past_length + length)

        if inputs_embeds is None:
            inputs_embeds = self.embeddings.word_embeddings(input_ids)
        hidden_states = self.embeddings(inputs_embeds, token_type_ids, position_ids, training=training)
        if attention_mask is None:
            attention_mask = tf.ones((batch, past_length + length))
        mask = self.extended_attention_mask(attention_mask, (batch, length), past_length + length,
                                            causal=config.is_decoder)
        encoder_mask = None
        if encoder_hidden_states is not None:
            enc_batch, enc_length = shape_of(encoder_hidden_states)[:2]
            if encoder_attention_mask is None:
                encoder_attention_mask = tf.ones((enc_batch, enc_length))
            encoder_mask = self.extended_attention_mask(encoder_attention_mask, (batch, length), enc_length,
                                                        causal=False, name="encoder_attention_mask")
        hidden_states, cache, all_hidden, all_attn, all_cross = self.encoder(
            hidden_states, mask, self.layer_head_masks(head_mask), encoder_hidden_states, encoder_mask,
            past_key_values, use_cache=use_cache, output_attentions=output_attentions,
            output_hidden_states=output_hidden_states, training=training,
        )
        sequence_output = self.LayerNorm(hidden_states)
        return TFBaseModelOutputWithPoolingAndCrossAttentions(
            last_hidden_state=sequence_output,
            pooler_output=self.pooler(sequence_output) if self.pooler is not None else None,
            hidden_states=all_hidden,
            past_key_values=cache,
            attentions=all_attn,
            cross_attentions=all_cross,
        )

    # -------------------------------------------------------------------------------- input handling
    def check_inputs(self, input_ids: Tensor | None, inputs_embeds: Tensor | None, token_type_ids: Tensor | None,
                     position_ids: Tensor | None, encoder_hidden_states: Tensor | None
                     ) -> tuple[int | Tensor, int | Tensor]:
        """Exactly one of ``input_ids`` / ``inputs_embeds``; dtypes and (known) shapes that fit; returns (B, L)."""
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("give exactly one of input_ids and inputs_embeds")
        hidden = self.config.hidden_size
        if input_ids is not None:
            check_integer_tensor("input_ids", input_ids)
            if input_ids.shape.rank != 2:
                raise ValueError(f"input_ids must have shape (batch, length), got {tuple(input_ids.shape)}")
            shape = shape_of(input_ids)
        else:
            if not inputs_embeds.dtype.is_floating:
                raise TypeError(f"inputs_embeds must hold floats, got dtype {inputs_embeds.dtype.name}")
            if inputs_embeds.shape.rank != 3 or inputs_embeds.shape[-1] not in (None, hidden):
                raise ValueError(f"inputs_embeds must have shape (batch, length, hidden_size={hidden}), "
                                 f"got {tuple(inputs_embeds.shape)}")
            shape = shape_of(inputs_embeds)[:2]
        if isinstance(shape[1], int) and shape[1] == 0:
            raise ValueError(f"{'input_ids' if input_ids is not None else 'inputs_embeds'} is empty: length 0")
        for name, ids in (("token_type_ids", token_type_ids), ("position_ids", position_ids)):
            if ids is not None:
                check_integer_tensor(name, ids)
                allowed = [tuple(shape)] + ([(1, shape[1])] if name == "position_ids" else [])
                if not any(_fits(_static(shape_of(ids)), s) for s in allowed):
                    raise ValueError(f"{name} has shape {tuple(ids.shape)}, the input {tuple(_static(shape))}")
        if encoder_hidden_states is not None:
            expected = (shape[0], None, hidden)
            if not _fits(_static(shape_of(encoder_hidden_states)), expected):
                raise ValueError(f"encoder_hidden_states must have shape ({_static(shape)[0]}, encoder length, "
                                 f"hidden_size={hidden}), got {tuple(encoder_hidden_states.shape)}")
        return shape[0], shape[1]

    def check_ranges(self, input_ids: Tensor | None, token_type_ids: Tensor, position_ids: Tensor,
                     total_length: int | Tensor) -> None:
        """Ids that would index outside an embedding table raise here (eagerly), naming the table."""
        if not tf.executing_eagerly():
            return
        got = {name: extremes(x) for name, x in (("ids", input_ids), ("types", token_type_ids),
                                                    ("positions", position_ids)) if x is not None and tf.size(x)}
        check_ranges(self.config, got, int(total_length))

    def extended_attention_mask(self, mask: Tensor, query_shape: tuple, key_length: int | Tensor, *, causal: bool,
                                name: str = "attention_mask") -> Tensor:
        """A 0/1 mask (B, Lk) or (B, Lq, Lk) → additive (B, 1, Lq or 1, Lk): 0 kept, the float32 minimum masked.

        In decoder mode (``causal``) a 2-D mask is combined with the causal mask, the last ``Lq`` of ``Lk``
        positions being the queries (the others are cached).
        """
        batch, q_len = query_shape
        if not isinstance(mask, (tf.Tensor, tf.Variable)):
            raise TypeError(f"{name} must be a tensor or array, got {type(mask).__name__}")
        expected = [(batch, key_length), (batch, q_len, key_length)]
        if not any(_fits(_static(shape_of(mask)), e) for e in expected):
            wanted = " or ".join(str(tuple(_static(e))) for e in expected)
            raise ValueError(f"{name} has shape {tuple(mask.shape)}; expected {wanted} for this input")
        mask = tf.cast(mask, tf.float32)
        if mask.shape.rank == 2:
            mask = mask[:, None, None, :]
            if causal:
                keys = tf.range(key_length)
                queries = tf.range(key_length - q_len, key_length)
                mask = mask * tf.cast(keys[None, :] <= queries[:, None], tf.float32)[None, None]
        else:
            mask = mask[:, None, :, :]
        return (1.0 - mask) * tf.float32.min

    def layer_head_masks(self, head_mask: Tensor | None) -> list[Tensor | None]:
        """``head_mask`` of shape (heads,) or (layers, heads) → one (1, heads, 1, 1) mask per layer."""
        layers, heads = self.config.num_hidden_layers, self.config.num_attention_heads
        if head_mask is None:
            return [None] * layers
        head_mask = tf.cast(head_mask, tf.float32)
        if tuple(head_mask.shape) == (heads,):
            head_mask = tf.broadcast_to(head_mask, (layers, heads))
        elif tuple(head_mask.shape) != (layers, heads):
            raise ValueError(f"head_mask has shape {tuple(head_mask.shape)}; expected ({heads},) or "
                             f"({layers}, {heads})")
        return [head_mask[i][None, :, None, None] for i in range(layers)]


def _static(dims: list | tuple) -> list:
    """Dimensions as ints where known, None elsewhere (for messages and checks)."""
    out = []
    for d in dims:
        if isinstance(d, int):
            out.append(d)
        elif tf.executing_eagerly() and isinstance(d, tf.Tensor):
            out.append(int(d))
        else:
            out.append(None)
    return out


def _fits(shape: list, expected: tuple) -> bool:
    """A shape (None where unknown) fits an expected one (ints, tensors or None) wherever both are known."""
    return len(shape) == len(expected) and all(
        a is None or b is None or a == b for a, b in zip(shape, _static(expected)))


def check_integer_tensor(name: str, x: Any) -> None:
    if not isinstance(x, (tf.Tensor, tf.Variable)):
        raise TypeError(f"{name} must be a tensor or array, got {type(x).__name__}")
    if not x.dtype.is_integer:
        raise TypeError(f"{name} must hold integers, got dtype {x.dtype.name}")


def extremes(x: Tensor) -> list[int]:
    """``[min, max]`` of an integer tensor, eagerly."""
    return [int(tf.reduce_min(x)), int(tf.reduce_max(x))]


# ----------------------------------------------------------------------------------------------- heads
class TFRobertaPreLayerNormLMHead(keras.layers.Layer):
    """dense → gelu → layer_norm → decoder (the word embeddings, unless untied) + ``bias``."""

    def __init__(self, config: RobertaPreLayerNormConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config = config
        self.dense = dense(config, config.hidden_size, "dense")
        self.layer_norm = layer_norm(config, "layer_norm")
        if not config.tie_word_embeddings:
            self.decoder = TFRobertaPreLayerNormWordEmbeddings(config, name="decoder")

    def build(self, input_shape: Any = None) -> None:
        self.dense.build((None, self.config.hidden_size))
        self.layer_norm.build((None, self.config.hidden_size))
        if not self.config.tie_word_embeddings:
            self.decoder.build(None)
        self.bias = self.add_weight(name="bias", shape=(self.config.vocab_size,), initializer="zeros")

    def call(self, features: Tensor, word_embeddings: Tensor) -> Tensor:
        decoder = word_embeddings if self.config.tie_word_embeddings else self.decoder.weight
        x = self.layer_norm(tf.nn.gelu(self.dense(features), approximate=False))
        return tf.matmul(x, decoder, transpose_b=True) + self.bias


class TFRobertaPreLayerNormClassificationHead(keras.layers.Layer):
    """Token 0 → dropout → dense → tanh → dropout → out_proj."""

    def __init__(self, config: RobertaPreLayerNormConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config = config
        self.dense = dense(config, config.hidden_size, "dense")
        self.dropout = keras.layers.Dropout(classifier_dropout(config))
        self.out_proj = dense(config, config.num_labels, "out_proj")

    def build(self, input_shape: Any = None) -> None:
        self.dense.build((None, self.config.hidden_size))
        self.out_proj.build((None, self.config.hidden_size))

    def call(self, features: Tensor, training: bool = False) -> Tensor:
        x = tf.tanh(self.dense(self.dropout(features[:, 0], training=training)))
        return self.out_proj(self.dropout(x, training=training))


def classifier_dropout(config: RobertaPreLayerNormConfig) -> float:
    return config.hidden_dropout_prob if config.classifier_dropout is None else config.classifier_dropout


# ------------------------------------------------------------------------------------------------ losses
def check_labels(labels: Any, expected: tuple | list[tuple], name: str = "labels", *,
                 classes: int | None = None) -> Tensor:
    """Labels of a fitting shape (checked where known); with ``classes``, integer class ids in [0, classes)
    or the ignored -100 (checked eagerly). Returns the labels, integer ones as int32."""
    shapes = expected if isinstance(expected, list) else [expected]
    if not isinstance(labels, (tf.Tensor, tf.Variable)):
        raise TypeError(f"{name} must be a tensor or array, got {type(labels).__name__}")
    known = _static(shape_of(labels))
    if not any(_fits(known, s) for s in shapes):
        wanted = " or ".join(str(tuple(_static(list(s)))) for s in shapes)
        raise ValueError(f"{name} has shape {tuple(_static(shape_of(labels)))}, which does not fit the logits: "
                         f"expected {wanted}")
    if classes is not None:
        check_integer_tensor(name, labels)
        labels = tf.cast(labels, tf.int32)
        if tf.executing_eagerly():
            flat = tf.reshape(labels, (-1,))
            bad = tf.boolean_mask(flat, (flat != -100) & ((flat < 0) | (flat >= classes)))
            if tf.size(bad):
                raise ValueError(f"{name} holds class {int(bad[0])}, outside [0, {classes}) "
                                 "(use -100 to ignore a position)")
    return labels


def token_loss(logits: Tensor, labels: Tensor) -> Tensor:
    """Mean cross-entropy over the labels that are not -100, as a scalar (the reference's shape (1,) cannot
    be turned into a Python float under numpy 2, as the documentation's ``float(outputs.loss)`` does)."""
    per_token = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.maximum(labels, 0), logits=logits)
    keep = tf.cast(labels != -100, per_token.dtype)
    return tf.reduce_sum(per_token * keep) / tf.reduce_sum(keep)


def tuple_output(loss: Tensor | None, *outputs: Any) -> tuple:
    """The ``return_dict=False`` form: the loss (if any), then every output that is not None."""
    rest = tuple(x for x in outputs if x is not None)
    return ((loss,) + rest) if loss is not None else rest


# ---------------------------------------------------------------------------------------------- models
class TFRobertaPreLayerNormModel(TFRobertaPreLayerNormPreTrainedModel):
    """The bare encoder (or decoder, with ``is_decoder``): hidden states and an optional pooler output."""

    def __init__(self, config: RobertaPreLayerNormConfig, *inputs: Any, add_pooling_layer: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(config, *inputs, **kwargs)
        self.roberta_prelayernorm = TFRobertaPreLayerNormMainLayer(config, add_pooling_layer,
                                                                   name="roberta_prelayernorm")
        self.post_init()

    def call(
        self,
        input_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        position_ids: Tensor | None = None,
        head_mask: Tensor | None = None,
        inputs_embeds: Tensor | None = None,
        encoder_hidden_states: Tensor | None = None,
        encoder_attention_mask: Tensor | None = None,
        past_key_values: tuple | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        training: bool = False,
    ) -> TFBaseModelOutputWithPoolingAndCrossAttentions | tuple:
        outputs = self.roberta_prelayernorm(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
            position_ids=position_ids, head_mask=head_mask, inputs_embeds=inputs_embeds,
            encoder_hidden_states=encoder_hidden_states, encoder_attention_mask=encoder_attention_mask,
            past_key_values=past_key_values, use_cache=use_cache, output_attentions=output_attentions,
            output_hidden_states=output_hidden_states, training=training,
        )
        if not self.returns_dict(return_dict):
            rest = tuple(x for x in (outputs.past_key_values, outputs.hidden_states, outputs.attentions,
                                     outputs.cross_attentions) if x is not None)
            return (outputs.last_hidden_state, outputs.pooler_output) + rest
        return outputs


class TFRobertaPreLayerNormForMaskedLM(TFRobertaPreLayerNormPreTrainedModel):
    def __init__(self, config: RobertaPreLayerNormConfig, *inputs: Any, **kwargs: Any) -> None:
        super().__init__(config, *inputs, **kwargs)
        self.roberta_prelayernorm = TFRobertaPreLayerNormMainLayer(config, add_pooling_layer=False,
                                                                   name="roberta_prelayernorm")
        self.lm_head = TFRobertaPreLayerNormLMHead(config, name="lm_head")
        self.post_init()

    def get_output_embeddings(self) -> Any:
        return self.lm_head.decoder if not self.config.tie_word_embeddings else self.get_input_embeddings()

    def call(
        self,
        input_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        position_ids: Tensor | None = None,
        head_mask: Tensor | None = None,
        inputs_embeds: Tensor | None = None,
        encoder_hidden_states: Tensor | None = None,
        encoder_attention_mask: Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        labels: Tensor | None = None,
        training: bool = False,
    ) -> TFMaskedLMOutput | tuple:
        outputs = self.roberta_prelayernorm(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
            position_ids=position_ids, head_mask=head_mask, inputs_embeds=inputs_embeds,
            encoder_hidden_states=encoder_hidden_states, encoder_attention_mask=encoder_attention_mask,
            output_attentions=output_attentions, output_hidden_states=output_hidden_states, training=training,
        )
        logits = self.lm_head(outputs.last_hidden_state, word_embeddings=self.word_embeddings_weight())
        loss = None
        if labels is not None:
            labels = check_labels(labels, tuple(shape_of(logits)[:-1]), classes=self.config.vocab_size)
            loss = token_loss(logits, labels)
        if not self.returns_dict(return_dict):
            return tuple_output(loss, logits, outputs.hidden_states, outputs.attentions)
        return TFMaskedLMOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states,
                                attentions=outputs.attentions)


class TFRobertaPreLayerNormForCausalLM(TFRobertaPreLayerNormPreTrainedModel, TFGenerationMixin):
    def __init__(self, config: RobertaPreLayerNormConfig, *inputs: Any, **kwargs: Any) -> None:
        super().__init__(config, *inputs, **kwargs)
        self.roberta_prelayernorm = TFRobertaPreLayerNormMainLayer(config, add_pooling_layer=False,
                                                                   name="roberta_prelayernorm")
        self.lm_head = TFRobertaPreLayerNormLMHead(config, name="lm_head")
        self.post_init()

    get_output_embeddings = TFRobertaPreLayerNormForMaskedLM.get_output_embeddings

    def call(
        self,
        input_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        position_ids: Tensor | None = None,
        head_mask: Tensor | None = None,
        inputs_embeds: Tensor | None = None,
        encoder_hidden_states: Tensor | None = None,
        encoder_attention_mask: Tensor | None = None,
        past_key_values: tuple | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        labels: Tensor | None = None,
        training: bool = False,
    ) -> TFCausalLMOutputWithCrossAttentions | tuple:
        outputs = self.roberta_prelayernorm(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
            position_ids=position_ids, head_mask=head_mask, inputs_embeds=inputs_embeds,
            encoder_hidden_states=encoder_hidden_states, encoder_attention_mask=encoder_attention_mask,
            past_key_values=past_key_values, use_cache=use_cache, output_attentions=output_attentions,
            output_hidden_states=output_hidden_states, training=training,
        )
        logits = self.lm_head(outputs.last_hidden_state, word_embeddings=self.word_embeddings_weight())
        loss = None
        if labels is not None:
            labels = check_labels(labels, tuple(shape_of(logits)[:-1]), classes=self.config.vocab_size)
            loss = token_loss(logits[:, :-1], labels[:, 1:])  # the logits at t predict the token at t+1
        if not self.returns_dict(return_dict):
            return tuple_output(loss, logits, outputs.past_key_values, outputs.hidden_states, outputs.attentions,
                                outputs.cross_attentions)
        return TFCausalLMOutputWithCrossAttentions(
            loss=loss, logits=logits, past_key_values=outputs.past_key_values, hidden_states=outputs.hidden_states,
            attentions=outputs.attentions, cross_attentions=outputs.cross_attentions,
        )


class TFRobertaPreLayerNormForSequenceClassification(TFRobertaPreLayerNormPreTrainedModel):
    def __init__(self, config: RobertaPreLayerNormConfig, *inputs: Any, **kwargs: Any) -> None:
        super().__init__(config, *inputs, **kwargs)
        self.roberta_prelayernorm = TFRobertaPreLayerNormMainLayer(config, add_pooling_layer=False,
                                                                   name="roberta_prelayernorm")
        self.classifier = TFRobertaPreLayerNormClassificationHead(config, name="classifier")
        self.post_init()

    def call(
        self,
        input_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        position_ids: Tensor | None = None,
        head_mask: Tensor | None = None,
        inputs_embeds: Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        labels: Tensor | None = None,
        training: bool = False,
    ) -> TFSequenceClassifierOutput | tuple:
        outputs = self.roberta_prelayernorm(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
            position_ids=position_ids, head_mask=head_mask, inputs_embeds=inputs_embeds,
            output_attentions=output_attentions, output_hidden_states=output_hidden_states, training=training,
        )
        logits = self.classifier(outputs.last_hidden_state, training=training)
        loss = self.classification_loss(logits, labels) if labels is not None else None
        if not self.returns_dict(return_dict):
            return tuple_output(loss, logits, outputs.hidden_states, outputs.attentions)
        return TFSequenceClassifierOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states,
                                          attentions=outputs.attentions)

    def classification_loss(self, logits: Tensor, labels: Tensor) -> Tensor:
        """Per-example loss (batch,): MSE, cross-entropy or BCE by ``config.problem_type``, inferred from the
        labels when unset (one label: regression; integer labels: single-label; else multi-label)."""
        num_labels = self.config.num_labels
        problem_type = self.config.problem_type
        if problem_type is None:
            if num_labels == 1:
                problem_type = "regression"
            elif labels.dtype.is_integer:
                problem_type = "single_label_classification"
            else:
                problem_type = "multi_label_classification"
        batch = shape_of(logits)[0]
        one = [(batch,), (batch, 1)] + ([()] if _static([batch]) == [1] else [])
        if problem_type == "regression":
            labels = check_labels(labels, one if num_labels == 1 else [(batch, num_labels)])
            labels = tf.reshape(tf.cast(labels, logits.dtype), (-1, num_labels))
            return tf.reduce_mean(tf.square(logits - labels), axis=-1)
        if problem_type == "single_label_classification":
            labels = check_labels(labels, one, classes=num_labels)
            return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.reshape(labels, (-1,)), logits=logits)
        labels = check_labels(labels, (batch, num_labels))
        per_label = tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.cast(labels, logits.dtype), logits=logits)
        return tf.reduce_mean(per_label, axis=-1)


class TFRobertaPreLayerNormForMultipleChoice(TFRobertaPreLayerNormPreTrainedModel):
    def __init__(self, config: RobertaPreLayerNormConfig, *inputs: Any, **kwargs: Any) -> None:
        super().__init__(config, *inputs, **kwargs)
        self.roberta_prelayernorm = TFRobertaPreLayerNormMainLayer(config, name="roberta_prelayernorm")
        self.dropout = keras.layers.Dropout(config.hidden_dropout_prob)
        self.classifier = dense(config, 1, "classifier")
        self.post_init()

    def call(
        self,
        input_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        position_ids: Tensor | None = None,
        head_mask: Tensor | None = None,
        inputs_embeds: Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        labels: Tensor | None = None,
        training: bool = False,
    ) -> TFMultipleChoiceModelOutput | tuple:
        source = input_ids if input_ids is not None else inputs_embeds
        if source is None or source.shape.rank != (3 if input_ids is not None else 4):
            raise ValueError("multiple choice takes input_ids of shape (batch, choices, length) "
                             "or inputs_embeds of shape (batch, choices, length, hidden)")
        num_choices = shape_of(source)[1]
        flat = lambda x: tf.reshape(x, (-1, shape_of(x)[-1])) if x is not None else None  # noqa: E731
        outputs = self.roberta_prelayernorm(
            input_ids=flat(input_ids), attention_mask=flat(attention_mask), token_type_ids=flat(token_type_ids),
            position_ids=flat(position_ids), head_mask=head_mask,
            inputs_embeds=tf.reshape(inputs_embeds, [-1, *shape_of(inputs_embeds)[-2:]]) if inputs_embeds is not None
            else None,
            output_attentions=output_attentions, output_hidden_states=output_hidden_states, training=training,
        )
        pooled = self.dropout(outputs.pooler_output, training=training)
        logits = tf.reshape(self.classifier(pooled), (-1, num_choices))
        loss = None
        if labels is not None:
            batch = shape_of(logits)[0]
            labels = check_labels(labels, [(batch,)] + ([()] if _static([batch]) == [1] else []),
                                  classes=num_choices if isinstance(num_choices, int) else None)
            loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.reshape(tf.cast(labels, tf.int32), (-1,)),
                                                                  logits=logits)
        if not self.returns_dict(return_dict):
            return tuple_output(loss, logits, outputs.hidden_states, outputs.attentions)
        return TFMultipleChoiceModelOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states,
                                           attentions=outputs.attentions)


class TFRobertaPreLayerNormForTokenClassification(TFRobertaPreLayerNormPreTrainedModel):
    def __init__(self, config: RobertaPreLayerNormConfig, *inputs: Any, **kwargs: Any) -> None:
        super().__init__(config, *inputs, **kwargs)
        self.roberta_prelayernorm = TFRobertaPreLayerNormMainLayer(config, add_pooling_layer=False,
                                                                   name="roberta_prelayernorm")
        self.dropout = keras.layers.Dropout(classifier_dropout(config))
        self.classifier = dense(config, config.num_labels, "classifier")
        self.post_init()

    def call(
        self,
        input_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        position_ids: Tensor | None = None,
        head_mask: Tensor | None = None,
        inputs_embeds: Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        labels: Tensor | None = None,
        training: bool = False,
    ) -> TFTokenClassifierOutput | tuple:
        outputs = self.roberta_prelayernorm(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
            position_ids=position_ids, head_mask=head_mask, inputs_embeds=inputs_embeds,
            output_attentions=output_attentions, output_hidden_states=output_hidden_states, training=training,
        )
        logits = self.classifier(self.dropout(outputs.last_hidden_state, training=training))
        loss = None
        if labels is not None:
            labels = check_labels(labels, tuple(shape_of(logits)[:-1]), classes=self.config.num_labels)
            loss = token_loss(logits, labels)
        if not self.returns_dict(return_dict):
            return tuple_output(loss, logits, outputs.hidden_states, outputs.attentions)
        return TFTokenClassifierOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states,
                                       attentions=outputs.attentions)


class TFRobertaPreLayerNormForQuestionAnswering(TFRobertaPreLayerNormPreTrainedModel):
    def __init__(self, config: RobertaPreLayerNormConfig, *inputs: Any, **kwargs: Any) -> None:
        super().__init__(config, *inputs, **kwargs)
        if config.num_labels != 2:
            raise ValueError(f"question answering predicts start and end: it needs num_labels=2, "
                             f"got {config.num_labels}")
        self.roberta_prelayernorm = TFRobertaPreLayerNormMainLayer(config, add_pooling_layer=False,
                                                                   name="roberta_prelayernorm")
        self.qa_outputs = dense(config, config.num_labels, "qa_outputs")
        self.post_init()

    def call(
        self,
        input_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        position_ids: Tensor | None = None,
        head_mask: Tensor | None = None,
        inputs_embeds: Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        start_positions: Tensor | None = None,
        end_positions: Tensor | None = None,
        training: bool = False,
    ) -> TFQuestionAnsweringModelOutput | tuple:
        outputs = self.roberta_prelayernorm(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
            position_ids=position_ids, head_mask=head_mask, inputs_embeds=inputs_embeds,
            output_attentions=output_attentions, output_hidden_states=output_hidden_states, training=training,
        )
        logits = self.qa_outputs(outputs.last_hidden_state)
        start_logits, end_logits = logits[..., 0], logits[..., 1]
        loss = None
        if start_positions is not None and end_positions is not None:
            batch, length = shape_of(start_logits)
            one = [(batch,), (batch, 1)] + ([()] if _static([batch]) == [1] else [])
            terms = []
            for name, positions, logits_ in (("start_positions", start_positions, start_logits),
                                             ("end_positions", end_positions, end_logits)):
                positions = check_labels(positions, one, name)
                check_integer_tensor(name, positions)
                # positions outside the sequence are clamped to L, and a position at L adds nothing
                positions = tf.clip_by_value(tf.reshape(tf.cast(positions, tf.int32), (-1,)), 0, length)
                per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(
                    labels=tf.minimum(positions, length - 1), logits=logits_)
                terms.append(tf.where(positions < length, per_example, tf.zeros_like(per_example)))
            loss = (terms[0] + terms[1]) / 2  # (batch,), as in the reference
        if not self.returns_dict(return_dict):
            return tuple_output(loss, start_logits, end_logits, outputs.hidden_states, outputs.attentions)
        return TFQuestionAnsweringModelOutput(loss=loss, start_logits=start_logits, end_logits=end_logits,
                                              hidden_states=outputs.hidden_states, attentions=outputs.attentions)


TF_MODEL_CLASSES = (
    TFRobertaPreLayerNormModel,
    TFRobertaPreLayerNormForCausalLM,
    TFRobertaPreLayerNormForMaskedLM,
    TFRobertaPreLayerNormForSequenceClassification,
    TFRobertaPreLayerNormForMultipleChoice,
    TFRobertaPreLayerNormForTokenClassification,
    TFRobertaPreLayerNormForQuestionAnswering,
)

__all__ = ["TFRobertaPreLayerNormPreTrainedModel", *(cls.__name__ for cls in TF_MODEL_CLASSES)]
