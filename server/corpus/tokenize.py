"""Turn folders of MIDI files into pieces of events, skipping and reporting what cannot be read.

Each file is read on its own: whatever it holds, it becomes a piece or one logged line naming it
and the reason, and the run goes on. The reader's checks and bounds (``corpus/midi.py``) say why
a file is refused; anything else a file sets off is caught here as a last resort, counted as
``unexpected`` and named the same way, never a traceback.
"""
import logging
import time
from collections import Counter
from pathlib import Path

from tqdm import tqdm

import playbach_protocol as protocol
from playbach.corpus import measures
from playbach.corpus.midi import (DEFAULT_MIN_REST, DEFAULT_TOLERANCE, MAX_PARTS, MidiError,
                                  read_piece)

log = logging.getLogger(__name__)

MIDI_SUFFIXES = (".mid", ".midi", ".kar", ".smf")
COVERAGE_TOPS = (10, 100, 1000)
UNEXPECTED = "unexpected error"


def midi_files(sources):
    """Return ``(path, name)`` for each MIDI file in ``sources`` (files, or folders searched
    recursively); the name is the path relative to the folder given, without its suffix."""
    found = []
    for source in map(Path, sources):
        if source.is_dir():
            for path in sorted(source.rglob("*")):
                if path.is_file() and path.suffix.lower() in MIDI_SUFFIXES:
                    found.append((path, path.relative_to(source).with_suffix("").as_posix()))
        elif source.is_file():
            found.append((source, source.stem))
        elif source.exists():
            raise FileNotFoundError("not a file or folder: %s" % source)
        else:
            raise FileNotFoundError("no such file or folder: %s" % source)
    return found


def tokenize(files, tolerance=DEFAULT_TOLERANCE, min_rest=DEFAULT_MIN_REST, progress=True):
    """Read every ``(path, name)``; return ``(pieces, skipped, duplicates, slowest)``.

    A file that cannot be read is skipped with one logged line and listed in ``skipped`` as
    ``{"file", "kind", "reason"}``; a piece whose events repeat an earlier one exactly is dropped
    and listed in ``duplicates`` as ``{"file", "same_as"}``, so that it cannot leak across a
    split. ``slowest`` is ``{"file", "seconds"}`` of the file that took longest to read.
    """
    pieces, skipped, duplicates, seen = [], [], [], {}
    slowest = {"file": None, "seconds": 0.0}
    for path, name in tqdm(files, desc="tokenizing", unit="file", disable=not progress,
                           leave=False):
        started = time.perf_counter()
        try:
            piece = read_piece(path, name, tolerance, min_rest)
        except MidiError as error:
            piece, kind, reason = None, error.kind, str(error)
        except Exception as error:  # the last resort: no file may stop the run
            piece, kind = None, UNEXPECTED
            reason = "%s (%s: %s)" % (UNEXPECTED, type(error).__name__,
                                      " ".join(str(error).split())[:200])
        seconds = time.perf_counter() - started
        if seconds > slowest["seconds"]:
            slowest = {"file": str(path), "seconds": round(seconds, 3)}
        if piece is None:
            skipped.append({"file": str(path), "kind": kind, "reason": reason})
            log.warning("skipped %s: %s", path, reason)
            continue
        key = tuple(piece.events)
        if key in seen:
            duplicates.append({"file": str(path), "same_as": seen[key]})
            continue
        seen[key] = piece.name
        pieces.append(piece)
    return pieces, skipped, duplicates, slowest


def vocabulary(pieces):
    """Return the counts of tokens, durations and dynamics over all pieces, most frequent first."""
    tokens, durations, dynamics = Counter(), Counter(), Counter()
    for piece in pieces:
        for notes, duration, dynamic in piece.events:
            tokens[protocol.format_token(notes)] += 1
            durations[duration] += 1
            if dynamic is not None:
                dynamics[dynamic] += 1
    return {"tokens": dict(tokens.most_common()), "durations": dict(durations.most_common()),
            "dynamics": dict(dynamics.most_common())}


def summarize(files, pieces, skipped, duplicates, vocab, slowest):
    """Return the run's summary: files read and skipped (by kind of reason), events,
    vocabulary size, coverage, the pieces with parts and phrase ends, voice leading, and the
    file slowest to read."""
    counts = list(vocab["tokens"].values())
    total = sum(counts)
    return {
        "files": len(files),
        "files_ok": len(pieces) + len(duplicates),
        "files_skipped": len(skipped),
        "skipped_by_kind": dict(Counter(skip["kind"] for skip in skipped).most_common()),
        "unexpected": sum(skip["kind"] == UNEXPECTED for skip in skipped),
        "duplicates": len(duplicates),
        "pieces": len(pieces),
        "tokens": total,
        "vocab_size": len(counts),
        "coverage": {"top_%d" % top: round(sum(counts[:top]) / total, 4) if total else 0.0
                     for top in COVERAGE_TOPS},
        **voices_and_phrases(pieces),
        "slowest": slowest,
        "skipped": skipped,
    }


def voices_and_phrases(pieces):
    """Return what the pieces say of their form: how many have parts (and how many parts), how
    many phrase ends, and parallel fifths and octaves in the four-part pieces, read from their
    own parts and from the shared Voicer's (issue 13's measure)."""
    with_parts = [piece for piece in pieces if piece.parts is not None]
    phrased = [piece for piece in pieces if piece.phrase_ends]
    four = [piece for piece in with_parts
            if len({part for parts in piece.parts for note in parts for part in note}) == MAX_PARTS]
    parallels = {}
    for source, voicings in (("parts", measures.part_voicings),
                             ("voicer", lambda piece: measures.voicer_voicings(piece.events))):
        pairs = with_parallels = 0
        for piece in four:
            counted = measures.parallel_fifths_octaves(voicings(piece))
            pairs, with_parallels = pairs + counted[0], with_parallels + counted[1]
        parallels[source] = {"event_pairs": pairs, "with_parallels": with_parallels,
                             "share": round(with_parallels / pairs, 4) if pairs else 0.0}
    phrase_events = sum(len(piece.events) for piece in phrased)
    return {
        "pieces_with_parts": len(with_parts),
        "pieces_with_four_parts": len(four),
        "pieces_with_phrase_ends": len(phrased),
        "phrase_ends_per_100_events": round(100 * sum(len(piece.phrase_ends) for piece in phrased)
                                            / phrase_events, 2) if phrase_events else 0.0,
        "parallel_fifths_octaves": parallels,
    }
