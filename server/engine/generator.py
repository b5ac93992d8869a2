"""Sample events from a model, one symbol at a time.

An event is sampled as the symbols of the model's spelling (``model.vocabulary``) and then
``<end>``, at which point its duration, how it closes (it goes on, ends a phrase, ends the
piece) and its dynamic are sampled from the same step's heads. The sampler only ever offers what
the spelling can write next (so every chord is valid), at most ``max_notes`` notes, and never
lets one event repeat more than ``max_repeats`` times in a row.

What the engine gives its callers (``generate``, and the live server through
:mod:`playbach.engine.timeline`) is a :class:`Generated` per event::

    generator.reset(primer.time_signature)
    primed = generator.prime(primer.events, primer.parts, primer.phrase_ends)
    timeline.prime(primed)
    while True:
        generated = generator.generate()   # Generated(notes, duration, dynamic, parts,
        ...                                #           phrase_end, piece_end)
        if generated.piece_end:            # the model ended the piece: prime the next one
            break

``generated.event`` is the wire's event ``(notes, duration, dynamic)``; ``parts`` the voices
(0 bass .. 3 soprano) singing each of its notes, in the corpus's format (a tuple per note, two
voices in a unison, none for a note beyond the four), which :class:`~playbach.engine.timeline.
Timeline` follows for the holds and the voice topics; ``phrase_end`` is true on the last event
of a phrase (Bach's fermatas) and of the piece, ``piece_end`` on the last event of the piece,
after which nothing sounds on. :meth:`Generator.next_event` is the endless way: the event
alone, the model never let end the piece.
"""
from collections import namedtuple

import numpy as np

from playbach.corpus import measures
from playbach.model.runtime import reader_for
from playbach.model.vocabulary import CONTINUES, PHRASE, PIECE

# The sampler's options unless told, each chosen on the music check (docs/spellings.md; the
# card measures each the other way).
SAMPLER = {"voice_leading": True, "tonic_end": True, "key_pull": True, "min_phrases": True,
           "end_pull": True}
REDRAWS = 8  # the most times an event in parallels is drawn again (voice_leading, by the Voicer)
# The most draws of a piece's last event in search of the tonic (tonic_end): the more of the
# model's own draws, the more pieces end where it ends them, not a phrase later (validation
# openings: median length 109 events with 64, 121 with 16; Bach 94)
CADENCE_DRAWS = 64
# The fewest phrases a piece plays after its primer (min_phrases): after an opening's phrase, the
# four in all that 359 of Bach's 364 chorales have at least (most have 6 to 8)
MIN_PHRASES = 3
KEY_PULL = 0.4  # nats taken from a note outside the piece's key (key_pull): 67 % as likely
# Nats given to every close that ends the piece (end_pull): on its own the model ends its pieces
# later than Bach. Read from his pieces it gives their end 0.37 at his phrase ends from the 8th on,
# where he ends 0.53 of them (0.65 nats short in the odds); playing, more so. Validation openings,
# two seeds of 8 pieces each: median 110 events without, 97.5 at 0.8, 95 at 0.9, 89 at 1 (Bach 94).
END_PULL = 0.9
# The temperature unless told: drawn at the model's own odds (1), its music is plainer than
# Bach's, with fewer of his quarter-beat notes; a little warmer brings his rhythm back (duration
# TV on the validation openings 0.033 on average over six runs, 0.046 at 1: docs/spellings.md).
TEMPERATURE = 1.1

Generated = namedtuple("Generated", "notes duration dynamic parts phrase_end piece_end")
Generated.__doc__ = """One generated event: the wire's ``notes``, ``duration``, ``dynamic``; the
``parts`` (voices) singing each note; whether it ends a phrase, and whether it ends the piece."""
Generated.event = property(lambda self: (self.notes, self.duration, self.dynamic),
                           doc="The wire's event ``(notes, duration, dynamic)``.")


