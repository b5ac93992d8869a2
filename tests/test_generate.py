"""Offline generation: note lengths from the timeline, the clock, primers, MIDI and WAV files,
and the step and window models agreeing."""
import argparse
import json
import wave
from fractions import Fraction

import mido
import numpy as np
import pytest

import playbach_protocol as protocol
from conftest import midi_notes, playbach
from playbach.corpus import measures
from playbach.engine import generator, options, primer as primers
from playbach.engine.composer import Composer, model_file
from playbach.engine.midifile import TICKS_PER_BEAT, timed_notes
from playbach.engine.synth import find_soundfont
from playbach.engine.timeline import Timeline, timed
from playbach.model.dataset import PRIMER_EVENTS
from playbach_protocol import beats_to_ms
from playbach.live.clock import Clock

SEED = 5


def events(text):
    return [protocol.parse_event(word) for word in text.split()]


def test_holds_last_until_the_voice_moves_or_a_rest():
    result = timed(events("C3.C4.E4.G4:1:f A4:1/2:f F4.C5:1/2:f R:1 C4:2:p"))
    assert [event.onset for event in result] == [0, 1, Fraction(3, 2), 2, 3]
    # bass C3 and tenor C4 hold until the rest; alto E4 until F4; soprano G4 until A4.
    assert result[0].holds == (2, 2, Fraction(3, 2), 1)
    assert result[1].holds == (Fraction(1, 2),)
    assert result[2].holds == (Fraction(1, 2), Fraction(1, 2))
    assert result[3].notes == () and result[3].holds == ()
    # The rest silences every voice; a silence lasts until that voice's next note.
    assert [(voice, note) for voice, note, _ in result[3].moves] == [(v, None) for v in range(4)]
    entered = result[4].moves[0][0]
    assert {voice: hold for voice, _, hold in result[3].moves} == {
        v: 1 if v == entered else 3 for v in range(4)}  # never again: capped at the end (5)
    assert result[4].holds == (2,)  # the last note sounds to the end of the piece


def test_extra_notes_sound_for_their_own_event():
    result = timed(events("C3.G3.C4.E4.G4:1:f A4:1:f"))
    # Four voices take C3 G3 E4 G4 (spread); C4 is an extra: one beat, its event's.
    assert result[0].holds == (2, 2, 1, 2, 1)
    assert [note for _, note, _ in result[0].moves] == [48, 55, 64, 67]


def test_a_voice_that_never_moves_is_capped_at_the_horizon():
    timeline = Timeline(horizon=3)
    for event in events("C3.G4:1:f A4:1:f B4:1/2:f C5:1/2:f"):
        timeline.push(event)
    assert timeline.ready()
    first = timeline.pop()
    assert first.holds == (3, 1)  # C3 still sounding: capped where generation has got to (3)
    assert [timeline.pop().holds for _ in range(2)] == [(1,), (Fraction(1, 2),)]
    assert not timeline.ready()  # C5: its voice has not moved, and nothing is behind it


def test_a_primer_voices_the_first_events():
    primed = timed(events("A4:1:f"), primer=events("C4.E4.G4:1:f"))
    assert primed[0].moves[0][:2] == (3, 69)  # the soprano moves from G4, as it would live
    assert beats_to_ms(Fraction(1, 3), 100) == 200


def test_the_clock_reanchors_on_tempo_changes():
    clock = Clock(60, now=100.0)
    assert clock.due == 100.0
    clock.advance(Fraction(3, 2))
    assert clock.due == 101.5
    clock.set_tempo(120)  # from the next onset on
    assert clock.due == 101.5
    for _ in range(3):
        clock.advance(Fraction(1, 3))
    assert clock.due == pytest.approx(102.0, abs=1e-9)
    clock.restart(200.0)
    assert clock.due == 200.0


