"""Where a piece starts: the opening of a held-out Bach piece, given events, or a MIDI file.

A model card may carry ``"primers": "<file>"``, a ``pieces.jsonl``-format file beside the card
holding the openings of a few pieces the model never trained on (written by ``playbach train``:
``model.dataset.write_primers``), so that the runtime needs neither the corpus nor music21.
"""
import random
from pathlib import Path

import playbach_protocol as protocol
from playbach.corpus import store
from playbach.corpus.midi import MidiError, read_piece


class PrimerError(ValueError):
    """A primer that cannot be had, with what to do instead."""


class Primer:
    """Events to prime a generator with, and a name to show for them; where known (a corpus's
    piece), the ``parts`` singing each event's notes and the indexes of the events that end a
    phrase, and its time signature (see :class:`~playbach.corpus.midi.Piece`)."""

    def __init__(self, name, events, bpm=None, parts=None, phrase_ends=(), time_signature=None):
        self.name, self.events, self.bpm = name, list(events), bpm
        self.parts, self.phrase_ends = parts, tuple(phrase_ends)
        self.time_signature = time_signature

    def __repr__(self):
        return "Primer(%r, %d events)" % (self.name, len(self.events))


def shipped_primers(card_path, card):
    """Return ``{name: Primer}`` of the primers a card ships; ``{}`` if it names none."""
    if not card.get("primers"):
        return {}
    path = Path(card_path).parent / card["primers"]
    try:
        pieces = store.read_pieces(path)
    except OSError as error:
        raise PrimerError("the model card names primers %s but they cannot be read (%s)"
                          % (path, error.strerror or error)) from None
    return {piece.name: from_piece(piece) for piece in pieces}


def from_tokens(text):
    """Return a :class:`Primer` of events written as text: ``"B2 A2:1/2 G2"``."""
    events = [protocol.parse_event(word) for word in text.split()]
    if not events:
        raise PrimerError("the primer tokens are empty: give events such as 'B2 A2:1/2 G2'")
    return Primer("tokens", events)


def from_midi(path):
    """Return a :class:`Primer` of a MIDI file's events (all of them)."""
    try:
        piece = read_piece(path, Path(path).stem)
    except (OSError, MidiError) as error:
        raise PrimerError("cannot use %s as a primer: %s" % (path, error)) from None
    if not piece.events:
        raise PrimerError("cannot use %s as a primer: it has no notes" % path)
    return from_piece(piece)


def from_piece(piece):
    """The :class:`Primer` of a corpus's :class:`~playbach.corpus.midi.Piece` (an opening)."""
    return Primer(piece.name, piece.events, piece.bpm, piece.parts, piece.phrase_ends,
                  piece.time_signature)


def choose(primers, name=None, rng=random):
    """Return the shipped primer called ``name``, or one at random when ``name`` is None."""
    if not primers:
        raise PrimerError("this model card ships no primers: give --primer-tokens "
                          "'B2 A2:1/2 G2' or --primer-midi FILE")
    if name is None:
        return primers[rng.choice(sorted(primers))]
    if name not in primers:
        raise PrimerError("no primer %r; the card ships: %s" % (name, " ".join(sorted(primers))))
    return primers[name]
