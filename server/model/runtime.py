"""Run exported models with the TFLite interpreter alone: never imports TensorFlow.

LiteRT (``ai-edge-litert``) first; ``tflite-runtime`` where that is all a platform has (32-bit
Raspberry Pi OS). Outputs are read by signature name, since the interpreter's output order is not
Keras's.
"""
from pathlib import Path

import numpy as np

from playbach.model.card import card_for
from playbach.model.vocabulary import Vocabulary

HEADS = ("symbol", "duration", "dynamic")


def load_interpreter(path):
    """Return an allocated interpreter for the ``.tflite`` file at ``path``."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter
        except ImportError:
            raise SystemExit("no TFLite interpreter: pip install ai-edge-litert "
                             "(or tflite-runtime on 32-bit Raspberry Pi OS)") from None
    if not Path(path).is_file():
        raise FileNotFoundError("no model file at %s" % path)
    interpreter = Interpreter(model_path=str(path), num_threads=1)
    interpreter.allocate_tensors()
    return interpreter


class StepModel:
    """One symbol in, the next-symbol/duration/dynamic log-probabilities and new state out."""

    kind = "step"

    def __init__(self, path):
        self.path = Path(path)
        self._runner = load_interpreter(path).get_signature_runner()
        details = self._runner.get_input_details()
        self.state_names = sorted(name for name in details if name[0] in "hc" and
                                  name[1:].isdigit())
        self._state_shapes = {name: details[name]["shape"] for name in self.state_names}

    def zero_state(self):
        """The state before the first symbol."""
        return {name: np.zeros(shape, np.float32) for name, shape in self._state_shapes.items()}

    def step(self, symbol, duration, dynamic, state):
        """Read one symbol (with its duration/dynamic input, 0 = none); return
        ``(log-probabilities per head, new state)``. ``state`` itself is left unchanged."""
        outputs = self._runner(symbol=np.array([symbol], np.int32),
                               duration=np.array([duration], np.int32),
                               dynamic=np.array([dynamic], np.int32), **state)
        return ({head: outputs[head][0] for head in HEADS},
                {name: outputs[name] for name in self.state_names})


class WindowModel:
    """The last ``window`` symbols in (left-padded), the log-probabilities after them out."""

    kind = "window"

    def __init__(self, path):
        self.path = Path(path)
        self._runner = load_interpreter(path).get_signature_runner()
        self.window = int(self._runner.get_input_details()["symbols"]["shape"][1])

    def predict(self, symbols, durations, dynamics):
        """Log-probabilities per head after reading the given symbols (only the last
        ``window`` are read)."""
        arrays = [_left_pad(values, self.window) for values in (symbols, durations, dynamics)]
        outputs = self._runner(symbols=arrays[0], durations=arrays[1], dynamics=arrays[2])
        return {head: outputs[head][0] for head in HEADS}


def _left_pad(values, size):
    values = list(values)[-size:]
    return np.array([[0] * (size - len(values)) + values], np.int32)


def open_model(path):
    """Return ``(card, vocabulary, model)`` for a ``.tflite`` file named in a model card."""
    _, card = card_for(path)
    kind = next(kind for kind, variants in card["files"].items()
                if Path(path).name in variants.values())
    model = StepModel(path) if kind == "step" else WindowModel(path)
    return card, Vocabulary.from_card(card), model
