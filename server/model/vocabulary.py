"""The model's vocabulary, and what the network reads at each step.

An event is spelled as a few *symbols* and an ``<end>``, in one of three *spellings* (the
model card's ``vocabulary.spelling``):

- ``voices``: every voice, bass to soprano, then ``<end>``: the note it starts, or ``<hold>``
  where it holds (or stays silent); ``C3.G3.E4:1:f`` after a chord whose alto held E4 is ``C3 G3
  <hold> <hold> <end>`` if the soprano holds too. A rest is ``<end>`` alone; notes beyond the
  four voices (a piano's) follow the soprano, ascending;
- ``parts``: the notes that start, each tagged with its voice, bass to soprano: ``C3@bass
  G3@tenor <end>``; a unison is two symbols, notes beyond the voices are ``@extra``;
- ``ascending``: the notes that start in ascending pitch, ``C3 G3 <end>``, their voices left
  to the shared ``Voicer`` (the model does not predict them).

So every chord the grammar can write is a sequence of symbols, and nothing is ever unknown or
cut to fit a table. The voices come from the piece's own parts where the corpus has them (the
chorales' four singers) and from the ``Voicer`` where it does not (a piano file). Duration and
dynamic belong to the ``<end>`` symbol: the model predicts them at the step whose next symbol is
``<end>``, having seen the whole chord, and is given them back with the ``<end>`` it reads. How
the event closes, its *form*, goes with its duration: the music goes on, a phrase ends (a
fermata) or the piece ends; the duration head's classes are the (form, duration) pairs, so that
a phrase's last chord is long where Bach's is, and a piece ends where the model ends it.

Each step also reads the *voicing*, what the four voices hold before the event being spelled,
which the network would otherwise have to work out from the symbols behind it; where the event
being spelled falls (its beat in the bar, counted from the piece's start; how far into its
phrase; how many phrases have ended); and the *key* of the piece's opening, once it is known
(estimated at the first phrase end).

What the network reads at a step is one record, a :class:`Step`, whose fields are the inputs
named in :data:`INPUTS`: ``network.build`` embeds those a model's hyper-parameters give a size,
export names its signatures after them, the runtime feeds them by name and the key ensemble
moves the ones a key shift moves. One :class:`Speller` spells the music into steps, for training,
generation and evaluation alike. A new input is a line in :data:`INPUTS`, its value in
:meth:`Speller._step`, and its embedding size in ``hyper.HYPER_PARAMETERS``.

The lists travel in the model card (``vocabulary``), so a shipped model always decodes with the
vocabulary it was trained with.
"""
from collections import namedtuple
from fractions import Fraction

import numpy as np

import playbach_protocol as protocol
from playbach.corpus.measures import MODES, estimate_key
from playbach.music import Voicer, parts_of

PAD = "<pad>"
END = "<end>"
HOLD = "<hold>"
EXTRA = "extra"  # the part of a note beyond the voices
FORMS = ("continues", "phrase", "piece")  # how an event closes: the last ends the piece
CONTINUES, PHRASE, PIECE = FORMS
SPELLINGS = ("ascending", "voices", "parts")
NONE = 0  # duration/dynamic/form input of a symbol that is not an <end>, a rest's dynamic
PADDING = 0  # what every input reads where there is nothing: <pad> is symbol 0, NONE is 0
IGNORED = -1  # target that is not scored
VOICES = len(protocol.VOICES)
BEATS_PER_BAR = 8  # the longest bar the beat input tells apart; longer ones wrap
BEAT_STEPS = 12  # the beat input's steps per beat: every duration class lands on one
PHRASE_EVENTS = 32  # the phrase input counts events into a phrase up to this
PHRASES = 16  # the phrases input counts phrases up to this
OPENING_EVENTS = 16  # the key is estimated at the first phrase end, or after this many events


