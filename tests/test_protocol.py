"""The wire: the shared grammar and payload tables under CPython (tests/test_micropython.py runs
them on MicroPython too), the server's encoder and control commands, and the README's reference
tables, which must say what the module says."""
import json
import re
from pathlib import Path

import pytest

import playbach_protocol as protocol
from playbach.live import wire

README = Path(__file__).resolve().parent.parent / "README.md"
SEED = "B2 A2 G2 F#2 E2 D2 R C#2 A2.G#3 E3 F#3 G3 F#3 G3.A4"


def test_seed_sequence_round_trips_exactly():
    tokens = [protocol.format_token(protocol.parse_token(t)) for t in SEED.split()]
    assert " ".join(tokens) == SEED


@pytest.mark.parametrize("name, midi", [
    ("C4", 60), ("A4", 69), ("C-1", 0), ("G9", 127), ("B2", 47), ("F#2", 42),
    ("Bb3", 58), ("Cb4", 59), ("B#3", 60), ("A#0", 22)])
def test_note_names(name, midi):
    assert protocol.note_to_midi(name) == midi


def test_every_midi_number_names_itself():
    for midi in range(128):
        name = protocol.midi_to_note(midi)
        assert "b" not in name
        assert protocol.note_to_midi(name) == midi


def test_flats_read_as_sharps():
    assert protocol.format_token(protocol.parse_token("Bb3.Eb4")) == "A#3.D#4"


def test_chords_come_out_ascending():
    assert protocol.parse_token("G#3.A2") == (45, 56)
    assert protocol.format_token((56, 45)) == "A2.G#3"


@pytest.mark.parametrize("text, message", [
    ("H2", "bad note 'H2': expected A-G, # or b, octave -1..9 (C-1 to G9)"),
    ("c4", "bad note 'c4': expected A-G"),
    ("C", "bad note 'C': expected A-G"),
    ("C#x", "bad note 'C#x': expected A-G"),
    ("C--1", "bad note 'C--1': expected A-G"),
    ("C10", "bad note 'C10': expected A-G"),
    ("G#9", "bad note 'G#9': expected A-G"),
    ("Cb-1", "bad note 'Cb-1': expected A-G"),
    ("A2.A2", "bad chord 'A2.A2': a note twice"),
    ("A2..B2", "bad note '': expected A-G"),
    ("", "bad token '', expected text"),
])
def test_bad_tokens_say_what_was_expected(text, message):
    with pytest.raises(ValueError) as error:
        protocol.parse_token(text)
    assert str(error.value).startswith(message)


def test_bad_midi_numbers():
    for bad in (-1, 128, 60.0, True, "60"):
        with pytest.raises(ValueError, match="expected an integer 0-127"):
            protocol.midi_to_note(bad)


def test_durations_dynamics_and_beats_to_ms():
    assert [protocol.duration_beats(d) for d in ("1/12", "3/8", "1", "4")] == [1 / 12, 0.375,
                                                                               1, 4]
    assert [protocol.dynamic_velocity(d) for d in protocol.DYNAMICS] == list(protocol.VELOCITIES)
    assert protocol.beats_to_ms(1, 120) == 500 and protocol.beats_to_ms(1 / 3, 100) == 200
    with pytest.raises(ValueError, match="bad duration '5/4', expected one of 1/12"):
        protocol.duration_beats("5/4")
    with pytest.raises(ValueError, match="bad dynamic 'loud', expected one of ppp"):
        protocol.dynamic_velocity("loud")


def test_events_round_trip():
    for text in ("A2.G#3:1/2:mf", "R:1/12", "C4:4:fff", "B2:1:ppp"):
        assert protocol.format_event(*protocol.parse_event(text)) == text
    assert protocol.parse_event("B2") == ((47,), protocol.DEFAULT_DURATION,
                                          protocol.DEFAULT_DYNAMIC)
    assert protocol.parse_event("R:1/2:mf") == ((), "1/2", None)


@pytest.mark.parametrize("text, message", [
    ("B2:1/2:mf:x", "bad event 'B2:1/2:mf:x': expected TOKEN[:DURATION[:DYNAMIC]]"),
    ("B2:5/4", "bad duration '5/4'"),
    ("B2:1:loud", "bad dynamic 'loud'"),
    ("H2:1", "bad note 'H2'"),
    (None, "bad event None, expected text"),
])
def test_bad_events(text, message):
    with pytest.raises(ValueError) as error:
        protocol.parse_event(text)
    assert str(error.value).startswith(message)


