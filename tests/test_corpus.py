"""MIDI files to events: exact tokens from files built here with mido, bad files skipped and
reported, and a slice of the real Bach chorales from music21."""
import json

import mido
import pytest

from playbach.corpus import store
from playbach.corpus.midi import MidiError, read_notes, read_piece
from playbach.corpus.tokenize import midi_files, tokenize
from conftest import CHORALES, playbach

TPB = 480  # ticks per beat


def track(*messages):
    """A track from (beat, message) pairs in time order, each message given as mido kwargs."""
    result, tick = mido.MidiTrack(), 0
    for beat, kwargs in messages:
        at = round(beat * TPB)
        kwargs = dict(kwargs)
        kind = kwargs.pop("type")
        message_class = mido.MetaMessage if kind in ("set_tempo", "time_signature",
                                                      "track_name") else mido.Message
        result.append(message_class(kind, time=at - tick, **kwargs))
        tick = at
    return result


def on(note, velocity=80, channel=0):
    return {"type": "note_on", "note": note, "velocity": velocity, "channel": channel}


def off(note, channel=0, zero_velocity_on=False):
    if zero_velocity_on:
        return {"type": "note_on", "note": note, "velocity": 0, "channel": channel}
    return {"type": "note_off", "note": note, "velocity": 0, "channel": channel}


def write(path, midi_type, *tracks):
    midi = mido.MidiFile(type=midi_type, ticks_per_beat=TPB)
    midi.tracks.extend(tracks)
    midi.save(path)
    return path


def events_of(path):
    from playbach_protocol import format_event
    return " ".join(format_event(*event) for event in read_piece(path, "x").events)


def test_type0_melody_with_rest_chord_tempo_and_signature_changes(tmp_path):
    path = write(tmp_path / "t0.mid", 0, track(
        (0, {"type": "set_tempo", "tempo": 500000}),
        (0, {"type": "time_signature", "numerator": 3, "denominator": 4}),
        (0, on(60)), (1, off(60, zero_velocity_on=True)),
        (1, on(62, 110)), (1.5, off(62)),
        (1.5, {"type": "set_tempo", "tempo": 300000}),
        (1.5, on(64, 45)), (2, off(64, zero_velocity_on=True)),
        (2, {"type": "time_signature", "numerator": 4, "denominator": 4}),
        (3, on(67)), (3, on(60)), (3, on(64)),
        (5, off(60)), (5, off(64)), (5, off(67)),
    ))
    assert events_of(path) == "C4:1:mf D4:1/2:ff E4:1/2:p R:1 C4.E4.G4:2:mf"
    notes, bpm, signature = read_notes(path)
    assert (bpm, signature) == (120.0, "3/4")


def test_type1_tracks_merge_held_notes_are_not_repeated_and_drums_ignored(tmp_path):
    path = write(tmp_path / "t1.mid", 1,
                 track((0, {"type": "set_tempo", "tempo": 600000})),
                 track((0, on(76)), (1, off(76)), (1, on(77)), (1.5, off(77)),
                       (1.5, on(79)), (2, off(79)), (2, on(72)), (4, off(72))),
                 track((0, on(48, channel=1)), (2, off(48, channel=1)),
                       (2, on(43, channel=1)), (4, off(43, channel=1))),
                 track((0.25, on(36, 127, channel=9)), (0.5, off(36, channel=9))))
    assert events_of(path) == "C3.E5:1:mf F5:1/2:mf G5:1/2:mf G2.C5:2:mf"
    assert read_notes(path)[1] == 100.0


def test_notes_starting_within_the_tolerance_form_one_chord(tmp_path):
    path = write(tmp_path / "loose.mid", 0, track(
        (0, on(60)), (0.02, on(64)), (0.03, on(67)), (1, off(60)), (1, off(64)), (1, off(67)),
        (1.1, on(65)), (2, off(65)), (2.25, on(67)), (3, off(67))))
    # A silence shorter than a quarter beat is articulation; from a quarter beat on, a rest.
    assert events_of(path) == "C4.E4.G4:1:mf F4:1:mf R:1/4 G4:3/4:mf"


def test_a_note_struck_again_before_its_note_off_starts_a_new_event(tmp_path):
    path = write(tmp_path / "overlap.mid", 0, track(
        (0, on(60)), (1, on(60)), (2, off(60)), (3, off(60)), (3, on(62)), (4, off(62))))
    notes = read_notes(path)[0]
    assert [(n.start, n.end, n.pitch) for n in notes] == [(0, 1, 60), (1, 2, 60), (3, 4, 62)]
    assert events_of(path) == "C4:1:mf C4:1:mf R:1 D4:1:mf"


def test_triplets_and_long_notes_quantize_to_the_shared_classes(tmp_path):
    third = 1 / 3
    path = write(tmp_path / "triplets.mid", 0, track(
        (0, on(60)), (third, off(60)), (third, on(62)), (2 * third, off(62)),
        (2 * third, on(64)), (1, off(64)), (1, on(65)), (11, off(65))))
    assert events_of(path) == "C4:1/3:mf D4:1/3:mf E4:1/3:mf F4:4:mf"


