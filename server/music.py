"""The music only the server uses, beside the wire's grammar (``playbach_protocol``): lengths
and loudness quantized to its classes (the corpus), and the :class:`Voicer` that gives each note
a voice (the model's voicing input, the timeline, the live voice topics)."""
import math

from playbach_protocol import DURATIONS, DYNAMICS, VELOCITIES, VOICES, duration_beats


def quantize_duration(beats):
    """Return the duration class nearest (by ratio) to a length in beats; 4 or more is ``4``."""
    if not isinstance(beats, (int, float)) or not beats > 0:
        raise ValueError("bad duration %r: expected a positive number of beats" % (beats,))
    best, best_error = DURATIONS[0], None
    for duration in DURATIONS:
        error = abs(math.log(beats / duration_beats(duration)))
        if best_error is None or error < best_error:
            best, best_error = duration, error
    return best


def quantize_velocity(velocity):
    """Return the dynamic mark nearest to a MIDI velocity (1-127)."""
    if not isinstance(velocity, int) or isinstance(velocity, bool) or not 1 <= velocity <= 127:
        raise ValueError("bad velocity %r: expected an integer 1-127" % (velocity,))
    distances = [abs(velocity - v) for v in VELOCITIES]
    return DYNAMICS[distances.index(min(distances))]


_ENTRY_COST = 12  # semitones: a silent voice enters only where moving a sounding one leaps further
_CROSSING_COST = 100  # per pair of voices out of order: keep bass lowest and soprano highest


def _combinations(count, size, start=0):
    """Yield ascending tuples of ``size`` indexes out of ``range(start, count)``, highest first."""
    if size == 0:
        yield ()
        return
    for first in range(count - size, start - 1, -1):
        for rest in _combinations(count, size - 1, first + 1):
            yield (first,) + rest


class Voicer:
    """Assigns the notes of each event to voices, lowest to bass and highest to soprano.

    A token lists only the notes that start, so the voicer remembers what each voice holds: a
    note sounds until its voice moves or a rest silences everything. Notes beyond the number of
    voices (a five-note chord for four voices) sound for their own event only.
    """

    def __init__(self, voices=len(VOICES)):
        self.held = [None] * voices
        self.extras = []

    def reset(self):
        """Silence every voice, as at the start of a piece."""
        self.held = [None] * len(self.held)
        self.extras = []

    def step(self, notes, parts=None):
        """Take one event's notes; return ``(moves, released)``.

        ``parts``, where the music says who sings what (a corpus's parts, a model's voices):
        per note of ``notes`` (ascending), the voices that sing it (two in a unison, none for a
        note beyond the voices); without them the voicer chooses.
        ``moves`` lists ``(voice, note)`` for each voice that moves, in voice order, with
        ``note`` None where the voice falls silent; a repeated note moves its voice too.
        ``released`` lists the MIDI notes that stop sounding (a repeated note stops, then starts).
        """
        notes = sorted(set(notes))
        count = len(self.held)
        before, released = self.held, self.extras
        self.extras = []
        if parts is not None and notes:
            assigned = {voice: note for note, voices in zip(notes, parts) for voice in voices
                        if voice < count}
            self.extras = [note for note in notes if note not in assigned.values()]
            self.held = [assigned.get(voice, held) for voice, held in enumerate(before)]
        elif not notes:
            assigned = {}
            self.held = [None] * count
        elif len(notes) >= count:
            chosen = _spread(notes, count)
            assigned = dict(enumerate(chosen))
            self.extras = [n for n in notes if n not in chosen]
            self.held = chosen
        else:
            assigned = self._cheapest(notes)
            self.held = list(before)
            for voice in assigned:
                self.held[voice] = assigned[voice]
        moves = []
        for voice in range(count):
            if voice in assigned or (before[voice] is not None and self.held[voice] is None):
                moves.append((voice, self.held[voice]))
        still = [self.held[v] for v in range(count) if v not in assigned]
        for voice, _ in moves:
            old = before[voice]
            if old is not None and old not in still and old not in released:
                released.append(old)
        return moves, released

    def _cheapest(self, notes):
        """Return ``{voice: note}`` moving the voices that keep the parts ordered and close."""
        best, best_cost = None, None
        for voices in _combinations(len(self.held), len(notes)):
            held = list(self.held)
            cost = 0
            for voice, note in zip(voices, notes):
                cost += _ENTRY_COST if held[voice] is None else abs(note - held[voice])
                held[voice] = note
            sounding = [n for n in held if n is not None]
            for i in range(len(sounding)):
                for j in range(i + 1, len(sounding)):
                    if sounding[i] > sounding[j]:
                        cost += _CROSSING_COST
            if best_cost is None or cost < best_cost:
                best, best_cost = dict(zip(voices, notes)), cost
        return best


def parts_of(notes, moves):
    """Per note of ``notes`` (ascending), the voices that took it in ``moves`` (as
    :meth:`Voicer.step` gives them): the corpus's ``parts`` of one event."""
    return tuple(tuple(voice for voice, moved in moves if moved == note)
                 for note in sorted(set(notes)))


def _spread(notes, count):
    """Pick ``count`` of the ascending ``notes``: the lowest, the highest, and evenly between."""
    if count == 1:
        return [notes[-1]]
    last = len(notes) - 1
    return [notes[(i * last + (count - 1) // 2) // (count - 1)] for i in range(count)]
