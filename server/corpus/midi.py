"""Read MIDI files into notes, and notes into the events the model learns.

Times here are in beats (quarter notes), counted from ``ticks_per_beat``, so tempo changes do not
move them: the model learns rhythm, the server chooses the tempo.

A corpus is a folder of files from anywhere, so the reader is strict about structure and bounded
in cost, and reads the bytes itself (mido, which writes MIDI files here, reads a variable-length
number of any length in time quadratic in it, reads past a chunk's stated end and trusts the
header). A file is read only if:

- it holds at most ``MAX_FILE_BYTES`` and its tracks at most ``MAX_EVENTS`` events in all;
- it starts with an ``MThd`` chunk of at least 6 bytes (longer ones are skipped as the standard
  says); format 0 (exactly one track) or 1 (format 2, independent sequences, is refused); at
  least one track; a positive count of ticks per beat (not SMPTE frames);
- it holds as many ``MTrk`` chunks as its header says, each within the file; chunks of other
  types are skipped; fewer than 8 bytes after the last chunk (padding) are ignored;
- every event lies inside its chunk: variable-length numbers of at most 4 bytes, a status byte
  (or a running status) before data bytes, data bytes below 0x80, and none of the status bytes
  a file cannot hold (0xF1-0xFE).

Whatever else it holds is read: a tempo is clamped to the protocol's ``MIN_BPM``-``MAX_BPM``
(it only suggests a playback tempo; a tempo of 0 reads as the fastest), a time signature that
cannot be one (numerator 0, denominator beyond 1/64, wrong length) is ignored, a note never
released ends with its track, a note that ends where it starts is dropped. Anything refused
raises :class:`MidiError` with its ``kind`` and a one-line reason.

Each note keeps its source (track and channel), so that a file whose sources each sing one note
at a time keeps its parts (:func:`assign_parts`), and markers reading ``fermata`` end phrases
(:func:`phrase_ends`).
"""
import bisect
import struct
from collections import defaultdict, namedtuple

import playbach_protocol as protocol
from playbach import music

DRUM_CHANNEL = 9  # channel 10 as musicians count
DEFAULT_TOLERANCE = 1 / 24  # beats: notes starting this close together form one chord
DEFAULT_MIN_REST = 1 / 4  # beats: shorter silences are articulation (staccato), not rests
MAX_FILE_BYTES = 8 * 1024 * 1024  # a long orchestral MIDI file is under 1 MB
MAX_EVENTS = 500_000  # per file: ten times a long piano piece's notes on and off
MAX_NUMBER_BYTES = 4  # a variable-length number holds at most 0x0FFFFFFF
MAX_PARTS = len(protocol.VOICES)
FERMATA = "fermata"  # the text of a MIDI marker that ends a phrase

# Meta events read: their type bytes.
SET_TEMPO, TIME_SIGNATURE, MARKER = 0x51, 0x58, 0x06

Note = namedtuple("Note", "start end pitch velocity source")  # source: (track, channel)
Midi = namedtuple("Midi", "notes bpm time_signature fermatas")
Piece = namedtuple("Piece", "name events bpm time_signature parts phrase_ends",
                   defaults=(None, ()))
Piece.__doc__ = """One piece of the corpus.

``events``: ``(pitches, duration, dynamic)`` tuples (the text grammar in the protocol).
``parts``: None where the source has no parts, else per event a tuple with, for each of its
pitches in order, the tuple of parts that sing it (two where parts meet in unison; ``()`` for a
rest), parts numbered from the lowest by mean pitch (of four: bass, tenor, alto, soprano).
``phrase_ends``: the indexes of the events that end a phrase (a fermata), ascending.
"""


class MidiError(ValueError):
    """A file that cannot be read as music: ``kind`` names the reason (for counting), the
    message says it in full."""

    def __init__(self, kind, detail=None):
        super().__init__(kind if detail is None else "%s: %s" % (kind, detail))
        self.kind = kind


