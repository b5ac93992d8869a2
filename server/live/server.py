"""The live server: each event published over MQTT a lead ahead of the moment it sounds.

Playback runs in the caller's thread on ``time.monotonic()``: an event sounds at the clock's
anchor plus its onset at the current tempo (see :mod:`playbach.live.clock`), on a whole Unix ms
(``at``), and is published ``lead_ms`` before; players sound it at ``at`` on their own clocks,
which they set from ``sent_us``, the moment each message leaves. Waiting for that moment is
waiting on the control queue, so commands act at once: pause, stop and a new piece (seed,
primer) silence the players now through the status (a new piece has a new ``piece``: the seq
of its first event), the other settings apply from the next event published (the status's
``from_seq``). Events published but cancelled by a pause are published again on play.
Pieces follow one another: one ends where the model ends it or at ``piece_events`` events, and
the next, after the next shipped primer, sounds a breath later (``breath`` beats, at least the
lead: players hearing a new piece silence what they have, and the piece before has ended by
then); its first event names the new ``piece``, and so does the status, which tells how far the
piece has come (``piece_events`` of ``piece_cap``) at its start and every
``PROGRESS_EVENTS`` events. The event that ends a phrase or the piece says so (``end``).
Generation runs ahead in a process of its own (:mod:`playbach.live.ahead`). MQTT runs in paho's
network thread, which only decodes controls (a primer's events too) and queues them.
"""
import json
import logging
import queue
import random
import time
from collections import deque

import playbach_protocol as protocol
from playbach.engine import primer as primers
from playbach.live import wire
from playbach.live.ahead import SETTINGS, Ahead
from playbach.live.clock import Clock

log = logging.getLogger(__name__)

LATE = 0.05  # seconds: an event later than this (generation fell behind) re-anchors the clock
TAKE_TIMEOUT = 0.1  # seconds: longest wait for generation before looking at controls again
LEAD_MS = 200  # how long before its moment an event is published: WiFi's p99 delay, and more
PREPARE = 0.001  # seconds: an event is taken and encoded this long before it is published,
# and the rest of that time is spent awake
STATUS_QOS = 1  # the status is retained and must not be lost; events are fire-and-forget
PIECE_EVENTS = 256  # the cap on a piece's events: beyond Bach's chorales (30-250 events)
BREATH = 4  # beats of silence between pieces (a bar)
PROGRESS_EVENTS = 16  # the status tells how far the piece has come every this many events
_SHUTDOWN = object()  # queued by stop(): leave the playback loop


