"""playbach's wire, for the server and the players, on CPython and MicroPython: the grammar,
topics, limits and the tables of the JSON payloads, all in the README. Docstrings are few here:
a board compiling this file keeps each one in RAM."""
import json

SCHEMA_VERSION = 2  # 2: sent_us and piece beside at
DEFAULT_PREFIX = "playbach"
NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
REST, CHORD_JOINER, EVENT_JOINER = "R", ".", ":"
# Beats (quarter notes) to the next onset ("4": four or more).
DURATIONS = ("1/12", "1/8", "1/6", "1/4", "1/3", "3/8", "1/2", "2/3", "3/4",
             "1", "4/3", "3/2", "2", "5/2", "3", "4")
DYNAMICS = ("ppp", "pp", "p", "mp", "mf", "f", "ff", "fff")
VELOCITIES = (16, 33, 49, 64, 80, 96, 112, 127)  # one per dynamic
DEFAULT_DURATION, DEFAULT_DYNAMIC = "1", "mf"
VOICES = ("bass", "tenor", "alto", "soprano")
STATES = ("playing", "paused", "stopped", "offline")
MIN_BPM, MAX_BPM = 20, 1000
# A payload's limits, checked before parsing (why: README, "The wire protocol").
MAX_NOTES = 16  # notes in an event
MAX_PAYLOAD = 4096  # bytes of an event, voice or status
MAX_BRACKETS = 8  # "{" and "[": it is nested 8 deep at most
MAX_INTEGER = 2 ** 53 - 1  # JavaScript's largest exact integer


def note_to_midi(name):
    """The MIDI number of a note name such as ``C4`` (60), ``F#2``, ``Bb3`` or ``C-1`` (0)."""
    text = name if isinstance(name, str) else ""
    sharp, flat = text[1:2] == "#", text[1:2] == "b"
    octave = text[1 + sharp + flat:]
    if text[:1] in tuple("CDEFGAB") and octave in ("-1",) + tuple("0123456789"):
        midi = "C D EF G A B".index(text[0]) + sharp - flat + (int(octave) + 1) * 12
        if 0 <= midi <= 127:
            return midi
    raise ValueError("bad note %.40r: expected A-G, # or b, octave -1..9 (C-1 to G9)" % (name,))


