"""Music measured on events: voice leading, from a piece's own parts or from the shared Voicer.

A *voicing* is, per event, a tuple with one entry per voice (bass first): the MIDI pitch the
voice starts at that event, or None where it holds, rests or is absent.
"""
import playbach_protocol as protocol
from playbach.music import Voicer

PERFECT_CLASSES = (0, 7)  # unison/octave and fifth, in semitones modulo the octave


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
        with_parallels += any(_parallel(before, after, low, high)
                              for low in range(len(before)) for high in range(low + 1, len(before)))
    return pairs, with_parallels


def _parallel(before, after, low, high):
    moves = after[low] - before[low], after[high] - before[high]
    if moves[0] * moves[1] <= 0:  # contrary or oblique motion, or a voice repeating its note
        return False
    interval = abs(before[high] - before[low]) % 12
    return interval in PERFECT_CLASSES and abs(after[high] - after[low]) % 12 == interval
