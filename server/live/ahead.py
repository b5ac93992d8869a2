"""Generation ahead of playback, in a process of its own, so that inference never delays a note.

Python's threads share one interpreter lock, and generating an event holds it for milliseconds
at a time: with generation in a thread, a subscriber on this computer got events 7-10 ms after
their deadline at p99 whatever Python's switch interval, in a process 3-4 ms (``make bench``,
``stream`` ``arrival``); a process has a lock of its own. It runs at a lower priority.

The worker keeps up to ``size`` timed events ready beyond those playback has taken (their holds
known, see :mod:`playbach.engine.timeline`) and sends each as it is ready; a thread here
receives them. The worker keeps a snapshot of the music just after each event, so that a new
setting (temperature, top-k, top-p) takes effect from the event after the one taken last:
:meth:`Ahead.rewind` has it go back there and generate again. A restart (new seed or primer)
drops every event ready and starts a new piece. Requests are numbered (``generation``): events
of music since dropped are thrown away as they arrive.

Pieces follow one another: a piece ends where the model ends it, or at its ``piece_events``th
event (the cap, made the piece's end: every note stops there), and the worker primes the next
one at once, after the shipped primer that follows in an order drawn from the seed
(:func:`next_primer`); the first event of that piece comes with its primer. ``piece_events``
None is one piece that never ends, the model never let end it (as before pieces ended).
"""
import logging
import multiprocessing
import os
import signal
import random
import threading
from collections import deque, namedtuple

from playbach.engine.composer import Composer
from playbach.engine.timeline import Timeline

log = logging.getLogger(__name__)

READY = 8  # events generated and timed ahead of playback
NICE = 10  # the worker's priority, below playback's (and the players' on the same computer)
SETTINGS = ("temperature", "top_k", "top_p")

# A timed event ready for playback; ``begins``: the primer of the piece it begins, when the
# piece before it ended (the model ended it, or the cap), else None.
Ready = namedtuple("Ready", "timed begins")


def next_primer(primers, current, seed):
    """The primer of the piece after one primed by ``current``: the shipped primer after it in
    an order drawn from ``seed`` (the first if ``current`` is not shipped), ``current`` again
    if none is shipped."""
    if not primers:
        return current
    order = sorted(primers)
    random.Random(seed).shuffle(order)
    following = order.index(current.name) + 1 if current.name in primers else 0
    return primers[order[following % len(order)]]


class Ahead:
    """Events of ``composer``'s model timed and ready ahead of playback, after ``primer``.

    The worker builds a composer of its own, with ``composer``'s model, seed, settings and
    sampler's options."""

    def __init__(self, composer, primer, size=READY, piece_events=None):
        generator = composer.generator
        recipe = (composer.model_path, composer.seed) + tuple(
            getattr(generator, name) for name in SETTINGS) + (composer.keys,)
        context = multiprocessing.get_context("spawn")  # fork would copy paho's threads' locks
        self.pipe, end = context.Pipe()
        self.process = context.Process(
            target=_work, args=(recipe, composer.sampler, primer, size, piece_events, end),
                                       name="playbach-generate", daemon=True)
        self.generation = 0  # counts requests: an event of music since dropped is known as such
        self.ready = deque()  # (generation, index, Ready)
        self.taken = None  # (generation, index) of the event taken last
        self.changed = threading.Condition()
        self.failure = None
        self.closed = False
        self.receiver = threading.Thread(target=self._receive, name="generated", daemon=True)

    def start(self):
        self.process.start()
        self.receiver.start()
        return self

    def restart(self, primer, seed=None):
        """Drop the events ready and start a new piece after ``primer`` (and with ``seed``)."""
        with self.changed:
            self.generation += 1
            self.ready.clear()
            self.taken = None  # nothing of the new piece is taken yet: nothing to rewind to
            self.pipe.send(("begin", self.generation, primer, seed))

    def rewind(self, settings):
        """Take ``settings`` (``{"temperature": 0.8}``...): drop the events ready and generate
        them again after the one taken last (before the first one taken, the settings apply to
        what is generated from now)."""
        with self.changed:
            if self.taken is None:
                self.pipe.send(("settings", self.generation, settings))
                return
            self.generation += 1
            self.ready.clear()
            self.pipe.send(("resume", self.generation, self.taken, settings))

    def take(self, timeout):
        """The next :class:`Ready` event, or None if none is ready within ``timeout`` seconds;
        ``RuntimeError`` if generation has failed."""
        with self.changed:
            self.changed.wait_for(lambda: self.ready or self.failure, timeout)
            if self.failure:
                raise RuntimeError("generation failed: %s" % self.failure)
            if not self.ready:
                return None
            generation, index, event = self.ready.popleft()
            self.taken = (generation, index)
            self.pipe.send(("took", generation, index))
            return event

    def close(self):
        with self.changed:
            self.closed = True
            try:
                self.pipe.send(("close", self.generation))
            except OSError:  # the worker has gone already
                pass
        self.process.join(5)
        if self.process.is_alive():
            self.process.terminate()
        self.receiver.join(5)

    def _receive(self):
        try:
            while True:
                message = self.pipe.recv()
                with self.changed:
                    if message[0] == "failed":
                        self.failure = message[1]
                    elif message[1] == self.generation:
                        self.ready.append(message[1:])
                    self.changed.notify_all()
        except (EOFError, OSError):
            with self.changed:
                if not self.closed and not self.failure:
                    self.failure = "the generating process ended (exit code %s)" % (
                        self.process.exitcode,)
                self.changed.notify_all()


