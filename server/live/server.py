"""The live server: each event published over MQTT at the moment it should sound.

Playback runs in the caller's thread on ``time.monotonic()``: an event is due at the clock's
anchor plus its onset at the current tempo (see :mod:`playbach.live.clock`), and waiting for it
is waiting on the control queue, so commands act at once and take effect within one event.
Generation runs ahead in its own thread (:mod:`playbach.live.ahead`), and so does priming a
new piece: the music plays on from what is ready until the new piece's first event is. MQTT runs
in paho's network thread, which only decodes controls (a primer's events too) and queues them.
"""
import json
import logging
import queue
import random
import time

import playbach_protocol as protocol
from playbach.engine import primer as primers
from playbach.live import wire
from playbach.live.ahead import Ahead
from playbach.live.clock import Clock

log = logging.getLogger(__name__)

LATE = 0.05  # seconds: an event later than this (generation fell behind) re-anchors the clock
TAKE_TIMEOUT = 0.1  # seconds: longest wait for generation before looking at controls again
STATUS_QOS = 1  # the status is retained and must not be lost; events are fire-and-forget
_SHUTDOWN = object()  # queued by stop(): leave the playback loop


class LiveServer:
    """Plays ``composer``'s music after ``primer`` to a paho ``client`` under ``prefix``."""

    def __init__(self, composer, primer, client, prefix=protocol.DEFAULT_PREFIX, bpm=100.0,
                 limit=None, recorder=None):
        self.composer, self.primer, self.client, self.prefix = composer, primer, client, prefix
        self.bpm, self.limit, self.recorder = bpm, limit, recorder
        self.seed = composer.seed
        self.state = "playing"
        self.seq = 0  # never reset while the process lives, so devices can count what they missed
        self.invalid_controls = 0
        self.controls = queue.Queue()
        self.ahead = Ahead(composer, primer)
        self.clock = Clock(bpm, time.monotonic())
        self.connected = False  # once connected; playback waits for that, then plays on
        self.next = None  # the timed event due next, once taken from generation
        self.fresh = True  # the next event starts playback: waiting for it is not lateness
        self.wall = time.time() - time.monotonic()  # turns clock times into Unix time
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
            log.info("playing %s after primer %s (seed %d) at %g bpm on %s",
                     self.composer.name, self.primer.name, self.seed, self.bpm,
                     protocol.events_topic(self.prefix))
            self.clock.restart(time.monotonic())
            while self._step():
                pass
        finally:
            self._shutdown()

    def _step(self):
        """Do the next thing: wait for a control, an event or its moment. False: leave."""
        if self.state != "playing":
            return self._apply(self.controls.get())
        finished = self.limit is not None and self.seq >= self.limit
        if self.next is None and not finished:
            self.next = self.ahead.take(TAKE_TIMEOUT)
            if self.next is None:
                return self._apply_waiting(0)
        late = time.monotonic() - self.clock.due
        if late < 0:
            return self._apply_waiting(-late)
        if finished:
            log.info("played %d events", self.seq)
            return False
        if late > LATE:
            if not self.fresh:
                log.warning("event %d is %.0f ms late (generation fell behind)", self.seq + 1,
                            1000 * late)
            self.clock.restart(time.monotonic())
        self._publish(self.next)
        self.clock.advance(self.next.beats)
        self.next, self.fresh = None, False
        return True

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
        generator = self.composer.generator
        if command == "play" and self.state != "playing":
            self.state, self.fresh = "playing", True
            self.clock.restart(time.monotonic())
        elif command == "pause" and self.state == "playing":
            self.state = "paused"
        elif command == "stop":
            self.state = "stopped"
            self._new_piece(self.primer)  # play starts the piece over
        elif command == "tempo":
            self.bpm = control["bpm"]
            self.clock.set_tempo(self.bpm)
        elif command in ("temperature", "top_k", "top_p"):
            setattr(generator, command, control["value"])
            self.ahead.rewind()  # what was generated ahead is played with the new setting
        elif command == "seed":
            self.seed = control["value"]
            self._new_piece(self.primer, self.seed)
        elif command == "primer":
            primer = control.get("primer") or primers.choose(
                self.composer.primers, control.get("name"), random.Random())
            self._new_piece(primer)

    def _new_piece(self, primer, seed=None):
        """Start a new piece. While playing, what is ready plays on until the new piece's first
        event is (priming takes a while); otherwise the new piece is all there is."""
        self.primer = primer
        playing = self.state == "playing"
        self.ahead.restart(primer, seed, keep_ready=playing)
        if not playing:
            self.next, self.fresh = None, True

    def _publish(self, timed):
        self.seq += 1
        at = round((self.clock.due + self.wall) * 1000)
        event = wire.message(protocol.EVENT, self.seq, timed.notes,
                             [self._ms(hold) for hold in timed.holds], timed.duration,
                             timed.dynamic, self.bpm, at)
        self.client.publish(protocol.events_topic(self.prefix), json.dumps(event))
        for voice, note, hold in timed.moves:
            velocity = 0 if note is None else event["velocity"]
            self.client.publish(protocol.voice_topic(voice, self.prefix), wire.encode(
                protocol.VOICE, self.seq, protocol.VOICES[voice], note, velocity,
                self._ms(hold), at))
        if self.recorder:
            self.recorder.add(event)
        log.debug("%d %s", self.seq, protocol.format_event(timed.notes, timed.duration,
                                                           timed.dynamic))

    def _ms(self, beats):
        return round(protocol.beats_to_ms(beats, self.bpm))

    def _settings(self):
        generator = self.composer.generator
        return {"model": self.composer.name, "bpm": self.bpm,
                "temperature": generator.temperature, "top_k": generator.top_k,
                "top_p": generator.top_p, "seed": self.seed, "primer": self.primer.name,
                "invalid_controls": self.invalid_controls}

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
