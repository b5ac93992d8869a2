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
show("frequencies", [protocol.note_frequency(n) for n in (21, 60, 69, 108)])
for bad in ("H2", "c4", "C", "C#x", "C--1", "G#9", "A2.A2", "A2..B2", "", 7):
    show("bad token %r" % (bad,), error_of(protocol.parse_token, bad))
show("durations", [protocol.quantize_duration(b) for b in (0.01, 0.1, 0.26, 0.49, 0.7, 1.1,
                                                           1.4, 2.4, 2.6, 3.9, 20)])
show("bad duration", error_of(protocol.quantize_duration, 0))
show("dynamics", [protocol.quantize_velocity(v) for v in (1, 40, 64, 72, 90, 100, 127)])
show("bad velocity", error_of(protocol.quantize_velocity, 128))
for text in ("A2.G#3:1/2:mf", "R:1/12", "B2", "R:1/2:mf", "C4:4:fff"):
    show("event " + text, protocol.parse_event(text))
for bad in ("B2:1/2:mf:x", "B2:5/4", "B2:1:loud"):
    show("bad event " + bad, error_of(protocol.parse_event, bad))

voicer = protocol.Voicer()
for token in ("C3.E4.G4.C5", "D5", "B2", "F4.A4", "F4", "A4", "R", "C4", "E4", "G3.C4",
              "C3.E3.G3.C4.E4.G4", "A4"):
    moves, released = voicer.step(protocol.parse_token(token))
    show("voices " + token, [moves, released, voicer.held])

show("topics", [protocol.events_topic(), protocol.voice_topic(3), protocol.voice_topic("bass", "x"),
                protocol.status_topic(), protocol.control_topic("a/b")])
event = protocol.encode_event(7, (45, 56), (500, 250), "1/2", "f", 120, 1764160000123)
show("event payload", protocol.decode_event(event))
show("event payload bytes", protocol.decode_event(event.encode()))
broken = json.loads(event)
broken["notes"] = [45, 200]
show("bad event payload", error_of(protocol.decode_event, json.dumps(broken)))
show("not json", error_of(protocol.decode_event, b"{nope"))
show("voice payload", protocol.decode_voice(protocol.encode_voice(3, "soprano", 72, 96, 480, 1)))
show("silence payload", protocol.decode_voice(protocol.encode_voice(4, 0, None, 96, 0, 2)))
show("status payload", protocol.decode_status(protocol.encode_status("paused", {"bpm": 90})))
for payload in ("pause", "tempo 90", '{"cmd": "top_k", "value": 20}', "primer bwv269",
                '{"cmd": "primer", "tokens": "B2 A2:1/2"}', "tempo fast", "tempo 5", "jump",
                '{"cmd": "seed", "value": -1}', "{oops"):
    show("control " + payload, error_of(protocol.decode_control, payload))
