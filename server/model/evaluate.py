"""Honest evaluation on the held-out test pieces, with n-gram baselines from the same run.

Every figure is per **event** (one onset), in nats: for the pitch part, the sum of the negative
log-probabilities of the event's symbols (its notes and its ``<end>``), so that whole-chord and
factored models compare on the same footing. Runs ``.tflite`` files with the interpreter alone.
"""
import math
from collections import Counter

import numpy as np

import playbach_protocol as protocol
from playbach.corpus import store
from playbach.engine.generator import Generator, reader_for
from playbach.model import dataset
from playbach.model.card import card_for
from playbach.model.ngram import KneserNey
from playbach.model.runtime import geometric_mean, key_maps, open_model
from playbach.model.vocabulary import NONE

TOKEN_ORDERS = (1, 2, 3, 4, 5)
SYMBOL_ORDERS = (1, 2, 3, 4, 6, 8, 10, 12, 16)
DURATION_ORDERS = (1, 2, 3, 4, 5)
MAJOR = (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88)  # Krumhansl-
MINOR = (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17)  # Kessler
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10, 11)  # natural minor and its leading tone


KEY_CHOICES = ([0], [-1, 0, 1], [-2, -1, 0, 1, 2], list(range(-3, 4)), list(range(-4, 5)),
               list(range(-5, 6)), list(range(-6, 6)))
KEY_TOLERANCE = 0.001  # nats per event: a smaller difference does not pay for another key


def evaluate(model_path, corpus, beam=5, music_events=1000, seed=0, baselines=True, keys=None):
    """Return every figure for the model at ``model_path`` on its card's test split, read in
    ``keys`` (semitone shifts; default: the card's)."""
    card, vocabulary, model = open_model(model_path, keys)
    pieces = store.load_pieces(corpus)
    test = dataset.pieces_by_name(pieces, card["split"]["test"])
    report = {"model": str(model_path), "kind": model.kind,
              "keys": list(model.shifts), "test_pieces": len(test),
              "test_events": sum(len(p.events) for p in test)}
    max_notes = card["hyperparameters"].get("max_notes", 4)
    report["model_scores"] = score_model(model, vocabulary, test,
                                         beam if model.kind == "step" else 0, max_notes)
    if baselines:
        train = dataset.pieces_by_name(pieces, card["split"]["train"])
        report["baselines"] = ngram_baselines(train, test, vocabulary,
                                              card["hyperparameters"]["transpositions"],
                                              report["keys"])
        best = min(b["nll_per_event"] for b in report["baselines"]["pitch"].values())
        report["pitch_nll_vs_best_ngram"] = round(
            report["model_scores"]["pitch"]["nll_per_event"] / best - 1, 4)
    if music_events:
        report["music"] = music_check(model, vocabulary, test, music_events, seed, max_notes)
    return report


def choose_keys(model_path, corpus, choices=KEY_CHOICES, tolerance=KEY_TOLERANCE):
    """The keys to read the music in (see :class:`~playbach.model.runtime.KeyEnsemble`): the
    fewest whose event NLL on the **validation** pieces is within ``tolerance`` nats of the
    lowest, since each key costs a model step per symbol; and each choice's NLL."""
    _, card = card_for(model_path)
    validation = dataset.pieces_by_name(store.load_pieces(corpus), card["split"]["validation"])
    max_notes = card["hyperparameters"].get("max_notes", 4)
    scores = []
    for keys in choices:
        _, vocabulary, model = open_model(model_path, keys)
        scores.append((score_model(model, vocabulary, validation, 0, max_notes)["event"][
            "nll_per_event"], list(keys)))
    lowest = min(nll for nll, _ in scores)
    chosen = min((keys for nll, keys in scores if nll <= lowest + tolerance), key=len)
    return chosen, {"%+d..%+d" % (keys[0], keys[-1]): nll for nll, keys in scores}


