"""MIDI files to events: exact tokens from files built here with mido, bad files skipped and
reported (each pathology with its reason), parts and phrase ends, and a slice of the real Bach
chorales from music21."""
import json
import struct

import mido
import pytest

from playbach.corpus import measures, store
from playbach.corpus.midi import MAX_EVENTS, MidiError, Piece, read_midi, read_piece
from playbach.corpus.tokenize import midi_files, tokenize
from playbach_protocol import format_event
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
                                                      "track_name", "marker") else mido.Message
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


def text_of(piece):
    return " ".join(format_event(*event) for event in piece.events)


def events_of(path):
    return text_of(read_piece(path, "x"))


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
    midi = read_midi(path)
    assert (midi.bpm, midi.time_signature) == (120.0, "3/4")


def test_type1_tracks_merge_held_notes_are_not_repeated_and_drums_ignored(tmp_path):
    path = write(tmp_path / "t1.mid", 1,
                 track((0, {"type": "set_tempo", "tempo": 600000})),
                 track((0, on(76)), (1, off(76)), (1, on(77)), (1.5, off(77)),
                       (1.5, on(79)), (2, off(79)), (2, on(72)), (4, off(72))),
                 track((0, on(48, channel=1)), (2, off(48, channel=1)),
                       (2, on(43, channel=1)), (4, off(43, channel=1))),
                 track((0.25, on(36, 127, channel=9)), (0.5, off(36, channel=9))))
    assert events_of(path) == "C3.E5:1:mf F5:1/2:mf G5:1/2:mf G2.C5:2:mf"
    assert read_midi(path).bpm == 100.0


def test_notes_starting_within_the_tolerance_form_one_chord(tmp_path):
    path = write(tmp_path / "loose.mid", 0, track(
        (0, on(60)), (0.02, on(64)), (0.03, on(67)), (1, off(60)), (1, off(64)), (1, off(67)),
        (1.1, on(65)), (2, off(65)), (2.25, on(67)), (3, off(67))))
    # A silence shorter than a quarter beat is articulation; from a quarter beat on, a rest.
    assert events_of(path) == "C4.E4.G4:1:mf F4:1:mf R:1/4 G4:3/4:mf"


