"""From corpus pieces to training windows: the split by piece, transposition, fixed-size windows."""
import numpy as np

from playbach.model.vocabulary import IGNORED, NONE, transpose

SPLIT_FRACTIONS = (0.8, 0.1, 0.1)


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


def pieces_by_name(pieces, names):
    """The pieces named in ``names`` (a split recorded in a model card), in that order."""
    found = {piece.name: piece for piece in pieces}
    missing = [name for name in names if name not in found]
    if missing:
        raise ValueError("the corpus lacks %d pieces of the model's split, e.g. %r"
                         % (len(missing), missing[0]))
    return [found[name] for name in names]


def encode(pieces, vocabulary, transpositions=(0,)):
    """Encode every piece in every transposition that stays in the MIDI range."""
    encoded = []
    for piece in pieces:
        for semitones in transpositions:
            events = transpose(piece.events, semitones)
            if events is not None:
                encoded.append(vocabulary.encode_piece(events))
    return encoded


def windows(encoded, vocabulary, length, stride):
    """Cut encoded pieces into windows of ``length`` steps, starting every ``stride`` steps.

    Returns ``(inputs, targets)``: ``int32`` arrays of shape ``(windows, length)``, the
    voicings' ``(windows, length, voices)``. A piece's last window is padded (inputs ``<pad>``,
    targets ``IGNORED``).
    """
    rows = []
    for inputs, targets in encoded:
        size = len(inputs[0])
        starts = list(range(0, max(size - length, 0) + 1, stride))
        if starts[-1] + length < size:
            starts.append(size - length)
        for start in starts:
            rows.append(tuple(_cut(a, start, length, fill) for a, fill in
                              zip(inputs + targets, (vocabulary.pad, NONE, NONE, vocabulary.pad,
                                                     IGNORED, IGNORED, IGNORED))))
    columns = [np.stack(column) for column in zip(*rows)]
    return tuple(columns[:4]), tuple(columns[4:])


def _cut(array, start, length, fill):
    window = array[start:start + length]
    if len(window) < length:
        padding = np.full((length - len(window),) + window.shape[1:], fill, np.int32)
        window = np.concatenate([window, padding])
    return window