class Input(namedtuple("Input", "name shape classes embedding keyed")):
    """One thing the network reads at every step.

    ``name`` is the :class:`Step` field (and the step model's input); the sequence model's input
    is its plural, :attr:`sequence`. ``shape`` is one step's value's (``()`` for a number),
    ``classes(vocabulary)`` how many values it takes, ``embedding`` the hyper-parameter giving
    the size of each value's embedding (and the embedding layer's name), and ``keyed`` what a
    key shift moves in it: ``"symbols"`` (note symbols), ``"keys"`` (a key) or None.
    """

    @property
    def sequence(self):
        return self.name + "s"


INPUTS = (
    Input("symbol", (), lambda vocabulary: len(vocabulary.symbols), "symbol_embedding",
          "symbols"),
    Input("duration", (), lambda vocabulary: len(vocabulary.durations) + 1,  # + NONE
          "duration_embedding", None),
    Input("dynamic", (), lambda vocabulary: len(vocabulary.dynamics) + 1,
          "dynamic_embedding", None),
    Input("voicing", (VOICES,), lambda vocabulary: len(vocabulary.symbols),  # a symbol a voice
          "voice_embedding", "symbols"),
    Input("form", (), lambda vocabulary: len(vocabulary.forms) + 1, "form_embedding", None),
    Input("beat", (), lambda vocabulary: BEATS_PER_BAR * BEAT_STEPS + 1, "beat_embedding", None),
    Input("phrase", (), lambda vocabulary: PHRASE_EVENTS + 1, "phrase_embedding", None),
    Input("phrases", (), lambda vocabulary: PHRASES + 1, "phrases_embedding", None),
    Input("key", (), lambda vocabulary: 12 * len(MODES) + 1, "key_embedding", "keys"),
)
Step = namedtuple("Step", [spec.name for spec in INPUTS])
Step.__doc__ = """What the network reads at one step, a field per input (:data:`INPUTS`); or,
as :func:`columns`, what it reads at many, each field an array with one row per step."""
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


def key_input(key):
    """The key input of a key ``(tonic, mode)``; ``NONE`` for None (not known yet)."""
    return NONE if key is None else 1 + MODES.index(key[1]) * 12 + key[0]


