"""An interpolated Kneser–Ney n-gram model: the honest baseline the neural model has to beat.

The model follows Chen & Goodman (1998), "An empirical study of smoothing techniques for
language modeling", section 2.7, with one absolute discount per order. For an n-gram model,
with ``h`` the last ``n - 1`` symbols and ``h'`` the same context without its oldest symbol::

    P_n(w | h) = max(c(h w) - D_n, 0) / c(h)  +  D_n * N1+(h .) / c(h) * P_n-1(w | h')

``c`` are raw counts at the highest order and *continuation counts* below it: the count of a
lower-order n-gram ``h w`` is the number of distinct symbols seen just before it,
``N1+(. h w)``. ``N1+(h .)`` is the number of distinct symbols seen after ``h``. A context
never seen in training backs off entirely to the next lower order, and the recursion ends in
the uniform distribution over the vocabulary plus one UNK slot, so every symbol, even one
never seen, gets a non-zero probability and the probabilities sum to one in any context.

Each sequence (one piece) is padded on the left with ``order - 1`` BOS markers, so its first
symbols are predicted from "start of piece"; BOS is context only, never predicted, and there
is no end marker.

Probabilities are natural: :meth:`KneserNey.logprob` and :meth:`KneserNey.logprobs` return
natural logarithms, so minus their mean is a cross-entropy in nats per symbol (divide by
``ln 2`` for bits).

How the counts are stored: symbols are coded as integers (vocabulary ``0 .. V-1``, UNK ``V``,
BOS ``V + 1``). A context of length ``j`` gets an integer id, the rank of the key
``id(its last j - 1 symbols) * base + its oldest symbol`` among all such keys seen in training,
and an n-gram is the key ``id(context) * base + symbol``. Each order is then a sorted numpy
array of keys with their counts, found again by binary search; the context one order down is
``key // base``. This keeps ~10 M n-grams in a few hundred MB and makes fitting a handful of
``np.unique`` calls rather than millions of dictionary updates.
"""
import numbers

import numpy as np

FALLBACK_DISCOUNT = 0.75  # when the count-of-counts cannot give an estimate


class _Unknown:
    """The type of :data:`UNK`: one instance, which survives pickling as itself."""

    def __repr__(self):
        return "UNK"

    def __reduce__(self):
        return "UNK"


UNK = _Unknown()
"""Any symbol outside the vocabulary is scored as this one; pass it to ask for the UNK slot."""


class _Level:
    """The counts of one order: sorted n-gram keys, their (continuation) counts, and per context
    ``total`` (sum of counts), ``types`` (distinct followers) and the absolute ``discount``."""

    def __init__(self, keys, counts, context_count, base, discount):
        contexts = keys // base
        self.keys = keys
        self.counts = counts
        self.totals = np.bincount(contexts, weights=counts, minlength=context_count)
        self.types = np.bincount(contexts, minlength=context_count)
        self.discount = discount

    def count(self, keys):
        """The count of each n-gram key, 0 for those never seen."""
        index = _find(self.keys, keys)
        return np.where(index >= 0, self.counts[index], 0)