def test_bad_files_raise_midi_errors_that_say_why(tmp_path):
    not_midi = tmp_path / "notes.mid"
    not_midi.write_text("this is a shopping list\n")
    good = write(tmp_path / "good.mid", 0, track((0, on(60)), (1, off(60))))
    truncated = tmp_path / "truncated.mid"
    truncated.write_bytes(good.read_bytes()[:20])
    empty = write(tmp_path / "empty.mid", 1, track((0, {"type": "set_tempo", "tempo": 500000})))
    drums = write(tmp_path / "drums.mid", 0, track((0, on(36, channel=9)), (1, off(36, 9))))
    type2 = write(tmp_path / "type2.mid", 2, track((0, on(60)), (1, off(60))))
    for path, reason in ((not_midi, "not a readable MIDI file"),
                         (truncated, "not a readable MIDI file"),
                         (empty, "no notes outside the drum channel"),
                         (drums, "no notes outside the drum channel"),
                         (type2, "type 2 MIDI")):
        with pytest.raises(MidiError, match=reason):
            read_piece(path, path.stem)


def test_tokenize_skips_bad_files_keeps_good_ones_and_drops_duplicates(tmp_path, caplog):
    folder = tmp_path / "midi"
    (folder / "sub").mkdir(parents=True)
    melody = track((0, on(60)), (1, off(60)), (1, on(64)), (2, off(64)))
    write(folder / "a.mid", 0, melody)
    write(folder / "sub" / "b.MID", 0, track((0, on(67)), (0.5, off(67))))
    write(folder / "sub" / "copy.mid", 1, melody)
    (folder / "broken.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00")
    (folder / "readme.txt").write_text("not a MIDI file, not even looked at")
    files = midi_files([folder])
    assert [name for _, name in files] == ["a", "broken", "sub/b", "sub/copy"]
    pieces, skipped, duplicates = tokenize(files, progress=False)
    assert [p.name for p in pieces] == ["a", "sub/b"]
    assert skipped == [{"file": str(folder / "broken.mid"), "reason": skipped[0]["reason"]}]
    assert skipped[0]["reason"].startswith("not a readable MIDI file")
    assert duplicates == [{"file": str(folder / "sub" / "copy.mid"), "same_as": "a"}]
    assert "skipped %s: not a readable MIDI file" % (folder / "broken.mid") in caplog.text


def test_corpus_command_writes_the_documented_format_and_a_json_summary(tmp_path):
    folder = tmp_path / "midi"
    folder.mkdir()
    write(folder / "one.mid", 0, track((0, on(60)), (0, on(64)), (1, off(60)), (1, off(64)),
                                       (1, on(62)), (1.5, off(62))))
    write(folder / "two.mid", 0, track((0, on(60)), (1, off(60)), (2, on(65)), (3, off(65))))
    (folder / "bad.mid").write_text("garbage")
    out = tmp_path / "corpus"
    result = playbach("corpus", folder, "--out", out, "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["files_ok"] == 2 and summary["files_skipped"] == 1
    assert summary["tokens"] == 5 and summary["vocab_size"] == 5
    assert summary["coverage"]["top_10"] == 1.0
    assert "bad.mid: not a readable MIDI file" in result.stderr
    lines = (out / "pieces.jsonl").read_text().splitlines()
    assert [json.loads(line)["events"] for line in lines] == [
        "C4.E4:1:mf D4:1/2:mf", "C4:1:mf R:1 F4:1:mf"]
    vocab = store.load_vocab(out)
    assert vocab["tokens"] == {"C4.E4": 1, "D4": 1, "C4": 1, "R": 1, "F4": 1}
    assert vocab["durations"] == {"1": 4, "1/2": 1}
    assert [len(p.events) for p in store.load_pieces(out)] == [2, 3]


def test_corpus_command_readable_summary_and_missing_source(tmp_path):
    result = playbach("corpus", tmp_path / "nowhere", "--out", tmp_path / "out")
    assert result.returncode != 0
    assert "no such file or folder" in result.stderr
    assert "Traceback" not in result.stderr


def test_load_pieces_names_the_bad_line(tmp_path):
    (tmp_path / "pieces.jsonl").write_text(
        '{"name": "a", "bpm": 90, "time_signature": "4/4", "events": "C4:1:mf"}\n'
        '{"name": "b", "bpm": 90, "time_signature": "4/4", "events": "C4:1:mf H2"}\n')
    with pytest.raises(ValueError, match=r"pieces.jsonl line 2: bad note 'H2'"):
        store.load_pieces(tmp_path)


def test_bach_chorales_slice(bach_corpus):
    out, summary = bach_corpus
    assert summary["files_skipped"] == 0
    # A few of the first chorales are not in four parts and are left out.
    assert CHORALES * 2 // 3 <= summary["pieces"] <= CHORALES
    pieces = store.load_pieces(out)
    # All four voices start together (three pitches where two voices share one).
    assert all(len(piece.events[0][0]) >= 3 for piece in pieces)
    for piece in pieces:
        assert len(piece.events) > 30
        assert all(36 <= n <= 84 for notes, _, _ in piece.events for n in notes)
    vocab = store.load_vocab(out)
    assert set(vocab["durations"]) >= {"1", "1/2"}
    assert list(vocab["durations"])[0] in ("1", "1/2")
