"""Read MIDI files into notes, and notes into the events the model learns.

Times here are in beats (quarter notes), counted from ``ticks_per_beat``, so tempo changes do not
move them: the model learns rhythm, the server chooses the tempo.
"""
from collections import namedtuple

import mido

import playbach_protocol as protocol

DRUM_CHANNEL = 9  # channel 10 as musicians count
DEFAULT_TOLERANCE = 1 / 24  # beats: notes starting this close together form one chord
DEFAULT_MIN_REST = 1 / 4  # beats: shorter silences are articulation (staccato), not rests

Note = namedtuple("Note", "start end pitch velocity")
Piece = namedtuple("Piece", "name events bpm time_signature")


class MidiError(ValueError):
    """A file that cannot be read as music, with the reason."""


def read_notes(path):
    """Return ``(notes, bpm, time_signature)`` of a type 0 or 1 MIDI file, tracks merged.

    Notes are sorted by start, in beats; drums are left out. A note-on with velocity 0 ends a
    note, and a note struck again before its note-off ends the earlier one there.
    """
    try:
        midi = mido.MidiFile(path)
    except Exception as error:  # mido raises many kinds on damaged files
        raise MidiError("not a readable MIDI file (%s: %s)" % (type(error).__name__, error))
    if midi.type == 2:
        raise MidiError("type 2 MIDI (independent sequences) is not supported")
    if midi.ticks_per_beat <= 0:
        raise MidiError("ticks_per_beat is %d, expected a positive count" % midi.ticks_per_beat)
    notes, tempos, signatures = [], [], []
    for track in midi.tracks:
        tick, sounding = 0, {}
        for message in track:
            tick += message.time
            if message.type == "set_tempo":
                tempos.append((tick, message.tempo))
            elif message.type == "time_signature":
                signatures.append((tick, "%d/%d" % (message.numerator, message.denominator)))
            elif message.type in ("note_on", "note_off") and message.channel != DRUM_CHANNEL:
                key = (message.channel, message.note)
                if key in sounding:
                    notes.append(_note(sounding.pop(key), tick, message.note))
                if message.type == "note_on" and message.velocity > 0:
                    sounding[key] = (tick, message.velocity)
        for (_, pitch), started in sounding.items():
            notes.append(_note(started, tick, pitch))
    beat = float(midi.ticks_per_beat)
    notes = sorted(Note(start / beat, end / beat, pitch, velocity)
                   for start, end, pitch, velocity in notes if end > start)
    bpm = round(mido.tempo2bpm(min(tempos)[1]), 2) if tempos else 120.0
    time_signature = min(signatures)[1] if signatures else "4/4"
    return notes, bpm, time_signature


def _note(started, end_tick, pitch):
    start_tick, velocity = started
    return start_tick, end_tick, pitch, velocity


def notes_to_events(notes, tolerance=DEFAULT_TOLERANCE, min_rest=DEFAULT_MIN_REST):
    """Return the events ``(pitches, duration, dynamic)`` of notes sorted by start.

    Notes starting within ``tolerance`` beats of a chord's first note join that chord. An event
    lasts until the next onset; where everything has stopped sounding at least ``min_rest``
    beats before it, a rest fills the silence. The last event lasts as long as its longest note.
    """
    chords = []
    for note in notes:
        if chords and note.start - chords[-1][0].start <= tolerance:
            chords[-1].append(note)
        else:
            chords.append([note])
    events = []
    sounding_until = 0.0
    for i, chord in enumerate(chords):
        onset = chord[0].start
        sounding_until = max(sounding_until, max(note.end for note in chord))
        pitches = tuple(sorted(set(note.pitch for note in chord)))
        dynamic = protocol.quantize_velocity(max(note.velocity for note in chord))
        if i + 1 == len(chords):
            events.append((pitches, _duration(sounding_until - onset), dynamic))
            break
        next_onset = chords[i + 1][0].start
        if next_onset - sounding_until >= min_rest:
            events.append((pitches, _duration(sounding_until - onset), dynamic))
            events.append(((), _duration(next_onset - sounding_until), None))
        else:
            events.append((pitches, _duration(next_onset - onset), dynamic))
    return events


def _duration(beats):
    return protocol.quantize_duration(max(beats, 1e-6))


def read_piece(path, name, tolerance=DEFAULT_TOLERANCE, min_rest=DEFAULT_MIN_REST):
    """Return the :class:`Piece` of one MIDI file; :class:`MidiError` says why it cannot."""
    notes, bpm, time_signature = read_notes(path)
    if not notes:
        raise MidiError("no notes outside the drum channel")
    return Piece(name, notes_to_events(notes, tolerance, min_rest), bpm, time_signature)