def score_model(model, vocabulary, pieces, beam=5, max_notes=4):
    """NLL per event and top-1/top-``beam`` accuracy of the model on ``pieces``, reading each
    piece from its start as the generator would (the true events, not its own samples).

    ``unrepresentable`` is the share of events the generator cannot produce (more than
    ``max_notes`` notes); the vocabulary itself writes every chord, so none is reduced."""
    pitch, duration, dynamic = [], [], []
    hits = Counter()
    reader = reader_for(model, vocabulary)
    for piece in pieces:
        reader.reset()
        log_probs = reader.read(vocabulary.end, NONE, NONE)
        for notes, event_duration, event_dynamic in piece.events:
            if beam:
                ranked = top_events(model, vocabulary, log_probs, reader.state,
                                    reader.voicing.current, beam, max_notes)
                hits["pitch", "top1"] += ranked[:1] == [tuple(notes)]
                hits["pitch", "top%d" % beam] += tuple(notes) in ranked
            total = 0.0
            for symbol in vocabulary.event_symbols(notes)[:-1]:
                total -= log_probs["symbol"][symbol]
                log_probs = reader.read(symbol, NONE, NONE)
            pitch.append(total - log_probs["symbol"][vocabulary.end])
            d = vocabulary.durations.index(event_duration)
            duration.append(-log_probs["duration"][d])
            _count_hits(hits, "duration", log_probs["duration"], d, max(beam, 1))
            dynamic.append(0.0)
            if event_dynamic is not None:
                v = vocabulary.dynamics.index(event_dynamic)
                dynamic[-1] = -log_probs["dynamic"][v]
                _count_hits(hits, "dynamic", log_probs["dynamic"], v, max(beam, 1))
            log_probs = reader.read(vocabulary.end,
                                    *vocabulary.end_inputs(event_duration, event_dynamic))
    sounding = sum(1 for piece in pieces for event in piece.events if event[0])
    too_big = sum(len(event[0]) > max_notes for event in _events(pieces))
    scores = {"pitch": dict(_nll(pitch), unrepresentable=round(too_big / len(pitch), 4)),
              "duration": _nll(duration),
              "dynamic": _nll([v for v, piece_event in zip(dynamic, _events(pieces))
                               if piece_event[0]]),
              "event": _nll([p + d + v for p, d, v in zip(pitch, duration, dynamic)])}
    for (head, k), count in sorted(hits.items()):
        scores[head][k] = round(count / (sounding if head == "dynamic" else len(pitch)), 4)
    return scores


def _events(pieces):
    return [event for piece in pieces for event in piece.events]


def _count_hits(hits, head, log_probs, target, k):
    ranked = np.argsort(-log_probs)
    hits[head, "top1"] += int(ranked[0]) == target
    if k > 1:
        hits[head, "top%d" % k] += target in ranked[:k]


def _nll(values):
    mean = float(np.mean(values)) if values else 0.0
    # + 0.0: a certain prediction averaged over keys rounds to -0.0, which reads oddly
    return {"nll_per_event": round(mean, 4) + 0.0, "perplexity": round(math.exp(mean), 2)}


def top_events(model, vocabulary, log_probs, state, voicing, k, max_notes):
    """The ``k`` most likely next chords (note tuples, ``()`` a rest) from a step model's
    ``log_probs`` and ``state``, by a beam search over their symbols; ``voicing`` is what the
    voices hold before the chord, read with each of its symbols."""
    symbols_of_notes = vocabulary.note_symbols()
    beams = [(0.0, (), log_probs, state)]
    done = []
    while beams:
        candidates = []
        for score, notes, log_probs, state in beams:
            done.append((score + float(log_probs["symbol"][vocabulary.end]), notes))
            if len(notes) == max_notes:
                continue
            symbols = symbols_of_notes[notes[-1] + 1 if notes else 0:]
            for symbol in symbols[np.argsort(-log_probs["symbol"][symbols])[:k]]:
                candidates.append((score + float(log_probs["symbol"][symbol]),
                                   notes + (vocabulary.note(int(symbol)),), int(symbol), state))
        done = sorted(done, reverse=True)[:k]
        floor = done[-1][0] if len(done) == k else -math.inf
        candidates = sorted((c for c in candidates if c[0] > floor), key=lambda c: -c[0])[:k]
        beams = []
        for score, notes, symbol, state in candidates:
            log_probs, new_state = model.step(symbol, NONE, NONE, voicing, state)
            beams.append((score, notes, log_probs, new_state))
    return [notes for _, notes in done]


