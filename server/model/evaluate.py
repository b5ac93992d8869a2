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
from playbach.model.runtime import KeyEnsemble, geometric_mean, open_model, reader_for
from playbach.model.vocabulary import NONE

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
            best = {head: min(b["nll_per_event"] for b in models.values())
                    for head, models in report["baselines"].items()}
            scores = report["model_scores"]
            report["pitch_nll_vs_best_ngram"] = round(
                scores["pitch"]["nll_per_event"] / best["pitch"] - 1, 4)
            # The event: pitch and duration (the n-grams give the dynamic nothing to beat).
            report["event_nll_vs_best_ngrams"] = round(
                (scores["pitch"]["nll_per_event"] + scores["duration"]["nll_per_event"])
                / (best["pitch"] + best["duration"]) - 1, 4)
        return report


    def ngram_player(self, order=None):
        """The symbol n-gram (:class:`NgramModel`) of ``order`` (default: the best of the
        report's symbol baselines, else 16) trained on the model's training pieces, read in the
        model's keys: the baseline the music check plays. None without training pieces."""
        if self.train_pieces is None:
            return None
        ngram = NgramModel(self.train_pieces, self.vocabulary,
                           self.card["hyperparameters"]["transpositions"], order or 16)
        shifts = self.model.shifts
        return ngram if list(shifts) == [0] else KeyEnsemble(ngram, self.vocabulary, shifts)


def best_symbol_order(report):
    """The order of the report's best symbol n-gram (written key), or None."""
    symbols = {name: figures["nll_per_event"] for name, figures in
               report.get("baselines", {}).get("pitch", {}).items()
               if name.startswith("symbol_") and "_keys" not in name}
    return int(min(symbols, key=symbols.get).split("_")[1]) if symbols else None


