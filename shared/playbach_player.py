"""Plays playbach messages on an output, each note at the moment the server stamped on it.

Pure logic, no hardware and no network: the caller hands it each message with the local time in
microseconds when it arrived (``time.ticks_us()`` on a board), and calls :meth:`Player.tick`
when :meth:`Player.wait` says; it starts and releases notes on an output that has
``play(notes, velocity)``, ``release(notes)`` and ``silence()``. One player for every device: the
boards run this file (``device/esp32/main.py``), and so does ``playbach play`` on a computer
(``playbach.player``).

Times are integers. Local µs ticks wrap (every 2^30 µs on a board), so they only meet through
``ticks_add`` and ``ticks_diff``; the server's Unix µs are big integers that are only ever
subtracted from one another. The one float is the drift, a ratio near 1e-4, which single
precision holds to a part in ten million.
"""
import playbach_protocol as protocol

try:
    from time import ticks_add, ticks_diff
except ImportError:  # CPython: the Pi's clock is a plain integer that never wraps
    def ticks_add(ticks, delta):
        return ticks + delta

    def ticks_diff(end, start):
        return end - start

LATE_MS = 250  # a message arriving this long after its moment is skipped
REWIND = 100  # a seq this far below the last one means the server started over
LONGEST_US = 500000000  # holds are capped (500 s), so that ticks_add stays within 2^29 µs
AHEAD_US = 60000000  # an event sounds within 60 s of being sent, or it is refused
BUCKET_US = 2000000  # the clock keeps the fastest message of each 2 s...
BUCKETS = 32  # ...over the last 64 s, and measures the drift from them...
SPAN_US = 16000000  # ...once they span 16 s
RECENT = 4  # the offset is that of the last 8 s
MAX_DRIFT = 0.0003  # crystals are within 100 ppm: two of them differ by 200 ppm at most
STEP_US = 50000  # a message this much faster than the line, or slower...
RESYNC_US = 2000000  # ...for this long, means the server's clock stepped: start again


class ServerClock:
    """Where a moment of the server's clock (Unix µs) falls on the local clock (µs ticks),
    learnt from the stream alone: boards have no synced clock.

    Each message says when it was sent and arrives a network delay later; the fastest messages
    show the offset between the clocks, as NTP's filter does. The clock keeps the fastest
    message of each 2 s over the last 64 s. The line under them (their lower convex hull, the
    edge below the window's middle) has the slope of the drift between the two crystals
    (clamped to 300 ppm); drawn with that slope under the fastest messages of the last 8 s, it
    gives the offset. Slow messages, however slow, lie above the line and change nothing. The
    line runs as late as the network's smallest delay, much the same for every player near the
    broker. A message 50 ms faster than the line, or messages 50 ms slower for 2 s on end, mean
    the server's clock stepped: the clock starts again from them (as after a silence of 64 s).
    """

    def __init__(self):
        self.rate = 0.0  # drift: local µs per server µs, minus 1
        self.restart()

    def restart(self):
        """Forget the messages seen (the server started over); keep the drift."""
        self.points = []  # [local, server] of the fastest message of each bucket, oldest first
        self.start = 0  # local ticks at which the newest bucket began
        self.line = None  # [local, server]: a point on the line
        self.off_since = None  # when messages began to fall far off the line

    def add(self, server, local):
        """A message sent at ``server`` (Unix µs) arrived at ``local`` (ticks, µs)."""
        points = self.points
        if points and not -STEP_US < server - points[-1][1] < BUCKETS * BUCKET_US:
            self.restart()  # a long silence (ticks may have wrapped since) or a step back
        elif self.line:
            off = self._above([local, server], self.line)  # the line may be a minute back
            if off < -STEP_US:
                self.restart()
            elif off < STEP_US:
                self.off_since = None
            elif self.off_since is None:
                self.off_since = local
            elif ticks_diff(local, self.off_since) > RESYNC_US:
                self.restart()
        points = self.points
        if not points or ticks_diff(local, self.start) >= BUCKET_US:
            if len(points) == BUCKETS:
                points.pop(0)
            self._drift()
            points.append([local, server])
            self.start = local
        elif self._above([local, server], points[-1]) < 0:
            points[-1] = [local, server]
        else:
            return
        line = points[-1]  # of the last 8 s: none from before a silence
        for point in points[-RECENT:]:
            if server - point[1] < RECENT * BUCKET_US and self._above(point, line) < 0:
                line = point
        self.line = line

    def local(self, server):
        """The local ticks at which the server's clock shows ``server`` (Unix µs), as late as
        the fastest messages arrive; ``ValueError`` for a moment over a minute from the last
        message's."""
        local, base = self.line
        delta = server - base
        if not -AHEAD_US < delta < AHEAD_US:
            raise ValueError("a time %d us from the server's clock" % delta)
        return ticks_add(local, delta + int(self.rate * delta))

    def _above(self, point, other):
        """How far ``point`` lies above the line of slope ``rate`` through ``other``, in µs."""
        x = ticks_diff(point[0], other[0])
        return x - (point[1] - other[1]) - int(self.rate * x)

    def _drift(self):
        """Measure the drift from the buckets, once they span ``SPAN_US``."""
        points = self.points
        if len(points) < 2 or ticks_diff(points[-1][0], points[0][0]) < SPAN_US:
            return
        first = points[0]
        # (x, y): local µs since the first message, and its delay less the first one's
        xy = [(x, x - (server - first[1]))
              for x, server in ((ticks_diff(local, first[0]), server) for local, server in points)]
        hull = []
        for p in xy:
            while len(hull) > 1 and (hull[-1][0] - hull[-2][0]) * (p[1] - hull[-2][1]) <= \
                    (hull[-1][1] - hull[-2][1]) * (p[0] - hull[-2][0]):
                hull.pop()
            hull.append(p)
        middle = sum(x for x, _ in xy) // len(xy)
        for a, b in zip(hull, hull[1:]):
            if a[0] <= middle <= b[0]:
                self.rate = max(-MAX_DRIFT, min(MAX_DRIFT, (b[1] - a[1]) / (b[0] - a[0])))


