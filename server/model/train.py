"""Training (needs the ``train`` extra): Keras on TensorFlow, a planned number of epochs whose
last ones anneal the learning rate, early stopping on the next-symbol validation loss."""
import logging
import math
import sys
import time
from pathlib import Path

import keras
import numpy as np

from playbach.corpus import store
from playbach.model import card as cards
from playbach.model import dataset, network
from playbach.model.hyper import HYPER_PARAMETERS, PATIENCE
from playbach.model.vocabulary import HEADS, Vocabulary, sequences

log = logging.getLogger(__name__)

class AnnealedRate(keras.optimizers.schedules.LearningRateSchedule):
    """``rate`` for the first ``hold`` updates, then a cosine from ``start`` down to ``end``
    over the next ``anneal`` updates, and ``end`` after them. ``hold`` and ``anneal`` are
    variables, so that :class:`TimeLimit` can move the annealing while training runs."""

    def __init__(self, rate, start, end, hold, anneal):
        self.rate, self.start, self.end = rate, start, end
        self.hold = keras.Variable(float(hold), trainable=False, name="hold")
        self.anneal = keras.Variable(float(anneal), trainable=False, name="anneal")

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        progress = keras.ops.clip((step - self.hold) / keras.ops.maximum(self.anneal, 1.0),
                                  0.0, 1.0)
        cosine = self.end + (self.start - self.end) * 0.5 * (1 + keras.ops.cos(math.pi * progress))
        return keras.ops.where(step < self.hold, self.rate, cosine)

    def get_config(self):
        return {"rate": self.rate, "start": self.start, "end": self.end,
                "hold": float(self.hold.numpy()), "anneal": float(self.anneal.numpy())}


