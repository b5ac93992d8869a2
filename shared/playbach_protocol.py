"""playbach's vocabulary and wire protocol, shared by the server and every device.

This one file runs unchanged on CPython 3.10+ and on MicroPython (ESP32, Pico W): no typing,
dataclasses, enum or numpy, only ``json`` and ``math``.

Notes use scientific pitch: ``C4`` = MIDI 60, ``A4`` = 69, ``C-1`` = 0; sharps on output,
flats accepted on input (``Bb3`` reads as ``A#3``).

A token names the notes that *start* at one onset: a note ``B2``, a chord ``A2.G#3`` (ascending
pitch), or a rest ``R``. An event adds how long until the next onset, in beats (quarter notes),
and how loud: ``A2.G#3:1/2:mf``. A note sounds until its voice moves or a rest comes, so a token
never repeats the notes still held from earlier events; :class:`Voicer` tracks them.

MQTT topics live under a prefix (``playbach`` by default): ``events`` (every event),
``voice/<bass|tenor|alto|soprano>`` (a message when that voice moves), ``status`` (retained) and
``control`` (commands in). Payloads are JSON objects carrying ``"v": SCHEMA_VERSION``.
"""

import json
import math

SCHEMA_VERSION = 1

NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_LETTER_SEMITONES = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
REST = "R"
CHORD_JOINER = "."
EVENT_JOINER = ":"

# Beats (quarter notes) until the next onset; "4" stands for four beats or more.
DURATIONS = ("1/12", "1/8", "1/6", "1/4", "1/3", "3/8", "1/2", "2/3", "3/4",
             "1", "4/3", "3/2", "2", "5/2", "3", "4")
# Dynamic marks and the MIDI velocity each one plays at.
DYNAMICS = ("ppp", "pp", "p", "mp", "mf", "f", "ff", "fff")
VELOCITIES = (16, 33, 49, 64, 80, 96, 112, 127)
DEFAULT_DURATION = "1"
DEFAULT_DYNAMIC = "mf"

VOICES = ("bass", "tenor", "alto", "soprano")
MIN_BPM, MAX_BPM = 20, 1000  # tempos an event may carry and a tempo command may ask for

DEFAULT_PREFIX = "playbach"
STATES = ("playing", "paused", "stopped", "offline")


# --- notes -----------------------------------------------------------------------------------

def note_to_midi(name):
    """Return the MIDI number (0-127) of a note name such as ``C4``, ``F#2``, ``Bb3``, ``C-1``."""
    if not isinstance(name, str) or not name:
        raise ValueError("bad note %r: expected a name like C4, F#2 or Bb3" % (name,))
    semitone = _LETTER_SEMITONES.get(name[0])
    if semitone is None:
        raise ValueError("bad note %r: expected a letter A-G" % name)
    octave = name[1:]
    if octave[:1] == "#":
        semitone, octave = semitone + 1, octave[1:]
    elif octave[:1] == "b":
        semitone, octave = semitone - 1, octave[1:]
    digits = octave[1:] if octave[:1] == "-" else octave
    if not digits or not digits.isdigit():
        raise ValueError("bad note %r: expected an octave number -1..9 after the letter" % name)
    midi = (int(octave) + 1) * 12 + semitone
    if not 0 <= midi <= 127:
        raise ValueError("bad note %r: MIDI number %d is outside 0-127" % (name, midi))
    return midi


