"""Generation ahead of playback, in its own thread, so slow inference never delays a note.

The thread keeps up to ``size`` timed events ready (their holds known, see
:mod:`playbach.engine.timeline`); playback takes them one by one. Each event carries a snapshot
of the music just after it, so that a new setting (temperature, top-k, top-p) can take effect
from the event after the one taken last: :meth:`Ahead.rewind` drops what was generated beyond it
and generates again from there. A restart (new seed or primer) starts a new piece; priming it
takes a while, so the events ready may be kept for playback until the new piece's first one is
ready. Events still being generated for music since dropped are thrown away.
"""
import logging
import threading
from collections import deque

from playbach.engine.timeline import Timeline

log = logging.getLogger(__name__)

READY = 8  # events generated and timed ahead of playback


class Ahead:
    """Events of ``composer`` timed and ready ahead of playback."""

    def __init__(self, composer, primer, size=READY):
        self.composer, self.size = composer, size
        self.timeline = Timeline()
        self.snapshots = deque()  # after each event in the timeline, not yet ready
        self.ready = deque()  # (timed event, snapshot after it)
        self.old = 0  # how many of the first events ready are of the piece before a restart
        self.taken = None  # the snapshot after the event taken last
        self.changed = threading.Condition()
        self.request = ("begin", primer, None)  # what to do before generating on
        self.generation = 0  # counts requests: an event of music since dropped is known as such
        self.closed = False
        self.failure = None
        self.thread = threading.Thread(target=self._run, name="generate-ahead", daemon=True)

    def start(self):
        self.thread.start()
        return self

    def restart(self, primer, seed=None, keep_ready=False):
        """Start a new piece after ``primer`` (and with ``seed``). The events ready are dropped
        now, or, with ``keep_ready``, once the new piece's first event is ready: until then
        :meth:`take` gives them."""
        self._ask(("begin", primer, seed), keep_ready)
        self.taken = None  # nothing of the new piece is taken yet: nothing to rewind to

    def rewind(self):
        """Drop the events ready and generate again after the one taken last, with the
        composer's settings as they are now."""
        if self.taken is not None:
            self._ask(("resume", self.taken, None))

    def take(self, timeout):
        """The next timed event, or None if none is ready within ``timeout`` seconds;
        ``RuntimeError`` if generation has failed."""
        with self.changed:
            self.changed.wait_for(lambda: self.ready or self.failure, timeout)
            if self.failure:
                raise RuntimeError("generation failed: %s" % self.failure)
            if not self.ready:
                return None
            event, snapshot = self.ready.popleft()
            if self.old:
                self.old -= 1  # of the piece before: nothing to rewind to
            else:
                self.taken = snapshot
            self.changed.notify_all()
            return event

    def close(self):
        with self.changed:
            self.closed = True
            self.changed.notify_all()
        self.thread.join(5)

    def _ask(self, request, keep_ready=False):
        with self.changed:
            self.request = request
            self.generation += 1
            if keep_ready:
                self.old = len(self.ready)
            else:
                self.ready.clear()
                self.old = 0
            self.changed.notify_all()

    def _run(self):
        try:
            while self._generate_one():
                pass
        except Exception as error:  # reported to playback, which stops cleanly
            log.exception("generation failed")
            with self.changed:
                self.failure = error
                self.changed.notify_all()

    def _generate_one(self):
        with self.changed:
            self.changed.wait_for(lambda: self.closed or self.request
                                  or len(self.ready) - self.old < self.size)
            if self.closed:
                return False
            request, generation = self.request, self.generation
            self.request = None
        if request:
            self._start_over(*request)
        event = self.composer.next_event()
        music = self.composer.snapshot()
        with self.changed:
            if generation != self.generation:
                return True  # the music was dropped meanwhile: so is this event
            self.timeline.push(event)
            self.snapshots.append((music, list(self.timeline.voicer.held)))
            while self.timeline.ready():
                for _ in range(self.old):  # the new piece takes over from the one before
                    self.ready.popleft()
                self.old = 0
                self.ready.append((self.timeline.pop(), self.snapshots.popleft()))
            self.changed.notify_all()
        return True

    def _start_over(self, action, start, seed):
        self.snapshots.clear()
        if action == "begin":
            self.composer.begin(start, seed)
            self.timeline.reset()
            self.timeline.prime(start.events)
            log.debug("new piece after primer %s (seed %d)", start.name, self.composer.seed)
        else:
            music, held = start
            self.composer.restore(music)
            self.timeline.resume(held)
            log.debug("generating again with the new settings")
