"""The corpus on disk: a folder any tool can read.

``pieces.jsonl``: one JSON object per line and piece: ``name`` (path relative to the source
folder, no suffix), ``bpm`` and ``time_signature`` (the first in the file), and ``events``,
the piece's events as text separated by spaces, e.g. ``"C3.E4.G4.C5:1:f D5:1/2:f R:1"``
(grammar in ``shared/playbach_protocol.py``).

``vocab.json``: ``format`` (``playbach-corpus/1``), the counts of ``tokens``, ``durations``
and ``dynamics`` (most frequent first), and the ``summary`` of the run that wrote it.
"""
import json
from pathlib import Path

import playbach_protocol as protocol
from playbach.corpus.midi import Piece

FORMAT = "playbach-corpus/1"
PIECES_FILE = "pieces.jsonl"
VOCAB_FILE = "vocab.json"


def write_corpus(folder, pieces, vocab, summary):
    """Write ``pieces.jsonl`` and ``vocab.json`` into ``folder`` (created if missing)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_pieces(folder / PIECES_FILE, pieces)
    with open(folder / VOCAB_FILE, "w") as out:
        json.dump(dict(format=FORMAT, summary=summary, **vocab), out, indent=1)
        out.write("\n")


def write_pieces(path, pieces):
    """Write pieces to ``path``, one JSON line each (the ``pieces.jsonl`` format)."""
    with open(path, "w") as out:
        for piece in pieces:
            events = " ".join(protocol.format_event(*event) for event in piece.events)
            out.write(json.dumps({"name": piece.name, "bpm": piece.bpm,
                                  "time_signature": piece.time_signature,
                                  "events": events}) + "\n")


def load_pieces(folder):
    """Return the :class:`Piece` list stored in ``folder``; ``ValueError`` names a bad line."""
    return read_pieces(Path(folder) / PIECES_FILE)


def read_pieces(path):
    """Return the :class:`Piece` list of a ``pieces.jsonl``-format file (the shipped primers
    use it too); ``ValueError`` names the file and line of a bad record."""
    path = Path(path)
    pieces = []
    with open(path) as lines:
        for number, line in enumerate(lines, 1):
            try:
                record = json.loads(line)
                events = [protocol.parse_event(text) for text in record["events"].split()]
                pieces.append(Piece(record["name"], events, record["bpm"],
                                    record["time_signature"]))
            except (ValueError, KeyError, TypeError, AttributeError) as error:
                raise ValueError("%s line %d: %s" % (path, number, error)) from None
    return pieces


def load_vocab(folder):
    """Return the contents of ``vocab.json`` in ``folder``, checking its format."""
    path = Path(folder) / VOCAB_FILE
    with open(path) as file:
        vocab = json.load(file)
    if vocab.get("format") != FORMAT:
        raise ValueError("%s: format %r, expected %r" % (path, vocab.get("format"), FORMAT))
    return vocab
