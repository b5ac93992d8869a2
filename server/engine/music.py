"""The music check: whole pieces the model plays, against the pieces it is judged on.

Each judged piece lends its opening (its events up to its first phrase end, the key it begins
in) as a primer; the model plays on until it ends the piece, or ``cap`` events. The pieces are
measured as issue 13 asks, the continuation (what the model played) against the rest of each
judged piece (what Bach wrote after the same opening):

- parallel fifths and octaves: of the consecutive events that both start four notes, read bass
  to soprano in pitch order (the shared ``Voicer``), the share with a pair of voices moving the
  same way from a perfect fifth or octave into the same one; also in the voices the model gave
  the notes (Bach's own parts for his pieces);
- phrase endings (an event of 2 beats or more after a shorter one) per 100 events, and the
  share of each duration;
- the key: the share of the notes in the scale of the opening's key, and whether the chord
  sounding at the end is that key's tonic chord (a piece the cap stops does not end on it);
- how long the whole pieces are (opening included) and how many the model ended.

``playbach eval`` composes it with the model's own figures (``model.evaluate``): it needs the
generator, which lives here, above the model.
"""
import numpy as np

from playbach.corpus import measures
from playbach.engine.generator import TEMPERATURE, Generator
from playbach.model.vocabulary import OPENING_EVENTS

CAP = 400  # events: the most a piece may last after its opening (Bach's longest: 546 in all)
# Pieces generated from each opening: 4 halve the variance of the generated side's figures
# against 2, which matters for the duration TV: two seeds' still differ by 0.003 to 0.014 on 36
# openings at 4 (docs/spellings.md)
SAMPLES = 4


def opening(piece):
    """How many events of ``piece`` open it: up to its first phrase end, else
    ``OPENING_EVENTS``."""
    return piece.phrase_ends[0] + 1 if piece.phrase_ends else min(OPENING_EVENTS,
                                                                   len(piece.events))


def play(generator, piece, cap=CAP):
    """Prime ``generator`` with the opening of ``piece`` and let it play until it ends the
    piece or ``cap`` events; return the events played (``Generated``)."""
    size = opening(piece)
    generator.reset(piece.time_signature)
    generator.prime(piece.events[:size], piece.parts[:size] if piece.parts else None,
                    [i for i in piece.phrase_ends if i < size])
    played = []
    while len(played) < cap and not (played and played[-1].piece_end):
        played.append(generator.generate())
    return played


def music_check(players, vocabulary, pieces, max_notes, seed=0, samples=SAMPLES, cap=CAP,
                reference="held_out_bach"):
    """Play ``samples`` pieces from the opening of each of ``pieces`` with each of ``players``
    (``{name: (model, sampler settings)}``: a generator's model and its settings, the sampler's
    options or a temperature, ``TEMPERATURE`` unless given, which the result records; each
    draws from ``seed``) and measure them beside the rest of ``pieces`` (named ``reference``)."""
    judged = [measure(piece, piece.events[opening(piece):],
                     piece.parts[opening(piece):] if piece.parts else None, True)
              for piece in pieces]
    result = {"openings": len(pieces), "samples": samples, "seed": seed, "cap": cap,
              "temperature": TEMPERATURE, reference: _summary(judged)}
    for name, (model, sampler) in players.items():
        generator = Generator(model, vocabulary, seed=seed, max_notes=max_notes, **sampler)
        generated = []
        for _ in range(samples):
            for piece in pieces:
                played = play(generator, piece, cap)
                generated.append(measure(piece, [g.event for g in played],
                                        [g.parts for g in played], played[-1].piece_end))
        result[name] = _summary(generated)
        result[name]["duration_tv"] = round(measures.total_variation(
            result[name]["duration_shares"], result[reference]["duration_shares"]), 4)
    return result


def measure(piece, continuation, parts, ended):
    """What is measured of one piece: its opening (from ``piece``) and its ``continuation``
    (events, sung by ``parts`` where known), which ``ended`` or was stopped."""
    start = piece.events[:opening(piece)]
    key = measures.estimate_key(start)
    whole = start + list(continuation)
    whole_parts = piece.parts[:len(start)] + list(parts) if piece.parts and parts else None
    by_pitch = measures.voicer_voicings(whole)[len(start) - 1:]
    by_parts = measures.part_voicings(piece._replace(events=whole, parts=whole_parts)) \
        if whole_parts else None
    longest = run = 1
    for before, after in zip(continuation, continuation[1:]):
        run = run + 1 if before[0] == after[0] else 1
        longest = max(longest, run)
    return {"events": len(whole), "continuation": len(continuation), "ended": ended,
            "parallels": measures.parallel_fifths_octaves(by_pitch),
            "parallels_in_voices": measures.parallel_fifths_octaves(
                by_parts[len(start) - 1:]) if by_parts else (0, 0),
            "phrase_endings": measures.phrase_endings(whole[len(start) - 1:]),
            "durations": [duration for _, duration, _ in continuation],
            "in_key": measures.in_scale(continuation, key),
            "tonic_end": ended and measures.is_tonic_chord(
                measures.sounding(whole, whole_parts), key),
            "longest_repeat": longest}


def _summary(pieces):
    """The figures of a set of measured pieces."""
    lengths = [piece["events"] for piece in pieces]
    events = sum(piece["continuation"] for piece in pieces)
    pairs, parallels = np.sum([piece["parallels"] for piece in pieces], axis=0)
    voiced_pairs, voiced = np.sum([piece["parallels_in_voices"] for piece in pieces], axis=0)
    durations = [duration for piece in pieces for duration in piece["durations"]]
    return {
        "pieces": len(pieces),
        "ended": round(float(np.mean([piece["ended"] for piece in pieces])), 4),
        "length_median": float(np.median(lengths)),
        "length_p10_p90": [float(v) for v in np.percentile(lengths, [10, 90])],
        "parallel_fifths_octaves": round(float(parallels / max(pairs, 1)), 4),
        "four_note_pairs": int(pairs),
        "parallels_in_voices": round(float(voiced / max(voiced_pairs, 1)), 4),
        "phrase_endings_per_100": round(100 * sum(
            piece["phrase_endings"] for piece in pieces) / max(events, 1), 2),
        "duration_shares": {duration: round(share, 4) for duration, share in
                            measures.duration_shares([(None, d, None) for d in durations])
                            .items() if share},
        "in_key": round(float(np.mean([piece["in_key"] for piece in pieces])), 4),
        "tonic_end": round(float(np.mean([piece["tonic_end"] for piece in pieces])), 4),
        "longest_repeat": max(piece["longest_repeat"] for piece in pieces),
    }