def read_midi(path):
    """Return the :class:`Midi` of a type 0 or 1 MIDI file: its notes (sorted, in beats, drums
    left out, tracks merged, each note's source kept), its first tempo in beats per minute, its
    first time signature and the beats of its fermata markers.

    A note-on with velocity 0 ends a note, and a note struck again before its note-off ends the
    earlier one there.
    """
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise MidiError("cannot read", error.strerror or str(error))
    if len(data) > MAX_FILE_BYTES:
        raise MidiError("too large", "more than %d MB, the bound per file"
                        % (MAX_FILE_BYTES // 2 ** 20))
    ticks_per_beat, tracks = _track_chunks(data)
    beat = float(ticks_per_beat)
    notes, tempos, signatures, fermatas = [], [], [], []
    budget = MAX_EVENTS
    for number, (start, end) in enumerate(tracks, 1):
        messages, metas, last_tick, count = _read_track(data, start, end, number, budget)
        budget -= count
        sounding = {}
        for tick, status, pitch, velocity in messages:
            channel = status & 0x0F
            if channel == DRUM_CHANNEL:
                continue
            key = (channel, pitch)
            if key in sounding:
                notes.append(_note(sounding.pop(key), tick, pitch, number, channel))
            if status >= 0x90 and velocity > 0:
                sounding[key] = (tick, velocity)
        for (channel, pitch), started in sounding.items():
            notes.append(_note(started, last_tick, pitch, number, channel))
        for tick, meta, payload in metas:
            if meta == SET_TEMPO and len(payload) == 3:
                tempos.append((tick, int.from_bytes(payload, "big")))
            elif meta == TIME_SIGNATURE and len(payload) == 4 and payload[0] and payload[1] <= 6:
                signatures.append((tick, "%d/%d" % (payload[0], 2 ** payload[1])))
            elif meta == MARKER and payload.decode("latin-1").strip().lower() == FERMATA:
                fermatas.append(tick / beat)
    notes = sorted(Note(start / beat, end / beat, pitch, velocity, source)
                   for start, end, pitch, velocity, source in notes if end > start)
    bpm = _bpm(min(tempos)[1]) if tempos else 120.0
    time_signature = min(signatures)[1] if signatures else "4/4"
    return Midi(notes, bpm, time_signature, sorted(fermatas))


def _note(started, end_tick, pitch, track, channel):
    start_tick, velocity = started
    return start_tick, end_tick, pitch, velocity, (track, channel)


def _bpm(tempo):
    """Beats per minute of a MIDI tempo (microseconds per beat), within the protocol's range."""
    bpm = 60e6 / tempo if tempo else protocol.MAX_BPM
    return round(min(max(bpm, protocol.MIN_BPM), protocol.MAX_BPM), 2)


def _track_chunks(data):
    """Check the header of Standard MIDI File bytes against its chunks; return
    ``(ticks_per_beat, [(start, end) of each MTrk chunk's data])``."""
    if data[:4] != b"MThd":
        raise MidiError("not a MIDI file", "it starts with %r, not MThd" % bytes(data[:4]))
    if len(data) < 14:
        raise MidiError("truncated", "%d bytes, fewer than a MIDI header's 14" % len(data))
    length, file_format, count, division = struct.unpack_from(">IHHH", data, 4)
    if length < 6:
        raise MidiError("bad header", "the MThd chunk says %d bytes, expected 6" % length)
    if file_format > 2:
        raise MidiError("bad header", "format %d, expected 0, 1 or 2" % file_format)
    if file_format == 2:
        raise MidiError("type 2 MIDI", "independent sequences are not supported")
    if division & 0x8000:
        raise MidiError("SMPTE timing", "%d frames per second x %d ticks per frame, not ticks "
                        "per beat, so durations in beats cannot be read"
                        % (256 - (division >> 8), division & 0xFF))
    if division == 0:
        raise MidiError("bad header", "0 ticks per beat")
    if count == 0 or (file_format == 0 and count != 1):
        raise MidiError("bad header", "format %d with %d tracks, expected %s"
                        % (file_format, count, "1" if file_format == 0 else "at least 1"))
    position = 8 + length
    if position > len(data):
        raise MidiError("truncated", "the MThd chunk says %d bytes, %d follow"
                        % (length, len(data) - 8))
    tracks = []
    while len(data) - position >= 8:
        kind, size = struct.unpack_from(">4sI", data, position)
        if not all(0x20 <= byte < 0x7F for byte in kind):
            raise MidiError("bad chunk", "no chunk at byte %d (type %r): a chunk length before "
                            "it is wrong or the file is damaged" % (position, kind))
        start = position + 8
        if start + size > len(data):
            raise MidiError("truncated", "chunk %s at byte %d says %d bytes, %d remain"
                            % (kind.decode(), position, size, len(data) - start))
        if kind == b"MTrk":
            tracks.append((start, start + size))
        position = start + size
    if len(tracks) != count:
        if len(tracks) < count and position < len(data):
            raise MidiError("truncated", "it ends inside the chunk header after track %d of %d"
                            % (len(tracks), count))
        raise MidiError("bad header", "it says %d tracks, the file holds %d"
                        % (count, len(tracks)))
    return division, tracks


def _read_track(data, start, end, number, budget):
    """Read the events of one track chunk ``data[start:end]``; return ``(notes, metas, last
    tick, event count)``: notes as ``(tick, status, pitch, velocity)`` for each note-on and
    note-off, metas as ``(tick, type, payload)`` for the meta events read."""
    notes, metas = [], []
    position, tick, running, count = start, 0, None, 0
    while position < end:
        count += 1
        if count > budget:
            raise MidiError("too many events", "more than %d, the bound per file" % MAX_EVENTS)
        delta, position = _number(data, position, end, number)
        tick += delta
        if position == end:
            raise _damaged(number, position, "the chunk ends after a delta time")
        status = data[position]
        if status < 0x80:
            if running is None:
                raise _damaged(number, position, "data byte 0x%02X with no status before it"
                               % status)
            status = running
        else:
            position += 1
        if status == 0xFF:
            if position == end:
                raise _damaged(number, position, "the chunk ends inside a meta event")
            meta = data[position]
            length, position = _number(data, position + 1, end, number)
            if position + length > end:
                raise _damaged(number, position, "a meta event of %d bytes runs past the end "
                               "of its chunk" % length)
            if meta in (SET_TEMPO, TIME_SIGNATURE, MARKER):
                metas.append((tick, meta, data[position:position + length]))
            position += length
        elif status in (0xF0, 0xF7):
            length, position = _number(data, position, end, number)
            if position + length > end:
                raise _damaged(number, position, "a sysex of %d bytes runs past the end of its "
                               "chunk" % length)
            position += length
        elif status > 0xF0:
            raise _damaged(number, position - 1, "status 0x%02X cannot be in a MIDI file"
                           % status)
        else:
            running = status
            size = 1 if 0xC0 <= status < 0xE0 else 2
            if position + size > end:
                raise _damaged(number, position, "the chunk ends inside an event")
            for index in range(position, position + size):
                if data[index] >= 0x80:
                    raise _damaged(number, index, "data byte 0x%02X is not below 0x80"
                                   % data[index])
            if status < 0xA0:
                notes.append((tick, status, data[position], data[position + 1]))
            position += size
    return notes, metas, tick, count


def _number(data, position, end, track):
    """Read a variable-length number of at most 4 bytes; return ``(value, next position)``."""
    value = 0
    for index in range(position, min(position + MAX_NUMBER_BYTES, end)):
        byte = data[index]
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, index + 1
    if position + MAX_NUMBER_BYTES <= end:
        raise _damaged(track, position, "a variable-length number longer than %d bytes"
                       % MAX_NUMBER_BYTES)
    raise _damaged(track, position, "the chunk ends inside a variable-length number")


def _damaged(track, position, what):
    return MidiError("damaged track", "track %d, byte %d: %s" % (track, position, what))


def assign_parts(notes, tolerance=DEFAULT_TOLERANCE):
    """Return ``{source: part}`` where the notes come from at most ``MAX_PARTS`` sources (a
    track, or a channel within one) each singing one note at a time, parts numbered from the
    lowest mean pitch (0); None otherwise (a piano, a cello's double stops, overlapping lines).

    A source sings one note at a time when each of its notes starts more than ``tolerance``
    beats after the one before and at most ``tolerance`` before that one ends (legato).
    """
    lines = defaultdict(list)
    for note in notes:
        lines[note.source].append(note)
    if len(lines) > MAX_PARTS:
        return None
    for line in lines.values():
        for before, after in zip(line, line[1:]):
            if after.start - before.start <= tolerance or after.start < before.end - tolerance:
                return None
    order = sorted(lines, key=lambda source: (sum(n.pitch for n in lines[source])
                                              / len(lines[source]), source))
    return {source: part for part, source in enumerate(order)}


def notes_to_events(notes, tolerance=DEFAULT_TOLERANCE, min_rest=DEFAULT_MIN_REST):
    """Return ``(events, starts)`` of notes sorted by start: the events ``(pitches, duration,
    dynamic)`` and, for each, the notes it starts (none for a rest).

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
    events, starts = [], []
    sounding_until = 0.0
    for i, chord in enumerate(chords):
        onset = chord[0].start
        sounding_until = max(sounding_until, max(note.end for note in chord))
        pitches = tuple(sorted(set(note.pitch for note in chord)))
        dynamic = music.quantize_velocity(max(note.velocity for note in chord))
        starts.append(chord)
        if i + 1 == len(chords):
            events.append((pitches, _duration(sounding_until - onset), dynamic))
            break
        next_onset = chords[i + 1][0].start
        if next_onset - sounding_until >= min_rest:
            events.append((pitches, _duration(sounding_until - onset), dynamic))
            events.append(((), _duration(next_onset - sounding_until), None))
            starts.append([])
        else:
            events.append((pitches, _duration(next_onset - onset), dynamic))
    return events, starts


def _duration(beats):
    return music.quantize_duration(max(beats, 1e-6))


def event_parts(events, starts, part_of):
    """Return, per event, the parts singing each of its pitches (see :class:`Piece`), from the
    notes each event starts and ``{source: part}``."""
    return [tuple(tuple(sorted(part_of[note.source] for note in chord if note.pitch == pitch))
                  for pitch in pitches)
            for (pitches, _, _), chord in zip(events, starts)]


def phrase_ends(starts, fermatas, tolerance=DEFAULT_TOLERANCE):
    """Return the indexes of the events that end a phrase: for each fermata (in beats), the
    last event starting no later than it, within ``tolerance``."""
    onsets = [(chord[0].start, index) for index, chord in enumerate(starts) if chord]
    beats = [beat for beat, _ in onsets]
    ends = set()
    for fermata in fermatas:
        found = bisect.bisect_right(beats, fermata + tolerance) - 1
        if found >= 0:
            ends.add(onsets[found][1])
    return tuple(sorted(ends))


def read_piece(path, name, tolerance=DEFAULT_TOLERANCE, min_rest=DEFAULT_MIN_REST):
    """Return the :class:`Piece` of one MIDI file; :class:`MidiError` says why it cannot."""
    midi = read_midi(path)
    if not midi.notes:
        raise MidiError("no notes", "nothing outside the drum channel")
    events, starts = notes_to_events(midi.notes, tolerance, min_rest)
    part_of = assign_parts(midi.notes, tolerance)
    parts = None if part_of is None else event_parts(events, starts, part_of)
    return Piece(name, events, midi.bpm, midi.time_signature, parts,
                 phrase_ends(starts, midi.fermatas, tolerance))