def test_a_note_struck_again_before_its_note_off_starts_a_new_event(tmp_path):
    path = write(tmp_path / "overlap.mid", 0, track(
        (0, on(60)), (1, on(60)), (2, off(60)), (3, off(60)), (3, on(62)), (4, off(62))))
    notes = read_midi(path).notes
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
    for path, reason in ((not_midi, "not a MIDI file: it starts with b'this', not MThd"),
                         (truncated, "truncated: it ends inside the chunk header after track 0"),
                         (empty, "no notes: nothing outside the drum channel"),
                         (drums, "no notes: nothing outside the drum channel"),
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
    pieces, skipped, duplicates, slowest = tokenize(files, progress=False)
    assert [p.name for p in pieces] == ["a", "sub/b"]
    assert skipped == [{"file": str(folder / "broken.mid"), "kind": "truncated",
                        "reason": "truncated: 9 bytes, fewer than a MIDI header's 14"}]
    assert duplicates == [{"file": str(folder / "sub" / "copy.mid"), "same_as": "a"}]
    assert "skipped %s: truncated: 9 bytes" % (folder / "broken.mid") in caplog.text
    assert slowest["file"] in {str(path) for path, _ in files} and slowest["seconds"] >= 0


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
    assert "bad.mid: not a MIDI file: it starts with b'garb', not MThd" in result.stderr
    assert summary["skipped_by_kind"] == {"not a MIDI file": 1} and summary["unexpected"] == 0
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
    folder = tmp_path / "midi"
    folder.mkdir()
    write(folder / "duet.mid", 1, track((0, on(72)), (1, off(72))),
          track((0, on(48)), (1, off(48))))
    (folder / "a.mid").write_bytes(b"")
    result = playbach("corpus", folder, "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[:2] == [
        "1 files read, 1 skipped, 0 duplicates dropped: 1 pieces, 1 events, 1 distinct tokens",
        "skipped: 1 not a MIDI file"]
    assert "1 pieces with parts, 0 with phrase ends" in result.stdout
    result = playbach("corpus", folder / "a.mid", "--out", folder / "a.mid" / "out")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip() == ("playbach corpus: cannot write --out %s: Not a directory"
                                     % (folder / "a.mid" / "out"))


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


# --- damaged files, byte by byte: each refused with its reason, or read correctly ---------------

NOTE = b"\x00\x90\x3c\x50\x83\x60\x80\x3c\x00"  # C4 for one beat (delta 0x83 0x60 = 480 ticks)
END = b"\x00\xff\x2f\x00"


def chunk(kind, body, length=None):
    return kind + struct.pack(">I", len(body) if length is None else length) + body


def smf(*tracks, file_format=1, count=None, division=TPB, header_length=6, between=b""):
    """Standard MIDI File bytes: a header (the track count given or counted) and MTrk chunks
    of the given event bytes, with ``between`` after the header."""
    count = len(tracks) if count is None else count
    head = b"MThd" + struct.pack(">IHHH", header_length, file_format, count, division)
    head += b"\x00" * max(0, header_length - 6)
    return head + between + b"".join(chunk(b"MTrk", body) for body in tracks)


REFUSED = {
    "smpte": (smf(NOTE + END, division=0xE728),
              "SMPTE timing: 25 frames per second x 40 ticks per frame, not ticks per beat"),
    "delta beyond float range": (smf(b"\xff" * 200 + b"\x7f\x90\x3c\x50" + END),
                                 "damaged track: track 1, byte 22: a variable-length number "
                                 "longer than 4 bytes"),
    "400k continuation bytes": (smf(b"\x80" * 400_000 + b"\x00\x90\x3c\x50" + END),
                                "damaged track: track 1, byte 22: a variable-length number "
                                "longer than 4 bytes"),
    "chunk shorter than its events": (
        smf(file_format=1, count=1) + chunk(b"MTrk", NOTE + END, length=5) + NOTE[5:] + END,
        "bad chunk: no chunk at byte 27 (type b'`\\x80<\\x00'): a chunk length before it is "
        "wrong"),
    "chunk longer than the file": (smf(count=1) + chunk(b"MTrk", NOTE + END, length=1000),
                                   "truncated: chunk MTrk at byte 14 says 1000 bytes, 13 remain"),
    "event past its chunk": (smf(NOTE + b"\x00\x90\x3c"), "damaged track: track 1, byte 33: the "
                             "chunk ends inside an event"),
    "header counts more tracks": (smf(NOTE + END, count=3),
                                  "bad header: it says 3 tracks, the file holds 1"),
    "header counts fewer tracks": (smf(NOTE + END, NOTE + END, count=1),
                                   "bad header: it says 1 tracks, the file holds 2"),
    "format 0 with two tracks": (smf(NOTE + END, NOTE + END, file_format=0),
                                 "bad header: format 0 with 2 tracks, expected 1"),
    "format 5": (smf(NOTE + END, file_format=5), "bad header: format 5, expected 0, 1 or 2"),
    "no tracks": (smf(file_format=1), "bad header: format 1 with 0 tracks, expected at least 1"),
    "short MThd": (smf(NOTE + END, header_length=2),
                   "bad header: the MThd chunk says 2 bytes, expected 6"),
    "MThd longer than the file": (b"MThd" + struct.pack(">IHHH", 70000, 1, 1, TPB),
                                  "truncated: the MThd chunk says 70000 bytes, 6 follow"),
    "zero ticks per beat": (smf(NOTE + END, division=0), "bad header: 0 ticks per beat"),
    "data without status": (smf(b"\x00\x3c\x50" + END), "damaged track: track 1, byte 23: data "
                            "byte 0x3C with no status before it"),
    "status a file cannot hold": (smf(b"\x00\xf4" + END), "damaged track: track 1, byte 23: "
                                  "status 0xF4 cannot be in a MIDI file"),
    "data byte above 0x7F": (smf(b"\x00\x90\x3c\xd0" + END), "damaged track: track 1, byte 25: "
                             "data byte 0xD0 is not below 0x80"),
    "meta past its chunk": (smf(b"\x00\xff\x01\x7fabc"), "damaged track: track 1, byte 26: a "
                            "meta event of 127 bytes runs past the end of its chunk"),
    "sysex past its chunk": (smf(b"\x00\xf0\x8f\xff\xff\x7f\x01" + END), "damaged track: track "
                             "1, byte 28: a sysex of 33554431 bytes runs past the end"),
    "number cut by the chunk": (smf(NOTE + b"\x83"), "damaged track: track 1, byte 31: the chunk "
                                "ends inside a variable-length number"),
    "delta and no event": (smf(NOTE + b"\x00"), "damaged track: track 1, byte 32: the chunk ends "
                           "after a delta time"),
    "empty file": (b"", "not a MIDI file: it starts with b'', not MThd"),
    "RIFF wrapper": (b"RIFF\x00\x00\x00\x00RMIDdata", "not a MIDI file: it starts with b'RIFF'"),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_a_damaged_file_is_refused_with_its_reason(tmp_path, name):
    data, reason = REFUSED[name]
    path = tmp_path / "damaged.mid"
    path.write_bytes(data)
    with pytest.raises(MidiError) as raised:
        read_piece(path, "damaged")
    assert str(raised.value).startswith(reason)
    assert "\n" not in str(raised.value)


def test_files_beyond_the_bounds_are_refused_and_say_the_bound(tmp_path):
    many = tmp_path / "many.mid"
    many.write_bytes(smf(b"\x00\x90\x3c\x50" + b"\x00\x3c\x50" * MAX_EVENTS + END))
    with pytest.raises(MidiError, match=r"^too many events: more than 500000, the bound per file"):
        read_piece(many, "many")
    huge = tmp_path / "huge.mid"
    huge.write_bytes(smf(NOTE + END) + b"\x00" * (8 * 2 ** 20))
    with pytest.raises(MidiError, match=r"^too large: more than 8 MB, the bound per file"):
        read_piece(huge, "huge")


def test_odd_but_readable_files_are_read(tmp_path):
    def read(data):
        path = tmp_path / "odd.mid"
        path.write_bytes(data)
        piece = read_piece(path, "odd")
        return text_of(piece), piece.bpm, piece.time_signature

    tempo = b"\x00\xff\x51\x03"
    # A tempo only suggests how fast to play: clamped into the protocol's 20-1000 bpm.
    assert read(smf(tempo + b"\x00\x00\x00" + NOTE + END)) == ("C4:1:mf", 1000.0, "4/4")
    assert read(smf(tempo + b"\x00\x00\x01" + NOTE + END))[1] == 1000.0
    assert read(smf(tempo + b"\xff\xff\xff" + NOTE + END))[1] == 20.0
    assert read(smf(tempo + b"\x07\xa1\x20" + NOTE + END))[1] == 120.0
    # A time signature that cannot be one (denominator 2^200, numerator 0) is passed over.
    signature = b"\x00\xff\x58\x04\x03\xc8\x18\x08\x00\xff\x58\x04\x00\x02\x18\x08"
    assert read(smf(signature + b"\x00\xff\x58\x04\x06\x03\x18\x08" + NOTE + END))[2] == "6/8"
    # A note ending where it starts is dropped; one never released ends with its track.
    assert read(smf(b"\x00\x90\x40\x50\x00\x80\x40\x00" + NOTE + END))[0] == "C4:1:mf"
    assert read(smf(b"\x00\x90\x40\x50\x87\x40\xff\x2f\x00"))[0] == "E4:2:mf"
    # Chunks of other types are skipped, a longer MThd too, and short padding at the end.
    assert read(smf(NOTE + END, between=chunk(b"XFIH", b"\x01\x02")))[0] == "C4:1:mf"
    assert read(smf(NOTE + END, header_length=8))[0] == "C4:1:mf"
    assert read(smf(NOTE + END) + b"\x00\x00\x00")[0] == "C4:1:mf"
    # Running status carries across meta events, as sequencers write it.
    assert read(smf(b"\x00\x90\x3c\x50\x00\xff\x01\x01x\x83\x60\x3c\x00" + END))[0] == "C4:1:mf"


def test_a_file_that_is_not_a_regular_file_is_named(tmp_path):
    import os
    fifo = tmp_path / "pipe.mid"
    os.mkfifo(fifo)
    with pytest.raises(FileNotFoundError, match="not a file or folder: .*pipe.mid"):
        midi_files([fifo])


# --- parts and phrase ends -----------------------------------------------------------------------

def parts_of(path):
    piece = read_piece(path, "x")
    return None if piece.parts is None else " ".join(map(store.format_parts, piece.parts))


def test_four_monophonic_tracks_keep_their_parts_ordered_by_mean_pitch(tmp_path):
    # Tracks in the order soprano, bass, alto, tenor; the alto and tenor meet on G4, the tenor
    # rests, and the bass moves alone.
    path = write(tmp_path / "satb.mid", 1,
                 track((0, {"type": "set_tempo", "tempo": 500000})),
                 track((0, on(76)), (1, off(76)), (1, on(74)), (2, off(74)), (2, on(72)),
                       (4, off(72))),
                 track((0, on(48)), (1, off(48)), (1, on(43)), (1.5, off(43)), (1.5, on(45)),
                       (2, off(45)), (2, on(36)), (4, off(36))),
                 track((0, on(67)), (1, off(67)), (1, on(67)), (2, off(67)), (2, on(64)),
                       (4, off(64))),
                 track((0, on(64)), (1, off(64)), (1, on(67)), (2, off(67)), (3, on(60)),
                       (4, off(60))))
    assert events_of(path) == "C3.E4.G4.E5:1:mf G2.G4.D5:1/2:mf A2:1/2:mf C2.E4.C5:1:mf C4:1:mf"
    assert parts_of(path) == "0.1.2.3 0.1+2.3 0 0.2.3 1"
    piece = read_piece(path, "satb")
    assert measures.part_voicings(piece)[:2] == [(48, 64, 67, 76), (43, 67, 67, 74)]


def test_channels_within_one_track_are_parts(tmp_path):
    path = write(tmp_path / "duet.mid", 0, track(
        (0, on(72, channel=2)), (0, on(48, channel=5)), (1, off(72, channel=2)),
        (1, on(71, channel=2)), (2, off(71, channel=2)), (2, off(48, channel=5))))
    assert events_of(path) == "C3.C5:1:mf B4:1:mf"
    assert parts_of(path) == "0.1 1"


def test_a_legato_overlap_within_the_tolerance_is_still_one_part(tmp_path):
    path = write(tmp_path / "legato.mid", 1, track((0, on(60)), (1, on(62)), (1.02, off(60)),
                                                   (2, off(62))))
    assert parts_of(path) == "0 0"


def test_files_without_parts_leave_them_unknown(tmp_path):
    piano = write(tmp_path / "piano.mid", 0, track(
        (0, on(48)), (0, on(64)), (0, on(67)), (1, off(48)), (1, off(64)), (1, off(67)),
        (1, on(50)), (1, on(65)), (2, off(50)), (2, off(65))))
    overlapping = write(tmp_path / "overlap.mid", 1,
                        track((0, on(72)), (2, off(72))),
                        track((0, on(48)), (1, on(55)), (2, off(48)), (2, off(55))))
    five = write(tmp_path / "five.mid", 1, *(track((0, on(pitch)), (1, off(pitch)))
                                             for pitch in (48, 55, 60, 64, 67)))
    for path in (piano, overlapping, five):
        assert parts_of(path) is None, path.name
    pieces, _, _, _ = tokenize(midi_files([piano]), progress=False)
    store.write_pieces(tmp_path / "pieces.jsonl", pieces)
    assert "parts" not in json.loads((tmp_path / "pieces.jsonl").read_text())


def test_fermata_markers_end_phrases_on_the_event_they_fall_in(tmp_path):
    fermata = {"type": "marker", "text": "fermata"}
    path = write(tmp_path / "phrases.mid", 1,
                 track((0, on(60)), (1, off(60)), (1, on(62)), (3, off(62)), (3, on(64)),
                       (4, off(64)), (5, on(65)), (6, off(65))),
                 track((1, fermata), (2, fermata), (2, {"type": "marker", "text": "Verse"}),
                       (5, dict(fermata, text=" Fermata "))))
    piece = read_piece(path, "phrases")
    assert text_of(piece) == "C4:1:mf D4:2:mf E4:1:mf R:1 F4:1:mf"
    # The second fermata falls while D4 is held: it ends the same phrase as the first.
    assert piece.phrase_ends == (1, 4)


def test_pieces_round_trip_and_old_files_still_read(tmp_path):
    events = [((48, 60, 64), "1", "f"), ((), "1", None), ((50, 62), "1/2", "mf")]
    pieces = [Piece("new", events, 90.0, "3/4", [((0,), (1, 2), (3,)), (), ((0,), (3,))], (0, 2)),
              Piece("plain", events, 100.0, "4/4")]
    path = tmp_path / "pieces.jsonl"
    store.write_pieces(path, pieces)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[0]["parts"] == "0.1+2.3 R 0.3" and lines[0]["phrase_ends"] == [0, 2]
    assert set(lines[1]) == {"name", "bpm", "time_signature", "events"}
    assert store.read_pieces(path) == pieces
    # An opening cut from a piece (the primers) keeps the parts and phrase ends of its events.
    store.write_pieces(path, [pieces[0]._replace(events=events[:2])])
    assert store.read_pieces(path) == [Piece("new", events[:2], 90.0, "3/4",
                                             [((0,), (1, 2), (3,)), ()], (0,))]
    # A pieces.jsonl written before parts existed reads as pieces without them.
    path.write_text('{"name": "old", "bpm": 120.0, "time_signature": "4/4", '
                    '"events": "G3.A#3.G4.D5:2:f R:1"}\n')
    assert store.read_pieces(path) == [Piece("old", [((55, 58, 67, 74), "2", "f"), ((), "1", None)],
                                             120.0, "4/4", None, ())]


@pytest.mark.parametrize("fields, error", [
    ('"parts": "0.1"', "line 1: parts for 1 events, the piece has 2"),
    ('"parts": "0.1 0"', "line 1: bad parts '0': 1 pitches, the event has 0"),
    ('"parts": "0.4 R"', "line 1: bad parts '0.4': expected parts 0-3"),
    ('"parts": "0.x R"', "line 1: invalid literal"),
    ('"phrase_ends": [1, 0]', "line 1: bad phrase_ends: expected ascending event indexes 0-1"),
    ('"phrase_ends": [2]', "line 1: bad phrase_ends"),
])
def test_bad_parts_or_phrase_ends_name_the_line(tmp_path, fields, error):
    (tmp_path / "pieces.jsonl").write_text(
        '{"name": "a", "bpm": 90, "time_signature": "4/4", "events": "C4.E4:1:mf R:1", %s}\n'
        % fields)
    with pytest.raises(ValueError, match="pieces.jsonl " + error):
        store.load_pieces(tmp_path)


def test_parallel_fifths_and_octaves_by_issue_13s_measure():
    # Bass and soprano move up a step from a fifth (C3-G4) into a fifth (D3-A4): parallel.
    parallel = [(48, 52, 60, 67), (50, 53, 60, 69)]
    # Into a fifth by contrary motion, or from a sixth: not.
    contrary = [(48, 52, 60, 69), (50, 53, 60, 67)]
    from_sixth = [(48, 52, 60, 69), (50, 53, 60, 69)]
    held = [(48, 52, 60, 67), (50, None, 62, 69)]
    octaves = [(48, 55, 64, 72), (47, 55, 62, 71)]
    assert measures.parallel_fifths_octaves(parallel) == (1, 1)
    assert measures.parallel_fifths_octaves(contrary) == (1, 0)
    assert measures.parallel_fifths_octaves(from_sixth) == (1, 0)
    assert measures.parallel_fifths_octaves(held) == (0, 0)
    assert measures.parallel_fifths_octaves(octaves + contrary) == (3, 1)
    # The Voicer reads a four-note event as bass, tenor, alto, soprano from the lowest up.
    events = [((48, 52, 60, 67), "1", "f"), ((50, 53, 60, 69), "1", "f"), ((62,), "1", "f")]
    assert measures.voicer_voicings(events) == parallel + [(None, None, 62, None)]


def test_bach_chorales_keep_bachs_own_parts_and_fermatas(bach_corpus):
    from music21 import corpus
    from playbach.corpus import bach

    out, summary = bach_corpus
    pieces = store.load_pieces(out)
    # Every chorale has its four parts but one whose part divides into a chord (bwv299, bwv315
    # do so further on); nearly all have fermatas.
    assert summary["pieces_with_four_parts"] == summary["pieces_with_parts"] == len(pieces)
    assert summary["pieces_with_phrase_ends"] >= len(pieces) - 1
    assert 5 <= summary["phrase_ends_per_100_events"] <= 12
    parallels = summary["parallel_fifths_octaves"]
    assert parallels["parts"]["event_pairs"] > 100 and parallels["voicer"]["event_pairs"] > 100
    for piece in pieces[:3]:
        score = corpus.parse("bach/" + piece.name).expandRepeats()
        voicings = measures.part_voicings(piece)
        for part, line in enumerate(reversed(score.parts)):  # music21: soprano first
            onsets = [note.pitch.midi for note in line.recurse().notes
                      if note.tie is None or note.tie.type == "start"]
            assert [voicing[part] for voicing in voicings if voicing[part] is not None] == onsets
        fermatas = bach.fermatas(score)
        assert fermatas and read_midi(out / "midi" / (piece.name + ".mid")).fermatas == fermatas
        assert len(piece.phrase_ends) == len(fermatas)
        assert piece.phrase_ends[-1] >= len(piece.events) - 2  # the last chord, or before a rest
