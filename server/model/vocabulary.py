"""The model's vocabulary, and what the network reads at each step.

An event ``A2.G#3:1/2:mf`` is the symbols ``A2 G#3 <end>``; a rest is ``<end>`` alone. Every
chord the grammar can write is a sequence of these 130 symbols, so nothing is ever unknown or cut
to fit a table. Duration and dynamic belong to the ``<end>`` symbol: the model predicts them at
the step whose next symbol is ``<end>``, having seen the whole chord, and is given them back with
the ``<end>`` it reads. How the event closes, its *form*, goes with its duration: the music goes
on, a phrase ends (a fermata) or the piece ends; the duration head's classes are the (form,
duration) pairs, so that a phrase's last chord is long where Bach's is, and a piece ends where
the model ends it.

A symbol lists only the notes that start, so each step also reads the *voicing*: what the four
voices hold before the event being spelled (the shared ``Voicer``'s assignment), which the
network would otherwise have to work out from the symbols behind it.

What the network reads at a step is one record, a :class:`Step`, whose fields are the inputs
named in :data:`INPUTS`: ``network.build`` embeds them, export names its signatures after them,
the runtime feeds them by name and the key ensemble moves the ones a key shift moves. One
:class:`Speller` spells the music into steps, for training, generation and evaluation alike. A
new input is a line in :data:`INPUTS`, its value in :meth:`Speller._step`, and its embedding size
in ``hyper.HYPER_PARAMETERS``.

The lists travel in the model card (``vocabulary``), so a shipped model always decodes with the
vocabulary it was trained with.
"""
from collections import namedtuple

import numpy as np

import playbach_protocol as protocol
from playbach.music import Voicer, parts_of

PAD = "<pad>"
END = "<end>"
FORMS = ("continues", "phrase", "piece")  # how an event closes: the last ends the piece
CONTINUES, PHRASE, PIECE = FORMS
NONE = 0  # duration/dynamic input of a symbol that is not an <end>, and of a rest's dynamic
PADDING = 0  # what every input reads where there is nothing: <pad> is symbol 0, NONE is 0
IGNORED = -1  # target that is not scored
VOICES = len(protocol.VOICES)


class Input(namedtuple("Input", "name shape classes embedding keyed")):
    """One thing the network reads at every step.

    ``name`` is the :class:`Step` field (and the step model's input); the sequence model's input
    is its plural, :attr:`sequence`. ``shape`` is one step's value's (``()`` for a number),
    ``classes(vocabulary)`` how many values it takes, ``embedding`` the hyper-parameter giving
    the size of each value's embedding (and the embedding layer's name), and ``keyed`` whether its
    values are note symbols, which a key shift moves.
    """

    @property
    def sequence(self):
        return self.name + "s"


INPUTS = (
    Input("symbol", (), lambda vocabulary: len(vocabulary.symbols), "symbol_embedding", True),
    Input("duration", (), lambda vocabulary: len(vocabulary.durations) + 1,  # + NONE
          "duration_embedding", False),
    Input("dynamic", (), lambda vocabulary: len(vocabulary.dynamics) + 1,
          "dynamic_embedding", False),
    Input("voicing", (VOICES,), lambda vocabulary: len(vocabulary.symbols),  # a symbol a voice
          "voice_embedding", True),
    Input("form", (), lambda vocabulary: len(vocabulary.forms) + 1, "form_embedding", False),
)
Step = namedtuple("Step", [spec.name for spec in INPUTS])
Step.__doc__ = """What the network reads at one step, a field per input (:data:`INPUTS`); or,
as :func:`columns`, what it reads at many, each field an array with one row per step."""
KEYED = tuple(spec.name for spec in INPUTS if spec.keyed)  # the fields a key shift moves
HEADS = ("symbol", "duration", "dynamic")  # what the network predicts: the next step's fields
# (the duration head's classes are the (form, duration) pairs: Vocabulary.closes)


def columns(steps):
    """The :class:`Step` of ``int32`` arrays holding ``steps`` (a list of steps) one per row."""
    return Step(*(np.array([getattr(step, spec.name) for step in steps], np.int32)
                  .reshape((len(steps),) + spec.shape) for spec in INPUTS))


def sequences(steps, read=INPUTS):
    """A :class:`Step` of sequences as a dict named by the sequence model's inputs (of those in
    ``read``, the inputs a model reads)."""
    return {spec.sequence: getattr(steps, spec.name) for spec in read}


