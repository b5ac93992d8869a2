"""Music measured on events: keys, and voice leading from a piece's own parts or from the
shared Voicer.

A *voicing* is, per event, a tuple with one entry per voice (bass first): the MIDI pitch the
voice starts at that event, or None where it holds, rests or is absent. A *key* is ``(tonic
pitch class, "major" | "minor")``.
"""
import numpy as np

import playbach_protocol as protocol
from playbach.music import Voicer

PERFECT_CLASSES = (0, 7)  # unison/octave and fifth, in semitones modulo the octave
MAJOR = (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88)  # Krumhansl-
MINOR = (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17)  # Kessler
MODES = ("major", "minor")
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10, 11)  # natural minor and its leading tone


def estimate_key(events):
    """The key of ``events`` by the Krumhansl-Kessler profiles, weighting each note by its
    event's duration; C major for events without notes."""
    weights = np.zeros(12)
    for notes, duration, _ in events:
        for n in notes:
            weights[n % 12] += protocol.duration_beats(duration)
    if not weights.any():
        return 0, "major"
    best = max(((np.corrcoef(weights, np.roll(profile, tonic))[0, 1], tonic, mode)
                for profile, mode in ((MAJOR, "major"), (MINOR, "minor"))
                for tonic in range(12)))
    return best[1], best[2]


def scale(key):
    """The pitch classes (0 = C) of the scale of ``key``, ``(tonic, mode)``."""
    tonic, mode = key
    return {(tonic + step) % 12 for step in (MAJOR_SCALE if mode == "major" else MINOR_SCALE)}


def in_scale(events, key):
    """Share of the notes of ``events`` whose pitch class is in the scale of ``key``."""
    scale_classes = scale(key)
    classes = [n % 12 for notes, _, _ in events for n in notes]
    return sum(c in scale_classes for c in classes) / max(len(classes), 1)


def part_voicings(piece, voices=len(protocol.VOICES)):
    """Return the voicings of a piece's own parts (None where it has none)."""
    if piece.parts is None:
        return None
    voicings = []
    for (notes, _, _), parts in zip(piece.events, piece.parts):
        voicing = [None] * voices
        for pitch, singers in zip(notes, parts):
            for part in singers:
                voicing[part] = pitch
        voicings.append(tuple(voicing))
    return voicings


def voicer_voicings(events, voices=len(protocol.VOICES)):
    """Return the voicings the shared :class:`Voicer` gives the events (what the network reads
    today, and what the voice topics carry)."""
    voicer = Voicer(voices)
    voicings = []
    for notes, _, _ in events:
        voicing = [None] * voices
        for voice, note in voicer.step(notes)[0]:
            voicing[voice] = note
        voicings.append(tuple(voicing))
    return voicings


def parallel_fifths_octaves(voicings):
    """Return ``(pairs, with_parallels)``: of consecutive events where every voice starts a
    note in both, how many there are, and how many have a pair of voices moving in the same
    direction from a perfect fifth or octave/unison (compound or not) into the same one.

    This is issue 13's measure; with ``voicer_voicings`` of four-note events it reads the sorted
    notes as bass, tenor, alto, soprano.
    """
    pairs = with_parallels = 0
    for before, after in zip(voicings, voicings[1:]):
        if None in before or None in after:
            continue
        pairs += 1
        with_parallels += moves_in_parallel(before, after)
    return pairs, with_parallels


def moves_in_parallel(before, after):
    """Whether, from one voicing to the next (a note or None per voice), a pair of voices
    sounding in both moves the same way from a perfect fifth or octave/unison into the same
    one."""
    voices = [v for v, (a, b) in enumerate(zip(before, after)) if a is not None and b is not None]
    return any(_parallel(before, after, low, high)
               for index, low in enumerate(voices) for high in voices[index + 1:])


def _parallel(before, after, low, high):
    moves = after[low] - before[low], after[high] - before[high]
    if moves[0] * moves[1] <= 0:  # contrary or oblique motion, or a voice repeating its note
        return False
    interval = abs(before[high] - before[low]) % 12
    return interval in PERFECT_CLASSES and abs(after[high] - after[low]) % 12 == interval


def phrase_endings(events):
    """How many events last 2 beats or more after a shorter one: issue 13's phrase endings."""
    beats = [protocol.duration_beats(duration) for _, duration, _ in events]
    return sum(after >= 2 > before for before, after in zip(beats, beats[1:]))


def duration_shares(events):
    """The share of ``events`` in each duration class of the protocol, as a dict."""
    durations = [duration for _, duration, _ in events]
    return {duration: durations.count(duration) / max(len(durations), 1)
            for duration in protocol.DURATIONS}


def total_variation(shares, other):
    """Half the summed absolute differences of two distributions given as dicts: 0 alike, 1
    disjoint."""
    return sum(abs(shares.get(k, 0) - other.get(k, 0)) for k in set(shares) | set(other)) / 2


def sounding(events, parts=None, voices=len(protocol.VOICES)):
    """The notes the voices hold after ``events`` (sung by ``parts``, one per event, where
    known; else as the shared Voicer gives them), ascending."""
    voicer = Voicer(voices)
    for index, (notes, _, _) in enumerate(events):
        voicer.step(notes, parts[index] if parts is not None else None)
    return sorted(note for note in voicer.held if note is not None)


def is_tonic_chord(notes, key):
    """Whether ``notes`` are the tonic chord of ``key``: its tonic in the bass, and nothing but
    the tonic, its fifth and a third (major or minor: a minor piece may end on a major chord)."""
    tonic = key[0]
    return bool(notes) and min(notes) % 12 == tonic and {n % 12 for n in notes} <= {
        tonic, (tonic + 3) % 12, (tonic + 4) % 12, (tonic + 7) % 12}
