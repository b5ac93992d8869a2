"""Honest evaluation on the held-out test pieces, with n-gram baselines from the same run.

Every figure is per **event** (one onset), in nats: for the pitch part, the sum of the negative
log-probabilities of the event's symbols (its notes and its ``<end>``), so that whole-chord and
factored models compare on the same footing. Runs ``.tflite`` files with the interpreter alone.

On a corpus that is not the model's own (say the user's MIDI folder, through ``playbach
corpus``), every piece of it is scored, and the n-grams still train on the model's training
pieces, from the corpus its card names or another copy of it.
"""
import hashlib
import math
from collections import Counter
from pathlib import Path

import numpy as np

import playbach_protocol as protocol
from playbach.corpus import store
from playbach.model import dataset
from playbach.model.card import card_for, max_notes
from playbach.model.ngram import KneserNey
from playbach.model.runtime import geometric_mean, key_maps, open_model, reader_for
from playbach.model.vocabulary import NONE, Speller

TOKEN_ORDERS = (1, 2, 3, 4, 5)
SYMBOL_ORDERS = (1, 2, 3, 4, 6, 8, 10, 12, 16)
DURATION_ORDERS = (1, 2, 3, 4, 5)

KEY_CHOICES = ([0], [-1, 0, 1], [-2, -1, 0, 1, 2], list(range(-3, 4)), list(range(-4, 5)),
               list(range(-5, 6)), list(range(-6, 6)))
KEY_TOLERANCE = 0.001  # nats per event: a smaller difference does not pay for another key


class Evaluation:
    """A model read in ``keys`` (semitone shifts; default: the card's) and the pieces it is
    judged on: the card's test split when ``corpus`` is the model's own, else every piece of
    ``corpus``. With ``baselines``, n-grams train on the model's training pieces, from
    ``train_corpus``, else from ``corpus`` when it is the model's own, else from the corpus
    folder the card names. Whatever cannot be had is a ``ValueError`` here, before any work."""

    def __init__(self, model_path, corpus, keys=None, train_corpus=None, baselines=True):
        self.model_path, self.corpus = model_path, Path(corpus)
        self.card, self.vocabulary, self.model = open_model(model_path, keys)
        pieces = _load(self.corpus, "the corpus to score")
        split = self.card["split"]["test"]
        names = {piece.name for piece in pieces}
        held = sum(name in names for name in split)
        self.own = held == len(split)
        if held and not self.own:
            raise ValueError("%s holds %d of the %d test pieces of the model's split, not all: "
                             "give the model's whole corpus, or a corpus of other pieces"
                             % (self.corpus, held, len(split)))
        self.pieces = dataset.pieces_by_name(pieces, split, self.corpus) if self.own else pieces
        self.train_corpus = self.train_pieces = None
        if baselines:
            self.train_corpus = Path(train_corpus) if train_corpus else (
                self.corpus if self.own else Path(self.card["corpus"]["folder"]))
            if self.train_corpus != self.corpus:
                pieces = _load(self.train_corpus, "the n-grams train on the model's training "
                               "pieces (give their corpus with --train-corpus)")
            self.train_pieces = dataset.pieces_by_name(pieces, self.card["split"]["train"],
                                                       self.train_corpus)

    def report(self, beam=5):
        """Every figure of the model on the judged pieces (the music check aside: it generates,
        see ``engine.music``)."""
        model, vocabulary = self.model, self.vocabulary
        report = {"model": str(self.model_path), "kind": model.kind,
                  "keys": list(model.shifts), "test_pieces": len(self.pieces),
                  "test_events": sum(len(p.events) for p in self.pieces),
                  "arithmetic": arithmetic(model, vocabulary, self.pieces[0])}
        if not self.own:
            report["corpus"] = str(self.corpus)  # all its pieces, not a split of them
        report["model_scores"] = score_model(model, vocabulary, self.pieces,
                                             beam if model.kind == "step" else 0,
                                             max_notes(self.card))
        if self.train_pieces is not None:
            if not self.own:
                report["train_corpus"] = str(self.train_corpus)
            report["baselines"] = ngram_baselines(self.train_pieces, self.pieces, vocabulary,
                                                  self.card["hyperparameters"]["transpositions"],
                                                  report["keys"])
            best = min(b["nll_per_event"] for b in report["baselines"]["pitch"].values())
            report["pitch_nll_vs_best_ngram"] = round(
                report["model_scores"]["pitch"]["nll_per_event"] / best - 1, 4)
        return report


def arithmetic(model, vocabulary, piece, events=40):
    """A fingerprint of how this machine's interpreter computes ``model``: the start of the
    SHA-256 of its next-symbol log-probabilities reading the first ``events`` of ``piece``.
    Two machines with the same fingerprint give every figure alike; another CPU's kernels give
    log-probabilities about 1e-6 apart, and so another fingerprint."""
    reader, speller = reader_for(model), Speller(vocabulary)
    rows = [reader.read(speller.start())["symbol"]]
    rows += [reader.read(step)["symbol"] for event in piece.events[:events]
             for step in speller.event(event)]
    return hashlib.sha256(np.array(rows, np.float32).tobytes()).hexdigest()[:16]


def _load(corpus, what):
    """The pieces of the corpus folder ``corpus``; ``ValueError`` saying ``what`` it is for if
    there is none."""
    if not (Path(corpus) / store.PIECES_FILE).is_file():
        raise ValueError("%s holds no corpus (no %s; playbach corpus writes one): %s"
                         % (corpus, store.PIECES_FILE, what))
    pieces = store.load_pieces(corpus)
    if not pieces:
        raise ValueError("%s holds no pieces: %s" % (corpus, what))
    return pieces