class Vocabulary:
    """Symbol, duration, dynamic and form indexes of one model, built from its card's lists.

    ``closes`` are the duration head's classes: each ``(form, duration)`` pair, form by form.
    A model trained before forms were read knows one, ``continues``: its head is the durations.
    """

    def __init__(self, symbols, durations, dynamics, forms=(CONTINUES,), spelling="ascending"):
        if spelling not in SPELLINGS:
            raise ValueError("unknown spelling %r: expected one of %s"
                             % (spelling, ", ".join(SPELLINGS)))
        self.symbols = list(symbols)
        self.durations = list(durations)
        self.dynamics = list(dynamics)
        self.forms = list(forms)
        self.spelling = spelling
        self.closes = [(form, duration) for form in self.forms for duration in self.durations]
        self.pad = self.symbols.index(PAD)
        if self.pad != PADDING:
            raise ValueError("the vocabulary's symbols must start with %s" % PAD)
        self.end = self.symbols.index(END)
        self.hold = self.symbols.index(HOLD) if HOLD in self.symbols else None
        self._notes = np.full(len(self.symbols), -1)  # the MIDI note of each symbol, or -1
        self._voices = np.full(len(self.symbols), -1)  # the voice a symbol is tagged with
        self._symbol_of = {}
        parts = protocol.VOICES + (EXTRA,)
        for i, name in enumerate(self.symbols):
            if name in (PAD, END, HOLD):
                continue
            note, _, part = name.partition("@")
            self._notes[i] = protocol.note_to_midi(note)
            self._voices[i] = parts.index(part) if part else -1
            self._symbol_of[self._notes[i], self._voices[i]] = i

    @classmethod
    def default(cls, spelling="ascending"):
        """Every MIDI note (for ``parts``, in every voice and beyond them), the shared duration
        and dynamic classes, and every form."""
        names = [protocol.midi_to_note(n) for n in range(128)]
        if spelling == "voices":
            names = [HOLD] + names
        elif spelling == "parts":
            names = ["%s@%s" % (note, part) for part in protocol.VOICES + (EXTRA,)
                     for note in names]
        return cls([PAD, END] + names, protocol.DURATIONS, protocol.DYNAMICS, FORMS, spelling)

    def to_card(self):
        return {"spelling": self.spelling, "symbols": self.symbols,
                "durations": self.durations, "dynamics": self.dynamics, "forms": self.forms}

    @classmethod
    def from_card(cls, card):
        return cls(**card["vocabulary"])

    def note(self, symbol):
        """The MIDI note of a note symbol's index."""
        return int(self._notes[symbol])

    def voice(self, symbol):
        """The voice (0 bass .. 3 soprano, 4 beyond them) a ``parts`` symbol is tagged with."""
        return int(self._voices[symbol])

    def note_symbol(self, note, voice=-1):
        """The symbol index of a MIDI note (tagged with ``voice``, in the ``parts`` spelling:
        0-3, or ``VOICES`` for a note beyond them)."""
        return self._symbol_of[note, voice if self.spelling == "parts" else -1]

    def notes(self):
        """The MIDI note of every symbol, as an array (-1 for ``<pad>``, ``<end>``, ``<hold>``)."""
        return self._notes

    def voices(self):
        """The voice every symbol is tagged with, as an array (-1 where none)."""
        return self._voices

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

    def shifted(self, shift):
        """How music moved by ``shift`` semitones reads: ``(read_as, back)``, two arrays over
        the symbols. ``read_as[s]`` is the symbol ``s`` becomes (a note the shift would take
        outside 0-127 stays as it is; ``<pad>``, ``<end>`` and ``<hold>`` too); ``back[s]`` is
        the symbol whose prediction, in the moved music, is the prediction of ``s`` (-1 for a
        note that cannot move)."""
        read_as = np.arange(len(self.symbols))
        back = read_as.copy()
        for (note, voice), symbol in self._symbol_of.items():
            moved = self._symbol_of.get((note + shift, voice))
            if moved is None:
                back[symbol] = -1
            else:
                read_as[symbol] = back[symbol] = moved
        return read_as, back

    def speller(self):
        """A new :class:`Speller` of this vocabulary's spelling."""
        return SPELLERS[self.spelling](self)

    def encode_piece(self, piece):
        """Return the input :class:`Step` of arrays and the targets (a dict of arrays by head)
        for one piece (a :class:`~playbach.corpus.midi.Piece`): the steps the :class:`Speller`
        spells, and what follows each.

        Inputs carry an event's duration, dynamic and form (index + 1, 0 = none) on its
        ``<end>``; targets carry its close (:meth:`close`) and dynamic (index, or ``IGNORED``)
        at the step predicting it.
        """
        steps = self.speller().spell(piece)
        following = columns(steps[1:])
        closes = np.where(following.duration > 0, (following.form - 1) * len(self.durations)
                          + following.duration - 1, IGNORED)
        targets = {"symbol": following.symbol, "duration": closes,
                   "dynamic": following.dynamic - 1}
        return columns(steps[:-1]), targets


