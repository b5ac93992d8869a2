"""The shared vocabulary and wire protocol, under CPython (tests/test_micropython.py runs it on
MicroPython too)."""
import json

import pytest

import playbach_protocol as protocol

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
    ("H2", "bad note 'H2': expected a letter A-G"),
    ("c4", "bad note 'c4': expected a letter A-G"),
    ("C", "bad note 'C': expected an octave number"),
    ("C#x", "bad note 'C#x': expected an octave number"),
    ("C--1", "bad note 'C--1': expected an octave number"),
    ("G#9", "bad note 'G#9': MIDI number 128 is outside 0-127"),
    ("Cb-1", "bad note 'Cb-1': MIDI number -1 is outside 0-127"),
    ("A2.A2", "bad chord 'A2.A2': A2 appears twice"),
    ("A2..B2", "bad note '': expected a name"),
    ("", "bad token '': expected a note, a chord"),
])
def test_bad_tokens_say_what_was_expected(text, message):
    with pytest.raises(ValueError) as error:
        protocol.parse_token(text)
    assert str(error.value).startswith(message)


def test_bad_midi_numbers():
    for bad in (-1, 128, 60.0, True, "60"):
        with pytest.raises(ValueError, match="expected an integer 0-127"):
            protocol.midi_to_note(bad)


def test_frequency_is_equal_tempered_from_a440():
    assert protocol.note_frequency(69) == pytest.approx(440.0)
    assert protocol.note_frequency(60) == pytest.approx(261.6256, abs=1e-3)
    assert protocol.note_frequency(81) == pytest.approx(880.0)


def test_durations_quantize_to_the_nearest_class_by_ratio():
    assert protocol.quantize_duration(0.5) == "1/2"
    assert protocol.quantize_duration(0.48) == "1/2"
    assert protocol.quantize_duration(1 / 3 + 0.01) == "1/3"
    assert protocol.quantize_duration(1.5) == "3/2"
    assert protocol.quantize_duration(9.0) == "4"
    assert protocol.quantize_duration(0.001) == "1/12"
    for duration in protocol.DURATIONS:
        assert protocol.quantize_duration(protocol.duration_beats(duration)) == duration
    for bad in (0, -1, "1", None):
        with pytest.raises(ValueError, match="expected a positive number of beats"):
            protocol.quantize_duration(bad)
    with pytest.raises(ValueError, match="bad duration '5/4': expected one of 1/12"):
        protocol.duration_beats("5/4")


def test_velocities_quantize_to_dynamics():
    assert protocol.quantize_velocity(90) == "f"
    assert protocol.quantize_velocity(1) == "ppp"
    assert protocol.quantize_velocity(127) == "fff"
    for dynamic in protocol.DYNAMICS:
        assert protocol.quantize_velocity(protocol.dynamic_velocity(dynamic)) == dynamic
    with pytest.raises(ValueError, match="bad velocity 0: expected an integer 1-127"):
        protocol.quantize_velocity(0)
    with pytest.raises(ValueError, match="bad dynamic 'loud': expected one of ppp"):
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
])
def test_bad_events(text, message):
    with pytest.raises(ValueError) as error:
        protocol.parse_event(text)
    assert str(error.value).startswith(message)


def voicer_run(tokens):
    voicer = protocol.Voicer()
    return [voicer.step(protocol.parse_token(t)) + (list(voicer.held),) for t in tokens]


def test_voicer_sorts_a_full_chord_bass_to_soprano():
    (moves, released, held), = voicer_run(["C3.E4.G4.C5"])
    assert held == [48, 64, 67, 72]
    assert moves == [(0, 48), (1, 64), (2, 67), (3, 72)]
    assert released == []


def test_voicer_moves_only_the_voice_that_moves_and_keeps_held_notes():
    steps = voicer_run(["C3.E4.G4.C5", "D5", "B2", "F4.A4"])
    assert steps[1] == ([(3, 74)], [72], [48, 64, 67, 74])
    assert steps[2] == ([(0, 47)], [48], [47, 64, 67, 74])
    assert steps[3] == ([(1, 65), (2, 69)], [64, 67], [47, 65, 69, 74])


def test_voicer_repeated_note_restrikes_its_voice():
    steps = voicer_run(["C3.E4.G4.C5", "C5"])
    assert steps[1] == ([(3, 72)], [72], [48, 64, 67, 72])


def test_voicer_keeps_voices_in_order_when_a_held_note_is_crossed():
    # The tenor holds E4; a new note above it goes to the alto, not the tenor.
    steps = voicer_run(["C3.E4.G4.C5", "A4"])
    assert steps[1][2] == [48, 64, 69, 72]


def test_voicer_rest_silences_everything_and_a_melody_goes_to_the_soprano():
    steps = voicer_run(["C3.E4.G4.C5", "R", "C4", "E4"])
    assert steps[1] == ([(0, None), (1, None), (2, None), (3, None)], [48, 64, 67, 72],
                        [None] * 4)
    assert steps[2] == ([(3, 60)], [], [None, None, None, 60])
    assert steps[3] == ([(3, 64)], [60], [None, None, None, 64])


def test_voicer_big_chords_keep_outer_notes_and_extras_last_one_event():
    steps = voicer_run(["C3.E3.G3.C4.E4.G4", "A4"])
    assert steps[0][2] == [48, 55, 60, 67]
    assert steps[1][1] == [52, 64, 67]  # the extras E3 and E4, then the soprano's G4


