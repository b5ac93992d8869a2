"""How long each note sounds, known only once its voice moves again.

A token lists the notes that start; a note sounds until its voice moves (or a rest silences it),
and notes beyond the four voices sound for their own event only. So an event's note lengths
("holds") are known only by looking ahead: :class:`Timeline` takes events as they are generated
and gives them back, in order, once every hold is known, or once ``horizon`` events have piled up
behind one, in which case the hold is capped at the end of what has been generated.

An event is ``(notes, duration, dynamic)``, or a
:class:`~playbach.engine.generator.Generated` one: then its ``parts`` say which voice sings each
note (the model's voices, not the :class:`Voicer`'s guess), and the end of a piece ends every
note still sounding, so that all of the piece is ready at once and the next piece starts from
silence; :class:`Timed` says which events end a phrase and the piece.

Everything here is in beats (quarter notes, as exact fractions);
:func:`playbach_protocol.beats_to_ms` turns beats into milliseconds at a tempo. Pure: no clock,
no I/O.
"""
from collections import deque, namedtuple
from fractions import Fraction

import playbach_protocol as protocol
from playbach.music import Voicer

DEFAULT_HORIZON = 64  # events: how far to look ahead for a voice's next move

# One event with its lengths, in beats: ``onset`` from the start, ``beats`` until the next
# onset, ``holds`` one per note (in ``notes`` order), and ``moves`` as ``(voice, note or None,
# hold)`` for each voice that moves (a silence lasts until the voice's next note);
# ``phrase_end`` and ``piece_end`` as the event said (False for a bare event).
Timed = namedtuple("Timed", "notes duration dynamic onset beats holds moves phrase_end piece_end")


def duration_fraction(duration):
    """The exact length in beats of a duration class such as ``1/3``."""
    protocol.duration_beats(duration)  # raises on an unknown class
    return Fraction(duration)


class _Pending:
    def __init__(self, event, onset, moves):
        self.event, self.onset, self.moves = event, onset, moves
        self.until = {}  # voice: onset of its next move, once known
        self.ends = (getattr(event, "phrase_end", False), getattr(event, "piece_end", False))


class Timeline:
    """Turns events into :class:`Timed` events, releasing each once its holds are known."""

    def __init__(self, voices=len(protocol.VOICES), horizon=DEFAULT_HORIZON):
        self.horizon = horizon
        self.voicer = Voicer(voices)
        self.reset()

    def reset(self):
        """Forget every pending event and held note, as before a new piece."""
        self.voicer.reset()
        self.pending = deque()
        self.waiting = {}  # voice: the pending event whose move on that voice has no end yet
        self.end = Fraction(0)  # beats: where the last event pushed ends

    def resume(self, held):
        """Start afresh (nothing pending) with the voices holding ``held`` (a list, one MIDI
        note or None per voice, as ``self.voicer.held`` was)."""
        self.reset()
        self.voicer.held = list(held)

    def prime(self, events):
        """Voice ``events`` (as :meth:`push` takes them) as already played, a primer: the notes
        they leave sounding are held on, but the events themselves are not given back."""
        for event in events:
            self._push(event, getattr(event, "parts", None))
            self.pending.pop()
        self.waiting.clear()

    def push(self, event):
        """Add the next event: ``(notes, duration, dynamic)`` or a ``Generated`` one."""
        self._push(event, getattr(event, "parts", None))
        if getattr(event, "piece_end", False):  # everything stops at the end of the piece
            for pending in self.waiting.values():
                pending.until = {voice: pending.until.get(voice, self.end)
                                 for voice, _ in pending.moves}
            self.waiting.clear()
            self.voicer.reset()

    def _push(self, event, parts):
        notes, duration, _ = event[:3]
        moves, _ = self.voicer.step(notes, parts)
        for voice, _ in moves:
            earlier = self.waiting.pop(voice, None)
            if earlier is not None:
                earlier.until[voice] = self.end
        pending = _Pending(event, self.end, moves)
        for voice, _ in moves:
            self.waiting[voice] = pending
        self.pending.append(pending)
        self.end += duration_fraction(duration)

    def ready(self):
        """Whether the oldest pending event can be popped: all its holds known, or too many
        events behind it."""
        if not self.pending:
            return False
        oldest = self.pending[0]
        return len(oldest.until) == len(oldest.moves) or len(self.pending) > self.horizon

    def pop(self):
        """Return the oldest pending event as :class:`Timed`; holds still unknown end at
        ``self.end``. Call when :meth:`ready` (or to flush at the end of a piece)."""
        pending = self.pending.popleft()
        notes, duration, dynamic = pending.event[:3]
        beats = duration_fraction(duration)
        moves = []
        for voice, note in pending.moves:
            if self.waiting.get(voice) is pending:
                del self.waiting[voice]
            moves.append((voice, note, pending.until.get(voice, self.end) - pending.onset))
        voiced = {}  # a unison's note sounds while either voice holds it
        for _, note, hold in moves:
            if note is not None:
                voiced[note] = max(hold, voiced.get(note, 0))
        holds = tuple(voiced.get(note, beats) for note in notes)  # extras: their event only
        return Timed(tuple(notes), duration, dynamic, pending.onset, beats, holds, moves,
                     *pending.ends)

    def drain(self):
        """Pop every pending event (the end of a piece: what still sounds stops there)."""
        while self.pending:
            yield self.pop()


def timed(events, primer=(), horizon=DEFAULT_HORIZON):
    """Return the :class:`Timed` events of a whole list of events, voiced after ``primer``."""
    timeline = Timeline(horizon=horizon)
    timeline.prime(primer)
    result = []
    for event in events:
        timeline.push(event)
        while timeline.ready():
            result.append(timeline.pop())
    result.extend(timeline.drain())
    return result