class LiveServer:
    """Plays ``composer``'s music after ``primer`` to a paho ``client`` under ``prefix``."""

    def __init__(self, composer, primer, client, prefix=protocol.DEFAULT_PREFIX, bpm=100.0,
                 limit=None, recorder=None, lead_ms=LEAD_MS, piece_events=PIECE_EVENTS,
                 breath=BREATH):
        """``piece_events``: the cap on a piece's events, 0 for one piece that never ends (the
        model never let end it); ``breath``: beats of silence between pieces."""
        self.composer, self.primer, self.client, self.prefix = composer, primer, client, prefix
        self.bpm, self.limit, self.recorder, self.lead_ms = bpm, limit, recorder, lead_ms
        self.piece_cap, self.breath = piece_events, breath
        self.seed = composer.seed
        self.settings = {name: getattr(composer.generator, name) for name in SETTINGS}
        self.state = "playing"
        self.seq = 0  # never reset while the process lives, so devices can count what they missed
        self.piece = self.from_seq = 1  # the seq of the piece's first event; of the settings'
        self.piece_events = 0  # events of the piece published
        self.invalid_controls = 0
        self.controls = queue.Queue()
        self.ahead = Ahead(composer, primer, piece_events=piece_events or None)
        self.clock = Clock(bpm, time.monotonic())
        self.connected = False  # once connected; playback waits for that, then plays on
        self.fresh = True  # the next event starts playback: waiting for it is not lateness
        self.published = deque()  # (at, Ready, piece before it) published, not sounded yet
        self.replay = deque()  # Ready events a pause cancelled: published again on play
        # Unix time is the monotonic clock plus this, fixed at start: the players' clocks follow
        # the server's, so it must not step while it runs.
        self.wall_ns = time.time_ns() - time.monotonic_ns()
        self._status_shown = None
        client.will_set(protocol.status_topic(prefix), self._status("offline"), STATUS_QOS,
                        retain=True)

    # --- paho's network thread ---------------------------------------------------------------

    def on_connect(self, client):
        client.subscribe(protocol.control_topic(self.prefix), qos=1)
        self._publish_status(always=True)  # the broker may have restarted and lost it
        if not self.connected:
            self.connected = True
            self.controls.put(None)  # wakes playback, waiting for this first connection

    def on_message(self, client, userdata, message):
        """paho's callback: queue the control; count and log one that cannot be used. Nothing
        may raise into paho's network thread: it would die, and no control would work again."""
        topic = protocol.control_topic(self.prefix)  # the only subscription
        try:
            control = wire.decode_control(message.payload)
            if control.get("tokens") is not None:
                control["primer"] = self._primer(control.pop("tokens"), topic)
            self.controls.put(control)
        except ValueError as error:  # PrimerError too
            self._reject(topic, error)
        except Exception as error:  # a bug: counted and logged like a bad control
            self._reject(topic, "%s: %s" % (type(error).__name__, error))

    def _primer(self, tokens, topic):
        """The primer of ``tokens`` (checked), cut to what the model reads before it plays."""
        events = tokens.split()
        context = self.composer.card["hyperparameters"]["context_events"]
        if len(events) > context:
            log.info("a primer of %d events on %s: keeping the last %d, the model's context",
                     len(events), topic, context)
        return primers.from_tokens(" ".join(events[-context:]))

    def _reject(self, topic, reason):
        self.invalid_controls += 1
        log.warning("ignored a control on %s: %s", topic, reason)
        self.controls.put(None)  # wakes playback, which shows the count in the status

    # --- any thread ----------------------------------------------------------------------------

    def stop(self):
        """Ask playback to end (safe from a signal handler)."""
        self.controls.put(_SHUTDOWN)

    # --- playback ------------------------------------------------------------------------------

    def run(self):
        """Play until :meth:`stop`, or until ``limit`` events have sounded out."""
        self.ahead.start()
        try:
            # The first notes wait for the broker, rather than going nowhere; once playing,
            # an outage does not stop the music (seq runs on, so devices see the gap).
            while not self.connected:
                if self.controls.get() is _SHUTDOWN:
                    return
            log.info("playing %s after primer %s (seed %d) at %g bpm on %s, each event "
                     "published %d ms ahead", self.composer.name, self.primer.name, self.seed,
                     self.bpm, protocol.events_topic(self.prefix), self.lead_ms)
            while self._step():
                pass
        finally:
            self._shutdown()

    def _step(self):
        """Do the next thing: wait for a control, an event or its moment. False: leave."""
        if self.state != "playing":
            return self._apply(self.controls.get())
        if self.limit is not None and self.seq >= self.limit:
            wait = self.clock.due - time.monotonic()  # the last event sounding out
            if wait > 0:
                return self._apply_waiting(wait)
            log.info("played %d events", self.seq)
            return False
        if not self.fresh:
            wait = self._deadline() - PREPARE - time.monotonic()
            if wait > 0:
                return self._apply_waiting(wait)
        ready = self.replay.popleft() if self.replay else self.ahead.take(TAKE_TIMEOUT)
        if ready is None:
            return self._apply_waiting(0)
        now = time.monotonic()
        late = now - self._deadline()
        if self.fresh or late > LATE:
            if not self.fresh:
                log.warning("event %d is %.0f ms late (generation fell behind)", self.seq + 1,
                            1000 * late)
            self.clock.restart(now + self.lead_ms / 1000)
        self._publish(ready)
        self.clock.advance(ready.timed.beats)
        if ready.timed.piece_end:  # a breath, and the players done with the piece, before the next
            self.clock.restart(self.clock.due + max(
                protocol.beats_to_ms(self.breath, self.bpm), self.lead_ms) / 1000)
        self.fresh = False
        return True

    def _at(self):
        """When the next event sounds: Unix ms."""
        return round(self.clock.due * 1000 + self.wall_ns / 1e6)

    def _deadline(self):
        """When the next event is to be published: ``time.monotonic()``."""
        return (self._at() - self.lead_ms - self.wall_ns / 1e6) / 1000

    def _unix_us(self):
        return (time.monotonic_ns() + self.wall_ns) // 1000

    def _apply_waiting(self, seconds):
        """Wait up to ``seconds`` for a control and apply it; False: leave."""
        try:
            control = self.controls.get(timeout=seconds) if seconds else self.controls.get_nowait()
        except queue.Empty:
            return True
        return self._apply(control)

    def _apply(self, control):
        """Apply ``control`` and any others queued behind it; False: leave."""
        while control is not _SHUTDOWN:
            if control is not None:
                try:
                    self._command(control)
                except primers.PrimerError as error:
                    self._reject(protocol.control_topic(self.prefix), error)
            try:
                control = self.controls.get_nowait()
            except queue.Empty:
                self._publish_status()  # once for a burst of controls
                return True
        return False

    def _command(self, control):
        command = control["cmd"]
        log.info("control: %s", " ".join("%s" % value for value in control.values()))
        if command == "play" and self.state != "playing":
            self.state, self.fresh = "playing", True
        elif command == "pause" and self.state == "playing":
            self.state = "paused"
            cancelled = self._cancel()
            if cancelled:  # the piece as it was before them: they will be published again
                self.piece, self.primer, self.piece_events = cancelled[0][2]
            self.replay.extendleft(reversed([ready for _, ready, _ in cancelled]))
        elif command == "stop":
            self.state = "stopped"
            self._new_piece(self.primer)  # play starts the piece over
        elif command == "tempo":
            self.bpm = control["bpm"]
            self.clock.set_tempo(self.bpm)  # from the next onset, the next event published
            self.from_seq = self.seq + 1
        elif command in SETTINGS:
            self.settings[command] = control["value"]
            self.ahead.rewind({command: control["value"]})  # what is ready is generated again
            self.from_seq = self.seq + 1 + len(self.replay)
        elif command == "seed":
            self.seed = control["value"]
            self._new_piece(self.primer, self.seed)
        elif command == "primer":
            primer = control.get("primer") or primers.choose(
                self.composer.primers, control.get("name"), random.Random())
            self._new_piece(primer)

    def _new_piece(self, primer, seed=None):
        """Start a new piece after ``primer``: what is published of the piece before is
        cancelled (the status's new ``piece`` tells the players), the new one plays once
        primed."""
        self.primer = primer
        self.ahead.restart(primer, seed)
        self._cancel()
        self.replay.clear()
        self.piece = self.from_seq = self.seq + 1
        self.piece_events = 0
        self.fresh = True

    def _cancel(self):
        """Forget the events published that have not sounded yet, as the players do; return
        them as ``(at, ready, piece before it)``."""
        now = self._unix_us() // 1000
        if self.recorder:
            self.recorder.cut(now)
        self._sounded(now)
        cancelled = list(self.published)
        self.published.clear()
        return cancelled

    def _sounded(self, now):
        """Forget the events published that sounded by ``now`` (Unix ms)."""
        while self.published and self.published[0][0] <= now:
            self.published.popleft()

    def _publish(self, ready):
        """Publish ``ready`` (event and voice moves) at its deadline, each message stamped
        with the moment it is handed to paho; a new piece's first event, and every
        PROGRESS_EVENTS events, the status too."""
        before = (self.piece, self.primer, self.piece_events)
        self.seq += 1
        if ready.begins is not None:  # the piece before ended: this one begins
            self.piece, self.primer, self.piece_events = self.seq, ready.begins, 0
            log.info("a new piece from seq %d, after primer %s", self.seq, self.primer.name)
        self.piece_events += 1
        timed, at = ready.timed, self._at()
        end = {"end": "piece"} if timed.piece_end else {"end": "phrase"} if timed.phrase_end \
            else {}
        event = wire.message(protocol.EVENT, self.seq, timed.notes,
                             [self._ms(hold) for hold in timed.holds], timed.duration,
                             timed.dynamic, self.bpm, at, 0, self.piece, **end)
        messages = [(protocol.events_topic(self.prefix), event)]
        for voice, note, hold in timed.moves:
            velocity = 0 if note is None else event["velocity"]
            messages.append((protocol.voice_topic(voice, self.prefix), wire.message(
                protocol.VOICE, self.seq, protocol.VOICES[voice], note, velocity,
                self._ms(hold), at, 0, self.piece)))
        deadline = self._deadline()
        while time.monotonic() < deadline:  # awake: a thread woken from sleep waited up to
            pass  # 8 ms for the interpreter lock here (p99 4 ms; make bench, 'stream' 'late')
        for topic, message in messages:
            message["sent_us"] = self._unix_us()
            self.client.publish(topic, json.dumps(message))
        self._sounded(event["sent_us"] // 1000)
        self.published.append((at, ready, before))
        if ready.begins is not None or self.piece_events % PROGRESS_EVENTS == 0:
            self._publish_status()
        if timed.piece_end:
            log.info("the piece from seq %d ended after %d events%s", self.piece,
                     self.piece_events, " (the cap)" if self.piece_events == self.piece_cap
                     else "")
        if self.recorder:
            self.recorder.add(event)
        log.debug("%d %s", self.seq, protocol.format_event(timed.notes, timed.duration,
                                                           timed.dynamic))

    def _ms(self, beats):
        return round(protocol.beats_to_ms(beats, self.bpm))

    def _settings(self):
        return dict(self.settings, model=self.composer.name, bpm=self.bpm, seed=self.seed,
                    primer=self.primer.name, invalid_controls=self.invalid_controls,
                    piece=self.piece, piece_events=self.piece_events, piece_cap=self.piece_cap,
                    from_seq=self.from_seq, lead_ms=self.lead_ms)

    def _status(self, state):
        return wire.encode(protocol.STATUS, state, seq=self.seq, **self._settings())

    def _publish_status(self, always=False):
        """Publish the status (retained) if the state or a setting changed since last time
        (``seq`` alone does not count: that would be a status per event)."""
        shown = (self.state, self._settings())
        if always or shown != self._status_shown:
            self._status_shown = shown
            self.client.publish(protocol.status_topic(self.prefix), self._status(self.state),
                                STATUS_QOS, retain=True)

    def _shutdown(self):
        self.ahead.close()
        self.state = "stopped"
        message = self.client.publish(protocol.status_topic(self.prefix),
                                      self._status("stopped"), STATUS_QOS, retain=True)
        try:
            if not self.client.is_connected():
                raise RuntimeError("not connected")
            message.wait_for_publish(2)
        except (RuntimeError, ValueError):
            log.warning("not connected: the status stays as the broker last had it "
                        "(offline, by the last will, once the broker notices)")
        self.client.disconnect()
        self.client.loop_stop()
        log.info("stopped after %d events", self.seq)
