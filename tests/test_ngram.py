"""The Kneser–Ney baseline: normalised in every context, equal to the formula by hand and to a
slow dictionary implementation of it, and better with more context on patterned text."""
import math
import random
from collections import Counter, defaultdict

import pytest

from playbach.model.ngram import UNK, KneserNey

ORDERS = [1, 2, 3, 5]


def random_pieces(count, length, alphabet, seed):
    """``count`` pieces of random length up to ``length`` over ``alphabet``, from a sticky
    random walk so that some n-grams repeat and others are rare."""
    rng = random.Random(seed)
    pieces = []
    for _ in range(count):
        piece = [rng.choice(alphabet)]
        for _ in range(rng.randint(0, length - 1)):
            piece.append(piece[-1] if rng.random() < 0.3 else rng.choice(alphabet))
        pieces.append(piece)
    return pieces


def total_probability(model, context):
    return math.fsum(math.exp(model.logprob(context, symbol))
                     for symbol in list(model.vocabulary) + [UNK])


class Reference:
    """Interpolated Kneser–Ney written straight from the formula, with dictionaries of tuples."""

    BOS = "<s>"

    def __init__(self, pieces, order, discount=None):
        self.order = order
        self.vocabulary = {symbol for piece in pieces for symbol in piece}
        highest = Counter()
        for piece in pieces:
            padded = [self.BOS] * (order - 1) + piece
            for end in range(order - 1, len(padded)):
                highest[tuple(padded[end - order + 1:end + 1])] += 1
        self.counts = {order: highest}  # n-gram tuple -> (continuation) count, per order
        for n in range(order - 1, 0, -1):
            self.counts[n] = Counter(gram[1:] for gram in self.counts[n + 1])
        self.totals, self.types, self.discounts = {}, {}, {}
        for n, counts in self.counts.items():
            self.totals[n], self.types[n] = defaultdict(int), defaultdict(int)
            for gram, count in counts.items():
                self.totals[n][gram[:-1]] += count
                self.types[n][gram[:-1]] += 1
            n1 = sum(1 for count in counts.values() if count == 1)
            n2 = sum(1 for count in counts.values() if count == 2)
            self.discounts[n] = (discount if discount is not None
                                 else n1 / (n1 + 2 * n2) if n1 and n2 else 0.75)

    def probability(self, context, symbol, n=None):
        n = self.order if n is None else n
        if n == 0:
            return 1 / (len(self.vocabulary) + 1)
        history = tuple(context[len(context) - n + 1:]) if n > 1 else ()
        lower = self.probability(context, symbol, n - 1)
        total = self.totals[n].get(history, 0)
        if total == 0:
            return lower
        d = self.discounts[n]
        return (max(self.counts[n].get(history + (symbol,), 0) - d, 0) / total
                + d * self.types[n][history] / total * lower)

    def logprobs(self, piece):
        padded = [self.BOS] * (self.order - 1) + piece
        return [math.log(self.probability(padded[:end], padded[end]))
                for end in range(self.order - 1, len(padded))]


@pytest.mark.parametrize("order", ORDERS)
def test_matches_the_formula_written_with_dictionaries(order):
    alphabet = list("abcde")
    train = random_pieces(30, 40, alphabet, seed=order)
    test = random_pieces(5, 40, alphabet + ["z"], seed=100 + order)  # "z" is never seen
    model = KneserNey(order).fit(train)
    reference = Reference(train, order)
    assert model.discounts == pytest.approx([reference.discounts[n]
                                             for n in range(1, order + 1)], abs=1e-15)
    for piece in test:
        assert model.logprobs(piece) == pytest.approx(reference.logprobs(piece), abs=1e-12)


@pytest.mark.parametrize("order", ORDERS)
def test_probabilities_sum_to_one_in_any_context(order):
    train = random_pieces(20, 30, list(range(6)), seed=order)
    model = KneserNey(order).fit(train)
    contexts = [
        (),                               # the start of a piece
        tuple(train[0][:order - 1]),      # seen
        tuple(train[1]),                  # seen, longer than the model looks
        (5, 5, 5, 0, 0, 0, 5, 5, 5)[:order + 2],  # probably never seen at the highest orders
        ("never", "seen"),                # unknown symbols
        (0, "never", 1),
    ]
    for context in contexts:
        assert total_probability(model, context) == pytest.approx(1, abs=1e-9), context
    with_fixed = KneserNey(order, discount=0.9).fit(train, vocabulary=range(10))
    for context in contexts:
        assert total_probability(with_fixed, context) == pytest.approx(1, abs=1e-9), context


def test_a_bigram_by_hand():
    """Corpus "a b a", padded "<s> a b a", D = 0.5, vocabulary {a, b} + UNK = 3 symbols."""
    d = 0.5
    model = KneserNey(2, discount=d).fit([["a", "b", "a"]])
    uniform = 1 / 3
    # Unigram continuation counts: a follows <s> and b (2), b follows a (1); 3 in all, 2 types.
    unigram = {"a": (2 - d) / 3 + d * 2 / 3 * uniform,
               "b": (1 - d) / 3 + d * 2 / 3 * uniform,
               UNK: 0 + d * 2 / 3 * uniform}
    assert sum(unigram.values()) == pytest.approx(1)
    expected = {
        # after a: c(a b) = 1, c(a) = 1, one distinct follower
        (("a",), "b"): (1 - d) / 1 + d * 1 / 1 * unigram["b"],
        (("a",), "a"): 0 + d * 1 / 1 * unigram["a"],
        (("b",), "a"): (1 - d) / 1 + d * 1 / 1 * unigram["a"],
        ((), "a"): (1 - d) / 1 + d * 1 / 1 * unigram["a"],  # after <s>
        ((), "c"): 0 + d * 1 / 1 * unigram[UNK],
        (("c",), "a"): unigram["a"],  # unseen context: all the way down to the unigram
        (("c",), "q"): unigram[UNK],
    }
    for (context, symbol), probability in expected.items():
        assert math.exp(model.logprob(context, symbol)) == pytest.approx(probability, abs=1e-12)
    assert model.logprobs(["a", "b", "a"]) == pytest.approx(
        [math.log(expected[(), "a"]), math.log(expected[("a",), "b"]),
         math.log(expected[("b",), "a"])])


