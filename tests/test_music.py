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


def test_voicer_follows_given_parts_crossing_unison_and_beyond_the_voices():
    voicer = music.Voicer()
    # The alto (2) sings G3 below the tenor's (1) C4; a fifth note has no voice.
    moves, released = voicer.step((48, 55, 60, 64, 67), ((0,), (2,), (1,), (), (3,)))
    assert voicer.held == [48, 60, 55, 67] and voicer.extras == [64]
    assert moves == [(0, 48), (1, 60), (2, 55), (3, 67)]
    moves, released = voicer.step((57,), ((1, 2),))  # tenor and alto meet on A3
    assert moves == [(1, 57), (2, 57)] and sorted(released) == [55, 60, 64]
    assert music.parts_of((57,), moves) == ((1, 2),)


def events_of(text):
    return [protocol.parse_event(word) for word in text.split()]


def test_keys_scales_and_tonic_chords():
    from playbach.corpus import measures

    g_major = events_of("G2.B3.D4.G4:1:f D3.A3.F#4.A4:1:f C3.C4.E4.G4:1:f D3.A3.D4.F#4:1:f "
                        "G2.B3.D4.G4:2:f")
    assert measures.estimate_key(g_major) == (7, "major")
    assert measures.estimate_key(events_of("A3.C4.E4:2:f E3.G#3.B3:1:f A3.C4.E4:2:f")) == (
        9, "minor")
    assert measures.estimate_key(events_of("R:1")) == (0, "major")  # nothing to go by
    assert measures.in_scale(g_major, (7, "major")) == 1
    assert measures.in_scale(g_major, (0, "major")) == pytest.approx(18 / 20)  # all but F#s
    assert measures.sounding(g_major) == [43, 59, 62, 67]
    assert measures.is_tonic_chord([43, 59, 62, 67], (7, "major"))
    assert measures.is_tonic_chord([45, 61, 64, 69], (9, "minor"))  # a Picardy third
    assert not measures.is_tonic_chord([50, 59, 62, 67], (7, "major"))  # not in the bass
    assert not measures.is_tonic_chord([43, 59, 62, 65], (7, "major"))  # a seventh
    assert not measures.is_tonic_chord([], (7, "major"))
    # Given parts, what sounds is what each voice was given last.
    assert measures.sounding(events_of("C3.E4.G4.C5:1:f B2:1:f"),
                             [((0,), (1,), (2,), (3,)), ((0,),)]) == [47, 64, 67, 72]


def test_parallel_fifths_and_octaves_between_two_voicings():
    from playbach.corpus import measures

    c3, g3, c4 = 48, 55, 60
    assert measures.moves_in_parallel((c3, g3, None, None), (c3 + 2, g3 + 2, None, None))  # 5ths
    assert measures.moves_in_parallel((c3, None, None, c4), (c3 - 1, None, None, c4 - 1))  # 8ves
    assert measures.moves_in_parallel((c3, g3, c4, 64), (c3 + 2, 57, c4 - 1, 65))  # bass, tenor
    assert not measures.moves_in_parallel((c3, g3), (c3 + 2, g3 - 2))  # contrary
    assert not measures.moves_in_parallel((c3, g3), (c3, g3))  # held or struck again
    assert not measures.moves_in_parallel((c3, 52), (c3 + 2, 54))  # parallel thirds
    assert not measures.moves_in_parallel((c3, g3), (c3 + 2, g3 + 1))  # a fifth into a sixth
    assert not measures.moves_in_parallel((c3, g3, None), (None, g3 + 2, c4))  # silent voices
    # The corpus-wide measure counts the pairs of four-note events with one.
    assert measures.parallel_fifths_octaves([(c3, g3, c4, 64), (c3 + 2, 57, 62, 65),
                                             (c3, g3, c4, 64), (c3, None, c4, 64)]) == (2, 2)


def test_phrase_endings_and_duration_shares():
    from playbach.corpus import measures

    played = events_of("C4:1:f D4:2:f E4:2:f F4:1/2:f G4:4:f A4:1:f")
    assert measures.phrase_endings(played) == 2  # D4 and G4: 2 beats or more after less
    shares = measures.duration_shares(played)
    assert shares["1"] == pytest.approx(2 / 6) and shares["2"] == pytest.approx(2 / 6)
    assert sum(shares.values()) == pytest.approx(1)
    assert measures.total_variation(shares, shares) == 0
    assert measures.total_variation({"1": 1.0}, {"2": 1.0}) == 1
    assert measures.total_variation({"1": 0.5, "2": 0.5}, {"1": 1.0}) == 0.5


def test_the_music_check_measures_a_piece_after_its_opening():
    from playbach.corpus.midi import Piece
    from playbach.engine.music import measure, opening

    # A C major opening that ends a phrase on event 1, then parallel fifths (bass and alto,
    # C3-G4 to D3-A4) and octaves, a phrase ending (2 beats after 1), and the tonic at the end.
    piece = Piece("p", events_of("C3.E4.G4.C5:2:f G2.D4.F4.B4:2:f C3.E4.G4.C5:1:f "
                                 "D3.F4.A4.D5:1:f E3.G4.C5.E5:1:f F3.A4.C5.F5:2:f "
                                 "G3.G4.B4.D5:1:f C3.E4.G4.C5:4:f"), 120, "4/4", None, (1,))
    assert opening(piece) == 2
    rest = piece.events[2:]
    measured = measure(piece, rest, None, True)
    assert measured["events"] == 8 and measured["continuation"] == 6
    # Seven four-note pairs from the opening's last event on; C-D-E-F move all voices alike.
    assert measured["parallels"] == (6, 3)
    assert measured["phrase_endings"] == 2  # the F and last C chords: 2, 4 beats after 1
    assert measured["in_key"] == 1 and measured["tonic_end"]
    assert not measure(piece, rest[:-1], None, True)["tonic_end"]  # ends on the dominant
    assert not measure(piece, rest, None, False)["tonic_end"]  # stopped by the cap