def ngram_baselines(train, test, vocabulary, transpositions, keys=(0,)):
    """Kneser-Ney n-gram NLL per event on the test pieces, trained on the same transposed
    training pieces: over whole chord tokens, over the model's symbols, and for durations.

    When the model reads the music in several ``keys``, the best symbol n-gram is also scored
    read in the same keys, so that the comparison gives both the same help."""
    train = [dataset.transpose(p.events, t) for p in train for t in transpositions]
    train = [events for events in train if events is not None]
    test = [p.events for p in test]
    tokens = lambda events: [protocol.format_token(notes) for notes, _, _ in events]
    durations = lambda events: [duration for _, duration, _ in events]
    baselines = {"pitch": {}, "duration": {}}
    for order in TOKEN_ORDERS:
        model = KneserNey(order).fit([tokens(e) for e in train])
        nll = [-lp for events in test for lp in model.logprobs(tokens(events))]
        unknown = sum(t not in set(model.vocabulary) for e in test for t in tokens(e))
        baselines["pitch"]["token_%d" % order] = dict(_nll(nll), unknown_tokens=unknown)
    best = None
    for order in SYMBOL_ORDERS:  # columns of its distributions = the model's symbols
        model = KneserNey(order).fit([_symbols(e, vocabulary) for e in train],
                                     range(len(vocabulary.symbols)))
        figures = _nll(_symbol_ngram_nll(model, test, vocabulary, [0]))
        baselines["pitch"]["symbol_%d" % order] = figures
        if best is None or figures["nll_per_event"] < best[0]:
            best = figures["nll_per_event"], order, model
    if list(keys) != [0]:
        _, order, model = best
        baselines["pitch"]["symbol_%d_keys%+d..%+d" % (order, keys[0], keys[-1])] = _nll(
            _symbol_ngram_nll(model, test, vocabulary, keys))
    for order in DURATION_ORDERS:
        model = KneserNey(order).fit([durations(e) for e in train])
        nll = [-lp for events in test for lp in model.logprobs(durations(events))]
        baselines["duration"]["duration_%d" % order] = _nll(nll)
    return baselines


def _symbol_ngram_nll(model, test, vocabulary, keys):
    """NLL per event of a symbol n-gram reading each piece in ``keys`` (semitone shifts),
    its distributions combined as the model's KeyEnsemble combines its members'."""
    nll = []
    maps = [key_maps(vocabulary, shift) for shift in keys]
    for events in test:
        symbols = _symbols(events, vocabulary)
        if list(keys) == [0]:
            log_probs = np.array(model.logprobs(symbols))
        else:
            members = [model.distributions(read_as[symbols])[:, :-1] for read_as, _ in maps]
            log_probs = geometric_mean(members, [back for _, back in maps])[
                np.arange(len(symbols)), symbols]
        per_symbol = iter(-log_probs)
        nll += [sum(next(per_symbol) for _ in range(len(notes) + 1)) for notes, _, _ in events]
    return nll


def _symbols(events, vocabulary):
    return [s for notes, _, _ in events for s in vocabulary.event_symbols(notes)]


def music_check(model, vocabulary, test, events=1000, seed=0, max_notes=4, primer_events=40):
    """Generate ``events`` from the first held-out piece's opening; compare with held-out Bach
    on pitch-class entropy, share of notes in the key's scale (the primer's key, and the local
    key of each stretch of ``LOCAL_EVENTS`` events) and the longest repeated run."""
    primer_piece = test[0]
    generator = Generator(model, vocabulary, seed=seed, max_notes=max_notes)
    generator.prime(primer_piece.events[:primer_events])
    generated = [generator.next_event() for _ in range(events)]
    bach = [_music_stats(p.events, estimate_key(p.events)) for p in test]
    return {
        "primer": primer_piece.name, "primer_events": primer_events, "seed": seed,
        "generated": dict(_music_stats(generated, estimate_key(primer_piece.events)),
                          events=events),
        "held_out_bach": {name: round(float(np.mean([b[name] for b in bach])), 4)
                          if name != "longest_repeat" else max(b[name] for b in bach)
                          for name in bach[0]},
    }


LOCAL_EVENTS = 32


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
