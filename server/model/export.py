"""Export a trained model to TFLite (needs the ``train`` extra).

Two models, each in float32, float16 and int8 (dynamic-range quantised weights), batch fixed at
1, built-in ops only:

- the **window** model reads the last ``window`` symbols (and their voicings) and gives the
  distributions after them (the seed's way);
- the **step** model reads one symbol, its voicing and the LSTM states and gives the
  distributions and the new states, so generating costs one step per symbol instead of a whole
  window.

Both are converted from ``tf.function`` concrete functions with fixed signatures: converting a
SavedModel from ``model.export`` gave a file without weights (TF 2.21, Keras 3).
"""
import logging
from pathlib import Path

import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

from playbach.model import card as cards
from playbach.model import network
from playbach.model.train import load_model
from playbach.model.vocabulary import HEADS, INPUTS, Step

log = logging.getLogger(__name__)

PRECISIONS = ("float32", "float16", "int8")


def window_function(model, window):
    """The window model: each of the Keras model's inputs over ``window`` steps, batch 1."""
    specs = [tf.TensorSpec([1, window] + list(tensor.shape[2:]), tensor.dtype, name=tensor.name)
             for tensor in model.inputs]

    @tf.function(input_signature=specs)
    def window_model(*inputs):
        log_probs = model(dict(zip([spec.name for spec in specs], inputs)), training=False)
        return {head: log_probs[head][:, -1, :] for head in HEADS}

    return window_model.get_concrete_function()


def step_function(model, units):
    """The step model: one :class:`Step` (each input named as its field, shaped as the Keras
    model's input at one step) and the LSTM states in, the heads and new states out."""
    shapes = {tensor.name: list(tensor.shape[2:]) for tensor in model.inputs}
    read = [spec for spec in INPUTS if spec.sequence in shapes]
    specs = [tf.TensorSpec([1] + shapes[spec.sequence], tf.int32, name=spec.name)
             for spec in read]
    for i, size in enumerate(units):
        specs += [tf.TensorSpec([1, size], tf.float32, name="h%d" % i),
                  tf.TensorSpec([1, size], tf.float32, name="c%d" % i)]

    @tf.function(input_signature=specs)
    def step_model(*inputs):
        fields = dict.fromkeys(Step._fields)
        fields.update((spec.name, value) for spec, value in zip(read, inputs))
        log_probs, new_states = network.step(model, Step(**fields), list(inputs[len(read):]))
        outputs = dict(log_probs)
        for i in range(len(units)):
            outputs["h%d" % i], outputs["c%d" % i] = new_states[2 * i], new_states[2 * i + 1]
        return outputs

    return step_model.get_concrete_function()


def convert(function, precision):
    """TFLite bytes of a concrete function, in ``precision`` (one of ``PRECISIONS``)."""
    converter = tf.lite.TFLiteConverter.from_concrete_functions([_frozen(function)], tf.Module())
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if precision in ("float16", "int8"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if precision == "float16":
        converter.target_spec.supported_types = [tf.float16]
    return converter.convert()


def _frozen(function):
    """The function with its weights frozen into constants, outputs still named.

    Converted as they are, Keras 3's resource variables come out empty; freezing loses the
    output names, which the interpreter's signature needs, so a thin wrapper puts them back.
    """
    frozen = convert_variables_to_constants_v2(function)
    names = sorted(function.structured_outputs)  # the order tf.nest flattens a dict in

    @tf.function(input_signature=function.structured_input_signature[0])
    def named(*inputs):
        return dict(zip(names, frozen(*inputs)))

    return named.get_concrete_function()


def export(card_path, precisions=PRECISIONS):
    """Write ``NAME-{window,step}-PRECISION.tflite`` beside the card and list them in it."""
    card_path = Path(card_path)
    model, card = load_model(card_path)
    hyper = card["hyperparameters"]
    functions = {"window": window_function(model, hyper["window"]),
                 "step": step_function(model, hyper["lstm_units"])}
    files = {}
    for kind, function in functions.items():
        files[kind] = {}
        for precision in precisions:
            name = "%s-%s-%s.tflite" % (card["name"], kind, precision)
            (card_path.parent / name).write_bytes(convert(function, precision))
            files[kind][precision] = name
            log.info("wrote %s (%d KB)", name, (card_path.parent / name).stat().st_size // 1024)
    card["files"] = files
    cards.record_files(card_path.parent, card)
    cards.record_command(card)
    cards.save_card(card_path, card)
    return card