def test_discount_from_count_of_counts():
    # Unigram counts a:2, b:1, c:1, so n1 = 2, n2 = 1 and D = 2 / (2 + 2).
    assert KneserNey(1).fit([["a", "a", "b", "c"]]).discounts == (0.5,)
    assert KneserNey(1).fit([["a", "b"]]).discounts == (0.75,)  # no n2: the fallback
    assert KneserNey(3, discount=[0.1, 0.2, 0.3]).fit([["a", "b"]]).discounts == (0.1, 0.2, 0.3)


@pytest.mark.parametrize("order", ORDERS)
def test_an_unseen_symbol_is_unlikely_but_possible(order):
    train = random_pieces(20, 30, list("abcd"), seed=order)
    model = KneserNey(order).fit(train)
    for context in [(), tuple(train[0][:4]), ("x", "y")]:
        unseen = model.logprob(context, "never seen")
        assert unseen == model.logprob(context, UNK)
        assert -math.inf < unseen < min(model.logprob(context, s) for s in "abcd")


def test_a_listed_but_unseen_symbol_scores_as_unk_and_widens_the_uniform():
    train = [["a", "b", "a", "b"]]
    small = KneserNey(2).fit(train)
    large = KneserNey(2).fit(train, vocabulary=["a", "b", "c", "d"])
    assert large.vocabulary == ("a", "b", "c", "d")
    assert large.logprob(["a"], "c") == large.logprob(["a"], "zzz")
    assert large.logprob(["a"], "c") < small.logprob(["a"], "c")
    assert total_probability(large, ["a"]) == pytest.approx(1, abs=1e-12)


def test_more_context_wins_on_patterned_text():
    """A period-8 pattern needs four symbols of context to be predicted exactly; 5% noise."""
    pattern = [0, 1, 0, 2, 0, 1, 0, 3]
    rng = random.Random(7)

    def pieces(count):
        return [[symbol if rng.random() > 0.05 else rng.randrange(6)
                 for symbol in pattern * 25] for _ in range(count)]

    train, test = pieces(20), pieces(4)

    def nll(order):  # nats per symbol
        model = KneserNey(order).fit(train)
        scores = [score for piece in test for score in model.logprobs(piece)]
        return -sum(scores) / len(scores)

    losses = {order: nll(order) for order in (1, 2, 3, 5)}
    assert losses[1] > losses[2] > losses[3] > losses[5]
    assert losses[5] < 0.5 * losses[2]


def test_order_one_approaches_the_empirical_unigram():
    truth = {"a": 0.5, "b": 0.25, "c": 0.15, "d": 0.1}
    rng = random.Random(3)
    sample = rng.choices(list(truth), weights=list(truth.values()), k=100_000)
    model = KneserNey(1).fit([sample[:50_000], sample[50_000:]])
    frequency = Counter(sample)
    for symbol, probability in truth.items():
        estimate = math.exp(model.logprob((), symbol))
        assert estimate == pytest.approx(frequency[symbol] / len(sample), abs=1e-4)
        assert estimate == pytest.approx(probability, abs=0.01)
    assert math.exp(model.logprob((), UNK)) < 1e-4
    # Context is ignored at order 1.
    assert model.logprob(("d", "d", "d"), "a") == model.logprob((), "a")


@pytest.mark.parametrize("order", ORDERS)
def test_logprobs_agree_with_logprob(order):
    train = random_pieces(10, 20, list("abc"), seed=order)
    model = KneserNey(order).fit(train)
    piece = list("abcabxcba")
    scores = model.logprobs(piece)
    assert len(scores) == len(piece)
    assert scores == pytest.approx([model.logprob(piece[:i], piece[i])
                                    for i in range(len(piece))], abs=1e-14)
    assert model.logprobs([]) == []


@pytest.mark.parametrize("order", ORDERS)
def test_distributions_give_every_symbol_in_every_position(order):
    train = random_pieces(10, 20, list("abc"), seed=order)
    model = KneserNey(order).fit(train, vocabulary="abcd")
    piece = list("abcabxcba")
    rows = model.distributions(piece)
    assert rows.shape == (len(piece), len(model.vocabulary) + 1)
    symbols = list(model.vocabulary) + [UNK]
    for i in range(len(piece)):
        assert rows[i] == pytest.approx([model.logprob(piece[:i], s) for s in symbols],
                                        abs=1e-12)
        assert math.fsum(math.exp(v) for v in rows[i]) == pytest.approx(1, abs=1e-9)


def test_no_training_data_gives_the_uniform_distribution():
    model = KneserNey(3).fit([[], []], vocabulary="abc")
    assert model.logprobs(list("abz")) == pytest.approx([math.log(1 / 4)] * 3)


def test_bad_arguments():
    for order in (0, -1, 2.5, True):
        with pytest.raises(ValueError):
            KneserNey(order)
    for discount in (0, 1.5, -0.1, [0.5, 0.5]):
        with pytest.raises(ValueError):
            KneserNey(3, discount=discount)
    with pytest.raises(RuntimeError):
        KneserNey(2).logprob((), "a")