def card_without_primers(card_path, folder):
    """A copy of a model card that ships no primers, beside links to its model files."""
    card = json.loads(card_path.read_text())
    card.pop("primers", None)
    for variants in card["files"].values():
        for name in variants.values():
            (folder / name).symlink_to(card_path.parent / name)
    (folder / card_path.name).write_text(json.dumps(card))
    return folder / card_path.name


def test_primers_come_from_the_card_tokens_or_midi(tiny_model, tmp_path):
    composer = Composer(model_file(tiny_model), seed=1)
    assert composer.primers and all(len(p.events) <= PRIMER_EVENTS
                                    for p in composer.primers.values())
    assert composer.choose_primer().name in composer.primers
    with pytest.raises(primers.PrimerError, match="ships: "):
        composer.choose_primer("no such piece")
    with pytest.raises(primers.PrimerError, match="--primer-tokens"):
        Composer(model_file(card_without_primers(tiny_model, tmp_path))).choose_primer()
    assert primers.from_tokens("B2 A2:1/2 G2").events[1] == ((45,), "1/2", "mf")
    with pytest.raises(primers.PrimerError, match="empty.mid as a primer: truncated"):
        (tmp_path / "empty.mid").write_bytes(b"MThd")
        primers.from_midi(tmp_path / "empty.mid")


def a_piece(composer, primer, cap):
    """What generate plays: the primer as the model read it, and the events after it until the
    model ends the piece or ``cap`` events."""
    primed = composer.begin(primer)
    played = []
    while len(played) < cap and not (played and played[-1].piece_end):
        played.append(composer.generate())
    return primed, played


def test_generate_writes_the_generated_notes(tiny_model, tmp_path):
    out = tmp_path / "piece.mid"
    result = playbach("generate", "--model", tiny_model, "--notes", 60, "--seed", SEED,
                      "--bpm", 90, "--out", out, timeout=120)
    assert result.returncode == 0, result.stderr
    composer = Composer(model_file(tiny_model), seed=SEED)
    primed, played = a_piece(composer, composer.choose_primer(), 60)
    assert "%d events" % len(played) in result.stdout
    expected = timed(played, primer=primed)
    origin = expected[0].onset
    midi, notes = midi_notes(out)
    assert midi.ticks_per_beat == TICKS_PER_BEAT
    tempo = [m.tempo for m in midi.tracks[0] if m.type == "set_tempo"]
    assert tempo == [mido.bpm2tempo(90)]
    assert notes == sorted((round((n.start) * TICKS_PER_BEAT), round(n.length * TICKS_PER_BEAT),
                            n.pitch, n.velocity) for n in timed_notes(expected, origin))
    assert len(notes) == sum(len(event.notes) for event in expected) > 0


def test_generate_ends_where_the_model_ends_the_piece_and_notes_is_a_cap(tiny_model, tmp_path):
    composer = Composer(model_file(tiny_model), seed=SEED)
    primer = composer.choose_primer()
    ends = {}
    for seed in range(8):  # how soon the model ends the piece after the primer, seed by seed
        composer.begin(primer, seed)
        ends[seed] = next((i + 1 for i in range(40) if composer.generate().piece_end), 41)
    ended = min(ends, key=ends.get)
    cap = ends[ended]
    capped = next(seed for seed, length in ends.items() if length > cap)
    for seed, said in ((ended, "the model ended the piece"),
                       (capped, "stopped at --notes %d before the model ended the piece" % cap)):
        out = tmp_path / ("%d.mid" % seed)
        result = playbach("generate", "--model", tiny_model, "--notes", cap, "--seed", seed,
                          "--primer", primer.name, "--out", out, timeout=120)
        assert result.returncode == 0, result.stderr
        assert "%d events" % cap in result.stdout and said in result.stdout
    composer.begin(primer, ended)
    played = [composer.generate() for _ in range(ends[ended])]
    assert [g.piece_end for g in played] == [False] * (len(played) - 1) + [True]
    assert played[-1].phrase_end  # the end of the piece ends its last phrase
    # Nothing sounds beyond the end: every hold ends by it, and the timeline had it all ready.
    result = timed(played, primer=composer.begin(primer, ended))
    end = result[-1].onset + result[-1].beats
    assert result[-1].piece_end and not any(t.piece_end for t in result[:-1])
    assert all(t.onset + hold <= end for t in result for _, _, hold in t.moves)
    # The endless way never ends a piece.
    composer.begin(primer, ended)
    assert not any(composer.generator.generate(may_end=False).piece_end
                   for _ in range(ends[ended]))


