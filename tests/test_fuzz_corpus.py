"""No file stops a corpus run: hundreds of MIDI files damaged here, seeded, from real chorales
(byte flips, truncations, inserted and deleted bytes, lying chunk lengths and headers, and the
pathologies met in the wild), with the good ones, through the real ``playbach corpus``."""
import json
import random
import re
import struct

from conftest import playbach

SEED = 16
GOOD = 20
RANDOM_DAMAGES = 1000
KEPT = "kept"  # an expected outcome: read as a piece (new, or a duplicate of its source)


def into_first_track(data, events):
    """The file with ``events`` (bytes) at the start of its first track, the length fixed."""
    at = data.index(b"MTrk")
    length = struct.unpack_from(">I", data, at + 4)[0]
    return data[:at + 4] + struct.pack(">I", length + len(events)) + events + data[at + 8:]


def with_header(data, **fields):
    """The file with some of its header's fields (length, format, tracks, division) replaced."""
    names = ("length", "format", "tracks", "division")
    values = dict(zip(names, struct.unpack_from(">IHHH", data, 4)), **fields)
    return data[:4] + struct.pack(">IHHH", *(values[name] for name in names)) + data[14:]


def smf(*tracks):
    head = b"MThd" + struct.pack(">IHHH", 6, 1, len(tracks), 480)
    return head + b"".join(b"MTrk" + struct.pack(">I", len(body)) + body for body in tracks)


def pathologies(source):
    """``{name: (bytes, expected kind or KEPT)}``: what the tester met, built from one file."""
    end = b"\x00\xff\x2f\x00"
    return {
        "delta-beyond-float": (into_first_track(source, b"\xff" * 200 + b"\x7f\xff\x01\x00"),
                               "damaged track"),
        "vlq-5-bytes": (into_first_track(source, b"\x80" * 4 + b"\x00\xff\x01\x00"),
                        "damaged track"),
        "vlq-400k-bytes": (into_first_track(source, b"\x80" * 400_000 + b"\x00\xff\x01\x00"),
                           "damaged track"),
        "tempo-zero": (into_first_track(source, b"\x00\xff\x51\x03\x00\x00\x00"), KEPT),
        "tempo-one-microsecond": (into_first_track(source, b"\x00\xff\x51\x03\x00\x00\x01"), KEPT),
        "time-signature-2-to-the-200": (into_first_track(source, b"\x00\xff\x58\x04\x03\xc8\x18"
                                                         b"\x08"), KEPT),
        "zero-length-note": (into_first_track(source, b"\x00\x90\x3c\x50\x00\x80\x3c\x00"), KEPT),
        "never-released": (into_first_track(source, b"\x00\x90\x3c\x50"), KEPT),
        "smpte": (with_header(source, division=0xE728), "SMPTE timing"),
        "header-more-tracks": (with_header(source, tracks=9), "bad header"),
        "header-fewer-tracks": (with_header(source, tracks=2), "bad header"),
        "header-format-0": (with_header(source, format=0), "bad header"),
        "header-format-9": (with_header(source, format=9), "bad header"),
        "header-format-2": (with_header(source, format=2), "type 2 MIDI"),
        "header-length-2": (with_header(source, length=2), "bad header"),
        "header-length-huge": (with_header(source, length=2 ** 31), "truncated"),
        "zero-ticks-per-beat": (with_header(source, division=0), "bad header"),
        "chunk-length-short": (source[:18] + struct.pack(">I", 7) + source[22:], "bad chunk"),
        "chunk-length-long": (source[:18] + struct.pack(">I", 2 ** 32 - 1) + source[22:],
                              "truncated"),
        "meta-length-huge": (into_first_track(source, b"\x00\xff\x01\x8f\xff\xff\x7f"),
                             "damaged track"),
        "sysex-length-huge": (into_first_track(source, b"\x00\xf0\x8f\xff\xff\x7f"),
                              "damaged track"),
        "running-status-without-status": (smf(b"\x00\x3c\x50" + end), "damaged track"),
        "undefined-status": (smf(b"\x00\xf9" + end), "damaged track"),
        "millions-of-events": (smf(b"\x00\x90\x3c\x50" + b"\x00\x3c\x50" * 600_000 + end),
                               "too many events"),
        "nine-megabytes": (source + b"\x00" * (9 * 2 ** 20), "too large"),
        "only-drums": (smf(b"\x00\x99\x24\x50\x83\x60\x89\x24\x00" + end), "no notes"),
        "no-note-off-at-all": (smf(b"\x00\x90\x3c\x50\x00\x90\x40\x50" + end), "no notes"),
        "empty": (b"", "not a MIDI file"),
        "zeros": (b"\x00" * 4096, "not a MIDI file"),
        "text": (b"X: 1\nT: not MIDI but ABC\nK: G\nGABc|\n", "not a MIDI file"),
        "riff": (b"RIFF\x10\x00\x00\x00RMIDdata" + source, "not a MIDI file"),
        "header-only": (source[:14], "bad header"),
        "cut-in-header": (source[:10], "truncated"),
    }


