"""The network, in Keras: read it top to bottom.

Each step reads one :class:`~playbach.model.vocabulary.Step`: a symbol (a note, or the ``<end>``
of an event with that event's duration and dynamic) and the voicing (what each voice holds
before the event being spelled), each input embedded as ``vocabulary.INPUTS`` says; it predicts
three things: the next symbol, and the duration and dynamic the event would have if the next
symbol ended it.

    symbol ─ embedding ───────────┐
    duration ─ embedding ─────────┤
    dynamic ─ embedding ──────────┤
    voicing ─ embedding ─ flatten ┼─ concat ─ LSTM ─ dropout ─ LSTM ─ dropout ─┬─ next symbol
    form ─ embedding ─────────────┘                                            ├─ duration, form
                                                                               └─ dynamic

A model reads the inputs its hyper-parameters give an embedding size (:func:`read_inputs`), so
that an input added later leaves older models as they were.
"""
import math

import keras
from keras import layers, ops

from playbach.model.vocabulary import HEADS, INPUTS


def read_inputs(hyper):
    """The inputs (of ``INPUTS``) a model with these hyper-parameters reads."""
    return [spec for spec in INPUTS if hyper.get(spec.embedding)]


def build(hyper, vocabulary):
    """Return the sequence model: one input per input it reads (:func:`read_inputs`), named by
    its ``sequence`` name, of shape (batch, time) + the input's shape; a dict of
    log-probabilities per head out (batch, time, classes)."""
    read = read_inputs(hyper)
    inputs = {spec.name: keras.Input((None,) + spec.shape, dtype="int32", name=spec.sequence)
              for spec in read}
    embedded = []
    for spec in read:
        x = layers.Embedding(spec.classes(vocabulary), hyper[spec.embedding],
                             name=spec.embedding)(inputs[spec.name])
        if spec.shape:  # one embedding of each value, each in its own slice of the step's input
            x = layers.Reshape((-1, _width(spec, hyper[spec.embedding])), name=spec.name)(x)
        embedded.append(x)
    x = layers.Concatenate(name="read")(embedded)
    # The LSTMs skip <pad> steps, so a window's left padding leaves their state at zero, as a
    # step model's is before the first symbol. The mask is given explicitly: an embedding's
    # mask_zero would not survive Concatenate beside unmasked inputs.
    reading = ops.not_equal(inputs["symbol"], vocabulary.pad)
    for i, units in enumerate(hyper["lstm_units"]):
        x = layers.LSTM(units, return_sequences=True, name="lstm_%d" % i)(x, mask=reading)
        x = layers.Dropout(hyper["dropout"], name="dropout_%d" % i)(x)
    outputs = {
        "symbol": layers.Dense(len(vocabulary.symbols), name="symbol")(x),
        "duration": layers.Dense(len(vocabulary.closes), name="duration")(x),
        "dynamic": layers.Dense(len(vocabulary.dynamics), name="dynamic")(x),
    }
    outputs = {head: layers.Activation("log_softmax", name=head + "_log_probs")(logits)
               for head, logits in outputs.items()}
    return keras.Model([inputs[spec.name] for spec in read], outputs, name="playbach")


def _width(spec, size):
    """The size of an input's embedding at one step: its values' embeddings (``size`` each)
    side by side."""
    return size * math.prod(spec.shape)


def masked_nll(targets, log_probs):
    """Mean negative log-likelihood in nats over the targets that are not ``IGNORED`` (< 0)."""
    targets = ops.cast(targets, "int32")
    scored = ops.cast(targets >= 0, log_probs.dtype)
    picked = ops.take_along_axis(log_probs, ops.expand_dims(ops.maximum(targets, 0), -1), -1)
    return -ops.sum(ops.squeeze(picked, -1) * scored) / ops.maximum(ops.sum(scored), 1.0)


def step(model, inputs, states):
    """One step of ``model`` from explicit LSTM states: ``inputs`` a ``Step`` of tensors of shape
    (batch,) + each input's shape (those the model does not read may be None), states a list
    ``[h0, c0, h1, c1, ...]``; returns ``(log-probabilities per head, new states)``.

    This is the same arithmetic as the sequence model, one position at a time, so the exported
    step model carries its memory between calls instead of rereading a window.
    """
    embedded = []
    names = {layer.name for layer in model.layers}
    for spec in (spec for spec in INPUTS if spec.embedding in names):
        embedding = model.get_layer(spec.embedding)
        x = embedding(getattr(inputs, spec.name))
        if spec.shape:
            x = ops.reshape(x, (-1, _width(spec, embedding.output_dim)))
        embedded.append(x)
    x = ops.concatenate(embedded, axis=-1)
    new_states = []
    for i in range(len(states) // 2):
        cell = model.get_layer("lstm_%d" % i).cell
        x, (h, c) = cell(x, [states[2 * i], states[2 * i + 1]])
        new_states += [h, c]
    log_probs = {head: ops.log_softmax(model.get_layer(head)(x), axis=-1) for head in HEADS}
    return log_probs, new_states