def test_generated_events_carry_their_voices_and_the_timeline_follows_them(tiny_model):
    composer = Composer(model_file(tiny_model), seed=SEED)
    primer = composer.choose_primer()
    primed = composer.begin(primer)
    assert [g.event for g in primed] == primer.events
    assert [i for i, g in enumerate(primed) if g.phrase_end] == list(primer.phrase_ends)
    played = [composer.generate() for _ in range(30)]
    for generated in played:
        assert generated.event == (generated.notes, generated.duration, generated.dynamic)
        assert len(generated.parts) == len(generated.notes)
        voices = [voice for singers in generated.parts for voice in singers]
        assert len(voices) == len(set(voices)) and set(voices) <= set(range(4))
    # The timeline's voice moves are the parts the model gave each note.
    for t, generated in zip(timed(played, primer=primed, horizon=1000), played):
        moved = {voice: note for voice, note, _ in t.moves if note is not None}
        assert moved == {voice: note for note, singers in zip(generated.notes, generated.parts)
                         for voice in singers}


def played_in_parallels(model, voice_leading, events=600):
    """How many of ``events`` events the model plays move two voices in parallel fifths or
    octaves (in the voices it gives them), and its generator."""
    composer = Composer(model_file(model), seed=SEED, voice_leading=voice_leading)
    composer.begin(composer.choose_primer())
    speller, parallels = composer.generator.speller, 0
    for _ in range(events):
        before = speller.held()
        composer.next_event()
        parallels += measures.moves_in_parallel(before, speller.held())
    return parallels, composer.generator


def test_voice_leading_draws_again_an_event_the_voicer_would_move_in_parallels(tiny_model):
    """The tiny model spells ascending, leaving its voices to the Voicer: with voice leading an
    event whose voices would move in parallel fifths or octaves is drawn again, and played only
    where every draw was."""
    plain, unled = played_in_parallels(tiny_model, False)
    assert plain >= 8 and unled.redrawn == unled.kept_parallels == 0
    parallels, led = played_in_parallels(tiny_model, True)
    assert led.redrawn >= plain / 2 and parallels == led.kept_parallels < plain / 4


def test_voice_leading_masks_a_note_that_would_move_its_voice_in_parallels(tiny_parts_model):
    """A model in the parts spelling names each note's voice as it samples it: with voice
    leading no note that would move its voice in parallel fifths or octaves with one the event
    has moved is ever sampled, so none is played and nothing is drawn again."""
    plain, _ = played_in_parallels(tiny_parts_model, False)
    parallels, led = played_in_parallels(tiny_parts_model, True)
    assert plain >= 3 and parallels == led.redrawn == 0


def sounds_tonic(speller):
    """Whether the notes the voices hold sound the tonic chord of the piece's key."""
    return measures.is_tonic_chord(sorted(note for note in speller.held() if note is not None),
                                   speller.key)


def play_pieces(model, pieces, cap, **sampler):
    """Play ``pieces`` pieces from the model's primers in turn (the i-th from seed SEED + i),
    each until the model ends it or ``cap`` events, with the sampler's options ``sampler``;
    yield, as each ends, the generator and how many events the piece lasted (None where the cap
    stopped it)."""
    composer = Composer(model_file(model), seed=SEED, **sampler)
    primers = list(composer.primers.values())
    for index in range(pieces):
        composer.begin(primers[index % len(primers)], seed=SEED + index)
        yield composer.generator, next((count for count in range(1, cap + 1)
                                        if composer.generate().piece_end), None)