class Player:
    """Plays one stream (``events`` or a voice) of the server under ``prefix`` on ``output``.

    Each message says when it sounds (``at``); :class:`ServerClock` puts that moment on the
    local clock, where the note starts and, its hold later, ends, whenever the message arrived.
    A message arriving more than ``late_ms`` after its moment is skipped. A status other than
    ``playing``, or a new piece, silences every note and cancels what is scheduled. ``counts``
    tallies what happened to each message; ``onset``, if set, is called with ``(seq, at, due)``
    as each event starts (for measuring).
    """

    def __init__(self, output, prefix=protocol.DEFAULT_PREFIX, stream="events",
                 late_ms=LATE_MS, log=print):
        self.output = output
        self.late_us = late_ms * 1000
        self.log = log
        self.status = protocol.status_topic(prefix)
        if stream == "events":
            self.stream = protocol.events_topic(prefix)
        else:
            self.stream = protocol.voice_topic(stream, prefix)
        self.events = stream == "events"
        self.clock = ServerClock()
        self.starts = []  # [due, seq, notes, holds, velocity, at], by due (local µs)
        self.due = {}  # note -> local µs at which it stops sounding
        self.last_seq = None
        self.piece = None
        self.onset = None
        self.counts = {"played": 0, "late": 0, "repeated": 0, "cancelled": 0, "malformed": 0,
                       "missed": 0, "failed": 0}

    def topics(self):
        """The topics to subscribe to."""
        return (self.stream, self.status)

    def message(self, topic, payload, now):
        """Take one MQTT message (topic as text or bytes) that arrived at local time ``now``.
        Nothing raises out of here, into the MQTT loop: bad payloads are counted as malformed,
        anything else that fails (a bug, memory) as failed; each is logged in one line."""
        try:
            if not isinstance(topic, str):
                topic = topic.decode()
            if topic == self.status:
                self._status(protocol.decode(protocol.STATUS, payload))
            elif topic == self.stream:
                self._schedule(protocol.decode(
                    protocol.EVENT if self.events else protocol.VOICE, payload), now)
        except ValueError as error:  # UnicodeError too: a topic that is not UTF-8
            self.counts["malformed"] += 1
            self.log("%s: ignored: %s" % (topic, error))
        except Exception as error:
            self.failed(topic, error)

    def failed(self, topic, error):
        """Count and log what went wrong with a message, short of a bad payload."""
        self.counts["failed"] += 1
        self.log("%s: failed: %s: %s" % (topic, type(error).__name__, error))

    def tick(self, now):
        """Start and release, in order, what is due by ``now``."""
        starts = self.starts
        while starts and ticks_diff(now, starts[0][0]) >= 0:
            start = starts.pop(0)
            self._release(start[0])
            self._start(start, now)
        self._release(now)

    def wait(self, now, longest):
        """The µs from ``now`` to the next start or release, ``longest`` at most."""
        times = list(self.due.values())
        if self.starts:
            times.append(self.starts[0][0])
        for due in times:
            longest = min(longest, max(0, ticks_diff(due, now)))
        return longest

    def silence(self):
        """Stop every note now and cancel what is scheduled (stop, pause, a new piece,
        offline, disconnect, exit)."""
        self.counts["cancelled"] += len(self.starts)
        self.starts = []
        self.due = {}
        self.output.silence()

    def _status(self, status):
        piece = status.get("piece")
        if status["state"] != "playing" or (self.piece is not None and piece is not None and
                                             piece != self.piece):
            self.silence()
        if piece is not None:
            self.piece = piece

    def _schedule(self, message, now):
        """Put ``message`` on the local clock, unless repeated, of a piece gone, or late."""
        seq, last, piece = message["seq"], self.last_seq, message["piece"]
        at, sent = message["at"] * 1000, message["sent_us"]
        if not -AHEAD_US < at - sent < AHEAD_US:
            raise ValueError("bad %s field 'at': %d, over a minute from 'sent_us'"
                             % ("event" if self.events else "voice", message["at"]))
        restarted = last is not None and seq <= last - REWIND
        if last is not None and seq <= last and not restarted:
            self.counts["repeated"] += 1
            return
        if restarted:
            self.clock.restart()  # a new server: a clock of its own
        elif self.events and last is not None and last < seq - 1:
            missed = seq - last - 1
            self.counts["missed"] += missed
            if missed == 1:
                self.log("%s: missed 1 event (seq %d)" % (self.stream, seq - 1))
            else:
                self.log("%s: missed %d events (seq %d-%d)"
                         % (self.stream, missed, last + 1, seq - 1))
        self.last_seq = seq
        if self.piece is not None and piece != self.piece:
            if piece < self.piece and not restarted:
                self.counts["cancelled"] += 1  # the piece before, heard after the new one
                return
            self.silence()
        self.piece = piece
        self.clock.add(sent, now)
        due = self.clock.local(at)
        if ticks_diff(now, due) > self.late_us:
            self.counts["late"] += 1
            return
        if self.events:
            notes, holds = message["notes"], message["holds_ms"]
        else:
            notes = [] if message["note"] is None else [message["note"]]
            holds = [message["ms"]]
        starts = self.starts
        i = len(starts)
        while i and ticks_diff(starts[i - 1][0], due) > 0:
            i -= 1
        starts.insert(i, [due, seq, notes, [min(hold * 1000, LONGEST_US) for hold in holds],
                          message["velocity"], message["at"]])

    def _start(self, start, now):
        due, seq, notes, holds, velocity, at = start
        if not self.events:  # one voice sounds one note: moving it ends the one before
            self.output.release(list(self.due))
            self.due = {}
        sounding = []
        for note, hold in zip(notes, holds):
            end = ticks_add(due, hold)
            if ticks_diff(end, now) > 0:  # unless its time is over already
                sounding.append(note)
                self.due[note] = end
        if sounding:
            if self.onset:
                self.onset(seq, at, due)
            self.output.play(sounding, velocity)
        self.counts["played"] += 1

    def _release(self, now):
        ended = sorted(note for note in self.due if ticks_diff(now, self.due[note]) >= 0)
        if ended:
            for note in ended:
                del self.due[note]
            self.output.release(ended)