def test_topics():
    assert protocol.events_topic() == "playbach/events"
    assert protocol.voice_topic(3) == "playbach/voice/soprano"
    assert protocol.voice_topic("bass", "studio/bach") == "studio/bach/voice/bass"
    assert protocol.status_topic() == "playbach/status"
    assert protocol.control_topic() == "playbach/control"
    for bad in (4, True, 1.0, "Bass"):
        with pytest.raises(ValueError, match="expected 0-3 or bass/tenor/alto/soprano"):
            protocol.voice_topic(bad)


def event_payload(**change):
    event = json.loads(wire.encode(protocol.EVENT, 7, (45, 56), [500, 250], "1/2", "f", 120,
                                   1764160000123, 1764159999923456, 3))
    event.update(change)
    return json.dumps(event)


def test_event_payload_round_trips_with_its_derived_fields():
    payload = event_payload()
    event = protocol.decode(protocol.EVENT, payload)
    assert event == json.loads(payload)
    assert list(event) == ["v", "seq", "token", "notes", "holds_ms", "duration", "beats", "ms",
                           "dynamic", "velocity", "bpm", "at", "sent_us", "piece"]  # schema 2
    assert (event["token"], event["beats"], event["ms"], event["velocity"]) == \
        ("A2.G#3", 0.5, 250, 96)
    rest = protocol.decode(protocol.EVENT, wire.encode(protocol.EVENT, 8, (), [], "1", None,
                                                       60, 0, 0, 1))
    assert (rest["token"], rest["ms"], rest["velocity"], rest["dynamic"]) == ("R", 1000, 0, None)
    assert wire.message(protocol.EVENT, 9, (60,), [1], "1/3", "p", 72, 0, 0, 1)["ms"] == 278


@pytest.mark.parametrize("change, message", [
    ({"v": 1}, "bad event payload: schema version 1, expected 2 (update the server and the "
               "players together)"),
    ({"v": "2"}, "bad event payload: schema version '2', expected 2"),
    ({"seq": -1}, "bad event field 'seq': -1, expected an integer 0-9007199254740991"),
    ({"seq": 2 ** 53}, "bad event field 'seq': 9007199254740992, expected an integer"),
    ({"seq": 7.0}, "bad event field 'seq': 7.0, expected an integer"),
    ({"notes": [45, 200]}, "bad event field 'notes': [45, 200], expected up to 16 integers 0-127"),
    ({"notes": "A2"}, "bad event field 'notes': 'A2', expected up to 16 integers"),
    ({"notes": list(range(17))}, "bad event field 'notes': [0, 1, 2, 3"),
    ({"holds_ms": [1]}, "bad event field 'holds_ms': [1], expected 2 integers 0-"),
    ({"holds_ms": [1, None]}, "bad event field 'holds_ms': [1, None], expected 2 integers"),
    ({"duration": "5/4"}, "bad event field 'duration': '5/4', expected one of 1/12 1/8"),
    ({"duration": []}, "bad event field 'duration': [], expected one of"),
    ({"bpm": "fast"}, "bad event field 'bpm': 'fast', expected a number 20-1000"),
    ({"bpm": 1e999}, "bad event field 'bpm': inf, expected a number 20-1000"),
    ({"dynamic": None}, "bad dynamic None, expected one of ppp"),
    ({"dynamic": "loud"}, "bad event field 'dynamic': 'loud', expected one of ppp"),
    ({"token": "A2.G3"}, "bad event field 'token': 'A2.G3', expected 'A2.G#3' (derived)"),
    ({"token": None}, "bad event field 'token': None, expected text"),
    ({"velocity": 300}, "bad event field 'velocity': 300, expected an integer 0-127"),
    ({"velocity": 80}, "bad event field 'velocity': 80, expected 96 (derived)"),
    ({"beats": 1}, "bad event field 'beats': 1, expected 0.5 (derived)"),
    ({"ms": 252}, "bad event field 'ms': 252, expected 250.0 (derived)"),
    ({"at": True}, "bad event field 'at': True, expected an integer"),
    ({"sent_us": 1.5}, "bad event field 'sent_us': 1.5, expected an integer 0-"),
    ({"piece": None}, "bad event field 'piece': None, expected an integer 0-"),
])
def test_bad_event_payloads_name_the_field(change, message):
    with pytest.raises(ValueError) as error:
        protocol.decode(protocol.EVENT, event_payload(**change))
    assert str(error.value).startswith(message)