def _work(recipe, sampler, primer, size, piece_events, pipe):
    """The worker process: generate for playback until told to close or the pipe ends."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the server, which closes it
    os.nice(NICE)  # it works ahead: anything else on the computer may go first
    try:
        _Worker(Composer(*recipe, **sampler), pipe, size, piece_events).run(primer)
    except (EOFError, OSError, KeyboardInterrupt):
        pass
    except Exception as error:  # reported to playback, which stops cleanly
        log.exception("generation failed")
        pipe.send(("failed", "%s: %s" % (type(error).__name__, error)))


class _Worker:
    def __init__(self, composer, pipe, size, piece_events):
        self.composer, self.pipe, self.size = composer, pipe, size
        self.piece_events = piece_events
        self.timeline = Timeline()
        self.snapshots = deque()  # after each event in the timeline, not yet ready
        self.sent = {}  # index: the snapshot after each event sent, not yet taken
        self.anchor = None  # ((generation, index), snapshot) of the event taken last
        self.generation = self.index = self.taken = 0
        self.primer, self.played = None, 0  # the piece's primer; its events generated
        self.begins = None  # the primer of the piece the next event generated begins, if any
        self.first = None  # (index, primer) of the event that begins a piece, to send with it

    def run(self, primer):
        self._start_over("begin", 0, (primer, None))
        while True:
            while self.pipe.poll(0 if self.index - self.taken < self.size else None):
                if not self._handle(self.pipe.recv()):
                    return
            self._generate_one()

    def _handle(self, request):
        kind, generation = request[:2]
        if kind == "close":
            return False
        if kind in ("begin", "resume"):
            self._start_over(kind, generation, request[2:])
        elif kind == "settings":
            self._set(request[2])
        elif kind == "took" and generation == self.generation:
            index = request[2]
            self.anchor = ((generation, index), self.sent.pop(index))
            for earlier in [i for i in self.sent if i < index]:
                del self.sent[earlier]
            self.taken = index + 1
        return True

    def _set(self, settings):
        for name, value in settings.items():
            setattr(self.composer.generator, name, value)

    def _start_over(self, kind, generation, arguments):
        self.snapshots.clear()
        self.sent.clear()
        self.first = None
        self.generation, self.index, self.taken = generation, 0, 0
        if kind == "begin":
            primer, seed = arguments
            self._begin(primer, seed)
            self.begins = None  # playback knows: it asked for this piece
        else:
            taken, settings = arguments
            self._set(settings)
            music, held, (self.primer, self.played, self.begins) = self.anchor[1]
            assert self.anchor[0] == taken, "resuming from %s, not %s" % (taken, self.anchor[0])
            self.composer.restore(music)
            self.timeline.resume(held)
            log.debug("generating again with the new settings")

    def _begin(self, primer, seed=None):
        self.primer, self.played, self.begins = primer, 0, primer
        self.timeline.reset()
        self.timeline.prime(self.composer.begin(primer, seed))
        log.debug("new piece after primer %s (seed %d)", primer.name, self.composer.seed)

    def _generate_one(self):
        if self.piece_events is None:
            event = self.composer.next_event()
        else:
            event = self.composer.generate()
            if self.begins:  # all before it has been sent: it is the next to go
                self.first, self.begins = (self.index, self.begins), None
            self.played += 1
            if self.played >= self.piece_events and not event.piece_end:
                event = event._replace(phrase_end=True, piece_end=True)  # the cap
        self.timeline.push(event)
        ended = getattr(event, "piece_end", False)
        timed = list(self.timeline.drain()) if ended else []  # all of the piece, at once
        if ended:  # what follows it is the next piece, primed
            self._begin(next_primer(self.composer.primers, self.primer, self.composer.seed))
        self.snapshots.append((self.composer.snapshot(), list(self.timeline.voicer.held),
                               (self.primer, self.played, self.begins)))
        while not ended and self.timeline.ready():
            timed.append(self.timeline.pop())
        for event in timed:
            self.sent[self.index] = self.snapshots.popleft()
            begins = self.first[1] if self.first and self.first[0] == self.index else None
            self.pipe.send(("event", self.generation, self.index, Ready(event, begins)))
            self.index += 1