def pieces_ended(model, tonic_end, pieces=16, cap=150):
    """Of ``pieces`` played from the model's primers (up to ``cap`` events), how many the model
    ended, and how many of those on the tonic chord of the key the piece began in."""
    tonics = [sounds_tonic(played.speller) for played, events
              in play_pieces(model, pieces, cap, tonic_end=tonic_end) if events is not None]
    return len(tonics), sum(tonics)


def test_tonic_end_draws_a_last_event_again_until_it_sounds_the_tonic(tiny_model, monkeypatch):
    """With tonic_end every piece the model ends, ends on the tonic chord: where the model ends
    one on another chord, its last event is drawn again until it sounds the tonic; without
    those draws (the tiny model, which ends every piece, seldom on the tonic) few would end."""
    ended, on_tonic = pieces_ended(tiny_model, False)
    assert ended >= 8 and on_tonic < ended / 4
    cadenced, on_tonic = pieces_ended(tiny_model, True)
    assert on_tonic == cadenced
    monkeypatch.setattr(generator, "CADENCE_DRAWS", 0)
    undrawn, on_tonic = pieces_ended(tiny_model, True)
    assert on_tonic == undrawn and cadenced >= 2 * undrawn + 3


def test_tonic_end_ends_a_piece_played_on_at_its_next_phrase_end_on_the_tonic(tiny_model,
                                                                              monkeypatch):
    """Where the model ends a piece off the tonic and no draw of its last event sounds it, the
    piece plays on to its next phrase end, drawn again the same way, and ends there on the
    tonic chord: no phrase end on the tonic passes after the model has meant to end. (16 draws:
    the tiny model's pieces play on often enough to see it.)"""
    monkeypatch.setattr("playbach.engine.generator.CADENCE_DRAWS", 16)
    composer = Composer(model_file(tiny_model), seed=SEED, tonic_end=True, min_phrases=False,
                        end_pull=False)
    played_on = ended_later = 0
    for index, primer in enumerate(list(composer.primers.values()) * 2):
        composer.begin(primer, seed=SEED + index)
        generator, speller = composer.generator, composer.generator.speller
        assert not generator.ending
        for _ in range(200):
            ending = generator.ending
            generated = composer.generate()
            played_on += generator.ending and not ending
            if ending and generated.phrase_end:
                assert generated.piece_end == sounds_tonic(speller)
                ended_later += generated.piece_end
            if generated.piece_end:
                break
    assert played_on >= 3 and ended_later >= played_on / 2


def phrases_of_pieces(model, min_phrases, pieces=12, cap=300):
    """How many phrases each of ``pieces`` pieces played from the model's primers had played
    (the primer's aside) when the model ended it (None where the cap stopped it), with
    ``min_phrases`` as told and neither tonic_end nor end_pull."""
    return [None if events is None else played.speller.phrases - played.primed_phrases
            for played, events in play_pieces(model, pieces, cap, min_phrases=min_phrases,
                                              tonic_end=False, end_pull=False)]


def test_min_phrases_ends_a_piece_no_sooner_than_its_third_phrase(tiny_model):
    """With min_phrases, where the model would end a piece before the MIN_PHRASES-th phrase it
    plays (after the primer's) its close is drawn again among those that go on: every piece it
    ends has played as many phrases (its last among them), and it still ends them; without, the
    tiny model ends about half its pieces after one or two."""
    plain = phrases_of_pieces(tiny_model, False)
    held = phrases_of_pieces(tiny_model, True)
    print("phrases per piece: %s without min_phrases, %s with it" % (plain, held))
    assert None not in plain and sum(count < generator.MIN_PHRASES for count in plain) >= 5
    ended = [count for count in held if count is not None]
    assert len(ended) >= 9 and min(ended) >= generator.MIN_PHRASES == 3


