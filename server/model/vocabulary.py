"""The model's vocabulary: each event becomes its notes, one symbol each, then an end symbol.

An event ``A2.G#3:1/2:mf`` is the symbols ``A2 G#3 <end>``; a rest is ``<end>`` alone. Every
chord the grammar can write is a sequence of these 130 symbols, so nothing is ever unknown or cut
to fit a table. Duration and dynamic belong to the ``<end>`` symbol: the model predicts them at
the step whose next symbol is ``<end>``, having seen the whole chord, and is given them back with
the ``<end>`` it reads.

A symbol lists only the notes that start, so each step also reads the *voicing*: what the four
voices hold before the event being spelled (:class:`Voicing`, the shared ``Voicer``'s
assignment), which the network would otherwise have to work out from the symbols behind it.

The lists travel in the model card (``vocabulary``), so a shipped model always decodes with the
vocabulary it was trained with.
"""
import numpy as np

import playbach_protocol as protocol
from playbach.music import Voicer

PAD = "<pad>"
END = "<end>"
NONE = 0  # duration/dynamic input of a symbol that is not an <end>, and of a rest's dynamic
IGNORED = -1  # target that is not scored


class Vocabulary:
    """Symbol, duration and dynamic indexes of one model, built from its card's lists."""

    def __init__(self, symbols, durations, dynamics):
        self.symbols = list(symbols)
        self.durations = list(durations)
        self.dynamics = list(dynamics)
        self.pad = self.symbols.index(PAD)
        self.end = self.symbols.index(END)
        self._index = {symbol: i for i, symbol in enumerate(self.symbols)}
        self._note_of = {i: protocol.note_to_midi(s) for i, s in enumerate(self.symbols)
                         if s not in (PAD, END)}
        self._symbol_of_note = {note: i for i, note in self._note_of.items()}

    @classmethod
    def default(cls):
        """Every MIDI note, and the shared duration and dynamic classes."""
        names = [protocol.midi_to_note(n) for n in range(128)]
        return cls([PAD, END] + names, protocol.DURATIONS, protocol.DYNAMICS)

    def to_card(self):
        return {"symbols": self.symbols, "durations": self.durations, "dynamics": self.dynamics}

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

    def end_inputs(self, duration, dynamic):
        """The duration and dynamic inputs read with an event's ``<end>`` (index + 1)."""
        return (self.durations.index(duration) + 1,
                NONE if dynamic is None else self.dynamics.index(dynamic) + 1)

    def encode_piece(self, events):
        """Return ``(symbols, durations, dynamics, voicings)`` input arrays and ``(next symbols,
        durations, dynamics)`` target arrays for one piece of events.

        The stream starts with an ``<end>`` (as if an event had just finished) so that the first
        note is predicted too. Inputs carry an event's duration and dynamic (index + 1, 0 = none)
        on its ``<end>``; targets carry them (index, or ``IGNORED``) at the step predicting it.
        ``voicings`` has one row of :class:`Voicing` symbols per step.
        """
        symbols, durations, dynamics = [self.end], [NONE], [NONE]
        for notes, duration, dynamic in events:
            chord = self.event_symbols(notes)
            end_duration, end_dynamic = self.end_inputs(duration, dynamic)
            symbols += chord
            durations += [NONE] * (len(chord) - 1) + [end_duration]
            dynamics += [NONE] * (len(chord) - 1) + [end_dynamic]
        voicing = Voicing(self)
        voicings = np.array([voicing.read(symbol) for symbol in symbols[:-1]], np.int32)
        symbols = np.array(symbols, np.int32)
        durations = np.array(durations, np.int32)
        dynamics = np.array(dynamics, np.int32)
        targets = (symbols[1:], durations[1:] - 1, dynamics[1:] - 1)
        return (symbols[:-1], durations[:-1], dynamics[:-1], voicings), targets


class Voicing:
    """Follows the symbols a model reads and gives each step's voicing input: the symbol of
    the note each voice (bass to soprano) holds before the event being spelled, ``<pad>`` for a
    silent voice.

    The voicing moves when an ``<end>`` is read, so every step spelling an event reads the same
    one, and nothing of the event itself. A step model's state and this are all a reader needs
    to carry on from where it was (:meth:`memory`).
    """

    def __init__(self, vocabulary):
        self.vocabulary = vocabulary
        self.reset()

    def reset(self):
        """Silence every voice, as at the start of a piece."""
        self._voicer = Voicer()
        self._notes = []  # of the event being spelled
        self.current = self._symbols()

    def read(self, symbol):
        """Take the symbol a step reads; return that step's voicing (a list, not to be edited)."""
        if symbol == self.vocabulary.end:
            self._voicer.step(self._notes)
            self._notes = []
            self.current = self._symbols()
        elif symbol != self.vocabulary.pad:
            self._notes.append(self.vocabulary.note(symbol))
        return self.current

    def memory(self):
        return list(self._voicer.held), list(self._notes)

    def recall(self, memory):
        held, notes = memory
        self._voicer.held, self._notes = list(held), list(notes)
        self.current = self._symbols()

    def _symbols(self):
        return [self.vocabulary.pad if note is None else self.vocabulary.note_symbol(note)
                for note in self._voicer.held]


def transpose(events, semitones):
    """The events moved by ``semitones``; None if a note would leave the MIDI range."""
    moved = []
    for notes, duration, dynamic in events:
        shifted = tuple(n + semitones for n in notes)
        if any(not 0 <= n <= 127 for n in shifted):
            return None
        moved.append((shifted, duration, dynamic))
    return moved
