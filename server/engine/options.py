"""Command-line options for the music: which model, how to sample, which primer.

Shared by ``playbach generate`` and ``playbach serve``; each option can also come from an
environment variable (``PLAYBACH_MODEL``, ``PLAYBACH_TEMPERATURE``...) so that a service's
settings can live in an env file.
"""
import argparse
import os
from pathlib import Path

import playbach_protocol as protocol

from playbach.engine import primer
from playbach.engine.composer import Composer, model_file
from playbach.engine.generator import (END_PULL, KEY_PULL, MIN_PHRASES, SAMPLER,
                                       TEMPERATURE)


def env(name, default=None, kind=str):
    """The value of environment variable ``PLAYBACH_<NAME>`` as ``kind``, else ``default``
    (unset or empty); ``SystemExit`` naming the variable when ``kind`` rejects it."""
    value = os.environ.get("PLAYBACH_" + name)
    if value in (None, ""):
        return default
    try:
        return kind(value)
    except (ValueError, argparse.ArgumentTypeError) as error:
        raise SystemExit("PLAYBACH_%s=%r: %s" % (name, value, error)) from None


def flag(text):
    """``kind`` of an on/off environment variable: 1, true, yes, on or 0, false, no, off."""
    value = {"1": True, "true": True, "yes": True, "on": True,
             "0": False, "false": False, "no": False, "off": False}.get(text.strip().lower())
    if value is None:
        raise ValueError("expected 1 or 0 (true/false, yes/no, on/off)")
    return value


DEFAULT_BPM = 100.0
# The flags of the sampler's options (generator.SAMPLER), each --name and --no-name
SAMPLER_HELP = {
    "voice_leading": "never move two voices in parallel fifths or octaves",
    "tonic_end": "end a piece only on the tonic chord of the key it began in (its last event "
                 "drawn again until it sounds it, else at the next phrase end)",
    "key_pull": "make a note outside the key the piece began in less likely (%g nats)"
                % KEY_PULL,
    "min_phrases": "end a piece no sooner than after %d phrases of its own (the primer's aside)"
                   % MIN_PHRASES,
    "end_pull": "make the end of a piece more likely than the model says (%g nats): on its own "
                "it plays on longer than Bach" % END_PULL,
}


def bpm(text):
    """argparse type of a tempo: beats per minute, in the range an event payload may carry."""
    value = float(text)
    if not protocol.MIN_BPM <= value <= protocol.MAX_BPM:
        raise argparse.ArgumentTypeError("%s: expected %d-%d beats per minute"
                                         % (text, protocol.MIN_BPM, protocol.MAX_BPM))
    return value


def _on(value):
    return "on" if value else "off"


def add_music_arguments(parser, default_bpm=DEFAULT_BPM):
    group = parser.add_argument_group("music")
    group.add_argument("--model", type=Path, default=env("MODEL", None, Path),
                       help="a model card (.json) or .tflite file [PLAYBACH_MODEL] "
                       "(default: the shipped model)")
    group.add_argument("--mode", choices=("step", "window"), default=env("MODE", "step"),
                       help="the step model (state carried) or the window model "
                       "[PLAYBACH_MODE] (default: step)")
    group.add_argument("--precision", choices=("int8", "float16", "float32"),
                       default=env("PRECISION", "int8"),
                       help="model weights [PLAYBACH_PRECISION] (default: int8)")
    group.add_argument("--keys", type=int, nargs="+", metavar="SHIFT",
                       default=env("KEYS", None, lambda text: [int(k) for k in text.split()]),
                       help="read the music in these keys (semitone shifts), combining the "
                       "predictions [PLAYBACH_KEYS] (default: the card's; 0 alone: the written "
                       "key, the fastest)")
    group.add_argument("--seed", type=int, default=env("SEED", None, int),
                       help="random seed, for the same music again [PLAYBACH_SEED] "
                       "(default: random)")
    group.add_argument("--temperature", type=float, default=env("TEMPERATURE", TEMPERATURE, float),
                       help="1 draws at the model's own odds, below it safer, above it wilder "
                       "[PLAYBACH_TEMPERATURE] (default: %g: the rhythm nearest Bach's)"
                       % TEMPERATURE)
    group.add_argument("--top-k", type=int, default=env("TOP_K", 0, int),
                       help="sample among the K likeliest only [PLAYBACH_TOP_K] (default: 0, all)")
    group.add_argument("--top-p", type=float, default=env("TOP_P", 1.0, float),
                       help="sample within the likeliest P of the probability [PLAYBACH_TOP_P] "
                       "(default: 1)")
    for option, default in SAMPLER.items():  # an option without its help fails here, at once
        name = option.upper()
        group.add_argument("--" + option.replace("_", "-"),
                           action=argparse.BooleanOptionalAction, default=env(name, default, flag),
                           help="%s [PLAYBACH_%s] (default: %s)" % (SAMPLER_HELP[option], name,
                                                                   _on(default)))
    group.add_argument("--bpm", type=bpm, default=env("BPM", default_bpm, bpm),
                       help="tempo in beats (quarter notes) per minute [PLAYBACH_BPM] (default: %g)"
                       % default_bpm)
    which = group.add_mutually_exclusive_group()
    which.add_argument("--primer", metavar="NAME", default=env("PRIMER", None),
                       help="a primer the model card ships [PLAYBACH_PRIMER] "
                       "(default: one picked by the seed)")
    which.add_argument("--primer-tokens", metavar="EVENTS",
                       help="prime with these events, e.g. 'B2 A2:1/2 G2'")
    which.add_argument("--primer-midi", type=Path, metavar="FILE",
                       help="prime with the events of a MIDI file")


def open_composer(args):
    """The :class:`Composer` and first :class:`~playbach.engine.primer.Primer` of ``args``;
    ``SystemExit`` with the reason when either cannot be had."""
    try:
        path = model_file(args.model, args.mode, args.precision)
        composer = Composer(path, args.seed, args.temperature, args.top_k, args.top_p,
                            args.keys, **{option: getattr(args, option) for option in SAMPLER})
        if args.primer_tokens:
            first = primer.from_tokens(args.primer_tokens)
        elif args.primer_midi:
            first = primer.from_midi(args.primer_midi)
        else:
            first = composer.choose_primer(args.primer)
    except (OSError, ValueError) as error:
        raise SystemExit("playbach %s: %s" % (args.command, error)) from None
    return composer, first