class Speller:
    """Spells the music into the steps the network reads, one event at a time: the symbols of
    its spelling (subclasses), then an ``<end>`` carrying its duration, dynamic and form. Every
    step reads the voicing, the symbol of the note each voice (bass to soprano) holds before the
    event being spelled (``<pad>`` for a silent voice), which moves when an event ends, so the
    steps spelling an event read nothing of it.

    Symbol by symbol (the generator, a beam search): :meth:`allowed` says what may come next,
    :meth:`note` reads a symbol of the event, :meth:`end` ends it; then :attr:`notes` and
    :attr:`parts` are the event's notes and the voices singing each (the corpus's ``parts``
    format). Its :meth:`memory` and a model's state are all a reader needs to carry on from,
    anywhere.
    """

    gives_voices = True  # whether the symbols say which voice sings each note, note by note

    def __init__(self, vocabulary):
        self.vocabulary = vocabulary
        self.reset()

    def reset(self, time_signature=None):
        """Silence every voice, as at the start of a piece in ``time_signature`` (text such as
        ``"3/4"``; None: 4/4)."""
        self._voicer = Voicer()
        self._bar = _bar_beats(time_signature)
        self._onset = Fraction(0)
        self._phrase = self._phrases = 0
        self._opening = []  # the events until the key is estimated
        self._key = None
        self._read = []  # the symbols of the event being spelled
        self.notes, self.parts = (), ()

    def start(self, time_signature=None):
        """The first step of a piece: an ``<end>``, as if an event had just finished, so that
        its first note is predicted too."""
        self.reset(time_signature)
        return self._step(self.vocabulary.end)

    def spell(self, piece):
        """Every step of ``piece`` (a :class:`~playbach.corpus.midi.Piece`), its start first."""
        steps = [self.start(piece.time_signature)]
        for index, event in enumerate(piece.events):
            parts = piece.parts[index] if piece.parts is not None else None
            steps += self.event(event, self.vocabulary.form_of(piece, index), parts)
        return steps

    def event(self, event, form=CONTINUES, parts=None):
        """The steps of one event ``(notes, duration, dynamic)`` closing as ``form``, its notes
        sung by ``parts`` (the corpus's format; None: as the ``Voicer`` would give them)."""
        notes, duration, dynamic = event
        steps = [self.note(symbol) for symbol in self.symbols(notes, parts)]
        return steps + [self.end(duration, dynamic, form)]

    def note(self, symbol):
        """The step reading ``symbol`` (an index, not ``<end>``) of the event being spelled."""
        self._read.append(symbol)
        return self._step(symbol)

    def end(self, duration, dynamic, form=CONTINUES):
        """The step ending the event spelled so far, which lasts ``duration``, at ``dynamic``
        (None for a rest), and closes as ``form``; the voices take its notes."""
        notes, parts = self.spelled()
        moves, _ = self._voicer.step(notes, parts)
        self.notes, self.parts = tuple(notes), parts_of(notes, moves)
        self._read = []
        self._onset += Fraction(duration)
        self._phrase += 1
        if self._key is None:
            self._opening.append((self.notes, duration, dynamic))
        if form != CONTINUES:
            self._phrase = 0
            self._phrases += 1
        if self._key is None and (form != CONTINUES or len(self._opening) >= OPENING_EVENTS):
            self.settle_key()
        return self._step(self.vocabulary.end,
                          *self.vocabulary.end_inputs(duration, dynamic, form))

    def settle_key(self):
        """Estimate the key from the events so far, if it is not known yet, and keep it (the
        generator's primer may end before the first phrase does)."""
        if self._key is None:
            self._key = estimate_key(self._opening)
            self._opening = []

    @property
    def key(self):
        """The key of the piece's opening, once estimated, else None."""
        return self._key

    @property
    def phrases(self):
        """How many phrases have ended since the piece began."""
        return self._phrases

    def held(self):
        """The note each voice holds (None: silent), bass first."""
        return list(self._voicer.held)

    def memory(self):
        """Everything needed to carry on from here (:meth:`recall`)."""
        return (list(self._voicer.held), list(self._voicer.extras), self._bar, self._onset,
                self._phrase, self._phrases, list(self._opening), self._key, list(self._read),
                self.notes, self.parts)

    def recall(self, memory):
        held, extras, self._bar, self._onset, self._phrase, self._phrases, opening, \
            self._key, read, self.notes, self.parts = memory
        self._voicer.held, self._voicer.extras = list(held), list(extras)
        self._opening, self._read = list(opening), list(read)

    def pending_notes(self):
        """The notes of the event spelled so far, ascending."""
        return self.spelled()[0]

    def pending_voices(self):
        """``{voice: note}`` of the voices the event spelled so far moves (none where the
        spelling leaves the voices to the ``Voicer``)."""
        notes, parts = self.spelled()
        return {voice: note for note, voices in zip(notes, parts or ()) for voice in voices}

    def pending_voicing(self):
        """The note each voice would hold (None: silent), bass first, if the event spelled so
        far ended now: in the voices it gives its notes, or those the ``Voicer`` would."""
        voicer = Voicer()
        voicer.held, voicer.extras = list(self._voicer.held), list(self._voicer.extras)
        voicer.step(*self.spelled())
        return list(voicer.held)

    # --- what a spelling says ------------------------------------------------------------------

    def symbols(self, notes, parts):
        """The symbols (indexes, no ``<end>``) spelling an event's ``notes`` sung by ``parts``."""
        raise NotImplementedError

    def spelled(self):
        """``(notes, parts)`` of the event spelled so far: its notes ascending, and the voices
        singing each (None: the ``Voicer`` decides)."""
        raise NotImplementedError

    def allowed(self, max_notes):
        """A boolean mask over the symbols: what may come next in the event being spelled, so
        that it stays an event of at most ``max_notes`` notes that the spelling can write."""
        raise NotImplementedError

    def next_voices(self):
        """The voice each symbol would give its note if it came next (-1 where it gives none, or
        the spelling leaves the voices to the ``Voicer``), as an array over the symbols."""
        return np.full(len(self.vocabulary.symbols), -1)

    # --- shared -------------------------------------------------------------------------------

    def _voiced(self, notes, parts):
        """``parts``, or the voices the ``Voicer`` would give ``notes`` now."""
        if parts is not None or not notes:
            return parts if notes else ()
        voicer = Voicer()
        voicer.held, voicer.extras = list(self._voicer.held), list(self._voicer.extras)
        return parts_of(notes, voicer.step(notes)[0])

    def _step(self, symbol, duration=NONE, dynamic=NONE, form=NONE):
        voicing = tuple(self.vocabulary.pad if note is None else
                        self.vocabulary.note_symbol(note, voice)
                        for voice, note in enumerate(self._voicer.held))
        bar_steps = int(self._bar * BEAT_STEPS)
        beat = int(self._onset * BEAT_STEPS) % bar_steps % (BEATS_PER_BAR * BEAT_STEPS)
        return Step(symbol=symbol, duration=duration, dynamic=dynamic, voicing=voicing,
                    form=form, beat=1 + beat, phrase=1 + min(self._phrase, PHRASE_EVENTS - 1),
                    phrases=1 + min(self._phrases, PHRASES - 1), key=key_input(self._key))