def lengths_of_pieces(model, end_pull, pieces=24, cap=300):
    """How many events each of ``pieces`` pieces played from the model's primers lasted until
    the model ended it (None where ``cap`` stopped it), with ``end_pull`` alone of the
    options."""
    return [events for _, events in play_pieces(model, pieces, cap, end_pull=end_pull,
                                                tonic_end=False, min_phrases=False)]


def test_end_pull_ends_pieces_sooner_the_stronger_it_pulls(tiny_model, monkeypatch):
    """With end_pull every close that ends the piece is END_PULL nats more likely than the
    model says: the same primers and seeds give shorter pieces, the more so the stronger the
    pull, and every piece still ends."""
    plain = lengths_of_pieces(tiny_model, False)
    pulled = lengths_of_pieces(tiny_model, True)
    monkeypatch.setattr(generator, "END_PULL", 3.0)
    held = lengths_of_pieces(tiny_model, True)
    print("piece lengths: plain %s, pulled %s, END_PULL 3: %s" % (plain, pulled, held))
    assert None not in plain + pulled + held
    assert np.median(held) < np.median(pulled) < np.median(plain)
    assert sum(held) < sum(pulled) < sum(plain)


def notes_in_key(model, key_pull, events=400):
    """The share of the notes of ``events`` events played from a primer that are in the key
    the piece began in, and that key."""
    composer = Composer(model_file(model), seed=SEED, key_pull=key_pull)
    composer.begin(composer.choose_primer())
    played = [composer.next_event() for _ in range(events)]
    key = composer.generator.speller.key
    return measures.in_scale(played, key), key


def test_generate_and_serve_draw_at_the_default_temperature_unless_told(tiny_model, monkeypatch):
    """One default temperature (``generator.TEMPERATURE``, warmer than the model's own odds)
    for the generator, the composer and the options of ``generate`` and ``serve``; a flag or
    ``PLAYBACH_TEMPERATURE`` changes it."""
    def parsed(*argv):
        parser = argparse.ArgumentParser()
        options.add_music_arguments(parser)
        return parser.parse_args(argv).temperature

    monkeypatch.delenv("PLAYBACH_TEMPERATURE", raising=False)
    assert parsed() == generator.TEMPERATURE == 1.1
    assert Composer(model_file(tiny_model), seed=SEED).generator.temperature == 1.1
    assert parsed("--temperature", "0.8") == 0.8
    monkeypatch.setenv("PLAYBACH_TEMPERATURE", "0.9")
    assert parsed() == 0.9


def test_key_pull_keeps_more_notes_in_the_key_the_piece_began_in(tiny_model, monkeypatch):
    """With key_pull a note outside the piece's key is KEY_PULL nats less likely: more of the
    notes are in the key, the more so the stronger the pull, and the key is the primer's."""
    plain, key = notes_in_key(tiny_model, False)
    pulled, pulled_key = notes_in_key(tiny_model, True)
    monkeypatch.setattr(generator, "KEY_PULL", 4.0)
    held, _ = notes_in_key(tiny_model, True)
    print("in key: plain %.3f, pulled %.3f, KEY_PULL 4: %.3f" % (plain, pulled, held))
    assert pulled_key == key and plain < 0.9
    assert plain + 0.02 < pulled < held and held > 0.95


