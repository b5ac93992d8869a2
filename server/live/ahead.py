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
"""
import logging
import multiprocessing
import os
import signal
import threading
from collections import deque

from playbach.engine.composer import Composer
from playbach.engine.timeline import Timeline

log = logging.getLogger(__name__)

READY = 8  # events generated and timed ahead of playback
NICE = 10  # the worker's priority, below playback's (and the players' on the same computer)
SETTINGS = ("temperature", "top_k", "top_p")


class Ahead:
    """Events of ``composer``'s model timed and ready ahead of playback, after ``primer``.

    The worker builds a composer of its own, with ``composer``'s model, seed and settings."""

    def __init__(self, composer, primer, size=READY):
        generator = composer.generator
        recipe = (composer.model_path, composer.seed) + tuple(
            getattr(generator, name) for name in SETTINGS) + (composer.keys,)
        context = multiprocessing.get_context("spawn")  # fork would copy paho's threads' locks
        self.pipe, end = context.Pipe()
        self.process = context.Process(target=_work, args=(recipe, primer, size, end),
                                       name="playbach-generate", daemon=True)
        self.generation = 0  # counts requests: an event of music since dropped is known as such
        self.ready = deque()  # (generation, index, timed event)
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
        """The next timed event, or None if none is ready within ``timeout`` seconds;
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


def _work(recipe, primer, size, pipe):
    """The worker process: generate for playback until told to close or the pipe ends."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the server, which closes it
    os.nice(NICE)  # it works ahead: anything else on the computer may go first
    try:
        _Worker(Composer(*recipe), pipe, size).run(primer)
    except (EOFError, OSError, KeyboardInterrupt):
        pass
    except Exception as error:  # reported to playback, which stops cleanly
        log.exception("generation failed")
        pipe.send(("failed", "%s: %s" % (type(error).__name__, error)))


class _Worker:
    def __init__(self, composer, pipe, size):
        self.composer, self.pipe, self.size = composer, pipe, size
        self.timeline = Timeline()
        self.snapshots = deque()  # after each event in the timeline, not yet ready
        self.sent = {}  # index: the snapshot after each event sent, not yet taken
        self.anchor = None  # ((generation, index), snapshot) of the event taken last
        self.generation = self.index = self.taken = 0

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
        self.generation, self.index, self.taken = generation, 0, 0
        if kind == "begin":
            primer, seed = arguments
            self.composer.begin(primer, seed)
            self.timeline.reset()
            self.timeline.prime(primer.events)
            log.debug("new piece after primer %s (seed %d)", primer.name, self.composer.seed)
        else:
            taken, settings = arguments
            self._set(settings)
            music, held = self.anchor[1]
            assert self.anchor[0] == taken, "resuming from %s, not %s" % (taken, self.anchor[0])
            self.composer.restore(music)
            self.timeline.resume(held)
            log.debug("generating again with the new settings")

    def _generate_one(self):
        event = self.composer.next_event()
        self.timeline.push(event)
        self.snapshots.append((self.composer.snapshot(), list(self.timeline.voicer.held)))
        while self.timeline.ready():
            self.sent[self.index] = self.snapshots.popleft()
            self.pipe.send(("event", self.generation, self.index, self.timeline.pop()))
            self.index += 1
