"""Sample events from a model, one symbol at a time.

An event is sampled as its notes in ascending pitch and then ``<end>``, at which point its
duration, how it closes (it goes on, ends a phrase, ends the piece) and its dynamic are sampled
from the same step's heads. The sampler only ever offers notes above the last one (so every
chord is valid), at most ``max_notes`` of them, and never lets one event repeat more than
``max_repeats`` times in a row.

What the engine gives its callers (``generate``, and the live server through
:mod:`playbach.engine.timeline`) is a :class:`Generated` per event::

    primed = generator.prime(primer.events, primer.phrase_ends)  # timeline.prime(primed)
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

from playbach.model.runtime import reader_for
from playbach.model.vocabulary import CONTINUES, PHRASE, PIECE, Speller

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
    """Generates events ``(notes, duration, dynamic)`` from a model and a primer."""

    def __init__(self, model, vocabulary, seed=None, temperature=1.0, top_k=0, top_p=1.0, *,
                 max_notes, max_repeats=4):
        self.vocabulary = vocabulary
        self.reader = reader_for(model)
        self.speller = Speller(vocabulary)
        self.rng = np.random.default_rng(seed)
        self.temperature, self.top_k, self.top_p = temperature, top_k, top_p
        self.max_notes, self.max_repeats = max_notes, max_repeats
        self._note_symbols = vocabulary.note_symbols()
        self.reset()

    def reset(self):
        """Forget everything, as before a new piece."""
        self.reader.reset()
        self.recent = []
        self.log_probs = self.reader.read(self.speller.start())

    def reseed(self, seed):
        """Start the random draws again from ``seed``."""
        self.rng = np.random.default_rng(seed)

    def snapshot(self):
        """Where the music is: all :meth:`restore` needs to carry on from here with the same
        random draws (the sampling settings are not part of it)."""
        return (self.reader.memory(), self.speller.memory(), self.log_probs, list(self.recent),
                self.rng.bit_generator.state)

    def restore(self, snapshot):
        """Carry on from a :meth:`snapshot`, with the sampling settings as they are now."""
        memory, spelling, self.log_probs, recent, random_state = snapshot
        self.reader.recall(memory)
        self.speller.recall(spelling)
        self.recent = list(recent)
        self.rng.bit_generator.state = random_state

    def prime(self, events, phrase_ends=()):
        """Read ``events`` as if they had just been played (``phrase_ends``: the indexes of
        those ending a phrase); return them as :class:`Generated`, voiced as the model read
        them, for a :class:`~playbach.engine.timeline.Timeline` to hold on what they leave
        sounding."""
        primed = []
        for index, event in enumerate(events):
            form = self.vocabulary.form(phrase_end=index in phrase_ends)
            for step in self.speller.event(event, form):
                self.log_probs = self.reader.read(step)
            self._remember(event)
            primed.append(Generated(*event, self.speller.parts, form != CONTINUES, False))
        return primed

    def generate(self, may_end=True):
        """Sample the next event and read it; return it as :class:`Generated`. With
        ``may_end`` false the piece goes on whatever the model says."""
        vocabulary = self.vocabulary
        notes = []
        while True:
            allowed = self._allowed(notes)
            symbol = sample(self.log_probs["symbol"], self.rng, self.temperature, self.top_k,
                            self.top_p, allowed)
            if symbol == vocabulary.end:
                break
            notes.append(vocabulary.note(symbol))
            self.log_probs = self.reader.read(self.speller.note(symbol))
        closes = None
        if not may_end and PIECE in vocabulary.forms:
            closes = np.array([form != PIECE for form, _ in vocabulary.closes])
        form, duration = vocabulary.closes[sample(self.log_probs["duration"], self.rng,
                                                  self.temperature, allowed=closes)]
        dynamic = None
        if notes:
            dynamic = vocabulary.dynamics[sample(self.log_probs["dynamic"], self.rng,
                                                 self.temperature)]
        event = (tuple(notes), duration, dynamic)
        self.log_probs = self.reader.read(self.speller.end(event, form))
        self._remember(event)
        return Generated(event[0], duration, dynamic, self.speller.parts,
                         form in (PHRASE, PIECE), form == PIECE)

    def next_event(self):
        """Sample the next event of music that never ends and read it; return ``(notes,
        duration, dynamic)``."""
        return self.generate(may_end=False).event

    def _allowed(self, notes):
        vocabulary = self.vocabulary
        allowed = np.zeros(len(vocabulary.symbols), bool)
        allowed[vocabulary.end] = True
        if len(notes) < self.max_notes:
            allowed[self._note_symbols[notes[-1] + 1 if notes else 0:]] = True
        repeated = self.recent[-self.max_repeats:]
        if (len(repeated) == self.max_repeats and len(set(repeated)) == 1
                and repeated[0] == tuple(notes) and allowed.sum() > 1):
            allowed[vocabulary.end] = False  # a guard against collapsing into one note
        return allowed

    def _remember(self, event):
        self.recent = (self.recent + [tuple(event[0])])[-self.max_repeats:]
