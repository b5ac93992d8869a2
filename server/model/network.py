"""The network, in Keras: read it top to bottom.

Each step reads one symbol (a note, or the ``<end>`` of an event with that event's duration and
dynamic) and the voicing (what each voice holds before the event being spelled), and predicts
three things: the next symbol, and the duration and dynamic the event would have if the next
symbol ended it.

    symbol ─ embedding ───────────┐
    duration ─ embedding ─────────┤
    dynamic ─ embedding ──────────┼─ concat ─ LSTM ─ dropout ─ LSTM ─ dropout ─┬─ next symbol
    voicing ─ embedding ─ flatten ┘                                            ├─ duration
                                                                               └─ dynamic
"""
import keras
from keras import layers, ops

import playbach_protocol as protocol

HEADS = ("symbol", "duration", "dynamic")
VOICES = len(protocol.VOICES)


def build(hyper, vocabulary):
    """Return the sequence model: ``(symbols, durations, dynamics)`` of shape (batch, time) and
    ``voicings`` (batch, time, voices) in, a dict of log-probabilities per head out (batch,
    time, classes)."""
    symbols = keras.Input((None,), dtype="int32", name="symbols")
    durations = keras.Input((None,), dtype="int32", name="durations")
    dynamics = keras.Input((None,), dtype="int32", name="dynamics")
    voicings = keras.Input((None, VOICES), dtype="int32", name="voicings")
    # One embedding of the held notes, each voice in its own slice of the flattened input.
    voicing = layers.Reshape((-1, VOICES * hyper["voice_embedding"]), name="voicing")(
        layers.Embedding(len(vocabulary.symbols), hyper["voice_embedding"],
                         name="voice_embedding")(voicings))
    x = layers.Concatenate(name="read")([
        layers.Embedding(len(vocabulary.symbols), hyper["symbol_embedding"],
                         name="symbol_embedding")(symbols),
        layers.Embedding(len(vocabulary.durations) + 1, hyper["duration_embedding"],
                         name="duration_embedding")(durations),
        layers.Embedding(len(vocabulary.dynamics) + 1, hyper["dynamic_embedding"],
                         name="dynamic_embedding")(dynamics),
        voicing])
    # The LSTMs skip <pad> steps, so a window's left padding leaves their state at zero, as a
    # step model's is before the first symbol. The mask is given explicitly: an embedding's
    # mask_zero would not survive Concatenate beside unmasked inputs.
    reading = ops.not_equal(symbols, vocabulary.pad)
    for i, units in enumerate(hyper["lstm_units"]):
        x = layers.LSTM(units, return_sequences=True, name="lstm_%d" % i)(x, mask=reading)
        x = layers.Dropout(hyper["dropout"], name="dropout_%d" % i)(x)
    outputs = {
        "symbol": layers.Dense(len(vocabulary.symbols), name="symbol")(x),
        "duration": layers.Dense(len(vocabulary.durations), name="duration")(x),
        "dynamic": layers.Dense(len(vocabulary.dynamics), name="dynamic")(x),
    }
    outputs = {head: layers.Activation("log_softmax", name=head + "_log_probs")(logits)
               for head, logits in outputs.items()}
    return keras.Model([symbols, durations, dynamics, voicings], outputs, name="playbach")


def masked_nll(targets, log_probs):
    """Mean negative log-likelihood in nats over the targets that are not ``IGNORED`` (< 0)."""
    targets = ops.cast(targets, "int32")
    scored = ops.cast(targets >= 0, log_probs.dtype)
    picked = ops.take_along_axis(log_probs, ops.expand_dims(ops.maximum(targets, 0), -1), -1)
    return -ops.sum(ops.squeeze(picked, -1) * scored) / ops.maximum(ops.sum(scored), 1.0)


def step(model, symbol, duration, dynamic, voicing, states):
    """One step of ``model`` from explicit LSTM states: inputs of shape (batch,), the voicing
    (batch, voices), states a list ``[h0, c0, h1, c1, ...]``; returns ``(log-probabilities per
    head, new states)``.

    This is the same arithmetic as the sequence model, one position at a time, so the exported
    step model carries its memory between calls instead of rereading a window.
    """
    voice_embedding = model.get_layer("voice_embedding")
    x = ops.concatenate([
        model.get_layer("symbol_embedding")(symbol),
        model.get_layer("duration_embedding")(duration),
        model.get_layer("dynamic_embedding")(dynamic),
        ops.reshape(voice_embedding(voicing), (-1, VOICES * voice_embedding.output_dim))],
        axis=-1)
    new_states = []
    for i in range(len(states) // 2):
        cell = model.get_layer("lstm_%d" % i).cell
        x, (h, c) = cell(x, [states[2 * i], states[2 * i + 1]])
        new_states += [h, c]
    log_probs = {head: ops.log_softmax(model.get_layer(head)(x), axis=-1) for head in HEADS}
    return log_probs, new_states