class Vocabulary:
    """Symbol, duration, dynamic and form indexes of one model, built from its card's lists.

    ``closes`` are the duration head's classes: each ``(form, duration)`` pair, form by form.
    A model trained before forms were read knows one, ``continues``: its head is the durations.
    """

    def __init__(self, symbols, durations, dynamics, forms=(CONTINUES,)):
        self.symbols = list(symbols)
        self.durations = list(durations)
        self.dynamics = list(dynamics)
        self.forms = list(forms)
        self.closes = [(form, duration) for form in self.forms for duration in self.durations]
        self.pad = self.symbols.index(PAD)
        if self.pad != PADDING:
            raise ValueError("the vocabulary's symbols must start with %s" % PAD)
        self.end = self.symbols.index(END)
        self._note_of = {i: protocol.note_to_midi(s) for i, s in enumerate(self.symbols)
                         if s not in (PAD, END)}
        self._symbol_of_note = {note: i for i, note in self._note_of.items()}

    @classmethod
    def default(cls):
        """Every MIDI note, and the shared duration and dynamic classes."""
        names = [protocol.midi_to_note(n) for n in range(128)]
        return cls([PAD, END] + names, protocol.DURATIONS, protocol.DYNAMICS, FORMS)

    def to_card(self):
        return {"symbols": self.symbols, "durations": self.durations, "dynamics": self.dynamics,
                "forms": self.forms}

    @classmethod
    def from_card(cls, card):
        return cls(**card["vocabulary"])

    def note(self, symbol):
        """The MIDI note of a note symbol's index."""
        return self._note_of[symbol]

    def note_symbol(self, note):
        """The symbol index of a MIDI note."""
        return self._symbol_of_note[note]

    def note_symbols(self):
        """The symbol index of each MIDI note 0-127, as an array."""
        return np.array([self._symbol_of_note[n] for n in range(128)])

    def event_symbols(self, notes):
        """The symbol indexes of an event's notes (ascending), ending with ``<end>``."""
        return [self._symbol_of_note[n] for n in sorted(notes)] + [self.end]

    def end_inputs(self, duration, dynamic, form=CONTINUES):
        """The duration, dynamic and form inputs read with an event's ``<end>`` (index + 1)."""
        return (self.durations.index(duration) + 1,
                NONE if dynamic is None else self.dynamics.index(dynamic) + 1,
                self.forms.index(form) + 1)

    def close(self, duration, form=CONTINUES):
        """The duration head's class of an event lasting ``duration`` and closing as ``form``."""
        return self.forms.index(form) * len(self.durations) + self.durations.index(duration)

    def form(self, phrase_end=False, piece_end=False):
        """How an event closes, as far as this vocabulary tells forms apart."""
        if piece_end and PIECE in self.forms:
            return PIECE
        if phrase_end and PHRASE in self.forms:
            return PHRASE
        return CONTINUES

    def form_of(self, piece, index):
        """How event ``index`` of ``piece`` closes: its last event ends it, a phrase end (a
        fermata) ends a phrase (:meth:`form`)."""
        return self.form(index in piece.phrase_ends, index == len(piece.events) - 1)

    def encode_piece(self, piece):
        """Return the input :class:`Step` of arrays and the targets (a dict of arrays by head)
        for one piece (a :class:`~playbach.corpus.midi.Piece`): the steps the :class:`Speller`
        spells, and what follows each.

        Inputs carry an event's duration, dynamic and form (index + 1, 0 = none) on its
        ``<end>``; targets carry its close (:meth:`close`) and dynamic (index, or ``IGNORED``)
        at the step predicting it.
        """
        speller = Speller(self)
        steps = [speller.start()]
        for index, event in enumerate(piece.events):
            steps += speller.event(event, self.form_of(piece, index))
        following = columns(steps[1:])
        closes = np.where(following.duration > 0, (following.form - 1) * len(self.durations)
                          + following.duration - 1, IGNORED)
        targets = {"symbol": following.symbol, "duration": closes,
                   "dynamic": following.dynamic - 1}
        return columns(steps[:-1]), targets


class Speller:
    """Spells the music into the steps the network reads: each event as its notes in ascending
    pitch and then an ``<end>`` carrying its duration, dynamic and form, every step with the
    voicing, the symbol of the note each voice (bass to soprano) holds before the event being
    spelled (``<pad>`` for a silent voice).

    The voicing moves when an event ends, so every step spelling an event reads the same one and
    nothing of the event itself. :attr:`parts` are the voices each note of the event ended last
    went to (the corpus's ``parts`` format). Its :meth:`memory` and a model's state are all a
    reader needs to carry on from between two events.
    """

    def __init__(self, vocabulary):
        self.vocabulary = vocabulary
        self.reset()

    def reset(self):
        """Silence every voice, as at the start of a piece."""
        self._voicer = Voicer()
        self._voicing = self._held()
        self.parts = ()

    def start(self):
        """The first step of a piece: an ``<end>``, as if an event had just finished, so that
        its first note is predicted too."""
        self.reset()
        return self._step(self.vocabulary.end)

    def note(self, symbol):
        """The step reading the note ``symbol`` (an index) of the event being spelled."""
        return self._step(symbol)

    def end(self, event, form=CONTINUES):
        """The step ending ``event`` ``(notes, duration, dynamic)``, which closes as ``form``;
        the voices take its notes."""
        notes, duration, dynamic = event
        moves, _ = self._voicer.step(notes)
        self.parts = parts_of(notes, moves)
        self._voicing = self._held()
        return self._step(self.vocabulary.end,
                          *self.vocabulary.end_inputs(duration, dynamic, form))

    def event(self, event, form=CONTINUES):
        """The steps of one event: its notes in ascending pitch, then its end."""
        notes = self.vocabulary.event_symbols(event[0])[:-1]
        return [self.note(symbol) for symbol in notes] + [self.end(event, form)]

    def memory(self):
        return list(self._voicer.held)

    def recall(self, memory):
        self._voicer.held = list(memory)
        self._voicing = self._held()

    def _step(self, symbol, duration=NONE, dynamic=NONE, form=NONE):
        return Step(symbol=symbol, duration=duration, dynamic=dynamic, voicing=self._voicing,
                    form=form)

    def _held(self):
        return tuple(self.vocabulary.pad if note is None else self.vocabulary.note_symbol(note)
                     for note in self._voicer.held)


def transpose(events, semitones):
    """The events moved by ``semitones``; None if a note would leave the MIDI range."""
    moved = []
    for notes, duration, dynamic in events:
        shifted = tuple(n + semitones for n in notes)
        if any(not 0 <= n <= 127 for n in shifted):
            return None
        moved.append((shifted, duration, dynamic))
    return moved