def test_voicer_unison_release_keeps_the_note_still_held_elsewhere():
    voicer = protocol.Voicer(voices=2)
    voicer.step((60,))
    voicer.step((60, 67))
    moves, released = voicer.step((59,))
    assert voicer.held == [59, 67]
    assert released == [60]


def test_topics():
    assert protocol.events_topic() == "playbach/events"
    assert protocol.voice_topic(3) == "playbach/voice/soprano"
    assert protocol.voice_topic("bass", "studio/bach") == "studio/bach/voice/bass"
    assert protocol.status_topic() == "playbach/status"
    assert protocol.control_topic() == "playbach/control"
    with pytest.raises(ValueError, match="bad voice 4: expected 0-3 or one of bass"):
        protocol.voice_topic(4)


def test_event_payload_round_trip_and_reads_well():
    payload = protocol.encode_event(7, (45, 56), (500, 250), "1/2", "f", 120, 1764160000123)
    event = protocol.decode_event(payload)
    assert event == json.loads(payload)
    assert event["token"] == "A2.G#3"
    assert event["ms"] == 250 and event["beats"] == 0.5 and event["velocity"] == 96
    rest = protocol.decode_event(protocol.encode_event(8, (), (), "1", None, 60, 0))
    assert rest["token"] == "R" and rest["ms"] == 1000 and rest["velocity"] == 0


@pytest.mark.parametrize("change, message", [
    ({"v": 2}, "bad event field 'v': 2, expected schema version 1"),
    ({"seq": -1}, "bad event field 'seq': -1, expected an integer >= 0"),
    ({"notes": [45, 200]}, "bad event field 'notes': 200, expected integers 0-127"),
    ({"notes": "A2"}, "bad event field 'notes': 'A2', expected a list"),
    ({"holds_ms": [1]}, "bad event field 'holds_ms': expected one length per note"),
    ({"token": "A2.G3"}, "bad event field 'token': 'A2.G3' does not name the notes"),
    ({"duration": "5/4"}, "bad duration '5/4'"),
    ({"bpm": "fast"}, "bad event field 'bpm': 'fast', expected a number 20-1000"),
    ({"velocity": 300}, "bad event field 'velocity': 300, expected an integer 0-127"),
])
def test_bad_event_payloads_name_the_field(change, message):
    event = json.loads(protocol.encode_event(7, (45, 56), (500, 250), "1/2", "f", 120, 0))
    event.update(change)
    with pytest.raises(ValueError) as error:
        protocol.decode_event(json.dumps(event))
    assert str(error.value).startswith(message)


def test_unreadable_payloads():
    with pytest.raises(ValueError, match="bad event payload: not JSON"):
        protocol.decode_event(b"{nope")
    with pytest.raises(ValueError, match="bad event payload: not UTF-8 text"):
        protocol.decode_event(b"\xff\xfe")
    with pytest.raises(ValueError, match="bad voice payload: expected a JSON object"):
        protocol.decode_voice("[1, 2]")


def test_voice_payloads():
    message = protocol.decode_voice(protocol.encode_voice(3, "soprano", 72, 96, 480, 10))
    assert (message["voice"], message["name"], message["ms"]) == ("soprano", "C5", 480)
    silence = protocol.decode_voice(protocol.encode_voice(4, 0, None, 96, 0, 11))
    assert (silence["voice"], silence["note"], silence["name"]) == ("bass", None, "R")
    with pytest.raises(ValueError, match="bad voice field 'note': 130"):
        protocol.decode_voice(json.dumps(dict(message, note=130)))


def test_status_payloads():
    status = protocol.decode_status(protocol.encode_status("playing", {"bpm": 96}))
    assert status == {"v": 1, "state": "playing", "bpm": 96}
    with pytest.raises(ValueError, match="bad state 'dancing'"):
        protocol.encode_status("dancing")
    with pytest.raises(ValueError, match="bad status field 'state'"):
        protocol.decode_status('{"v": 1, "state": "dancing"}')


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
])
def test_control_commands(payload, control):
    assert protocol.decode_control(payload) == control


@pytest.mark.parametrize("payload, message", [
    ("", "bad control field 'cmd': '', expected one of pause play"),
    ("jump", "bad control field 'cmd': 'jump'"),
    ("tempo fast", "bad control field 'bpm': 'fast' is not a number"),
    ("tempo 5", "bad control field 'bpm': 5.0, expected a number 20-1000"),
    ('{"cmd": "tempo"}', "bad control field 'bpm': None, expected a number 20-1000"),
    ("top_k 2.5", "bad control field 'value': '2.5' is not a number"),
    ('{"cmd": "temperature", "value": true}', "bad control field 'value': True"),
    ('{"cmd": "primer", "tokens": "B2 H2"}', "bad note 'H2'"),
    ('{"v": 9, "cmd": "play"}', "bad control field 'v': 9"),
    ("{oops", "bad control payload: not JSON"),
])
def test_bad_control_commands(payload, message):
    with pytest.raises(ValueError) as error:
        protocol.decode_control(payload)
    assert str(error.value).startswith(message)


def test_encode_control_checks_what_it_encodes():
    assert json.loads(protocol.encode_control("tempo", 100)) == {"cmd": "tempo", "bpm": 100}
    with pytest.raises(ValueError):
        protocol.encode_control("tempo", 1001)
