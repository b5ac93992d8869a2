"""Plays playbach messages on an output, on time, from a local millisecond clock.

Pure logic, no hardware and no network: the caller hands it each message with the local time in
ms (``time.ticks_ms()`` on a board) and calls :meth:`Player.tick` often; it starts and releases
notes on an output that has ``play(notes, velocity)``, ``release(notes)`` and ``silence()``.
One player for every device: the boards run this file (``device/esp32/main.py``), and so does
``playbach play`` on a computer (``playbach.player``).
"""
import playbach_protocol as protocol

try:
    from time import ticks_add, ticks_diff
except ImportError:  # CPython: the Pi's clock is a plain integer that never wraps
    def ticks_add(ticks, delta):
        return ticks + delta

    def ticks_diff(end, start):
        return end - start

LATE_MS = 250  # a message this much later than the fastest ones is stale: skipped
REWIND = 100  # a seq this far below the last one means the server started over
DRIFT_MS = 1  # per message: lets the latency baseline follow clock drift and lasting delays
RESYNC_MS = 2000  # stale for this long is no stall but a clock step: take a new baseline
LONGEST_MS = 600000  # holds are capped, so that ticks_add stays in range whatever arrives


class Player:
    """Plays one stream (``events`` or a voice) of the server under ``prefix`` on ``output``.

    Boards have no synced clock, so lateness is relative: the baseline is the smallest
    ``arrival - at`` seen, and a message arriving more than ``late_ms`` behind it is stale
    (after a network stall) and skipped rather than played in a bunch. A stall's backlog
    arrives at once; messages still stale ``RESYNC_MS`` later mean a clock moved (or a bogus
    ``at`` set the baseline), so the baseline starts again from them. ``counts`` tallies what
    happened to each message.
    """

    def __init__(self, output, prefix=protocol.DEFAULT_PREFIX, stream="events",
                 late_ms=LATE_MS, log=print):
        self.output = output
        self.late_ms = late_ms
        self.log = log
        self.status = protocol.status_topic(prefix)
        if stream == "events":
            self.stream = protocol.events_topic(prefix)
        else:
            self.stream = protocol.voice_topic(stream, prefix)
        self.events = stream == "events"
        self.due = {}  # note -> local ms at which it stops sounding
        self.last_seq = None
        self.baseline = None
        self.stale_since = None
        self.counts = {"played": 0, "stale": 0, "repeated": 0, "malformed": 0, "missed": 0,
                       "failed": 0}

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
            elif topic == self.stream and self.events:
                self._event(protocol.decode(protocol.EVENT, payload), now)
            elif topic == self.stream:
                self._voice(protocol.decode(protocol.VOICE, payload), now)
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
        """Release the notes whose time is up."""
        ended = sorted(note for note in self.due if ticks_diff(now, self.due[note]) >= 0)
        if ended:
            for note in ended:
                del self.due[note]
            self.output.release(ended)

    def silence(self):
        """Stop every note now (stop, pause, offline, disconnect, exit)."""
        self.due = {}
        self.output.silence()

    def _status(self, status):
        if status["state"] != "playing":
            self.silence()

    def _event(self, event, now):
        if self._fresh(event, now) and event["notes"]:
            self.output.play(event["notes"], event["velocity"])
            for note, hold in zip(event["notes"], event["holds_ms"]):
                self.due[note] = ticks_add(now, min(hold, LONGEST_MS))

    def _voice(self, message, now):
        if self._fresh(message, now):
            # One voice sounds one note: moving it ends the one before.
            self.output.release(list(self.due))
            self.due = {}
            if message["note"] is not None:
                self.output.play([message["note"]], message["velocity"])
                self.due[message["note"]] = ticks_add(now, min(message["ms"], LONGEST_MS))

    def _fresh(self, message, now):
        """Whether to play ``message``: newer than the last one and not stale."""
        seq, last = message["seq"], self.last_seq
        if last is not None and last - REWIND < seq <= last:
            self.counts["repeated"] += 1
            return False
        if self.events and last is not None and last < seq - 1:
            missed = seq - last - 1
            self.counts["missed"] += missed
            if missed == 1:
                self.log("%s: missed 1 event (seq %d)" % (self.stream, seq - 1))
            else:
                self.log("%s: missed %d events (seq %d-%d)"
                         % (self.stream, missed, last + 1, seq - 1))
        self.last_seq = seq
        latency = now - message["at"]
        if self.baseline is None:
            self.baseline = latency
        self.baseline = min(latency, self.baseline + DRIFT_MS)
        if latency - self.baseline > self.late_ms:
            if self.stale_since is None:
                self.stale_since = now
            if ticks_diff(now, self.stale_since) < RESYNC_MS:
                self.counts["stale"] += 1
                return False
            self.baseline = latency
        self.stale_since = None
        self.counts["played"] += 1
        return True