def arithmetic(model, vocabulary, piece, events=40):
    """A fingerprint of how this machine's interpreter computes ``model``: the start of the
    SHA-256 of its next-symbol log-probabilities reading the first ``events`` of ``piece``.
    Two machines with the same fingerprint give every figure alike; another CPU's kernels give
    log-probabilities about 1e-6 apart, and so another fingerprint."""
    reader = reader_for(model)
    steps = vocabulary.speller().spell(piece._replace(events=piece.events[:events]))
    rows = [reader.read(step)["symbol"] for step in steps]
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
    reader, speller = reader_for(model), vocabulary.speller()
    shape = len(vocabulary.forms), len(vocabulary.durations)
    for piece in pieces:
        reader.reset()
        log_probs = reader.read(speller.start(piece.time_signature))
        for index, event in enumerate(piece.events):
            notes = tuple(event[0])
            if beam:
                ranked = top_events(reader, speller, log_probs, beam, max_notes)
                hits["pitch", "top1"] += ranked[:1] == [notes]
                hits["pitch", "top%d" % beam] += notes in ranked
            total = 0.0
            parts = piece.parts[index] if piece.parts is not None else None
            for step in speller.event(event, vocabulary.form_of(piece, index), parts):
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
    prediction of ``reader`` where it is, by a beam search over their symbols as ``speller``
    spells them (a chord's spellings in other voices add up). The reader and speller are left
    where they were."""
    end = speller.vocabulary.end
    where, spelling = reader.memory(), speller.memory()
    beams = [(0.0, log_probs["symbol"], where, spelling)]
    done = {}
    while beams:
        candidates = []
        for score, symbol_log_probs, memory, spelt in beams:
            speller.recall(spelt)
            allowed = speller.allowed(max_notes)
            if allowed[end]:
                notes = tuple(speller.pending_notes())
                done[notes] = np.logaddexp(done.get(notes, -math.inf),
                                           score + float(symbol_log_probs[end]))
                allowed[end] = False
            symbols = np.flatnonzero(allowed)
            for symbol in symbols[np.argsort(-symbol_log_probs[symbols])[:k]]:
                candidates.append((score + float(symbol_log_probs[symbol]), int(symbol),
                                   memory, spelt))
        ranked = sorted(done.values(), reverse=True)
        floor = ranked[k - 1] if len(ranked) >= k else -math.inf
        candidates = sorted((c for c in candidates if c[0] > floor), key=lambda c: -c[0])[:k]
        beams = []
        for score, symbol, memory, spelt in candidates:
            reader.recall(memory)
            speller.recall(spelt)
            symbol_log_probs = reader.read(speller.note(symbol))["symbol"]
            beams.append((score, symbol_log_probs, reader.memory(), speller.memory()))
    reader.recall(where)
    speller.recall(spelling)
    return sorted(done, key=done.get, reverse=True)[:k]


def ngram_baselines(train, test, vocabulary, transpositions, keys=(0,)):
    """Kneser-Ney n-gram NLL per event on the test pieces, trained on the same transposed
    training pieces: over whole chord tokens, over the model's symbols (its spelling, with the
    pieces' parts), and for durations.

    When the model reads the music in several ``keys``, the best symbol n-gram is also scored
    read in the same keys, so that the comparison gives both the same help."""
    train = [piece._replace(events=events) for piece in train for events in
             (dataset.transpose(piece.events, t) for t in transpositions) if events is not None]
    tokens = lambda piece: [protocol.format_token(notes) for notes, _, _ in piece.events]
    durations = lambda piece: [duration for _, duration, _ in piece.events]
    baselines = {"pitch": {}, "duration": {}}
    for order in TOKEN_ORDERS:
        model = KneserNey(order).fit([tokens(piece) for piece in train])
        nll = [-lp for piece in test for lp in model.logprobs(tokens(piece))]
        unknown = sum(t not in set(model.vocabulary) for piece in test for t in tokens(piece))
        baselines["pitch"]["token_%d" % order] = dict(_nll(nll), unknown_tokens=unknown)
    best = None
    for order in SYMBOL_ORDERS:  # columns of its distributions = the model's symbols
        model = KneserNey(order).fit([symbols(piece, vocabulary) for piece in train],
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
        model = KneserNey(order).fit([durations(piece) for piece in train])
        nll = [-lp for piece in test for lp in model.logprobs(durations(piece))]
        baselines["duration"]["duration_%d" % order] = _nll(nll)
    return baselines


def _symbol_ngram_nll(model, test, vocabulary, keys):
    """NLL per event of a symbol n-gram reading each piece in ``keys`` (semitone shifts),
    its distributions combined as the model's KeyEnsemble combines its members'."""
    nll = []
    maps = [vocabulary.shifted(shift) for shift in keys]
    for piece in test:
        spelt = np.array(symbols(piece, vocabulary))
        if list(keys) == [0]:
            log_probs = np.array(model.logprobs(spelt))
        else:
            members = [model.distributions(read_as[spelt])[:, :-1] for read_as, _ in maps]
            log_probs = geometric_mean(members, [back for _, back in maps])[
                np.arange(len(spelt)), spelt]
        ends = np.flatnonzero(spelt == vocabulary.end)  # each event ends with one <end>
        nll += [-float(total) for total in np.add.reduceat(log_probs, np.r_[0, ends[:-1] + 1])]
    return nll


def symbols(piece, vocabulary):
    """The symbols spelling ``piece`` (without the start's ``<end>``)."""
    return [int(step.symbol) for step in vocabulary.speller().spell(piece)[1:]]


class NgramModel:
    """A Kneser-Ney n-gram over the model's symbols that reads and predicts as a step model
    does (a :class:`~playbach.model.vocabulary.Step` in, the same heads out), so that the
    generator, and the key ensemble, sample it exactly as they sample the network: the baseline
    the music check plays beside it.

    Its tokens are the model's symbols, an ``<end>`` carrying the event's close (form and
    duration) and dynamic, so that it also ends pieces; its state is the last ``order - 1``
    tokens. Trained on the same transposed training pieces as the n-gram baselines."""

    kind = "step"
    shifts = (0,)

    def __init__(self, train, vocabulary, transpositions, order=16):
        self.vocabulary = vocabulary
        self._dynamics = len(vocabulary.dynamics) + 1  # NONE, then each dynamic
        self._ends = len(vocabulary.symbols) + np.arange(len(vocabulary.closes) * self._dynamics)
        pieces = [piece._replace(events=events) for piece in train for events in
                  (dataset.transpose(piece.events, t) for t in transpositions)
                  if events is not None]
        size = len(vocabulary.symbols) + len(self._ends)
        self.ngram = KneserNey(order).fit(
            [[self._token(step) for step in vocabulary.speller().spell(piece)[1:]]
             for piece in pieces], range(size))

    def _token(self, step):
        if step.symbol != self.vocabulary.end:
            return int(step.symbol)
        close = (step.form - 1) * len(self.vocabulary.durations) + step.duration - 1
        return len(self.vocabulary.symbols) + close * self._dynamics + int(step.dynamic)

    def zero_state(self):
        return ()

    def step(self, step, state):
        if step.symbol != self.vocabulary.end or step.duration != NONE:  # not a piece's start
            state = (state + (self._token(step),))[-(self.ngram.order - 1):]
        log_probs = self.ngram.next_logprobs(state)[:-1]  # UNK is never sampled
        ends = log_probs[self._ends].reshape(len(self.vocabulary.closes), self._dynamics)
        symbol = log_probs[:len(self.vocabulary.symbols)].copy()
        symbol[self.vocabulary.end] = np.logaddexp.reduce(ends, axis=None)
        heads = {"symbol": symbol, "duration": np.logaddexp.reduce(ends, axis=1),
                 "dynamic": np.logaddexp.reduce(ends[:, 1:], axis=0)}
        return {head: (values - np.logaddexp.reduce(values)).astype(np.float32)
                for head, values in heads.items()}, state