def sample(log_probs, rng, temperature=1.0, top_k=0, top_p=1.0, allowed=None):
    """Draw an index from log-probabilities, sharpened or flattened by ``temperature``, kept to
    the ``top_k`` most likely (0: all) and to the smallest set holding ``top_p`` of the mass;
    ``allowed`` (a boolean mask) removes the rest. ``temperature`` 0 takes the most likely."""
    logits = np.asarray(log_probs, np.float64).copy()
    if allowed is not None:
        logits[~allowed] = -np.inf
    if temperature <= 0:
        return int(np.argmax(logits))
    logits = logits / temperature
    order = np.argsort(-logits, kind="stable")
    if top_k:
        logits[order[top_k:]] = -np.inf
    probs = np.exp(logits - logits[order[0]])
    probs /= probs.sum()
    if top_p < 1.0:
        cumulative = np.cumsum(probs[order])
        cut = int(np.searchsorted(cumulative, top_p)) + 1
        probs[order[cut:]] = 0.0
        probs /= probs.sum()
    return int(rng.choice(len(probs), p=probs))


class Generator:
    """Generates events from a model and a primer (see the module's docstring).

    With ``voice_leading``, a note that would move its voice in parallel fifths or octaves (or
    unisons) with a voice the event has already moved is never sampled, where the model gives
    each note its voice; where it leaves the voices to the ``Voicer``, an event whose notes the
    Voicer would move so is drawn again, up to ``REDRAWS`` times (:attr:`redrawn` counts the
    events drawn again, :attr:`kept_parallels` those still in parallels after the last). With
    ``tonic_end``, a piece ends only on the tonic chord of the key it began in (the key of its
    opening): where the model ends it on another chord, its last event is drawn again, up to
    ``CADENCE_DRAWS`` times, until it sounds the tonic chord; if none does, the model plays on,
    and the piece ends at its next phrase end (on the tonic chord, drawn again the same way).
    With ``key_pull``, a note outside the scale of that key is ``KEY_PULL`` nats less likely
    than the model says (once the key is known: from the primer's end). With ``min_phrases``, a
    piece ends no sooner than at the end of the ``MIN_PHRASES``-th phrase it plays (the
    primer's aside: what a listener hears): where the model would end it sooner, its close is
    drawn again among those that go on. With ``end_pull``, every close that ends the piece is
    ``END_PULL`` nats more likely than the model says. ``temperature`` (default
    ``TEMPERATURE``) flattens every draw above 1 and sharpens it below."""

    def __init__(self, model, vocabulary, seed=None, temperature=TEMPERATURE, top_k=0,
                 top_p=1.0, *, max_notes, max_repeats=4, voice_leading=SAMPLER["voice_leading"],
                 tonic_end=SAMPLER["tonic_end"], key_pull=SAMPLER["key_pull"],
                 min_phrases=SAMPLER["min_phrases"], end_pull=SAMPLER["end_pull"]):
        self.vocabulary = vocabulary
        self.voice_leading, self.tonic_end, self.key_pull = voice_leading, tonic_end, key_pull
        self.min_phrases, self.end_pull = min_phrases, end_pull
        self._ends_piece = np.array([form == PIECE for form, _ in vocabulary.closes])
        self._out_of_key = {}
        self.reader = reader_for(model)
        self.speller = vocabulary.speller()
        self.rng = np.random.default_rng(seed)
        self.temperature, self.top_k, self.top_p = temperature, top_k, top_p
        self.max_notes, self.max_repeats = max_notes, max_repeats
        self.redrawn = self.kept_parallels = 0
        self.reset()

    def reset(self, time_signature=None):
        """Forget everything, as before a new piece (in ``time_signature``, such as ``"3/4"``;
        None: 4/4)."""
        self.reader.reset()
        self.recent = []
        self.primed_phrases = 0  # the phrases the primer ended, which min_phrases does not count
        self.ending = False  # the model has ended the piece once, off the tonic (tonic_end)
        self.log_probs = self.reader.read(self.speller.start(time_signature))

    def reseed(self, seed):
        """Start the random draws again from ``seed``."""
        self.rng = np.random.default_rng(seed)

    def snapshot(self):
        """Where the music is: all :meth:`restore` needs to carry on from here with the same
        random draws (the sampling settings are not part of it)."""
        return (self.reader.memory(), self.speller.memory(), self.log_probs, list(self.recent),
                self.rng.bit_generator.state, self.primed_phrases, self.ending)

    def restore(self, snapshot):
        """Carry on from a :meth:`snapshot`, with the sampling settings as they are now."""
        self._recall(snapshot[:3])
        recent, random_state, self.primed_phrases, self.ending = snapshot[3:]
        self.recent = list(recent)
        self.rng.bit_generator.state = random_state

    def prime(self, events, parts=None, phrase_ends=()):
        """Read ``events`` as if they had just been played, sung by ``parts`` where known (one
        per event, the corpus's format), ``phrase_ends`` the indexes of those ending a phrase;
        return them as :class:`Generated`, voiced as the model read them, for a
        :class:`~playbach.engine.timeline.Timeline` to hold on what they leave sounding. The key
        of the piece is the primer's, if its first phrase has not ended by its end."""
        primed = []
        for index, event in enumerate(events):
            form = self.vocabulary.form(phrase_end=index in phrase_ends)
            for step in self.speller.event(event, form, parts[index] if parts else None):
                self.log_probs = self.reader.read(step)
            self._remember(event)
            primed.append(Generated(*event, self.speller.parts, form != CONTINUES, False))
        self.speller.settle_key()
        self.primed_phrases = self.speller.phrases
        return primed

    def generate(self, may_end=True):
        """Sample the next event and read it; return it as :class:`Generated`. With
        ``may_end`` false the piece goes on whatever the model says."""
        start = (self.reader.memory(), self.speller.memory(), self.log_probs)
        self._draw_event(start)
        form, duration = self._draw_close(None if may_end else False)
        played_phrases = self.speller.phrases - self.primed_phrases + 1  # with this one
        if form == PIECE and self.min_phrases and played_phrases < MIN_PHRASES:
            form, duration = self._draw_close(False)  # too soon: the piece goes on
        if form == PHRASE and self.ending and may_end:
            form = PIECE  # the cadence the model played on from, come again
        if form == PIECE and self.tonic_end and not self._on_tonic():
            # The model ends the piece here: look among its own draws of this last event for
            # the tonic chord, and play on where none is.
            for _ in range(CADENCE_DRAWS):
                self._recall(start)
                self._draw_event(start)
                if self._on_tonic():
                    break
            form, duration = self._draw_close(self._on_tonic())
            self.ending = form != PIECE
        notes = tuple(self.speller.pending_notes())
        dynamic = None
        if notes:
            dynamic = self.vocabulary.dynamics[sample(self.log_probs["dynamic"], self.rng,
                                                      self.temperature)]
        self.log_probs = self.reader.read(self.speller.end(duration, dynamic, form))
        self._remember((notes, duration, dynamic))
        return Generated(notes, duration, dynamic, self.speller.parts, form in (PHRASE, PIECE),
                         form == PIECE)

    def _draw_event(self, start):
        """Sample the notes of the next event (from ``start``, the state before it); where the
        ``Voicer`` gives the voices, with ``voice_leading``, draw again while it would move
        them in parallels."""
        redraw = self.voice_leading and not self.speller.gives_voices
        for draw in range(REDRAWS + 1):
            self._draw_notes()
            if not redraw or not measures.moves_in_parallel(self.speller.held(),
                                                            self.speller.pending_voicing()):
                return
            if draw == REDRAWS:
                self.kept_parallels += 1
                return
            self.redrawn += draw == 0
            self._recall(start)

    def _draw_close(self, end=None):
        """Sample how the event closes, ``(form, duration)``: whether the piece ends there the
        model chooses (``end`` None), or it ends (True) or goes on (False)."""
        allowed = None
        if end is not None and PIECE in self.vocabulary.forms:
            allowed = self._ends_piece == end
        log_probs = self.log_probs["duration"]
        if self.end_pull:
            log_probs = log_probs + END_PULL * self._ends_piece
        return self.vocabulary.closes[sample(log_probs, self.rng, self.temperature,
                                             allowed=allowed)]

    def _on_tonic(self):
        """Whether the event drawn so far sounds the tonic chord of the piece's key."""
        return measures.is_tonic_chord(self._sounding(),
                                       self.speller.key or measures.estimate_key([]))

    def _recall(self, state):
        memory, spelling, self.log_probs = state
        self.reader.recall(memory)
        self.speller.recall(spelling)

    def _draw_notes(self):
        """Sample the symbols of the next event, reading each, until ``<end>`` is drawn."""
        while True:
            symbol = sample(self._pulled(self.log_probs["symbol"]), self.rng, self.temperature,
                            self.top_k, self.top_p, self._allowed())
            if symbol == self.vocabulary.end:
                return
            self.log_probs = self.reader.read(self.speller.note(symbol))

    def _pulled(self, log_probs):
        """``log_probs`` over the symbols, with ``key_pull`` made ``KEY_PULL`` nats less likely
        where the symbol is a note outside the piece's key."""
        key = self.speller.key
        if not self.key_pull or key is None:
            return log_probs
        if key not in self._out_of_key:  # a mask over the symbols, once per key
            notes = self.vocabulary.notes()
            self._out_of_key[key] = (notes >= 0) & ~np.isin(notes % 12,
                                                            sorted(measures.scale(key)))
        return log_probs - KEY_PULL * self._out_of_key[key]

    def next_event(self):
        """Sample the next event of music that never ends and read it; return ``(notes,
        duration, dynamic)``."""
        return self.generate(may_end=False).event

    def _allowed(self):
        """What may come next: what the spelling can write; not the event played
        ``max_repeats`` times in a row once more (a guard against collapsing into one note);
        with ``voice_leading``, no note that makes parallel fifths or octaves with a voice
        already moved."""
        allowed = self.speller.allowed(self.max_notes)
        repeated = self.recent[-self.max_repeats:]
        if (len(repeated) == self.max_repeats and len(set(repeated)) == 1
                and repeated[0] == tuple(self.speller.pending_notes()) and allowed.sum() > 1):
            allowed[self.vocabulary.end] = False
        if self.voice_leading:
            allowed &= ~self._parallels()
        return allowed

    def _parallels(self):
        """Which symbols would move their voice in parallel fifths or octaves (or unisons) with
        a voice the event has already moved, from the notes they held: a mask over symbols."""
        voices, notes = self.speller.next_voices(), self.vocabulary.notes()
        held = np.array([np.nan if note is None else note for note in self.speller.held()])
        before = np.where(voices >= 0, held[np.maximum(voices, 0)], np.nan)
        parallel = np.zeros(len(voices), bool)
        for voice, note in self.speller.pending_voices().items():
            start = held[voice]
            if np.isnan(start) or note == start:
                continue
            interval = abs(before - start) % 12
            with np.errstate(invalid="ignore"):
                parallel |= ((voices != voice) & ((notes - before) * (note - start) > 0)
                             & np.isin(interval, measures.PERFECT_CLASSES)
                             & (abs(notes - note) % 12 == interval))
        return parallel

    def _sounding(self):
        """The notes the voices would hold if the event spelled so far ended now."""
        return sorted(n for n in self.speller.pending_voicing() if n is not None)

    def _remember(self, event):
        self.recent = (self.recent + [tuple(event[0])])[-self.max_repeats:]