def test_derived_integers_may_be_a_rounding_apart():
    """A single-precision board rounds ms on its own side of .5: one ms either way passes."""
    for ms in (249, 251):
        assert protocol.decode(protocol.EVENT, event_payload(ms=ms))["ms"] == ms


@pytest.mark.parametrize("payload, message", [
    (b"{nope", "bad event payload: not JSON: '{nope'"),
    (b"\xff\xfe", "bad event payload: not UTF-8 text"),
    ("[1, 2]", "bad event payload: expected a JSON object"),
    ("null", "bad event payload: expected a JSON object"),
    (None, "bad event payload: NoneType, not bytes or text"),
    ({"v": 1}, "bad event payload: dict, not bytes or text"),
    (b"[" * 9 + b"]" * 9, "bad event payload: over 8 brackets"),
    (b"[" * 100000, "bad event payload: 100000 bytes, more than 4096"),
    (event_payload(notes=[60] * 20000, holds_ms=[1] * 20000), "bad event payload: 140212 bytes"),
])
def test_unreadable_payloads(payload, message):
    with pytest.raises(ValueError) as error:
        protocol.decode(protocol.EVENT, payload)
    assert str(error.value).startswith(message)


def test_voice_payloads():
    sounding = protocol.decode(protocol.VOICE, wire.encode(protocol.VOICE, 3, "soprano", 72, 96,
                                                           480, 10, 9000, 1))
    assert (sounding["voice"], sounding["name"], sounding["ms"]) == ("soprano", "C5", 480)
    silence = protocol.decode(protocol.VOICE, wire.encode(protocol.VOICE, 4, "bass", None, 0,
                                                          0, 11, 9001, 1))
    assert (silence["voice"], silence["note"], silence["name"]) == ("bass", None, "R")
    for change, message in (({"note": 130}, "bad voice field 'note': 130"),
                            ({"name": "D5"}, "bad voice field 'name': 'D5', expected 'C5'"),
                            ({"voice": 3}, "bad voice field 'voice': 3, expected one of bass"),
                            ({"note": "C5"}, "bad voice field 'note': 'C5', expected an integer")):
        with pytest.raises(ValueError) as error:
            protocol.decode(protocol.VOICE, json.dumps(dict(sounding, **change)))
        assert str(error.value).startswith(message)


def test_status_payloads():
    status = protocol.decode(protocol.STATUS, wire.encode(protocol.STATUS, "playing", bpm=96))
    assert status == {"v": 2, "state": "playing", "bpm": 96}
    assert protocol.decode(protocol.STATUS, '{"v": 2, "state": "offline", "x": [1]}')["x"] == [1]
    status = wire.message(protocol.STATUS, "playing", seq=9, piece=5, from_seq=8, lead_ms=200)
    assert list(status) == ["v", "state", "seq", "piece", "from_seq", "lead_ms"]
    with pytest.raises(ValueError, match="bad status field 'state': 'dancing'"):
        wire.encode(protocol.STATUS, "dancing")
    for payload, message in (('{"v": 2, "state": "dancing"}', "field 'state': 'dancing'"),
                             ('{"v": 2, "state": "paused", "bpm": 0}', "field 'bpm': 0"),
                             ('{"v": 2, "state": "paused", "seed": "7"}', "field 'seed': '7'"),
                             ('{"v": 2, "state": "paused", "piece": -1}', "field 'piece': -1"),
                             ('{"v": 1, "state": "paused"}', "payload: schema version 1"),
                             ('{"v": 2}', "payload: no field 'state'")):
        with pytest.raises(ValueError, match="bad status " + re.escape(message)):
            protocol.decode(protocol.STATUS, payload)


def test_encoders_check_what_they_send():
    with pytest.raises(ValueError, match="bad event field 'notes'"):
        wire.encode(protocol.EVENT, 1, list(range(40, 60)), [1] * 20, "1", "f", 120, 0, 0, 1)
    with pytest.raises(ValueError, match="bad dynamic None"):
        wire.encode(protocol.EVENT, 1, (60,), [1], "1", None, 120, 0, 0, 1)
    with pytest.raises(ValueError, match="bad voice field 'voice': 0"):
        wire.encode(protocol.VOICE, 1, 0, 60, 80, 1, 0, 0, 1)


