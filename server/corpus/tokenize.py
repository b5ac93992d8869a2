"""Turn folders of MIDI files into pieces of events, skipping and reporting what cannot be read."""
import logging
from collections import Counter
from pathlib import Path

from tqdm import tqdm

import playbach_protocol as protocol
from playbach.corpus.midi import DEFAULT_MIN_REST, DEFAULT_TOLERANCE, MidiError, read_piece

log = logging.getLogger(__name__)

MIDI_SUFFIXES = (".mid", ".midi", ".kar", ".smf")
COVERAGE_TOPS = (10, 100, 1000)


def midi_files(sources):
    """Return ``(path, name)`` for each MIDI file in ``sources`` (files, or folders searched
    recursively); the name is the path relative to the folder given, without its suffix."""
    found = []
    for source in map(Path, sources):
        if source.is_dir():
            for path in sorted(source.rglob("*")):
                if path.is_file() and path.suffix.lower() in MIDI_SUFFIXES:
                    found.append((path, path.relative_to(source).with_suffix("").as_posix()))
        elif source.exists():
            found.append((source, source.stem))
        else:
            raise FileNotFoundError("no such file or folder: %s" % source)
    return found


def tokenize(files, tolerance=DEFAULT_TOLERANCE, min_rest=DEFAULT_MIN_REST, progress=True):
    """Read every ``(path, name)``; return ``(pieces, skipped, duplicates)``.

    A file that cannot be read is skipped with one logged line and listed in ``skipped`` as
    ``{"file", "reason"}``; a piece whose events repeat an earlier one exactly is dropped and
    listed in ``duplicates`` as ``{"file", "same_as"}``, so that it cannot leak across a split.
    """
    pieces, skipped, duplicates, seen = [], [], [], {}
    for path, name in tqdm(files, desc="tokenizing", unit="file", disable=not progress,
                           leave=False):
        try:
            piece = read_piece(path, name, tolerance, min_rest)
        except MidiError as error:
            skipped.append({"file": str(path), "reason": str(error)})
            log.warning("skipped %s: %s", path, error)
            continue
        key = tuple(piece.events)
        if key in seen:
            duplicates.append({"file": str(path), "same_as": seen[key]})
            continue
        seen[key] = piece.name
        pieces.append(piece)
    return pieces, skipped, duplicates


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


def summarize(files, pieces, skipped, duplicates, vocab):
    """Return the run's summary: files read and skipped, events, vocabulary size, coverage."""
    counts = list(vocab["tokens"].values())
    total = sum(counts)
    return {
        "files": len(files),
        "files_ok": len(pieces) + len(duplicates),
        "files_skipped": len(skipped),
        "duplicates": len(duplicates),
        "pieces": len(pieces),
        "tokens": total,
        "vocab_size": len(counts),
        "coverage": {"top_%d" % top: round(sum(counts[:top]) / total, 4) if total else 0.0
                     for top in COVERAGE_TOPS},
        "skipped": skipped,
    }