class KneserNey:
    """An interpolated Kneser–Ney n-gram model over arbitrary hashable symbols.

    ``order`` is n: the model looks at the last ``order - 1`` symbols (order 1 is a discounted
    unigram interpolated with the uniform distribution). ``discount`` is ``None`` to estimate
    one per order from the training counts, ``D = n1 / (n1 + 2 n2)`` with ``n_r`` the number of
    n-grams of that order whose (continuation) count is exactly ``r`` (0.75 when ``n1`` or
    ``n2`` is zero); or one number in ``(0, 1]`` for every order; or a sequence of ``order``
    numbers, for the unigram level first.

    After :meth:`fit`, ``vocabulary`` is the tuple of known symbols (UNK excluded) and
    ``discounts`` the discount used at each order, unigrams first.
    """

    def __init__(self, order, discount=None):
        if isinstance(order, bool) or int(order) != order or order < 1:
            raise ValueError("order must be an integer >= 1, not %r" % (order,))
        self.order = int(order)
        if discount is not None:
            discount = ((discount,) * self.order if isinstance(discount, numbers.Real)
                        else tuple(discount))
            if len(discount) != self.order:
                raise ValueError("need %d discounts, one per order, got %d"
                                 % (self.order, len(discount)))
            if not all(0 < d <= 1 for d in discount):
                raise ValueError("discounts must be in (0, 1], not %r" % (discount,))
            discount = tuple(float(d) for d in discount)
        self._fixed_discounts = discount
        self.discounts = None
        self.vocabulary = None

    def __repr__(self):
        if self.vocabulary is None:
            return "KneserNey(order=%d, unfitted)" % self.order
        return "KneserNey(order=%d, %d symbols + UNK, discounts=%s)" % (
            self.order, len(self.vocabulary), ", ".join("%.3f" % d for d in self.discounts))

    def fit(self, sequences, vocabulary=None):
        """Count the n-grams of ``sequences`` (an iterable of lists of hashable symbols, one
        list per piece) and return ``self``.

        ``vocabulary`` lists every symbol the model may be asked to predict; symbols seen in
        training are added to it, and everything else is scored as :data:`UNK`. Without it,
        the vocabulary is the symbols seen. The size of the vocabulary plus one (UNK) sets the
        uniform distribution at the bottom of the recursion, so passing the true vocabulary
        makes scores comparable with a model that predicts over it."""
        sequences = [list(sequence) for sequence in sequences]
        symbols = dict.fromkeys(vocabulary if vocabulary is not None else ())
        for sequence in sequences:
            symbols.update(dict.fromkeys(sequence))
        symbols.pop(UNK, None)
        self.vocabulary = tuple(symbols)
        self._index = {symbol: code for code, symbol in enumerate(self.vocabulary)}
        self._unk = len(self.vocabulary)
        self._bos = self._unk + 1
        self._base = self._unk + 2

        history, targets = self._windows(sequences)
        if len(targets) * self._base >= 2 ** 62:
            raise ValueError("too much data for 64-bit n-gram keys")

        # An id for every context of length 0 (just one) to order - 1; ids ends as the id of
        # each position's full context.
        ids = np.zeros(len(targets), dtype=np.int64)
        self._context_keys = [np.zeros(1, dtype=np.int64)]
        for length in range(1, self.order):
            keys, ids = np.unique(ids * self._base + history[length - 1], return_inverse=True)
            self._context_keys.append(keys)
        del history

        # The highest order counts n-grams; each order below counts the distinct symbols seen
        # just before its n-grams, i.e. the n-grams of the order above that end with them.
        keys, counts = np.unique(ids * self._base + targets, return_counts=True)
        levels = [None] * self.order
        for n in range(self.order, 0, -1):
            if n < self.order:
                above = levels[n].keys
                shorter = self._context_keys[n][above // self._base] // self._base
                keys, counts = np.unique(shorter * self._base + above % self._base,
                                         return_counts=True)
            levels[n - 1] = _Level(keys, counts, len(self._context_keys[n - 1]), self._base,
                                   self._discount(n, counts))
        self._levels = levels
        self.discounts = tuple(level.discount for level in levels)
        return self

    def logprobs(self, sequence):
        """The natural log of the probability of each symbol of ``sequence`` given the symbols
        before it in the same sequence (padded with BOS like the training pieces), as a list."""
        self._check_fitted()
        history, targets = self._windows([list(sequence)])
        return self._logprobs(history, targets).tolist()

    def distributions(self, sequence):
        """The natural log of the probability of every symbol at each position of ``sequence``
        given the symbols before it: an array ``(len(sequence), len(vocabulary) + 1)``, its
        columns in the order of :attr:`vocabulary`, then UNK."""
        self._check_fitted()
        history, _ = self._windows([list(sequence)])
        size = self._unk + 1
        targets = np.tile(np.arange(size), history.shape[1])
        return self._logprobs(np.repeat(history, size, axis=1), targets).reshape(-1, size)

    def next_logprobs(self, context):
        """The natural log of the probability of every symbol after ``context`` (as in
        :meth:`logprob`): an array ``(len(vocabulary) + 1,)``, the columns of
        :meth:`distributions`."""
        self._check_fitted()
        context = list(context)
        recent = context[max(0, len(context) - self.order + 1):] if self.order > 1 else []
        padded = [self._bos] * (self.order - 1 - len(recent)) + self._encode(recent).tolist()
        size = self._unk + 1
        history = np.repeat(np.array(padded[::-1], dtype=np.int64).reshape(self.order - 1, 1),
                            size, axis=1)
        return self._logprobs(history, np.arange(size))

    def logprob(self, context, symbol):
        """``ln P(symbol | context)`` in nats. ``context`` is the sequence of symbols before
        ``symbol``, oldest first; only the last ``order - 1`` count, and a shorter context is
        taken to be the start of a piece (padded with BOS)."""
        self._check_fitted()
        context = list(context)
        recent = context[max(0, len(context) - self.order + 1):] if self.order > 1 else []
        padded = [self._bos] * (self.order - 1 - len(recent)) + self._encode(recent).tolist()
        history = np.array(padded[::-1], dtype=np.int64).reshape(self.order - 1, 1)
        return float(self._logprobs(history, self._encode([symbol]))[0])

    def _logprobs(self, history, targets):
        """Natural log probabilities of coded ``targets``; ``history[j]`` holds the symbol
        ``j + 1`` steps before each target (BOS before the start)."""
        probability = np.full(len(targets), 1 / (self._unk + 1))
        ids = np.zeros(len(targets), dtype=np.int64)
        if self._levels[0].totals[0] == 0:  # fitted on nothing: uniform everywhere
            return np.log(probability)
        for n, level in enumerate(self._levels, start=1):
            if n > 1:  # lengthen each context by one older symbol; -1 marks one never seen
                found = _find(self._context_keys[n - 1], ids * self._base + history[n - 2])
                ids = np.where(ids >= 0, found, -1)
            seen = np.flatnonzero(ids >= 0)
            if len(seen) == 0:
                break
            context = ids[seen]
            count = level.count(context * self._base + targets[seen])
            probability[seen] = (np.maximum(count - level.discount, 0)
                                 + level.discount * level.types[context] * probability[seen]
                                 ) / level.totals[context]
        return np.log(probability)

    def _windows(self, sequences):
        """Code the symbols of ``sequences`` and return ``(history, targets)``: the code of every
        symbol, and the ``order - 1`` codes before each (``history[0]`` just before)."""
        pad = np.full(self.order - 1, self._bos, dtype=np.int64)
        pieces = [np.zeros(0, dtype=np.int64)]
        for sequence in sequences:
            if sequence:
                pieces += [pad, self._encode(sequence)]
        tokens = np.concatenate(pieces)
        positions = np.flatnonzero(tokens != self._bos)
        history = np.stack([tokens[positions - back] for back in range(1, self.order)]
                           ) if self.order > 1 else np.zeros((0, len(positions)), np.int64)
        return history, tokens[positions]

    def _encode(self, symbols):
        index, unk = self._index, self._unk
        return np.array([index.get(symbol, unk) for symbol in symbols], dtype=np.int64)

    def _discount(self, n, counts):
        """The discount for order ``n`` given its (continuation) counts."""
        if self._fixed_discounts is not None:
            return self._fixed_discounts[n - 1]
        n1 = int(np.count_nonzero(counts == 1))
        n2 = int(np.count_nonzero(counts == 2))
        return n1 / (n1 + 2 * n2) if n1 and n2 else FALLBACK_DISCOUNT

    def _check_fitted(self):
        if self.vocabulary is None:
            raise RuntimeError("call fit() before scoring")


def _find(sorted_keys, keys):
    """The index of each of ``keys`` in the sorted array ``sorted_keys``, -1 where absent."""
    if len(sorted_keys) == 0:
        return np.full(len(keys), -1, dtype=np.int64)
    index = np.searchsorted(sorted_keys, keys)
    index = np.minimum(index, len(sorted_keys) - 1)
    return np.where(sorted_keys[index] == keys, index, -1)