@pytest.mark.parametrize("payload, control", [
    ("pause", {"cmd": "pause"}),
    (b" play ", {"cmd": "play"}),
    ("tempo 90", {"cmd": "tempo", "bpm": 90.0}),
    ('{"cmd": "tempo", "bpm": 72}', {"cmd": "tempo", "bpm": 72}),
    ("top_k 20", {"cmd": "top_k", "value": 20}),
    ('{"cmd": "temperature", "value": 0.8}', {"cmd": "temperature", "value": 0.8}),
    ("primer bwv269", {"cmd": "primer", "name": "bwv269"}),
    ('{"cmd": "primer", "tokens": "B2 A2:1/2 G2"}', {"cmd": "primer", "tokens": "B2 A2:1/2 G2"}),
    ('{"cmd": "primer"}', {"cmd": "primer"}),
    ('{"v": 1, "cmd": "seed", "value": 7}', {"v": 1, "cmd": "seed", "value": 7}),
    ('{"v": 2, "cmd": "pause"}', {"v": 2, "cmd": "pause"}),  # controls are as in schema 1
])
def test_control_commands(payload, control):
    assert wire.decode_control(payload) == control


@pytest.mark.parametrize("payload, message", [
    ("", "bad control field 'cmd': '', expected one of pause play"),
    ("jump", "bad control field 'cmd': 'jump'"),
    ('{"cmd": []}', "bad control field 'cmd': [], expected one of"),
    ('{"cmd": {}}', "bad control field 'cmd': {}, expected one of"),
    ('{"cmd": null}', "bad control field 'cmd': None"),
    ("tempo fast", "bad control field 'bpm': 'fast' is not a number"),
    ("tempo nan", "bad control field 'bpm': nan, expected a number 20-1000"),
    ("tempo 5", "bad control field 'bpm': 5.0, expected a number 20-1000"),
    ('{"cmd": "tempo"}', "bad control field 'bpm': None, expected a number 20-1000"),
    ('{"cmd": "tempo", "bpm": [90]}', "bad control field 'bpm': [90], expected a number"),
    ("top_k 2.5", "bad control field 'value': '2.5' is not a number"),
    ("seed " + "9" * 5000, "bad control field 'value': '99999"),
    ('{"cmd": "temperature", "value": true}', "bad control field 'value': True"),
    ('{"cmd": "primer", "tokens": "B2 H2"}', "bad note 'H2'"),
    ('{"cmd": "primer", "tokens": ["B2"]}', "bad control field 'tokens': ['B2'], expected text"),
    ('{"cmd": "primer", "name": 7}', "bad control field 'name': 7, expected text"),
    ('{"v": 9, "cmd": "play"}', "bad control payload: schema version 9, expected 2"),
    ("{oops", "bad control payload: not JSON"),
    ('{"cmd": ' * 10 + "1" + "}" * 10, "bad control payload: over 8 brackets"),
    (b"tempo \xff", "bad control payload: not UTF-8 text"),
    (12, "bad control payload: int, not bytes or text"),
    ("primer " + "C4 " * 100000, "bad control payload: 300007 bytes, more than 262144"),
])
def test_bad_control_commands(payload, message):
    with pytest.raises(ValueError) as error:
        wire.decode_control(payload)
    assert str(error.value).startswith(message)


def test_encode_control_checks_what_it_encodes():
    assert json.loads(wire.encode_control("tempo", 100)) == {"cmd": "tempo", "bpm": 100}
    with pytest.raises(ValueError):
        wire.encode_control("tempo", 1001)


def readme_fields(table_name):
    """The rows ``(field, type, range, sent)`` of the README's table of ``table_name``."""
    text = README.read_text()
    section = text[text.index("\n## The wire protocol"):]
    section = section[:section.index("\n## ", 1)]
    table = section[section.index("\n**%s**\n" % table_name) + 1:]
    rows = []
    for line in table.splitlines()[1:]:
        if rows and not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if cells[0].startswith("`"):
            rows.append((cells[0].strip("`"), cells[1], cells[2], cells[3]))
    return rows


def module_fields(table):
    """The same rows, as the module's table says them."""
    def bound(value):
        return "2^53-1" if value == protocol.MAX_INTEGER else "%g" % value

    rows = []
    for name, kind, low, high, source in table[1]:
        if isinstance(kind, tuple):
            kind, span = "one of", " ".join("null" if k is None else k for k in kind)
        else:
            span = "" if low is None else "%s to %s" % (bound(low), bound(high))
        sent = "derived" if callable(source) else {protocol.SENT: "yes"}.get(source, source)
        rows.append((name, kind, span, sent))
    return rows


@pytest.mark.parametrize("name", ["EVENT", "VOICE", "STATUS"])
def test_the_readme_tables_say_what_the_module_says(name):
    assert readme_fields(name) == module_fields(getattr(protocol, name))