class TimeLimit(keras.callbacks.Callback):
    """Fits the plan into ``minutes``: after each epoch, until the annealing begins, the plan is
    cut to the epochs that fit at the pace of the last one (or let grow back, up to its length),
    and its annealing moved to their end. Revising it every epoch matters because the first
    epoch, which traces the graph, is the slowest."""

    def __init__(self, minutes, rate, updates, anneal_epochs, clock=time.monotonic):
        super().__init__()
        self.minutes, self.rate, self.updates = minutes, rate, updates
        self.anneal_epochs, self.clock = anneal_epochs, clock
        self.last = None  # the epoch to stop after, once the plan is cut

    def on_train_begin(self, logs=None):
        self.started = self.clock()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_started = self.clock()

    def on_epoch_end(self, epoch, logs=None):
        now = self.clock()
        annealing = (epoch + 1) * self.updates > float(self.rate.hold.numpy())
        if self.minutes and (epoch == 0 or not annealing):
            self.fit_plan(epoch + 1, now - self.epoch_started, now - self.started)
        if self.last and epoch + 1 >= self.last:
            self.model.stop_training = True

    def fit_plan(self, done, seconds_per_epoch, elapsed):
        """Plan the epochs that fit, ``done`` of them taking ``elapsed`` seconds, the last
        ``seconds_per_epoch``."""
        fit = done + int((60 * self.minutes - elapsed) // seconds_per_epoch)
        fit = max(done, min(fit, self.params["epochs"]))
        if fit == (self.last or self.params["epochs"]):
            return
        anneal = min(self.anneal_epochs, fit - done)
        self.rate.hold.assign(float((fit - anneal) * self.updates))
        self.rate.anneal.assign(float(anneal * self.updates))
        self.last = fit
        log.info("%d epochs fit in %g minutes (the last took %.0f s): the last %d anneal the rate",
                 fit, self.minutes, seconds_per_epoch, anneal)


def train(corpus, out, name="playbach", hyper=None, patience=PATIENCE, minutes=None, seed=0,
          limit=None, verbose="auto", resume=None):
    """Train on the corpus folder ``corpus``; write ``out/NAME.weights.h5`` and the card
    ``out/NAME.json``; return the card. ``hyper``: changes to ``HYPER_PARAMETERS`` (its
    ``epochs`` is the plan's length, the last ``anneal_epochs`` annealing the rate).
    ``resume``: the card of a model to train further, with its hyper-parameters (``hyper`` may
    change its epochs) and split. ``verbose``: Keras's (1 a progress bar, 2 a line per epoch);
    "auto" picks the bar on a terminal."""
    if verbose == "auto":
        verbose = 1 if sys.stdout.isatty() else 2
    previous = cards.load_card(resume) if resume else None
    if previous:
        hyper, seed = dict(previous["hyperparameters"], **(hyper or {})), previous["split"]["seed"]
    else:
        hyper = dict(HYPER_PARAMETERS, **(hyper or {}))
    keras.utils.set_random_seed(seed)
    pieces = store.load_pieces(corpus)[:limit]
    split = dataset.split_by_piece(pieces, seed)
    if previous and [p.name for p in split["test"]] != previous["split"]["test"]:
        raise SystemExit("%s: the corpus does not give the model's split back" % resume)
    vocabulary = Vocabulary.default(hyper.get("spelling", "ascending"))
    hyper["max_notes"] = max(len(notes) for p in split["train"] for notes, _, _ in p.events)
    window, stride = hyper["train_window"], hyper["train_window"] // 2
    train_x, train_y = dataset.windows(
        dataset.encode(split["train"], vocabulary, hyper["transpositions"]), window, stride)
    val_x, val_y = dataset.windows(dataset.encode(split["validation"], vocabulary), window,
                                   stride)
    log.info("%d training windows of %d symbols (%d pieces x %d keys), %d validation windows",
             len(train_x.symbol), window, len(split["train"]), len(hyper["transpositions"]),
             len(val_x.symbol))
    model = network.build(hyper, vocabulary)
    if previous:
        model.load_weights(Path(resume).parent / previous["weights"])
    epochs = hyper["epochs"]
    updates = math.ceil(len(train_x.symbol) / hyper["batch_size"])  # per epoch
    anneal = min(hyper["anneal_epochs"], epochs) * updates
    rate = AnnealedRate(hyper["learning_rate"], *hyper["anneal_rates"],
                        hold=epochs * updates - anneal, anneal=anneal)
    model.compile(optimizer=keras.optimizers.Adam(rate, clipnorm=1.0),
                  loss={head: network.masked_nll for head in HEADS},
                  jit_compile=False)  # XLA measured 1.8x slower for this LSTM on CPU
    started = time.monotonic()
    read = network.read_inputs(hyper)
    history = model.fit(
        sequences(train_x, read), train_y, batch_size=hyper["batch_size"], epochs=epochs,
        validation_data=(sequences(val_x, read), val_y), verbose=verbose,
        shuffle=True, callbacks=[
            # The rhythm heads overfit epochs before the next-symbol head stops improving.
            keras.callbacks.EarlyStopping(monitor="val_symbol_loss", mode="min", patience=patience,
                                          restore_best_weights=True),
            TimeLimit(minutes, rate, updates, hyper["anneal_epochs"])])
    seconds = time.monotonic() - started
    validation = validation_scores(model, vocabulary, split["validation"], read)
    log.info("validation, per event: %s", ", ".join("%s %.4f" % item
                                                    for item in validation.items()))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    weights = name + ".weights.h5"
    model.save_weights(out / weights)
    losses = history.history
    if previous:  # one history for the whole training
        seconds += previous["training"]["seconds"]
        losses = {key: previous["training"]["history"][key] + values
                  for key, values in losses.items()}
    best = int(np.argmin(losses["val_symbol_loss"]))
    card = {
        "format": cards.FORMAT,
        "name": name,
        "vocabulary": vocabulary.to_card(),
        "hyperparameters": hyper,
        "corpus": describe_corpus(corpus, len(pieces)),
        "split": {"seed": seed, "fractions": list(dataset.SPLIT_FRACTIONS),
                  **{part: [p.name for p in chosen] for part, chosen in split.items()}},
        "training": {
            "epochs": len(losses["loss"]), "best_epoch": best + 1, "seconds": round(seconds),
            "minutes": minutes,  # the budget of the last run
            "annealed_epochs": max(0, len(history.history["loss"])  # of the last run
                                   - round(float(rate.hold.numpy()) / updates)),
            "parameters": model.count_params(),
            "windows": len(train_x.symbol),
            "validation": validation,
            "history": {key: [round(float(v), 4) for v in values]
                        for key, values in losses.items()}},
        "weights": weights,
        "files": {},
    }
    card["commands"] = list(previous.get("commands", [])) if previous else []
    cards.record_command(card)
    card["primers"] = dataset.write_primers(out / (name + "-primers.jsonl"), split["test"])
    cards.save_card(out / (name + ".json"), card)
    return card


def validation_scores(model, vocabulary, pieces, read, batch=8):
    """NLL per event in nats of the Keras ``model`` on whole ``pieces`` (each read from its
    start, in the written key), by head: ``pitch`` (the event's symbols and ``<end>``: its notes,
    and their voices where the spelling writes them), ``duration`` (summed over the forms),
    ``form`` (given the duration), ``dynamic``, and ``event`` (pitch, duration, dynamic):
    figures that compare across spellings, as per-symbol losses do not."""
    encoded = dataset.encode(pieces, vocabulary)
    inputs, targets = dataset.windows(encoded, max(len(steps.symbol) for steps, _ in encoded), 1)
    totals = dict.fromkeys(("pitch", "duration", "form", "dynamic"), 0.0)
    shape = len(vocabulary.forms), len(vocabulary.durations)
    for start in range(0, len(inputs.symbol), batch):
        rows = slice(start, start + batch)
        log_probs = model(sequences(type(inputs)(*(values[rows] for values in inputs)), read),
                          training=False)
        log_probs = {head: np.asarray(values) for head, values in log_probs.items()}
        symbols, closes, dynamics = (targets[head][rows] for head in HEADS)
        totals["pitch"] -= _picked(log_probs["symbol"], symbols).sum()
        scored = closes >= 0
        grid = log_probs["duration"][scored].reshape((-1,) + shape)
        durations = np.logaddexp.reduce(grid, axis=1)
        form, duration = np.divmod(closes[scored], shape[1])
        picked = durations[np.arange(len(duration)), duration]
        totals["duration"] -= picked.sum()
        totals["form"] -= (grid[np.arange(len(duration)), form, duration] - picked).sum()
        totals["dynamic"] -= _picked(log_probs["dynamic"], dynamics).sum()
    events = sum(len(piece.events) for piece in pieces)
    scores = {head: round(float(total) / events, 4) for head, total in totals.items()}
    scores["event"] = round(scores["pitch"] + scores["duration"] + scores["dynamic"], 4)
    return scores


def _picked(log_probs, targets):
    """The log-probabilities of the ``targets`` that are scored (>= 0), 0 elsewhere."""
    picked = np.take_along_axis(log_probs, np.maximum(targets, 0)[..., None], -1)[..., 0]
    return np.where(targets >= 0, picked, 0.0)


def describe_corpus(folder, pieces):
    """What the card says of the corpus: where it came from, its size, and its licence."""
    vocab = store.load_vocab(folder)
    summary = vocab["summary"]
    if summary.get("bach_chorales"):
        description = ("The four-part Bach chorales bundled with music21, exported to MIDI and "
                       "tokenized by `playbach corpus --bach` (%d unique pieces, %d events)"
                       % (summary["pieces"], summary["tokens"]))
        licence = ("Some encodings in music21's corpus are licensed for non-commercial use "
                   "only; so may be a model trained on them.")
    else:
        description = "MIDI files from %s (%d pieces, %d events)" % (
            ", ".join(summary.get("sources", [str(folder)])), summary["pieces"],
            summary["tokens"])
        licence = "The licence of the source MIDI files applies."
    return {"folder": str(folder), "pieces": pieces, "description": description,
            "licence": licence, "dynamics": vocab["dynamics"], "durations": vocab["durations"]}


def load_model(card_path):
    """Rebuild the Keras model of a card and load its trained weights."""
    card_path = Path(card_path)
    card = cards.load_card(card_path)
    model = network.build(card["hyperparameters"], Vocabulary.from_card(card))
    model.load_weights(card_path.parent / card["weights"])
    return model, card