class AscendingSpeller(Speller):
    """The ``ascending`` spelling: an event's notes in ascending pitch, voiced by the
    ``Voicer``, whatever parts the music has."""

    gives_voices = False

    def symbols(self, notes, parts):
        return [self.vocabulary.note_symbol(n) for n in sorted(notes)]

    def spelled(self):
        return sorted(self.vocabulary.note(s) for s in self._read), None

    def allowed(self, max_notes):
        vocabulary = self.vocabulary
        allowed = np.zeros(len(vocabulary.symbols), bool)
        allowed[vocabulary.end] = True
        if len(self._read) < max_notes:
            allowed[vocabulary.notes() > (vocabulary.note(self._read[-1]) if self._read
                                          else -1)] = True
        return allowed


class VoicesSpeller(Speller):
    """The ``voices`` spelling: each voice in turn, bass to soprano, its new note or
    ``<hold>``; then notes beyond the voices, ascending. A rest is ``<end>`` alone."""

    def symbols(self, notes, parts):
        if not notes:
            return []
        parts = self._voiced(notes, parts)
        sung = {voice: note for note, voices in zip(notes, parts) for voice in voices}
        extras = sorted(note for note, voices in zip(notes, parts) if not voices)
        return [self.vocabulary.hold if voice not in sung else
                self.vocabulary.note_symbol(sung[voice]) for voice in range(VOICES)] + [
            self.vocabulary.note_symbol(note) for note in extras]

    def spelled(self):
        vocabulary = self.vocabulary
        sung = {}
        for voice, symbol in enumerate(self._read[:VOICES]):
            if symbol != vocabulary.hold:
                sung.setdefault(vocabulary.note(symbol), []).append(voice)
        for symbol in self._read[VOICES:]:
            sung.setdefault(vocabulary.note(symbol), [])
        notes = sorted(sung)
        return notes, tuple(tuple(sung[note]) for note in notes)

    def allowed(self, max_notes):
        vocabulary = self.vocabulary
        allowed = np.zeros(len(vocabulary.symbols), bool)
        notes = self.pending_notes()
        slot = len(self._read)
        is_note = vocabulary.notes() >= 0
        if slot < VOICES:
            if len(notes) < max_notes:
                allowed[is_note] = True
            else:  # no new pitch: a unison with one chosen already, or a hold
                allowed[[vocabulary.note_symbol(n) for n in notes]] = True
            allowed[vocabulary.hold] = bool(notes) or slot < VOICES - 1
            allowed[vocabulary.end] = slot == 0  # a rest
        else:  # notes beyond the voices, ascending, once all four have moved
            allowed[vocabulary.end] = True
            if len(notes) < max_notes and vocabulary.hold not in self._read:
                above = vocabulary.note(self._read[-1]) if slot > VOICES else -1
                allowed[is_note & (vocabulary.notes() > above)
                        & ~np.isin(vocabulary.notes(), notes)] = True
        return allowed

    def next_voices(self):
        slot = len(self._read)
        voices = np.full(len(self.vocabulary.symbols), -1)
        if slot < VOICES:
            voices[self.vocabulary.notes() >= 0] = slot
        return voices