def midi_to_note(midi):
    """Return the name of a MIDI note number, with sharps: 60 -> ``C4``, 0 -> ``C-1``."""
    if not isinstance(midi, int) or isinstance(midi, bool) or not 0 <= midi <= 127:
        raise ValueError("bad MIDI note %r: expected an integer 0-127" % (midi,))
    return NOTE_NAMES[midi % 12] + str(midi // 12 - 1)


def note_frequency(midi):
    """Return the equal-tempered frequency in Hz of a MIDI note (A4 = 69 = 440 Hz)."""
    return 440.0 * math.pow(2.0, (midi - 69) / 12.0)


# --- tokens and events ---------------------------------------------------------------------

def parse_token(token):
    """Return the MIDI notes of a token as an ascending tuple; ``()`` for the rest ``R``."""
    if not isinstance(token, str) or not token:
        raise ValueError("bad token %r: expected a note, a chord like A2.G#3, or R" % (token,))
    if token == REST:
        return ()
    notes = sorted(note_to_midi(name) for name in token.split(CHORD_JOINER))
    for i in range(1, len(notes)):
        if notes[i] == notes[i - 1]:
            raise ValueError("bad chord %r: %s appears twice" % (token, midi_to_note(notes[i])))
    return tuple(notes)


def format_token(notes):
    """Return the token of some MIDI notes: ascending, joined with dots; ``R`` for none."""
    if not notes:
        return REST
    return CHORD_JOINER.join(midi_to_note(n) for n in sorted(set(notes)))


def duration_beats(duration):
    """Return the length in beats (quarter notes) of a duration class such as ``3/2``."""
    if duration not in DURATIONS:
        raise ValueError("bad duration %r: expected one of %s" % (duration, " ".join(DURATIONS)))
    top, _, bottom = duration.partition("/")
    return int(top) / int(bottom or "1")


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


def dynamic_velocity(dynamic):
    """Return the MIDI velocity (1-127) a dynamic mark such as ``mf`` plays at."""
    if dynamic not in DYNAMICS:
        raise ValueError("bad dynamic %r: expected one of %s" % (dynamic, " ".join(DYNAMICS)))
    return VELOCITIES[DYNAMICS.index(dynamic)]


def quantize_velocity(velocity):
    """Return the dynamic mark nearest to a MIDI velocity (1-127)."""
    if not isinstance(velocity, int) or isinstance(velocity, bool) or not 1 <= velocity <= 127:
        raise ValueError("bad velocity %r: expected an integer 1-127" % (velocity,))
    distances = [abs(velocity - v) for v in VELOCITIES]
    return DYNAMICS[distances.index(min(distances))]


def parse_event(text):
    """Return ``(notes, duration, dynamic)`` from ``TOKEN[:DURATION[:DYNAMIC]]``.

    A missing duration or dynamic takes ``DEFAULT_DURATION`` / ``DEFAULT_DYNAMIC``; a rest's
    dynamic is always ``None``.
    """
    if not isinstance(text, str):
        raise ValueError("bad event %r: expected text like A2.G#3:1/2:mf" % (text,))
    parts = text.split(EVENT_JOINER)
    if len(parts) > 3:
        raise ValueError("bad event %r: expected TOKEN[:DURATION[:DYNAMIC]]" % text)
    notes = parse_token(parts[0])
    duration = parts[1] if len(parts) > 1 else DEFAULT_DURATION
    duration_beats(duration)
    dynamic = parts[2] if len(parts) > 2 else DEFAULT_DYNAMIC
    if not notes:
        return notes, duration, None
    dynamic_velocity(dynamic)
    return notes, duration, dynamic


def format_event(notes, duration, dynamic):
    """Return the text of an event: ``A2.G#3:1/2:mf``, or ``R:1/2`` for a rest."""
    duration_beats(duration)
    if not notes:
        return REST + EVENT_JOINER + duration
    dynamic_velocity(dynamic)
    return format_token(notes) + EVENT_JOINER + duration + EVENT_JOINER + dynamic


# --- voices ----------------------------------------------------------------------------------

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

    def step(self, notes):
        """Take one event's notes; return ``(moves, released)``.

        ``moves`` lists ``(voice, note)`` for each voice that moves, in voice order, with
        ``note`` None where the voice falls silent; a repeated note moves its voice too.
        ``released`` lists the MIDI notes that stop sounding (a repeated note stops, then starts).
        """
        notes = sorted(set(notes))
        count = len(self.held)
        before, released = self.held, self.extras
        self.extras = []
        if not notes:
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


def _spread(notes, count):
    """Pick ``count`` of the ascending ``notes``: the lowest, the highest, and evenly between."""
    if count == 1:
        return [notes[-1]]
    last = len(notes) - 1
    return [notes[(i * last + (count - 1) // 2) // (count - 1)] for i in range(count)]


# --- topics ----------------------------------------------------------------------------------

def voice_index(voice):
    """Return the index 0-3 (bass..soprano) of a voice given by index or name."""
    if voice in VOICES:
        return VOICES.index(voice)
    if isinstance(voice, int) and not isinstance(voice, bool) and 0 <= voice < len(VOICES):
        return voice
    raise ValueError("bad voice %r: expected 0-3 or one of %s" % (voice, " ".join(VOICES)))


def events_topic(prefix=DEFAULT_PREFIX):
    """Every event, as it sounds."""
    return prefix + "/events"


def voice_topic(voice, prefix=DEFAULT_PREFIX):
    """One voice (index or name), a message each time it moves."""
    return prefix + "/voice/" + VOICES[voice_index(voice)]


def status_topic(prefix=DEFAULT_PREFIX):
    """The server's state, retained; its last will says ``offline``."""
    return prefix + "/status"


def control_topic(prefix=DEFAULT_PREFIX):
    """Commands to the server: JSON ``{"cmd": "tempo", "bpm": 90}`` or text ``tempo 90``."""
    return prefix + "/control"


# --- payloads --------------------------------------------------------------------------------

def encode_event(seq, notes, holds_ms, duration, dynamic, bpm, at_ms):
    """Return the JSON of one event: the notes starting at ``at_ms`` (Unix ms) and how long each
    sounds (``holds_ms``), the event's duration class, beats and ms until the next onset."""
    beats = duration_beats(duration)
    return json.dumps({
        "v": SCHEMA_VERSION, "seq": seq, "token": format_token(notes),
        "notes": list(notes), "holds_ms": list(holds_ms),
        "duration": duration, "beats": beats, "ms": round(beats * 60000 / bpm),
        "dynamic": dynamic, "velocity": dynamic_velocity(dynamic) if notes else 0,
        "bpm": bpm, "at": at_ms})


def decode_event(payload):
    """Return the checked dict of an event payload; ``ValueError`` names the bad field."""
    event = _load(payload, "event")
    _integer(event, "event", "seq", 0)
    notes = _integers(event, "event", "notes", 127)
    holds = _integers(event, "event", "holds_ms", 1 << 30)
    if len(holds) != len(notes):
        raise ValueError("bad event field 'holds_ms': expected one length per note")
    if _text(event, "event", "token") != format_token(notes):
        raise ValueError("bad event field 'token': %r does not name the notes %r"
                         % (event["token"], notes))
    duration_beats(_text(event, "event", "duration"))
    if notes:
        dynamic_velocity(_text(event, "event", "dynamic"))
    _integer(event, "event", "velocity", 0, 127)
    _integer(event, "event", "ms", 0)
    _number(event, "event", "bpm", MIN_BPM, MAX_BPM)
    _integer(event, "event", "at", 0)
    return event


def encode_voice(seq, voice, note, velocity, hold_ms, at_ms):
    """Return the JSON telling one voice to move: to ``note`` for ``hold_ms``, or to silence
    when ``note`` is None."""
    return json.dumps({
        "v": SCHEMA_VERSION, "seq": seq, "voice": VOICES[voice_index(voice)],
        "note": note, "name": REST if note is None else midi_to_note(note),
        "velocity": 0 if note is None else velocity, "ms": hold_ms, "at": at_ms})


def decode_voice(payload):
    """Return the checked dict of a voice payload; ``ValueError`` names the bad field."""
    message = _load(payload, "voice")
    _integer(message, "voice", "seq", 0)
    voice_index(message.get("voice"))
    if message.get("note") is not None:
        _integer(message, "voice", "note", 0, 127)
        _integer(message, "voice", "velocity", 1, 127)
    _integer(message, "voice", "ms", 0)
    _integer(message, "voice", "at", 0)
    return message


def encode_status(state, fields=None):
    """Return the JSON of the server's status: ``state`` plus fields such as model and bpm."""
    if state not in STATES:
        raise ValueError("bad state %r: expected one of %s" % (state, " ".join(STATES)))
    status = {"v": SCHEMA_VERSION, "state": state}
    status.update(fields or {})
    return json.dumps(status)


def decode_status(payload):
    """Return the checked dict of a status payload."""
    status = _load(payload, "status")
    if status.get("state") not in STATES:
        raise ValueError("bad status field 'state': expected one of %s" % " ".join(STATES))
    return status


# command: (argument, kind, lowest, highest); None for commands without an argument.
CONTROLS = {
    "play": None, "pause": None, "stop": None,
    "tempo": ("bpm", float, MIN_BPM, MAX_BPM),
    "temperature": ("value", float, 0.05, 5.0),
    "top_k": ("value", int, 0, 100000),
    "top_p": ("value", float, 0.01, 1.0),
    "seed": ("value", int, 0, 2147483647),
    "primer": ("name", str, None, None),
}


def encode_control(command, value=None):
    """Return the JSON of a control command, e.g. ``encode_control("tempo", 90)``."""
    control = {"cmd": command}
    spec = CONTROLS.get(command, ())
    if spec:
        control[spec[0]] = value
    return json.dumps(decode_control(json.dumps(control)))


def decode_control(payload):
    """Return ``{"cmd": ..., argument: value}`` from JSON or from text such as ``tempo 90``.

    ``primer`` takes an optional ``name`` (a shipped primer; none picks one at random) or
    ``tokens`` (events such as ``"B2 A2:1/2 G2"``).
    """
    if isinstance(payload, (bytes, bytearray)):
        payload = _text_of(payload, "control")
    if payload.lstrip()[:1] == "{":
        control = _load(payload, "control", False)
    else:
        words = payload.split(None, 1)
        control = {"cmd": words[0] if words else ""}
        spec = CONTROLS.get(control["cmd"])
        if spec and len(words) > 1:
            control[spec[0]] = words[1].strip()
            if spec[1] is not str:
                control[spec[0]] = _parse_number(words[1], spec[1], spec[0])
    command = control.get("cmd")
    if command not in CONTROLS:
        raise ValueError("bad control field 'cmd': %r, expected one of %s"
                         % (command, " ".join(sorted(CONTROLS))))
    spec = CONTROLS[command]
    if command == "primer":
        if control.get("tokens") is not None:
            for text in _text(control, "control", "tokens").split():
                parse_event(text)
        elif control.get("name") is not None:
            _text(control, "control", "name")
    elif spec:
        name, kind, low, high = spec
        if kind is int:
            _integer(control, "control", name, low, high)
        else:
            _number(control, "control", name, low, high)
    return control


def _parse_number(text, kind, name):
    try:
        return kind(text)
    except ValueError:
        raise ValueError("bad control field %r: %r is not a number" % (name, text))


def _text_of(payload, what):
    try:
        return bytes(payload).decode()
    except UnicodeError:
        raise ValueError("bad %s payload: not UTF-8 text" % what)


def _load(payload, what, versioned=True):
    if isinstance(payload, (bytes, bytearray)):
        payload = _text_of(payload, what)
    try:
        message = json.loads(payload)
    except ValueError:
        raise ValueError("bad %s payload: not JSON: %r" % (what, payload[:60]))
    if not isinstance(message, dict):
        raise ValueError("bad %s payload: expected a JSON object" % what)
    if (versioned or "v" in message) and message.get("v") != SCHEMA_VERSION:
        raise ValueError("bad %s field 'v': %r, expected schema version %d"
                         % (what, message.get("v"), SCHEMA_VERSION))
    return message


def _integer(message, what, name, low=None, high=None):
    value = message.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not _within(value, low, high):
        raise ValueError("bad %s field %r: %r, expected an integer%s"
                         % (what, name, value, _range_text(low, high)))
    return value


def _number(message, what, name, low=None, high=None):
    value = message.get(name)
    if not isinstance(value, (int, float)) or isinstance(value, bool) \
            or value != value or not _within(value, low, high):
        raise ValueError("bad %s field %r: %r, expected a number%s"
                         % (what, name, value, _range_text(low, high)))
    return value


def _text(message, what, name):
    value = message.get(name)
    if not isinstance(value, str) or not value:
        raise ValueError("bad %s field %r: %r, expected text" % (what, name, value))
    return value


def _integers(message, what, name, high):
    values = message.get(name)
    if not isinstance(values, list):
        raise ValueError("bad %s field %r: %r, expected a list" % (what, name, values))
    for value in values:
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= high:
            raise ValueError("bad %s field %r: %r, expected integers 0-%d"
                             % (what, name, value, high))
    return values


def _within(value, low, high):
    return (low is None or value >= low) and (high is None or value <= high)


def _range_text(low, high):
    if low is None and high is None:
        return ""
    if high is None:
        return " >= %s" % low
    return " %s-%s" % (low, high)
