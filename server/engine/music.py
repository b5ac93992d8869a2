"""The music check: what the model plays, against the pieces it is judged on.

``playbach eval`` composes it with the model's own figures (``model.evaluate``): it needs the
generator, which lives here, above the model.
"""
import math

import numpy as np

import playbach_protocol as protocol
from playbach.engine.generator import Generator

MAJOR = (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88)  # Krumhansl-
MINOR = (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17)  # Kessler
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10, 11)  # natural minor and its leading tone
LOCAL_EVENTS = 32


def music_check(model, vocabulary, pieces, max_notes, events=1000, seed=0, primer_events=40,
                reference="held_out_bach"):
    """Generate ``events`` from the first piece's opening; compare with ``pieces`` (named
    ``reference`` in the result) on pitch-class entropy, share of notes in the key's scale (the
    primer's key, and the local key of each stretch of ``LOCAL_EVENTS`` events) and the longest
    repeated run."""
    primer_piece = pieces[0]
    generator = Generator(model, vocabulary, seed=seed, max_notes=max_notes)
    generator.prime(primer_piece.events[:primer_events])
    generated = [generator.next_event() for _ in range(events)]
    judged = [_music_stats(p.events, estimate_key(p.events)) for p in pieces]
    return {
        "primer": primer_piece.name, "primer_events": primer_events, "seed": seed,
        "generated": dict(_music_stats(generated, estimate_key(primer_piece.events)),
                          events=events),
        reference: {name: round(float(np.mean([b[name] for b in judged])), 4)
                    if name != "longest_repeat" else max(b[name] for b in judged)
                    for name in judged[0]},
    }


def _music_stats(events, key):
    classes = [n % 12 for notes, _, _ in events for n in notes]
    counts = np.bincount(classes, minlength=12) / max(len(classes), 1)
    entropy = -sum(p * math.log2(p) for p in counts if p > 0)
    longest = run = 1
    for previous, current in zip(events, events[1:]):
        run = run + 1 if current[0] == previous[0] else 1
        longest = max(longest, run)
    stretches = [events[start:start + LOCAL_EVENTS]
                 for start in range(0, max(len(events) - LOCAL_EVENTS, 0) + 1, LOCAL_EVENTS // 2)]
    return {"pitch_class_entropy_bits": round(float(entropy), 4),
            "in_scale": round(_in_scale(events, key), 4),
            "in_local_scale": round(float(np.mean(
                [_in_scale(stretch, estimate_key(stretch)) for stretch in stretches])), 4),
            "longest_repeat": longest,
            "rests": round(sum(not notes for notes, _, _ in events) / len(events), 4)}


def _in_scale(events, key):
    """Share of the notes of ``events`` whose pitch class is in the scale of ``key``."""
    tonic, mode = key
    scale = {(tonic + step) % 12 for step in (MAJOR_SCALE if mode == "major" else MINOR_SCALE)}
    classes = [n % 12 for notes, _, _ in events for n in notes]
    return sum(c in scale for c in classes) / max(len(classes), 1)


def estimate_key(events):
    """``(tonic pitch class, "major"|"minor")`` by the Krumhansl-Kessler profiles, weighting
    each note by its event's duration."""
    weights = np.zeros(12)
    for notes, duration, _ in events:
        for n in notes:
            weights[n % 12] += protocol.duration_beats(duration)
    best = max(((np.corrcoef(weights, np.roll(profile, tonic))[0, 1], tonic, mode)
                for profile, mode in ((MAJOR, "major"), (MINOR, "minor"))
                for tonic in range(12)))
    return best[1], best[2]