def test_the_timeline_follows_given_parts_and_ends_every_note_with_the_piece():
    from playbach.engine.generator import Generated

    # The Voicer would give G3 to the tenor and C4 to the alto; the parts cross them.
    notes = [Generated((48, 55, 60, 64), "1", "f", ((0,), (2,), (1,), (3,)), False, False),
             Generated((62,), "1", "f", ((1,),), False, False),  # the tenor, from C4
             Generated((55, 59), "2", "f", ((1, 2), (3,)), True, False),  # a unison
             Generated((43,), "1", "f", ((0,),), True, True)]
    result = timed(notes)
    assert result[0].moves[1:3] == [(1, 60, 1), (2, 55, 2)]  # G3 (alto) holds until the unison
    assert result[1].moves == [(1, 62, 1)]
    assert result[2].holds == (3, 3)  # to the end of the piece: nothing moves them before
    assert [voice for voice, _, _ in result[2].moves] == [1, 2, 3]
    assert [(t.phrase_end, t.piece_end) for t in result] == [(False, False)] * 2 + [
        (True, False), (True, True)]
    timeline = Timeline()
    for event in notes:
        timeline.push(event)
    ready = []
    while timeline.ready():
        ready.append(timeline.pop())
    assert ready == result  # all ready once the piece ends
    assert timeline.voicer.held == [None] * 4  # the next piece starts from silence


def test_keep_primer_and_primer_tokens(tiny_model, tmp_path):
    out = tmp_path / "primed.mid"
    result = playbach("generate", "--model", tiny_model, "--notes", 5, "--seed", 1,
                      "--primer-tokens", "C3.E4.G4.C5:1:f D5:1/2:p", "--keep-primer",
                      "--out", out, timeout=120)
    assert result.returncode == 0, result.stderr
    _, notes = midi_notes(out)
    first = sorted((note for note in notes if note[0] == 0), key=lambda note: note[2])
    assert [(pitch, velocity) for _, _, pitch, velocity in first] == [
        (48, 96), (64, 96), (67, 96), (72, 96)]
    assert first[3][1] == TICKS_PER_BEAT  # C5 (soprano) sounds until D5 takes its voice
    assert (TICKS_PER_BEAT, 74, 49) in [(start, pitch, velocity)
                                        for start, _, pitch, velocity in notes]


def test_generate_without_primers_says_what_to_give(tiny_model, tmp_path):
    bare = card_without_primers(tiny_model, tmp_path)
    result = playbach("generate", "--model", bare, "--notes", 5,
                      "--out", tmp_path / "x.mid", timeout=120)
    assert result.returncode != 0
    assert "--primer-tokens" in result.stderr and "Traceback" not in result.stderr


def test_step_and_window_models_play_the_same_music(tiny_model):
    played = []
    for mode in ("step", "window"):
        composer = Composer(model_file(tiny_model, mode, "float32"), seed=SEED)
        primer = composer.choose_primer()
        assert sum(len(notes) + 1 for notes, _, _ in primer.events) >= 40  # a whole window
        composer.begin(primer)
        played.append([composer.next_event() for _ in range(40)])
    assert played[0] == played[1]


def test_generate_renders_an_audible_wav(tiny_model, tmp_path):
    find_soundfont()
    out, wav = tmp_path / "short.mid", tmp_path / "short.wav"
    result = playbach("generate", "--model", tiny_model, "--notes", 8, "--seed", 2,
                      "--bpm", 240, "--out", out, "--wav", wav, timeout=120)
    assert result.returncode == 0, result.stderr
    with wave.open(str(wav)) as audio:
        assert audio.getsampwidth() == 2 and audio.getnframes() > audio.getframerate() // 2
        samples = np.frombuffer(audio.readframes(audio.getnframes()), np.int16)
    assert np.abs(samples.astype(np.int32)).max() > 1000  # not silence


def test_a_key_struck_again_ends_the_note_it_holds(tmp_path):
    """Times rounded apart can make a note outlast the next start of its pitch; written as they
    were, the first note's note_off would come after the second's note_on and silence it."""
    from playbach.engine.midifile import MidiNote, write_midi
    path = tmp_path / "again.mid"
    write_midi(path, [MidiNote(0, 1.01, 60, 80), MidiNote(1, 1, 60, 90), MidiNote(0, 3, 64, 70)],
               bpm=120)
    _, notes = midi_notes(path)
    assert notes == [(0, 480, 60, 80), (0, 1440, 64, 70), (480, 480, 60, 90)]
