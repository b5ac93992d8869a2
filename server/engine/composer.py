"""A model, its generator and its primers: the music before any clock or wire."""
import random
from pathlib import Path

from playbach.engine import primer as primers
from playbach.engine.generator import TEMPERATURE, Generator
from playbach.model.card import SHIPPED_CARD, card_for, max_notes
from playbach.model.runtime import open_model


def model_file(model=None, mode="step", precision="int8"):
    """The ``.tflite`` file to run: the shipped one of ``mode`` and ``precision`` when
    ``model`` is None, the one a card (``.json``) lists, or ``model`` itself."""
    card_path = SHIPPED_CARD if model is None else Path(model)
    if card_path.suffix != ".json":
        return card_path
    card_path, card = card_for(card_path)
    try:
        return card_path.parent / card["files"][mode][precision]
    except KeyError:
        raise ValueError("%s lists no %s model in %s (export it: playbach export %s)"
                         % (card_path, mode, precision, card_path)) from None


class Composer:
    """Events from a model, one at a time, continuing a primer; ``sampler``: the generator's
    options, by name (:data:`~playbach.engine.generator.SAMPLER` names them and their
    defaults)."""

    def __init__(self, model_path, seed=None, temperature=TEMPERATURE, top_k=0, top_p=1.0,
                 keys=None, **sampler):
        self.model_path, self.keys, self.sampler = Path(model_path), keys, sampler
        card_path, _ = card_for(model_path)
        self.card, vocabulary, model = open_model(model_path, keys)
        self.primers = primers.shipped_primers(card_path, self.card)
        # A seed is always drawn, so that any piece can be played again.
        self.seed = random.randrange(2 ** 31) if seed is None else seed
        self.generator = Generator(model, vocabulary, self.seed, temperature, top_k, top_p,
                                   max_notes=max_notes(self.card), **sampler)

    @property
    def name(self):
        """The model's file name, e.g. ``playbach-step-int8.tflite``."""
        return self.model_path.name

    def choose_primer(self, name=None):
        """The shipped primer ``name``, or one picked by the seed when ``name`` is None."""
        return primers.choose(self.primers, name, random.Random(self.seed))

    def begin(self, primer, seed=None):
        """Start a new piece after ``primer``; a ``seed`` restarts the random draws too. Returns
        the primer's events as the model read them (:meth:`Generator.prime`)."""
        if seed is not None:
            self.seed = seed
            self.generator.reseed(seed)
        self.generator.reset(primer.time_signature)
        return self.generator.prime(primer.events, primer.parts, primer.phrase_ends)

    def generate(self):
        """The next event as :class:`~playbach.engine.generator.Generated` (its parts, and
        whether it ends a phrase or the piece)."""
        return self.generator.generate()

    def next_event(self):
        """The next event ``(notes, duration, dynamic)`` of music that never ends."""
        return self.generator.next_event()

    def snapshot(self):
        """Where the music is (see :meth:`Generator.snapshot`)."""
        return self.generator.snapshot()

    def restore(self, snapshot):
        """Carry on from a :meth:`snapshot`, with the settings as they are now."""
        self.generator.restore(snapshot)
