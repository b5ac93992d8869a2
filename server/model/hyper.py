"""The training settings, in one place: what ``playbach train`` does unless told otherwise.

Plain data (no TensorFlow), so that ``playbach train --help`` can show them and a model card
records them (``hyperparameters``) beside what ``train`` measured.
"""
SYMBOLS_PER_EVENT = 4  # about: a window of N events reads 4 N symbols
CONTEXT_EVENTS = 40  # the seed's window

HYPER_PARAMETERS = {
    "spelling": "ascending",  # how an event is spelled: vocabulary.SPELLINGS
    "context_events": CONTEXT_EVENTS,
    "window": CONTEXT_EVENTS * SYMBOLS_PER_EVENT,
    # Symbols per training sequence (about 96 events, a whole chorale): measured against
    # windows of 96 symbols (docs/spellings.md), the network that has read whole pieces keeps
    # more of Bach's rhythm in free play and ends its pieces on his phrase ends as often as he
    # does.
    "train_window": 384,
    "symbol_embedding": 128,  # one per input of vocabulary.INPUTS
    "duration_embedding": 16,
    "dynamic_embedding": 8,
    "voice_embedding": 16,  # per voice
    "form_embedding": 4,
    "beat_embedding": 0,  # 0: the input is not read
    "phrase_embedding": 0,
    "phrases_embedding": 0,
    "key_embedding": 0,
    "lstm_units": [256, 256],
    "dropout": 0.2,
    "batch_size": 16,  # as many symbols per update as 64 windows of 96
    # The plan; train --minutes keeps the epochs that fit (TimeLimit). Measured with 384-symbol
    # windows: 9 epochs (about 31 min) reached a validation symbol loss of 1.197, 14 (53 min)
    # 1.094.
    "epochs": 14,
    "learning_rate": 0.003,
    # The last epochs take the rate down on a cosine: measured from epoch 8 of a constant-rate
    # run, two such epochs lowered the validation symbol loss 1.178 -> 1.145, where two more
    # constant-rate epochs had given 1.160.
    "anneal_epochs": 2,
    "anneal_rates": [0.001, 0.00005],
    "transpositions": list(range(-6, 6)),
}
MINUTES = 57  # playbach train's budget: with the data's preparation a run takes under an hour
PATIENCE = 3  # epochs without a better validation symbol loss before training stops


def context(events):
    """The hyper-parameters of a window model reading ``events`` events of context."""
    window = SYMBOLS_PER_EVENT * events
    return {"context_events": events, "window": window,
            "train_window": min(window, HYPER_PARAMETERS["train_window"])}
