"""The music only the server uses (``playbach.music``): quantizing to the grammar's classes, and
the voicer that gives each note a voice."""
import pytest

import playbach_protocol as protocol
from playbach import music


def test_durations_quantize_to_the_nearest_class_by_ratio():
    assert music.quantize_duration(0.5) == "1/2"
    assert music.quantize_duration(0.48) == "1/2"
    assert music.quantize_duration(1 / 3 + 0.01) == "1/3"
    assert music.quantize_duration(1.5) == "3/2"
    assert music.quantize_duration(9.0) == "4"
    assert music.quantize_duration(0.001) == "1/12"
    for duration in protocol.DURATIONS:
        assert music.quantize_duration(protocol.duration_beats(duration)) == duration
    for bad in (0, -1, "1", None):
        with pytest.raises(ValueError, match="expected a positive number of beats"):
            music.quantize_duration(bad)
    with pytest.raises(ValueError, match="bad duration '5/4', expected one of 1/12"):
        protocol.duration_beats("5/4")


def test_velocities_quantize_to_dynamics():
    assert music.quantize_velocity(90) == "f"
    assert music.quantize_velocity(1) == "ppp"
    assert music.quantize_velocity(127) == "fff"
    for dynamic in protocol.DYNAMICS:
        assert music.quantize_velocity(protocol.dynamic_velocity(dynamic)) == dynamic
    with pytest.raises(ValueError, match="bad velocity 0: expected an integer 1-127"):
        music.quantize_velocity(0)
    with pytest.raises(ValueError, match="bad dynamic 'loud', expected one of ppp"):
        protocol.dynamic_velocity("loud")


def voicer_run(tokens):
    voicer = music.Voicer()
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
    voicer = music.Voicer(voices=2)
    voicer.step((60,))
    voicer.step((60, 67))
    moves, released = voicer.step((59,))
    assert voicer.held == [59, 67]
    assert released == [60]
