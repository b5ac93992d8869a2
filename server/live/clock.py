"""When the next event sounds, on a monotonic clock, at a tempo that may change.

Onsets are computed from an anchor (a moment and a tempo), never by adding up sleeps, so they do
not drift; a tempo change re-anchors at the next onset. Pure: the caller passes the time.
"""
from fractions import Fraction

from playbach_protocol import beats_to_ms


class Clock:
    """The moment (seconds, ``time.monotonic()``) the next event is due."""

    def __init__(self, bpm, now):
        self.bpm = bpm
        self.restart(now)

    @property
    def due(self):
        """When the next event sounds."""
        return self.anchor + beats_to_ms(float(self.beats), self.bpm) / 1000

    def advance(self, beats):
        """The event due has sounded; the next is ``beats`` later."""
        self.beats += Fraction(beats)

    def set_tempo(self, bpm):
        """Play at ``bpm`` from the next onset on (the event sounding keeps its length)."""
        self.anchor, self.beats, self.bpm = self.due, Fraction(0), bpm

    def restart(self, now):
        """The next event is due at ``now`` (starting, resuming, or catching up when late)."""
        self.anchor, self.beats = now, Fraction(0)
