# Exercises playbach_protocol and prints one line per result. tests/test_micropython.py runs it
# under CPython and under MicroPython and requires the same lines from both.
import json

import playbach_protocol as protocol


def show(label, value):
    print(label + ": " + canonical(value))


def canonical(value):
    # Dicts are ordered by key and floats rounded, as the two runtimes print them differently.
    if isinstance(value, dict):
        return "{" + ", ".join(repr(k) + ": " + canonical(value[k]) for k in sorted(value)) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(canonical(v) for v in value) + "]"
    if isinstance(value, float):
        return "%.6f" % value
    return repr(value)


def error_of(function, *args):
    try:
        return function(*args)
    except ValueError as error:
        return "ValueError: " + str(error)


seed = "B2 A2 G2 F#2 E2 D2 R C#2 A2.G#3 E3 F#3 G3 F#3 G3.A4"
show("seed", " ".join(protocol.format_token(protocol.parse_token(t)) for t in seed.split()))
show("names", [protocol.midi_to_note(n) for n in range(128)])
show("numbers", [protocol.note_to_midi(protocol.midi_to_note(n)) for n in range(128)])
show("flats", [protocol.note_to_midi(n) for n in ("Bb3", "Cb4", "B#3", "Eb-1")])
for bad in ("H2", "c4", "C", "C#x", "C--1", "C10", "G#9", "A2.A2", "A2..B2", "", 7, None):
    show("bad token %r" % (bad,), error_of(protocol.parse_token, bad))
show("beats", [protocol.duration_beats(d) for d in protocol.DURATIONS])
show("velocities", [protocol.dynamic_velocity(d) for d in protocol.DYNAMICS])
show("ms", [protocol.beats_to_ms(b, 72) for b in (1 / 12, 0.5, 1, 4)])
for text in ("A2.G#3:1/2:mf", "R:1/12", "B2", "R:1/2:mf", "C4:4:fff"):
    show("event " + text, protocol.parse_event(text))
    show("format " + text, protocol.format_event(*protocol.parse_event(text)))
for bad in ("B2:1/2:mf:x", "B2:5/4", "B2:1:loud", 5):
    show("bad event %r" % (bad,), error_of(protocol.parse_event, bad))
show("topics", [protocol.events_topic(), protocol.voice_topic(3), protocol.voice_topic("bass", "x"),
                protocol.status_topic(), protocol.control_topic("a/b")])
show("bad voice", error_of(protocol.voice_topic, 4))

event = {"v": 2, "seq": 7, "token": "A2.G#3", "notes": [45, 56], "holds_ms": [500, 250],
         "duration": "1/2", "beats": 0.5, "ms": 250, "dynamic": "f", "velocity": 96, "bpm": 120,
         "at": 1764160000123, "sent_us": 1764159999923456, "piece": 3}
show("event payload", protocol.decode(protocol.EVENT, json.dumps(event)))
show("event payload bytes", protocol.decode(protocol.EVENT, json.dumps(event).encode()))
third = dict(event, duration="1/3", beats=1 / 3, ms=278, bpm=72)
show("event payload thirds", protocol.decode(protocol.EVENT, json.dumps(third)))
rest = dict(event, token="R", notes=[], holds_ms=[], dynamic=None, velocity=0)
show("rest payload", protocol.decode(protocol.EVENT, json.dumps(rest)))
for field, value in (("notes", [45, 200]), ("notes", list(range(17))), ("holds_ms", [1]),
                     ("token", "A2.G3"), ("velocity", 80), ("beats", 1), ("ms", 260),
                     ("seq", -1), ("seq", 2 ** 53), ("at", True), ("bpm", "fast"),
                     ("dynamic", None), ("v", 1), ("sent_us", -1), ("piece", 2.5)):
    broken = dict(event)
    broken[field] = value
    show("bad event %s %r" % (field, value),
         error_of(protocol.decode, protocol.EVENT, json.dumps(broken)))
for payload in (b"{nope", b"\xff\xfe", "[1, 2]", None, 5, b"[" * 9, b"x" * 4097):
    show(("unreadable %r" % (payload,))[:40], error_of(protocol.decode, protocol.EVENT, payload))
voice = {"v": 2, "seq": 3, "voice": "soprano", "note": 72, "name": "C5", "velocity": 96,
         "ms": 480, "at": 1, "sent_us": 0, "piece": 1}
show("voice payload", protocol.decode(protocol.VOICE, json.dumps(voice)))
silence = dict(voice, note=None, name="R", velocity=0)
show("silence payload", protocol.decode(protocol.VOICE, json.dumps(silence)))
renamed = json.dumps(dict(voice, name="D5"))
show("bad voice name", error_of(protocol.decode, protocol.VOICE, renamed))
status = '{"v": 2, "state": "paused", "bpm": 90, "model": "m", "seed": 7, "piece": 41, ' \
    '"from_seq": 44, "lead_ms": 200, "future": [1]}'
show("status payload", protocol.decode(protocol.STATUS, status))
show("bad status", error_of(protocol.decode, protocol.STATUS, '{"v": 2, "state": "dancing"}'))
show("old status", error_of(protocol.decode, protocol.STATUS, '{"v": 1, "state": "playing"}'))
show("loaded control", protocol.load('{"cmd": "tempo"}', "control", 100, False))
show("control text", error_of(protocol.text_of, b"tempo \xff", "control", 100))
