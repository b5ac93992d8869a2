"""The corpus on disk: a folder any tool can read.

``pieces.jsonl``: one JSON object per line and piece: ``name`` (path relative to the source
folder, no suffix), ``bpm`` and ``time_signature`` (the first in the file), and ``events``,
the piece's events as text separated by spaces, e.g. ``"C3.E4.G4.C5:1:f D5:1/2:f R:1"``
(grammar in ``shared/playbach_protocol.py``). Two optional fields, written only where the
source has them, so that older files read as before and readers that do not know them can
ignore them:

- ``parts``: which part sings each note, one item per event, separated by spaces like the
  events: for each pitch of the event's token, in the token's (ascending) order, its part
  number, or the numbers of the parts that meet on it in unison joined by ``+``; pitches joined
  by ``.``, and ``R`` for a rest. ``"0.1.2.3 0.1+2.3 R"`` belongs to ``"G2.D3.B3.G4:1:f
  G2.D3.B3:1:f R:1"``: in the second event tenor and alto sing D3. Parts are numbered from the
  lowest by mean pitch: of four, 0 bass, 1 tenor, 2 alto, 3 soprano. Written where every note
  of the file belongs to one of at most four parts that each sing one note at a time (a track,
  or a channel within one); not for a piano, a cello's double stops, or overlapping lines.
- ``phrase_ends``: the indexes (from 0) of the events that end a phrase, ascending: the events
  a fermata falls on (a MIDI marker ``fermata``; ``playbach corpus --bach`` writes them from
  music21's scores). The last event of a piece ends it whether it is listed or not.

``vocab.json``: ``format`` (``playbach-corpus/1``), the counts of ``tokens``, ``durations``
and ``dynamics`` (most frequent first), and the ``summary`` of the run that wrote it.
"""
import json
from pathlib import Path

import playbach_protocol as protocol
from playbach.corpus.midi import MAX_PARTS, Piece

FORMAT = "playbach-corpus/1"
PIECES_FILE = "pieces.jsonl"
VOCAB_FILE = "vocab.json"
PART_JOINER = "+"


def write_corpus(folder, pieces, vocab, summary):
    """Write ``pieces.jsonl`` and ``vocab.json`` into ``folder`` (created if missing)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_pieces(folder / PIECES_FILE, pieces)
    with open(folder / VOCAB_FILE, "w") as out:
        json.dump(dict(format=FORMAT, summary=summary, **vocab), out, indent=1)
        out.write("\n")


def write_pieces(path, pieces):
    """Write pieces to ``path``, one JSON line each (the ``pieces.jsonl`` format), with the
    parts and phrase ends of the events each piece holds (an opening cut from a piece keeps
    its own)."""
    with open(path, "w") as out:
        for piece in pieces:
            record = {"name": piece.name, "bpm": piece.bpm, "time_signature": piece.time_signature,
                      "events": " ".join(protocol.format_event(*event) for event in piece.events)}
            if piece.parts is not None:
                record["parts"] = " ".join(map(format_parts, piece.parts[:len(piece.events)]))
            ends = [index for index in piece.phrase_ends if index < len(piece.events)]
            if ends:
                record["phrase_ends"] = ends
            out.write(json.dumps(record) + "\n")


def format_parts(parts):
    """Return the text of one event's parts: ``((0,), (1, 2), (3,))`` -> ``"0.1+2.3"``."""
    if not parts:
        return protocol.REST
    return protocol.CHORD_JOINER.join(PART_JOINER.join(map(str, note)) for note in parts)


def parse_parts(text, notes):
    """Return one event's parts from their text, checked against the event's ``notes``."""
    if text == protocol.REST:
        parts = ()
    else:
        parts = tuple(tuple(int(part) for part in note.split(PART_JOINER))
                      for note in text.split(protocol.CHORD_JOINER))
    if len(parts) != len(notes):
        raise ValueError("bad parts %r: %d pitches, the event has %d" % (text, len(parts),
                                                                         len(notes)))
    if any(not 0 <= part < MAX_PARTS for note in parts for part in note):
        raise ValueError("bad parts %r: expected parts 0-%d" % (text, MAX_PARTS - 1))
    return parts


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
                pieces.append(_piece(json.loads(line)))
            except (ValueError, KeyError, TypeError, AttributeError) as error:
                raise ValueError("%s line %d: %s" % (path, number, error)) from None
    return pieces


def _piece(record):
    events = [protocol.parse_event(text) for text in record["events"].split()]
    parts = record.get("parts")
    if parts is not None:
        texts = parts.split()
        if len(texts) != len(events):
            raise ValueError("parts for %d events, the piece has %d" % (len(texts), len(events)))
        parts = [parse_parts(text, notes) for text, (notes, _, _) in zip(texts, events)]
    ends = tuple(record.get("phrase_ends", ()))
    if any(not isinstance(index, int) or not 0 <= index < len(events) for index in ends) \
            or list(ends) != sorted(set(ends)):
        raise ValueError("bad phrase_ends: expected ascending event indexes 0-%d"
                         % (len(events) - 1))
    return Piece(record["name"], events, record["bpm"], record["time_signature"], parts, ends)


def load_vocab(folder):
    """Return the contents of ``vocab.json`` in ``folder``, checking its format."""
    path = Path(folder) / VOCAB_FILE
    with open(path) as file:
        vocab = json.load(file)
    if vocab.get("format") != FORMAT:
        raise ValueError("%s: format %r, expected %r" % (path, vocab.get("format"), FORMAT))
    return vocab
