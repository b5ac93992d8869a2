"""Run exported models with the TFLite interpreter alone: never imports TensorFlow.

The interpreter is LiteRT's (``ai-edge-litert``, a 64-bit OS: it has no 32-bit ARM build). Outputs
are read by signature name, since the interpreter's output order is not Keras's.
"""
from pathlib import Path

import numpy as np

from playbach.corpus.measures import MODES
from playbach.model.card import ModelError, card_for, check_file
from playbach.model.vocabulary import HEADS, INPUTS, PADDING, Step, Vocabulary, columns


def load_interpreter(path):
    """Return an allocated interpreter for the ``.tflite`` file at ``path``; :class:`ModelError`
    naming the file if there is none or the interpreter cannot run it."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        raise SystemExit("no TFLite interpreter: pip install ai-edge-litert (it needs a 64-bit "
                         "OS)") from None
    path = Path(path)
    if not path.is_file():
        raise ModelError("%s: no such model file" % path)
    if path.stat().st_size == 0:
        raise ModelError("%s: not a TFLite model: the file is empty" % path)
    try:
        interpreter = Interpreter(model_path=str(path), num_threads=1)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as error:  # what LiteRT raises for a damaged flatbuffer
        raise ModelError("%s: not a TFLite model the interpreter can run (%s)"
                         % (path, _shortened(error))) from None
    return interpreter


def _signature_runner(path, kind, inputs):
    """The signature runner of the ``kind`` model at ``path``, which must read ``inputs``."""
    interpreter = load_interpreter(path)
    try:
        runner = interpreter.get_signature_runner()
    except ValueError as error:
        raise ModelError("%s: not a playbach %s model (%s)"
                         % (path, kind, _shortened(error))) from None
    missing = [name for name in inputs if name not in runner.get_input_details()]
    if missing:
        raise ModelError("%s: not a playbach %s model (it reads no %s)"
                         % (path, kind, ", ".join(missing)))
    return runner


def _shortened(error, size=100):
    text = " ".join(str(error).split())
    return text if len(text) <= size else text[:size] + "..."


class StepModel:
    """One :class:`Step` in, the next-symbol/duration/dynamic log-probabilities and new state
    out."""

    kind = "step"
    shifts = (0,)  # the written key (see KeyEnsemble)

    def __init__(self, path):
        self.path = Path(path)
        self._runner = _signature_runner(path, self.kind, [INPUTS[0].name, "h0", "c0"])
        details = self._runner.get_input_details()
        # The fields this model reads: a model exported before an input was added reads without it.
        self._inputs = [field for field in Step._fields if field in details]
        self.state_names = sorted(name for name in details if name[0] in "hc" and
                                  name[1:].isdigit())
        self._state_shapes = {name: details[name]["shape"] for name in self.state_names}

    def zero_state(self):
        """The state before the first symbol."""
        return {name: np.zeros(shape, np.float32) for name, shape in self._state_shapes.items()}

    def step(self, step, state):
        """Read one :class:`Step`; return ``(log-probabilities per head, new state)``.
        ``state`` itself is left unchanged."""
        outputs = self._runner(**{field: np.array([getattr(step, field)], np.int32)
                                  for field in self._inputs}, **state)
        return ({head: outputs[head][0] for head in HEADS},
                {name: outputs[name] for name in self.state_names})


class WindowModel:
    """The last ``window`` steps in (left-padded), the log-probabilities after them out."""

    kind = "window"
    shifts = (0,)

    def __init__(self, path):
        self.path = Path(path)
        self._runner = _signature_runner(path, self.kind, [INPUTS[0].sequence])
        details = self._runner.get_input_details()
        self.window = int(details[INPUTS[0].sequence]["shape"][1])
        self._inputs = [spec for spec in INPUTS if spec.sequence in details]

    def predict(self, steps):
        """Log-probabilities per head after reading ``steps`` (a :class:`Step` of sequences,
        one row per step; only the last ``window`` are read)."""
        outputs = self._runner(**{spec.sequence: _left_pad(getattr(steps, spec.name), self.window)
                                  for spec in self._inputs})
        return {head: outputs[head][0] for head in HEADS}


def _left_pad(values, size):
    """``values`` (one per step) as a batch of one, the last ``size`` of them, ``PADDING``
    before."""
    values = np.asarray(values, np.int32)[-size:]
    padding = np.full((size - len(values),) + values.shape[1:], PADDING, np.int32)
    return np.concatenate([padding, values])[np.newaxis]


class StepReader:
    """Feeds a step model one :class:`Step` at a time, carrying its LSTM state."""

    def __init__(self, model):
        self.model = model
        self.reset()

    def reset(self):
        self.state = self.model.zero_state()

    def read(self, step):
        """Read ``step``; return the log-probabilities per head of what follows it."""
        log_probs, self.state = self.model.step(step, self.state)
        return log_probs

    def memory(self):
        return self.state  # replaced, never edited

    def recall(self, memory):
        self.state = memory


class WindowReader:
    """Feeds a window model the last ``window`` steps at each step (the seed's way)."""

    def __init__(self, model):
        self.model = model
        self.reset()

    def reset(self):
        self.history = []

    def read(self, step):
        self.history.append(step)
        del self.history[:-self.model.window]
        return self.model.predict(columns(self.history))

    def memory(self):
        return list(self.history)

    def recall(self, memory):
        self.history = list(memory)


def reader_for(model):
    """The reader that feeds ``model`` (a step or window model) one step at a time."""
    return (StepReader if model.kind == "step" else WindowReader)(model)


class KeyEnsemble:
    """A model read in several keys at once: each member reads the music moved by its own
    number of semitones, and their predictions, moved back, are combined.

    The network learnt every key from transposed copies, but not equally well in each; the
    combination evens that out (a test-time ensemble of one network). Over the symbols it is
    the members' geometric mean, renormalised (a product of experts), which scored better on
    the validation pieces than their arithmetic mean; over the other heads (duration and form,
    dynamic), whose classes are few, it is their arithmetic mean (a mixture), which scored
    better there (the 16-epoch model in keys -4..+4: validation event NLL 4.268 against 4.306)
    and samples the rarer durations about as often as one member does, where a product of
    experts sharpens a distribution toward its likeliest class. It offers the interface of the
    model it wraps (``step``/``zero_state`` or ``predict``) at ``len(shifts)`` times the cost.
    The voicing moves with the music. A note a shift would move outside MIDI's 0-127 is read
    unmoved by that member, and that member has no say on predicting it.
    """

    def __init__(self, model, vocabulary, shifts):
        self.model, self.shifts = model, tuple(shifts)
        self.kind = model.kind
        self.window = getattr(model, "window", None)
        self._read_as = [key_maps(vocabulary, shift) for shift in shifts]
        self._back = [vocabulary.shifted(shift)[1] for shift in shifts]

    def zero_state(self):
        return tuple(self.model.zero_state() for _ in self.shifts)

    def step(self, step, state):
        outputs, states = [], []
        keyed = _keyed(step)  # once, not once per member
        for read_as, member_state in zip(self._read_as, state):
            log_probs, new_state = self.model.step(_moved(step, keyed, read_as), member_state)
            outputs.append(log_probs)
            states.append(new_state)
        return self._combine(outputs), tuple(states)

    def predict(self, steps):
        keyed = _keyed(steps)
        return self._combine([self.model.predict(_moved(steps, keyed, read_as))
                              for read_as in self._read_as])

    def _combine(self, outputs):
        combined = {"symbol": geometric_mean([log_probs["symbol"] for log_probs in outputs],
                                             self._back)}
        combined.update((head, _normalised(np.logaddexp.reduce(
            [log_probs[head] for log_probs in outputs], axis=0))) for head in HEADS[1:])
        return {head: row.astype(np.float32) for head, row in combined.items()}


def _keyed(step):
    """The fields of a :class:`Step` that a key shift moves, as arrays."""
    return {spec.name: np.asarray(getattr(step, spec.name), np.int64) for spec in INPUTS
            if spec.keyed}


def _moved(step, keyed, read_as):
    """``step`` as a member reads it: its ``keyed`` fields mapped through ``read_as``."""
    return step._replace(**{name: read_as[name][values] for name, values in keyed.items()})


def key_maps(vocabulary, shift):
    """What a member of a :class:`KeyEnsemble` moved by ``shift`` semitones reads for each
    value of each keyed input: ``{input name: array over its values}``. Note symbols move by
    ``shift`` (``Vocabulary.shifted``: a note it would take outside 0-127 stays as it is), a key
    moves its tonic, nothing else moves."""
    notes = vocabulary.shifted(shift)[0]
    keys = np.arange(12 * len(MODES) + 1)
    keys[1:] = 1 + (keys[1:] - 1) // 12 * 12 + (keys[1:] - 1 + shift) % 12
    moves = {"symbols": notes, "keys": keys}
    return {spec.name: moves[spec.keyed] for spec in INPUTS if spec.keyed}


def geometric_mean(members, backs):
    """Combine the members' log-probabilities over the symbols (arrays ``(..., symbols)``, each
    in its own key) into one distribution in the written key: the mean of their log-probabilities
    of each symbol moved by ``backs`` (``Vocabulary.shifted``), renormalised."""
    votes = sum(np.where(back >= 0, member[..., np.maximum(back, 0)], 0.0)
                for member, back in zip(members, backs))
    voters = np.sum(np.array(backs) >= 0, axis=0)
    return _normalised(np.where(voters > 0, votes / np.maximum(voters, 1), -np.inf))


def _normalised(log_probs):
    return log_probs - np.logaddexp.reduce(log_probs, axis=-1, keepdims=True)


def default_keys(card, kind):
    """The keys a model of ``kind`` reads the music in unless told: for a step model the card's
    ``inference.keys``; a window model, which rereads its whole window for every symbol, reads
    the written key alone, or it could not keep up live."""
    return card.get("inference", {}).get("keys", [0]) if kind == "step" else [0]


def open_model(path, keys=None):
    """Return ``(card, vocabulary, model)`` for a ``.tflite`` file named in a model card,
    reading the music in ``keys`` (semitone shifts; a :class:`KeyEnsemble`), by default its
    :func:`default_keys`.
    """
    _, card = card_for(path)
    check_file(card, path)
    kind = next(kind for kind, variants in card["files"].items()
                if Path(path).name in variants.values())
    model = StepModel(path) if kind == "step" else WindowModel(path)
    vocabulary = Vocabulary.from_card(card)
    if keys is None:
        keys = default_keys(card, kind)
    if list(keys) != [0]:
        model = KeyEnsemble(model, vocabulary, keys)
    return card, vocabulary, model