class PartsSpeller(Speller):
    """The ``parts`` spelling: the notes that start, each tagged with the voice singing it,
    bass to soprano (a unison twice), then notes beyond the voices, ascending."""

    def symbols(self, notes, parts):
        parts = self._voiced(notes, parts)
        tagged = sorted((voice, note) for note, voices in zip(notes, parts) for voice in voices)
        tagged += [(VOICES, note) for note, voices in zip(notes, parts) if not voices]
        return [self.vocabulary.note_symbol(note, voice) for voice, note in tagged]

    def spelled(self):
        vocabulary = self.vocabulary
        sung = {}
        for symbol in self._read:
            voices = sung.setdefault(vocabulary.note(symbol), [])
            if vocabulary.voice(symbol) < VOICES:
                voices.append(vocabulary.voice(symbol))
        notes = sorted(sung)
        return notes, tuple(tuple(sung[note]) for note in notes)

    def allowed(self, max_notes):
        vocabulary = self.vocabulary
        voices, notes = vocabulary.voices(), vocabulary.notes()
        chosen = self.pending_notes()
        last = self._read[-1] if self._read else None
        allowed = np.zeros(len(vocabulary.symbols), bool)
        allowed[vocabulary.end] = True
        if last is None or vocabulary.voice(last) < VOICES:
            allowed[(voices > (vocabulary.voice(last) if last is not None else -1))
                    & (voices < VOICES)] = True
        above = vocabulary.note(last) if last is not None and vocabulary.voice(
            last) == VOICES else -1
        allowed[(voices == VOICES) & (notes > above) & ~np.isin(notes, chosen)] = True
        if len(chosen) >= max_notes:  # no new pitch: only unisons with the notes chosen
            allowed &= np.isin(notes, chosen) | (np.arange(len(notes)) == vocabulary.end)
        return allowed

    def next_voices(self):
        voices = self.vocabulary.voices().copy()
        voices[voices >= VOICES] = -1
        return voices


SPELLERS = {"ascending": AscendingSpeller, "voices": VoicesSpeller, "parts": PartsSpeller}


def _bar_beats(time_signature):
    """The beats (quarter notes) of a bar of ``time_signature`` (``"3/4"``); 4 if unknown."""
    try:
        numerator, denominator = (int(part) for part in str(time_signature).split("/"))
        beats = Fraction(4 * numerator, denominator)
    except (ValueError, ZeroDivisionError):
        return Fraction(4)
    return beats if beats > 0 else Fraction(4)


def transpose(events, semitones):
    """The events moved by ``semitones``; None if a note would leave the MIDI range."""
    moved = []
    for notes, duration, dynamic in events:
        shifted = tuple(n + semitones for n in notes)
        if any(not 0 <= n <= 127 for n in shifted):
            return None
        moved.append((shifted, duration, dynamic))
    return moved