def midi_to_note(midi):
    check("MIDI note", "", midi, INT, 0, 127)
    return NOTE_NAMES[midi % 12] + str(midi // 12 - 1)


def parse_token(token):
    """The MIDI notes of a token, an ascending tuple; ``()`` for ``R``."""
    if token == REST:
        return ()
    notes = sorted(note_to_midi(n) for n in check("token", "", token, TEXT).split(CHORD_JOINER))
    if len(set(notes)) < len(notes):
        raise ValueError("bad chord %.40r: a note twice" % token)
    return tuple(notes)


def format_token(notes):
    return CHORD_JOINER.join(midi_to_note(n) for n in sorted(set(notes))) or REST


def duration_beats(duration):
    top, _, bottom = check("duration", "", duration, DURATIONS).partition("/")
    return int(top) / int(bottom or "1")


def dynamic_velocity(dynamic):
    return VELOCITIES[DYNAMICS.index(check("dynamic", "", dynamic, DYNAMICS))]


def beats_to_ms(beats, bpm):
    """The milliseconds (not rounded) ``beats`` quarter notes last at ``bpm`` a minute."""
    return beats * 60000 / bpm


def parse_event(text):
    """``(notes, duration, dynamic)`` of ``TOKEN[:DURATION[:DYNAMIC]]`` (a rest's: None)."""
    parts = check("event", "", text, TEXT).split(EVENT_JOINER)
    if len(parts) > 3:
        raise ValueError("bad event %.40r: expected TOKEN[:DURATION[:DYNAMIC]]" % text)
    token, duration, dynamic = parts + [DEFAULT_DURATION, DEFAULT_DYNAMIC][len(parts) - 1:]
    notes = parse_token(token)
    duration_beats(duration)
    return notes, duration, check("dynamic", "", dynamic, DYNAMICS) if notes else None


def format_event(notes, duration, dynamic):
    text = format_token(notes) + EVENT_JOINER + check("duration", "", duration, DURATIONS)
    if notes:
        text += EVENT_JOINER + check("dynamic", "", dynamic, DYNAMICS)
    return text


def voice_index(voice):
    if voice in VOICES:
        return VOICES.index(voice)
    if _within(voice, int, 0, len(VOICES) - 1):
        return voice
    raise ValueError("bad voice %.40r: expected 0-3 or %s" % (voice, "/".join(VOICES)))


def events_topic(prefix=DEFAULT_PREFIX):
    return prefix + "/events"


def voice_topic(voice, prefix=DEFAULT_PREFIX):
    return prefix + "/voice/" + VOICES[voice_index(voice)]


def status_topic(prefix=DEFAULT_PREFIX):
    return prefix + "/status"


def control_topic(prefix=DEFAULT_PREFIX):
    return prefix + "/control"


# A table: (payload, fields); a field: (name, kind, low, high, source). Kinds: INT, NUMBER, NOTE
# (INT or null); TEXT; NOTES (up to MAX_NOTES) and PER_NOTE (one a note), integers; a tuple of
# the values allowed. Source: SENT, OPTIONAL, or a function deriving the field from the others
# (the encoder fills it in, the decoder checks it).
INT, NUMBER, NOTE, TEXT, NOTES, PER_NOTE = (
    "integer", "number", "integer or null", "text", "notes", "integer per note")
SENT, OPTIONAL = "sent", "optional"

EVENT = ("event", (
    ("seq", INT, 0, MAX_INTEGER, SENT),
    ("token", TEXT, None, None, lambda m: format_token(m["notes"])),
    ("notes", NOTES, 0, 127, SENT),
    ("holds_ms", PER_NOTE, 0, MAX_INTEGER, SENT),
    ("duration", DURATIONS, None, None, SENT),
    ("beats", NUMBER, 0, 4, lambda m: duration_beats(m["duration"])),
    ("ms", INT, 0, MAX_INTEGER, lambda m: beats_to_ms(duration_beats(m["duration"]), m["bpm"])),
    ("dynamic", DYNAMICS + (None,), None, None, SENT),  # null: a rest (velocity checks)
    ("velocity", INT, 0, 127, lambda m: m["notes"] and dynamic_velocity(m["dynamic"]) or 0),
    ("bpm", NUMBER, MIN_BPM, MAX_BPM, SENT),
    ("at", INT, 0, MAX_INTEGER, SENT),
    ("sent_us", INT, 0, MAX_INTEGER, SENT),
    ("piece", INT, 0, MAX_INTEGER, SENT),
    ("end", ("phrase", "piece"), None, None, OPTIONAL)))
VOICE = ("voice", (
    ("seq", INT, 0, MAX_INTEGER, SENT),
    ("voice", VOICES, None, None, SENT),
    ("note", NOTE, 0, 127, SENT),
    ("name", TEXT, None, None, lambda m: REST if m["note"] is None else midi_to_note(m["note"])),
    ("velocity", INT, 0, 127, SENT),
    ("ms", INT, 0, MAX_INTEGER, SENT),
    ("at", INT, 0, MAX_INTEGER, SENT),
    ("sent_us", INT, 0, MAX_INTEGER, SENT),
    ("piece", INT, 0, MAX_INTEGER, SENT)))
STATUS = ("status", (
    ("state", STATES, None, None, SENT),
    ("seq", INT, 0, MAX_INTEGER, OPTIONAL),
    ("piece", INT, 0, MAX_INTEGER, OPTIONAL),
    ("piece_events", INT, 0, MAX_INTEGER, OPTIONAL),
    ("piece_cap", INT, 0, MAX_INTEGER, OPTIONAL),
    ("from_seq", INT, 0, MAX_INTEGER, OPTIONAL),
    ("lead_ms", INT, 0, MAX_INTEGER, OPTIONAL),
    ("model", TEXT, None, None, OPTIONAL),
    ("bpm", NUMBER, MIN_BPM, MAX_BPM, OPTIONAL),
    ("temperature", NUMBER, None, None, OPTIONAL),
    ("top_k", INT, None, None, OPTIONAL),
    ("top_p", NUMBER, None, None, OPTIONAL),
    ("seed", INT, None, None, OPTIONAL),
    ("primer", TEXT, None, None, OPTIONAL),
    ("invalid_controls", INT, 0, MAX_INTEGER, OPTIONAL)))


def decode(table, payload):
    return check_message(table, load(payload, table[0]))


def load(payload, what, limit=MAX_PAYLOAD, versioned=True, versions=(SCHEMA_VERSION,)):
    """The JSON object in ``payload`` (see :func:`text_of`), of one of ``versions``."""
    text = text_of(payload, what, limit)
    if text.count("{") + text.count("[") > MAX_BRACKETS:
        raise ValueError("bad %s payload: over %d brackets" % (what, MAX_BRACKETS))
    try:
        loaded = json.loads(text)
    except ValueError:
        raise ValueError("bad %s payload: not JSON: %.40r" % (what, text))
    if not isinstance(loaded, dict):
        raise ValueError("bad %s payload: expected a JSON object" % what)
    version = loaded.get("v")
    if (versioned or "v" in loaded) and version not in versions:
        raise ValueError("bad %s payload: schema version %.20r, expected %s (update the server "
                         "and the players together)" % (what, version, versions[-1]))
    return loaded


def text_of(payload, what, limit=MAX_PAYLOAD):
    """``payload`` as text: UTF-8 or text, at most ``limit`` bytes."""
    if not isinstance(payload, (str, bytes)):
        raise ValueError("bad %s payload: %s, not bytes or text" % (what, type(payload).__name__))
    if len(payload) > limit:
        raise ValueError("bad %s payload: %d bytes, more than %d" % (what, len(payload), limit))
    try:
        return payload if isinstance(payload, str) else payload.decode()
    except UnicodeError:
        raise ValueError("bad %s payload: not UTF-8 text" % what)


def check(what, name, value, kind, low=None, high=None, notes=()):
    """``value``, if of ``kind`` within ``low``-``high``; else ValueError naming ``what``'s
    field ``name`` (or the value)."""
    if kind is NOTES or kind is PER_NOTE:
        size = MAX_NOTES if kind is NOTES else len(notes)
        good = isinstance(value, (list, tuple)) and len(value) in (
            range(size + 1) if kind is NOTES else (size,)) and \
            all(_within(item, int, low, high) for item in value)
        expected = "%s%d integers %s-%s" % ("up to " * (kind is NOTES), size, low, high)
    elif isinstance(kind, tuple):
        good, expected = value in kind, "one of " + " ".join(str(k) for k in kind)
    elif kind is TEXT:
        good, expected = isinstance(value, str) and value != "", "text"
    else:  # INT, NOTE (or null), NUMBER
        good = _within(value, (int, float) if kind is NUMBER else int, low, high) or \
            kind is NOTE and value is None
        expected = ("a number" if kind is NUMBER else "an integer") + (
            "" if low is None else " %s-%s" % (low, high))
    if not good:
        raise ValueError("bad %s %s%.40r, expected %s"
                         % (what, "field %r: " % name if name else "", value, expected))
    return value


def _within(value, kinds, low, high):
    return isinstance(value, kinds) and not isinstance(value, bool) and value == value and \
        (low is None or value >= low) and (high is None or value <= high)


def check_message(table, message, fill=False):
    """``message`` checked against ``table``; derived fields compared (or filled in)."""
    what, fields = table
    for name, kind, low, high, source in fields:
        if name in message and not callable(source):
            check(what, name, message[name], kind, low, high, message.get("notes"))
        elif source is SENT:
            raise ValueError("bad %s payload: no field %r" % (what, name))
    for name, kind, low, high, source in fields:
        if callable(source):
            want = source(message)
            if fill:
                message[name] = round(want) if kind is INT else want
                continue
            got = check(what, name, message.get(name), kind, low, high)
            if got != want and not (isinstance(want, float) and abs(got - want) <= (
                    1 if kind is INT else 1e-6 * want)):  # single-precision boards round apart
                raise ValueError("bad %s field %r: %.40r, expected %.40r (derived)"
                                 % (what, name, got, want))
    return message