def choose_keys(model_path, corpus, choices=KEY_CHOICES, tolerance=KEY_TOLERANCE):
    """The keys to read the music in (see :class:`~playbach.model.runtime.KeyEnsemble`): the
    fewest whose event NLL on the **validation** pieces is within ``tolerance`` nats of the
    lowest, since each key costs a model step per symbol; and each choice's NLL."""
    _, card = card_for(model_path)
    validation = dataset.pieces_by_name(_load(corpus, "keys are chosen on its validation pieces"),
                                        card["split"]["validation"], corpus)
    scores = []
    for keys in choices:
        _, vocabulary, model = open_model(model_path, keys)
        scores.append((score_model(model, vocabulary, validation, 0, max_notes(card))["event"][
            "nll_per_event"], list(keys)))
    lowest = min(nll for nll, _ in scores)
    chosen = min((keys for nll, keys in scores if nll <= lowest + tolerance), key=len)
    return chosen, {"%+d..%+d" % (keys[0], keys[-1]): nll for nll, keys in scores}


def score_model(model, vocabulary, pieces, beam, max_notes):
    """NLL per event and top-1/top-``beam`` accuracy of the model on ``pieces``, reading each
    piece from its start as the generator would (the true events, not its own samples).

    The duration's NLL is of the duration alone (the duration head's classes summed over the
    forms); ``form`` is the NLL of how each event closes given its duration (goes on, ends a
    phrase, ends the piece), which the event's NLL leaves out, as the n-grams do not predict it.
    ``unrepresentable`` is the share of events the generator cannot produce (more than
    ``max_notes`` notes); the vocabulary itself writes every chord, so none is reduced."""
    pitch, duration, dynamic, form = [], [], [], []
    hits = Counter()
    reader, speller = reader_for(model), Speller(vocabulary)
    shape = len(vocabulary.forms), len(vocabulary.durations)
    for piece in pieces:
        reader.reset()
        log_probs = reader.read(speller.start())
        for index, event in enumerate(piece.events):
            notes = tuple(event[0])
            if beam:
                ranked = top_events(reader, speller, log_probs, beam, max_notes)
                hits["pitch", "top1"] += ranked[:1] == [notes]
                hits["pitch", "top%d" % beam] += notes in ranked
            total = 0.0
            for step in speller.event(event, vocabulary.form_of(piece, index)):
                total -= log_probs["symbol"][step.symbol]
                if step.symbol == vocabulary.end:  # its duration, dynamic and form, index + 1
                    closes = log_probs["duration"].reshape(shape)
                    durations = np.logaddexp.reduce(closes, axis=0)
                    duration.append(-durations[step.duration - 1])
                    form.append(durations[step.duration - 1]
                                - closes[step.form - 1, step.duration - 1])
                    _count_hits(hits, "duration", durations, step.duration - 1, max(beam, 1))
                    dynamic.append(0.0)
                    if step.dynamic != NONE:
                        dynamic[-1] = -log_probs["dynamic"][step.dynamic - 1]
                        _count_hits(hits, "dynamic", log_probs["dynamic"], step.dynamic - 1,
                                    max(beam, 1))
                log_probs = reader.read(step)
            pitch.append(total)
    sounding = sum(1 for piece in pieces for event in piece.events if event[0])
    too_big = sum(len(event[0]) > max_notes for event in _events(pieces))
    scores = {"pitch": dict(_nll(pitch), unrepresentable=round(too_big / len(pitch), 4)),
              "duration": _nll(duration),
              "dynamic": _nll([v for v, piece_event in zip(dynamic, _events(pieces))
                               if piece_event[0]]),
              "event": _nll([p + d + v for p, d, v in zip(pitch, duration, dynamic)])}
    if len(vocabulary.forms) > 1:  # a model that tells forms apart
        scores["form"] = _nll(form)
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


def top_events(reader, speller, log_probs, k, max_notes):
    """The ``k`` most likely next chords (note tuples, ``()`` a rest) from ``log_probs``, the
    prediction of ``reader`` where it is, by a beam search over their symbols; ``speller``
    spells their notes. The reader is left where it was."""
    symbols_of_notes = speller.vocabulary.note_symbols()
    end = speller.vocabulary.end
    where = reader.memory()
    beams = [(0.0, (), log_probs, where)]
    done = []
    while beams:
        candidates = []
        for score, notes, log_probs, memory in beams:
            done.append((score + float(log_probs["symbol"][end]), notes))
            if len(notes) == max_notes:
                continue
            symbols = symbols_of_notes[notes[-1] + 1 if notes else 0:]
            for symbol in symbols[np.argsort(-log_probs["symbol"][symbols])[:k]]:
                candidates.append((score + float(log_probs["symbol"][symbol]),
                                   notes + (speller.vocabulary.note(int(symbol)),), int(symbol),
                                   memory))
        done = sorted(done, reverse=True)[:k]
        floor = done[-1][0] if len(done) == k else -math.inf
        candidates = sorted((c for c in candidates if c[0] > floor), key=lambda c: -c[0])[:k]
        beams = []
        for score, notes, symbol, memory in candidates:
            reader.recall(memory)
            log_probs = reader.read(speller.note(symbol))
            beams.append((score, notes, log_probs, reader.memory()))
    reader.recall(where)
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
