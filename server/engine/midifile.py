"""Write notes to a standard MIDI file (type 0, one track, channel 1) with mido."""
import os
import tempfile
from collections import namedtuple
from pathlib import Path

import mido

import playbach_protocol as protocol

TICKS_PER_BEAT = 480
PROGRAM = 19  # General MIDI "Church Organ" (0-based), a chorale's instrument

# A note to write: ``start`` and ``length`` in beats, ``pitch`` and ``velocity`` 0-127.
MidiNote = namedtuple("MidiNote", "start length pitch velocity")


def timed_notes(timed_events, origin=0):
    """The :class:`MidiNote` list of :class:`~playbach.engine.timeline.Timed` events, with
    ``origin`` (beats) as the file's start."""
    return [MidiNote(event.onset - origin, hold, pitch, protocol.dynamic_velocity(event.dynamic))
            for event in timed_events for pitch, hold in zip(event.notes, event.holds)]


def midi_file(notes, bpm, name="playbach", program=PROGRAM):
    """Return a :class:`mido.MidiFile` playing ``notes`` at ``bpm``."""
    messages = []  # (tick, order, message): at one tick, a note ends before one starts
    restruck = {}  # pitch: the tick where it starts again, going backwards through the notes
    for note in sorted(notes, key=lambda note: note.start, reverse=True):
        start = round(note.start * TICKS_PER_BEAT)
        end = max(start + 1, round((note.start + note.length) * TICKS_PER_BEAT))
        # A key struck again ends the note it holds (times rounded apart can overlap by a tick
        # or a ms): its note_off after the new note_on would silence the new note.
        end = min(end, restruck.get(note.pitch, end))
        restruck[note.pitch] = start
        messages.append((start, 1, mido.Message("note_on", note=note.pitch,
                                                velocity=note.velocity)))
        messages.append((end, 0, mido.Message("note_off", note=note.pitch, velocity=0)))
    messages.sort(key=lambda item: item[:2])
    track = mido.MidiTrack([
        mido.MetaMessage("track_name", name=name, time=0),
        mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0),
        mido.Message("program_change", program=program, time=0)])
    tick = 0
    for at, _, message in messages:
        track.append(message.copy(time=at - tick))
        tick = at
    track.append(mido.MetaMessage("end_of_track", time=0))
    midi = mido.MidiFile(type=0, ticks_per_beat=TICKS_PER_BEAT)
    midi.tracks.append(track)
    return midi


def write_midi(path, notes, bpm, name="playbach"):
    """Write ``notes`` to ``path`` atomically (see :func:`save_atomically`)."""
    save_atomically(midi_file(notes, bpm, name), path)


def save_atomically(midi, path):
    """Save a :class:`mido.MidiFile` to ``path`` so that a reader (or a kill) never sees half
    a file: write a temporary file beside it, then rename it over ``path``."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent or ".", prefix=".%s." % path.name)
    try:
        os.fchmod(handle, 0o644)  # mkstemp's 0600 would hide the file from other users
        with os.fdopen(handle, "wb") as out:
            midi.save(file=out)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