def random_damage(rng, data):
    """One random damage of a file's bytes: ``(what, bytes)``."""
    data = bytearray(data)
    what = rng.choice(("flip", "truncate", "insert", "delete", "chunk-length", "header"))
    if what == "flip":
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif what == "truncate":
        del data[rng.randrange(len(data)):]
    elif what == "insert":
        at = rng.randrange(len(data))
        data[at:at] = rng.randbytes(rng.randint(1, 64))
    elif what == "delete":
        at = rng.randrange(len(data))
        del data[at:at + rng.randint(1, 64)]
    elif what == "chunk-length":
        chunks = [match.start() for match in re.finditer(b"MTrk", bytes(data))]
        at = rng.choice(chunks) + 4
        length = struct.unpack_from(">I", data, at)[0]
        new = rng.choice((rng.randrange(2 ** 32), max(0, length + rng.randint(-16, 16))))
        data[at:at + 4] = struct.pack(">I", new)
    else:
        at = rng.choice((4, 8, 10, 12))
        width = 4 if at == 4 else 2
        data[at:at + width] = rng.randbytes(width)
    return what, bytes(data)


def test_no_file_stops_a_corpus_run(bach_corpus, tmp_path):
    chorales, _ = bach_corpus
    sources = sorted((chorales / "midi").glob("*.mid"))[:GOOD]
    assert len(sources) == GOOD
    folder = tmp_path / "midi"
    # Good files sort first, so that a damaged copy that still reads as the same piece is the
    # duplicate dropped, not the good one.
    (folder / "a-good").mkdir(parents=True)
    (folder / "b-damaged").mkdir()
    expected = {}
    for source in sources:
        (folder / "a-good" / source.name).write_bytes(source.read_bytes())
        expected["a-good/" + source.stem] = KEPT
    for name, (data, outcome) in pathologies(sources[0].read_bytes()).items():
        (folder / "b-damaged" / (name + ".mid")).write_bytes(data)
        expected["b-damaged/" + name] = outcome
    rng = random.Random(SEED)
    damages = {}
    for number in range(RANDOM_DAMAGES):
        what, data = random_damage(rng, rng.choice(sources).read_bytes())
        name = "b-damaged/%03d-%s" % (number, what)
        (folder / (name + ".mid")).write_bytes(data)
        damages[name] = what
    files = len(expected) + len(damages)

    out = tmp_path / "corpus"
    result = playbach("corpus", folder, "--out", out, "--json", timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    summary = json.loads(result.stdout)
    assert summary["files"] == files
    assert summary["files_ok"] + summary["files_skipped"] == files
    assert summary["unexpected"] == 0, [s for s in summary["skipped"]
                                        if s["kind"] == "unexpected error"]
    kept = {json.loads(line)["name"] for line in (out / "pieces.jsonl").read_text().splitlines()}
    skipped = {}
    for skip in summary["skipped"]:
        name = skip["file"].rpartition("midi/")[2].rpartition(".")[0]
        skipped[name] = skip["kind"]
        assert "\n" not in skip["reason"] and skip["reason"].startswith(skip["kind"])
        assert "skipped %s: %s\n" % (skip["file"], skip["reason"]) in result.stderr
    assert result.stderr.count(" skipped ") == summary["files_skipped"]
    for name, outcome in expected.items():
        assert skipped.get(name, KEPT) == outcome, (name, skipped.get(name))
    assert all(name in kept for name in expected if name.startswith("a-good/"))
    # A damaged file that still reads is a piece, or the same piece as the one it came from.
    assert summary["files_ok"] == files - len(skipped)
    assert summary["slowest"]["file"] and summary["slowest"]["seconds"] > 0
    by_damage = {}
    for name, what in damages.items():
        by_damage.setdefault(what, {}).setdefault(skipped.get(name, KEPT), 0)
        by_damage[what][skipped.get(name, KEPT)] += 1
    print(json.dumps({"files": files, "files_ok": summary["files_ok"],
                      "files_skipped": summary["files_skipped"],
                      "skipped_by_kind": summary["skipped_by_kind"],
                      "duplicates": summary["duplicates"], "slowest": summary["slowest"],
                      "random_damages": by_damage}))
