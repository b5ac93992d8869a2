"""Train the next-event model on a corpus (needs the train extra: pip install 'playbach[train]').

Splits the corpus by piece (fixed seed) so no test piece is ever seen in training, transposes the
training pieces into all 12 keys, and trains two stacked LSTMs with heads for the next symbol,
duration and dynamic: the planned epochs that fit in --minutes, the last ones annealing the
learning rate (fewer if the time is short), stopping early if the validation symbol loss stops
improving. Each step reads a symbol, the voicing (what the four voices hold) and how the last
event closed (it goes on, ends a phrase, ends the piece), and where the event falls and its key
where the hyper-parameters give those an embedding (model/hyper.py). Writes
OUT/NAME.weights.h5 and the model card OUT/NAME.json (with every setting it used); then run
playbach export and playbach eval.

example:
  playbach corpus --bach --out data/bach
  playbach train data/bach --out models
"""
from pathlib import Path

from playbach.model.hyper import HYPER_PARAMETERS, MINUTES, PATIENCE, context
from playbach.model.vocabulary import SPELLINGS


def add_arguments(parser):
    hyper = HYPER_PARAMETERS
    parser.add_argument("corpus", type=Path, help="corpus folder written by playbach corpus")
    parser.add_argument("--out", type=Path, default=Path("models"), help="folder (default: models)")
    parser.add_argument("--name", default="playbach", help="file name stem (default: playbach)")
    parser.add_argument("--epochs", type=int,
                        help="the plan's length; its last %d anneal the learning rate "
                             "(default: %d)" % (hyper["anneal_epochs"], hyper["epochs"]))
    parser.add_argument("--patience", type=int, default=PATIENCE,
                        help="stop after this many epochs without a better validation symbol "
                             "loss (default: %d)" % PATIENCE)
    parser.add_argument("--minutes", type=float, default=MINUTES,
                        help="fit the epochs into this time, the last 1 or %d still annealing "
                             "(default: %g, so that with the data's preparation a run takes "
                             "under an hour; 0: no limit)" % (hyper["anneal_epochs"], MINUTES))
    parser.add_argument("--spelling", choices=SPELLINGS,
                        help="how each event is spelled: every voice in turn (voices), the "
                             "notes tagged with their voices (parts), or the notes in ascending "
                             "pitch, voiced by the Voicer (ascending) (default: %s)"
                             % hyper["spelling"])
    parser.add_argument("--seed", type=int, default=0, help="split and initialisation seed")
    parser.add_argument("--limit", type=int, metavar="N", help="use only the first N pieces")
    parser.add_argument("--context", type=int, metavar="EVENTS",
                        help="events of context the window model reads (default: %d)"
                             % hyper["context_events"])
    parser.add_argument("--units", type=int, nargs="+", metavar="N",
                        help="LSTM sizes, one per layer (default: %s)"
                             % " ".join(map(str, hyper["lstm_units"])))
    parser.add_argument("--batch-size", type=int,
                        help="windows per batch (default: %d)" % hyper["batch_size"])
    parser.add_argument("--resume", type=Path, metavar="CARD",
                        help="train this model further (its hyper-parameters and split)")


def run(args):
    from playbach.model.train import train

    hyper = {}
    if args.epochs:
        hyper["epochs"] = args.epochs
    if args.context:
        hyper.update(context(args.context))
    if args.units:
        hyper["lstm_units"] = args.units
    if args.batch_size:
        hyper["batch_size"] = args.batch_size
    if args.spelling:
        hyper["spelling"] = args.spelling
    card = train(args.corpus, args.out, args.name, hyper, args.patience, args.minutes,
                 args.seed, args.limit, resume=args.resume)
    training = card["training"]
    print("trained %d epochs in %d s (best: epoch %d, validation symbol loss %.4f); wrote %s"
          % (training["epochs"], training["seconds"], training["best_epoch"],
             training["history"]["val_symbol_loss"][training["best_epoch"] - 1],
             args.out / (args.name + ".json")))
    return 0
