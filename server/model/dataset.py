"""From corpus pieces to training windows: the split by piece, transposition, fixed-size windows;
and the primers a model ships, the openings of its held-out pieces."""
from pathlib import Path

import numpy as np

from playbach.corpus import store
from playbach.model.vocabulary import HEADS, IGNORED, PADDING, Step, transpose

SPLIT_FRACTIONS = (0.8, 0.1, 0.1)
PRIMER_COUNT = 12
# Openings this long (about 180 symbols) fill the window model's 160-symbol window, so the step
# and window models start a piece from the same context.
PRIMER_EVENTS = 48


def split_by_piece(pieces, seed=0, fractions=SPLIT_FRACTIONS):
    """Return ``{"train", "validation", "test"}`` lists of pieces, shuffled by ``seed``.

    Whole pieces go to one part, so no window of a test piece is ever seen in training.
    """
    order = sorted(range(len(pieces)), key=lambda i: pieces[i].name)
    np.random.default_rng(seed).shuffle(order)
    validation_start = round(fractions[0] * len(order))
    test_start = round((fractions[0] + fractions[1]) * len(order))
    parts = {"train": order[:validation_start], "validation": order[validation_start:test_start],
             "test": order[test_start:]}
    return {part: [pieces[i] for i in indexes] for part, indexes in parts.items()}


def pieces_by_name(pieces, names, corpus="the corpus"):
    """The pieces named in ``names`` (a split recorded in a model card), in that order;
    ``ValueError`` naming ``corpus`` if it lacks any."""
    found = {piece.name: piece for piece in pieces}
    missing = [name for name in names if name not in found]
    if missing:
        raise ValueError("%s lacks %d pieces of the model's split, e.g. %r"
                         % (corpus, len(missing), missing[0]))
    return [found[name] for name in names]


def encode(pieces, vocabulary, transpositions=(0,)):
    """Encode every piece in every transposition that stays in the MIDI range."""
    encoded = []
    for piece in pieces:
        for semitones in transpositions:
            events = transpose(piece.events, semitones)
            if events is not None:
                encoded.append(vocabulary.encode_piece(piece._replace(events=events)))
    return encoded


def windows(encoded, length, stride):
    """Cut encoded pieces into windows of ``length`` steps, starting every ``stride`` steps.

    Returns ``(inputs, targets)``: a :class:`Step` of ``int32`` arrays of shape ``(windows,
    length)`` + each input's shape, and a dict of target arrays ``(windows, length)`` by head.
    A piece's last window starts on the stride like the others and is padded (inputs
    ``PADDING``, targets ``IGNORED``): a piece ends anywhere in its last window's last
    ``stride`` steps, not always on its last step, which taught the network, whose memory starts
    afresh at each window, to end a piece once it had read a window's length of it.
    """
    inputs, targets = [], []
    for steps, following in encoded:
        size = len(steps.symbol)
        for start in range(0, max(size - length + stride, 1), stride):
            inputs.append(Step(*(_cut(values, start, length, PADDING) for values in steps)))
            targets.append({head: _cut(following[head], start, length, IGNORED)
                            for head in HEADS})
    return (Step(*(np.stack(column) for column in zip(*inputs))),
            {head: np.stack([window[head] for window in targets]) for head in HEADS})


def _cut(array, start, length, fill):
    window = array[start:start + length]
    if len(window) < length:
        padding = np.full((length - len(window),) + window.shape[1:], fill, np.int32)
        window = np.concatenate([window, padding])
    return window


def write_primers(path, test_pieces, count=PRIMER_COUNT, events=PRIMER_EVENTS):
    """Write the openings of ``count`` held-out test pieces to ``path`` (the ``pieces.jsonl``
    format, read by ``engine.primer``); return its name, for the card's ``primers``."""
    openings = [piece._replace(events=piece.events[:events])
                for piece in sorted(test_pieces, key=lambda p: p.name)[:count]]
    store.write_pieces(path, openings)
    return Path(path).name
