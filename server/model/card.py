"""The model card: one JSON file that travels with the model.

It holds everything needed to use and judge the model: the vocabulary, the hyper-parameters, the
corpus and its split, training time, the exported files (paths relative to the card) and every
evaluation figure. ``models/playbach.json`` is the card of the model that ships.
"""
import json
from pathlib import Path

FORMAT = "playbach-model/1"


def load_card(path):
    """Return the card at ``path``; ``ValueError`` if it is not a playbach model card."""
    path = Path(path)
    try:
        card = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ValueError("%s: cannot read the model card (%s)" % (path, error)) from None
    if not isinstance(card, dict) or card.get("format") != FORMAT:
        raise ValueError("%s: not a playbach model card (format %r, expected %r)"
                         % (path, isinstance(card, dict) and card.get("format"), FORMAT))
    return card


def save_card(path, card):
    """Write ``card`` to ``path`` as readable JSON."""
    Path(path).write_text(json.dumps(card, indent=1) + "\n")


def card_for(model_path):
    """Return ``(card path, card)`` of a ``.tflite`` file, a weights file, or a card itself:
    the card is the ``.json`` whose ``files`` name it, in the same folder."""
    model_path = Path(model_path)
    if model_path.suffix == ".json":
        return model_path, load_card(model_path)
    for candidate in sorted(model_path.parent.glob("*.json")):
        try:
            card = load_card(candidate)
        except ValueError:
            continue
        if model_path.name in _file_names(card):
            return candidate, card
    raise ValueError("%s: no model card (.json) beside it names this file" % model_path)


def _file_names(card):
    names = [card.get("weights")]
    for variants in card.get("files", {}).values():
        names += list(variants.values())
    return names
