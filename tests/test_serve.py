"""The live server against real brokers: a mosquitto per test, or its own embedded broker.

Servers run as real processes (``python -m playbach serve``) at fast tempos; a paho client
listens. Timing targets live in benchmarks, not here: these tests check order and content.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

import mido
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

import playbach_protocol as protocol
from conftest import free_port, midi_notes, playbach, wait_for_port
from playbach.engine import primer as primers
from playbach.engine.composer import Composer, model_file
from playbach.engine.timeline import timed
from playbach.live import wire
from playbach.live.server import LEAD_MS
from playbach.music import Voicer

SEED = 11
BPM = 600  # 1/2 beat = 50 ms: quick, and well inside what the protocol carries (<= 1000)
PRIMER = "C3.E4.G4.C5:1:f D5:1/2:f B2.D4.G4.D5:1:f C3.E4.G4.C5:2:f"
TIMEOUT = 30  # seconds: the longest any wait below may take


class Listener:
    """A paho client recording every message under a prefix, as ``(topic, payload, retain)``."""

    def __init__(self, host, port, prefix, username=None, password=None):
        self.prefix = prefix
        self.messages = []
        self.arrivals = []  # Unix ms, one per message
        self.changed = threading.Condition()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2)
        if username:
            self.client.username_pw_set(username, password)
        subscribed = threading.Event()
        self.client.on_connect = lambda c, *_: c.subscribe(prefix + "/#", qos=1)
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.on_message = self._record
        self.client.connect(host, port)
        self.client.loop_start()
        assert subscribed.wait(TIMEOUT), "the listener could not subscribe"

    def _record(self, client, userdata, message):
        with self.changed:
            self.messages.append((message.topic, message.payload, message.retain))
            self.arrivals.append(time.time() * 1000)
            self.changed.notify_all()

    def wait_for(self, condition, what, timeout=TIMEOUT):
        """Wait until ``condition(self)`` holds; fail naming ``what`` otherwise."""
        with self.changed:
            assert self.changed.wait_for(lambda: condition(self), timeout), \
                "timed out waiting for %s" % what

    def wait_for_more_events(self, count, what):
        """Wait until ``count`` events more than now have come."""
        seen = len(self.events())
        self.wait_for(lambda l: len(l.events()) >= seen + count, what)

    def events(self):
        return self._decoded(protocol.EVENT, lambda t: t == protocol.events_topic(self.prefix))

    def voices(self):
        return self._decoded(protocol.VOICE, lambda t: t.startswith(self.prefix + "/voice/"))

    def statuses(self):
        return self._decoded(protocol.STATUS, lambda t: t == protocol.status_topic(self.prefix))

    def _decoded(self, table, wanted):
        return [protocol.decode(table, payload) for topic, payload, _ in list(self.messages)
                if wanted(topic)]

    def publish(self, topic, payload, qos=1):
        self.client.publish(topic, payload, qos).wait_for_publish(TIMEOUT)

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def prefix(request):
    return "test-%s-%d" % (request.node.name[5:25], os.getpid())


def serve(model, *args, env=None):
    """Start ``playbach serve`` with the test settings (one piece that never ends, unless
    ``args`` say otherwise); return the process, its log in a file (a pipe left unread would
    block the server once full)."""
    command = [sys.executable, "-m", "playbach", "serve", "--model", model, "--seed", SEED,
               "--primer-tokens", PRIMER, "--bpm", BPM, "--piece-events", 0, *args]
    environment = dict(os.environ, **(env or {}))
    environment.pop("PLAYBACH_BROKER_HOST", None)
    log = tempfile.TemporaryFile("w+")
    process = subprocess.Popen([str(arg) for arg in command], env=environment, text=True,
                               stdout=log, stderr=subprocess.STDOUT)
    process.log = log
    return process


def broker_args(broker, prefix):
    return ["--host", broker.host, "--port", broker.port, "--prefix", prefix]


def finish(process, sig=None):
    """Wait for the server to end (sending ``sig`` first); return its stderr."""
    if sig is not None:
        process.send_signal(sig)
    process.wait(TIMEOUT)
    process.log.seek(0)
    return process.log.read()


def wait_for_log(process, text):
    """Wait until the server has logged ``text``."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        process.log.seek(0)
        if text in process.log.read():
            return
        assert process.poll() is None, "the server exited before logging %r" % text
        time.sleep(0.05)
    raise AssertionError("the server did not log %r" % text)


def music(event):
    """What an event plays: its notes, duration and dynamic."""
    return event["notes"], event["duration"], event["dynamic"]


def ms(beats):
    """A length in beats as the server publishes it at BPM: whole ms."""
    return round(protocol.beats_to_ms(beats, BPM))


def expected_stream(model, count):
    """What the server should play: the same seed and primer, timed the same way."""
    composer = Composer(model_file(model), seed=SEED)
    primed = composer.begin(primers.from_tokens(PRIMER))
    events = [composer.next_event() for _ in range(count + 80)]  # the look-ahead it had
    return timed(events, primer=primed)[:count]


def test_events_and_voices_arrive_in_order(tiny_model, mosquitto, prefix, tmp_path):
    listener = Listener(mosquitto.host, mosquitto.port, prefix)
    record = tmp_path / "live.mid"
    server = serve(tiny_model, *broker_args(mosquitto, prefix), "--notes", 40,
                   "--record", record)
    stderr = finish(server)
    assert server.returncode == 0, stderr
    listener.wait_for(lambda l: len(l.events()) == 40 and l.statuses()[-1]["state"] ==
                      "stopped", "40 events and the stopped status")
    listener.close()
    events = listener.events()
    assert [event["seq"] for event in events] == list(range(1, 41))
    expected = expected_stream(tiny_model, 40)
    assert [(tuple(e["notes"]), e["duration"], e["dynamic"]) for e in events] == \
        [(t.notes, t.duration, t.dynamic) for t in expected]
    assert [e["holds_ms"] for e in events] == \
        [[ms(hold) for hold in t.holds] for t in expected]
    for earlier, later in zip(events, events[1:]):  # never early; onsets from the clock
        assert later["at"] - earlier["at"] >= earlier["ms"] - 1
    for message in events + listener.voices():  # sent the lead ahead, never earlier
        assert 0 < message["at"] - message["sent_us"] / 1000 <= LEAD_MS + 1
        assert message["piece"] == 1

    # Each voice message is one move of the shared Voicer over the same events.
    voicer = Voicer()
    for notes, _, _ in primers.from_tokens(PRIMER).events:
        voicer.step(notes)
    moves = [(e["seq"], protocol.VOICES[voice], note, e["at"])
             for e in events for voice, note in voicer.step(e["notes"])[0]]
    assert [(m["seq"], m["voice"], m["note"], m["at"]) for m in listener.voices()] == moves
    for t, event in zip(expected, events):
        velocity = event["velocity"]
        assert [(m["ms"], m["velocity"]) for m in listener.voices() if m["seq"] == event["seq"]] \
            == [(ms(hold), velocity if note is not None else 0)
                for _, note, hold in t.moves]

    # The recording holds exactly what was published.
    midi, notes = midi_notes(record)
    tick_ms = 60000 / events[0]["bpm"] / midi.ticks_per_beat
    recorded = [(start * tick_ms, note, velocity, length * tick_ms)
                for start, length, note, velocity in notes]
    published = [(e["at"] - events[0]["at"], note, e["velocity"], hold)
                 for e in events for note, hold in zip(e["notes"], e["holds_ms"])]
    assert len(recorded) == len(published)
    for got, sent in zip(sorted(recorded), sorted(published)):
        assert got[1:3] == sent[1:3]
        # a note struck again ends there: at and holds_ms, rounded apart, may overlap by 1 ms
        assert abs(got[0] - sent[0]) < 1 and abs(got[3] - sent[3]) <= 1


def test_controls_act_within_one_event(tiny_model, mosquitto, prefix):
    listener = Listener(mosquitto.host, mosquitto.port, prefix)
    server = serve(tiny_model, *broker_args(mosquitto, prefix), "--bpm", 300)
    control = protocol.control_topic(prefix)
    try:
        listener.wait_for(lambda l: len(l.events()) >= 5, "the first events")

        def sent(payload):
            seen = listener.events()[-1]["seq"]
            listener.publish(control, payload)
            return seen

        seen = sent("tempo 200")
        listener.wait_for(lambda l: any(e["bpm"] == 200 for e in l.events()), "tempo 200")
        first = next(e["seq"] for e in listener.events() if e["bpm"] == 200)
        assert first <= seen + 2  # from the next event published
        assert listener.statuses()[-1]["from_seq"] == first  # and the status says so

        sent(wire.encode_control("temperature", 0.5))
        sent('{"cmd": "top_k", "value": 8}')
        sent("top_p 0.9")
        listener.wait_for(lambda l: l.statuses()[-1].get("top_p") == 0.9, "top_p in status")
        status = listener.statuses()[-1]
        assert (status["temperature"], status["top_k"], status["bpm"]) == (0.5, 8, 200)

        seen = sent("pause")
        listener.wait_for(lambda l: l.statuses()[-1]["state"] == "paused", "paused")
        time.sleep(0.8)  # four events' time at 300 bpm: nothing more may come
        paused_at = listener.events()[-1]["seq"]
        assert paused_at <= seen + 2
        time.sleep(0.5)
        assert listener.events()[-1]["seq"] == paused_at
        sent("play")
        listener.wait_for(lambda l: l.events()[-1]["seq"] > paused_at + 4, "playing again")
        seqs = [e["seq"] for e in listener.events()]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # nothing skipped
        # What was published to sound after the pause was cancelled, and comes again.
        paused = next(when for (topic, payload, _), when in zip(listener.messages,
                                                                listener.arrivals)
                      if b'"paused"' in payload)
        cancelled = [e for e in listener.events() if e["seq"] <= paused_at and e["at"] > paused]
        # Published a lead ahead: what had not sounded then was due within the lead (one event
        # or two at 300 bpm; more where the model plays quarter beats, 50 ms each).
        assert cancelled and all(e["at"] <= paused + LEAD_MS + 1 for e in cancelled)
        cancelled = [music(e) for e in cancelled]
        # The server cancelled what had not sounded when it paused; the status reached this
        # listener later (tens of ms on a busy machine): those seen cancelled here, perhaps more.
        before = [music(e) for e in listener.events() if e["seq"] <= paused_at]
        again = [music(e) for e in listener.events() if e["seq"] > paused_at]
        assert any(again[:count] == before[-count:]
                   for count in range(len(cancelled), len(cancelled) + 2))

        seen = sent("seed 4")
        listener.wait_for(lambda l: l.statuses()[-1]["seed"] == 4, "the new seed")
        piece = listener.statuses()[-1]["piece"]
        assert seen < piece <= seen + 2 and listener.statuses()[-1]["from_seq"] == piece
        listener.wait_for(lambda l: l.events()[-1]["seq"] > piece + 2, "the new piece")
        assert all(e["piece"] == (1 if e["seq"] < piece else piece) for e in listener.events())
        sent("stop")
        listener.wait_for(lambda l: l.statuses()[-1]["state"] == "stopped", "stopped")
        assert listener.statuses()[-1]["invalid_controls"] == 0
        assert listener.statuses()[-1]["lead_ms"] == LEAD_MS
    finally:
        stderr = finish(server, signal.SIGTERM)
        listener.close()
    assert server.returncode == 0, stderr
    assert "Traceback" not in stderr


def test_a_primer_of_20000_events_is_cut_to_the_context_and_starts_a_new_piece(
        tiny_model, mosquitto, prefix):
    listener = Listener(mosquitto.host, mosquitto.port, prefix)
    server = serve(tiny_model, *broker_args(mosquitto, prefix), "--bpm", 300)
    control = protocol.control_topic(prefix)
    tokens = " ".join(["C3.E4.G4.C5", "D5:1/2", "B2.D4.G4.D5:1/2:f", "R"] * 5000)
    try:
        listener.wait_for(lambda l: len(l.events()) >= 5, "the first events")
        listener.publish(control, json.dumps({"cmd": "primer", "tokens": tokens}))
        listener.wait_for(lambda l: l.statuses()[-1]["piece"] > 1, "the new piece")
        piece = listener.statuses()[-1]["piece"]
        listener.wait_for(lambda l: l.events()[-1]["seq"] >= piece + 10, "the new piece")
    finally:
        stderr = finish(server, signal.SIGTERM)
        listener.close()
    assert server.returncode == 0, stderr
    assert "a primer of 20000 events on %s: keeping the last 10, the model's context" % control \
        in stderr
    assert "late (generation fell behind)" not in stderr
    # Each piece plays on from its first event, its onsets following one another by their
    # lengths; the new piece starts once primed, a lead after.
    events = listener.events()
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert [e["piece"] for e in events] == [1] * (piece - 1) + [piece] * (len(events) - piece + 1)
    for earlier, later in zip(events, events[1:]):
        if later["seq"] != piece:
            assert abs(later["at"] - earlier["at"] - earlier["ms"]) <= 1, (earlier, later)


def test_status_is_retained_and_the_will_fires_on_kill(tiny_model, mosquitto, prefix,
                                                       tmp_path):
    record = tmp_path / "killed.mid"
    server = serve(tiny_model, *broker_args(mosquitto, prefix), "--record", record)
    listener = Listener(mosquitto.host, mosquitto.port, prefix)
    try:
        listener.wait_for(lambda l: len(l.events()) >= 30, "events")
        late = Listener(mosquitto.host, mosquitto.port, prefix)  # joins after the status
        late.wait_for(lambda l: l.statuses(), "the retained status")
        assert late.messages[0][2] is True and late.statuses()[0]["state"] == "playing"
        late.close()
        time.sleep(1.2)  # one more flush of the recording
    finally:
        server.kill()
        server.wait(TIMEOUT)
    listener.wait_for(lambda l: l.statuses()[-1]["state"] == "offline", "the last will")
    offline = protocol.decode(protocol.STATUS, listener.messages[-1][1])
    assert offline["model"] == Composer(model_file(tiny_model)).name
    # The recording was written while it played: at most the last second is missing.
    published = sum(len(e["notes"]) for e in listener.events())
    recorded = sum(1 for m in mido.MidiFile(record).tracks[0]
                   if m.type == "note_on" and m.velocity)
    assert 0 < recorded <= published
    listener.close()
    again = Listener(mosquitto.host, mosquitto.port, prefix)
    again.wait_for(lambda l: l.statuses(), "the retained will")
    assert again.statuses()[0]["state"] == "offline"
    again.close()


def test_malformed_controls_are_counted_and_ignored(tiny_model, mosquitto, prefix):
    listener = Listener(mosquitto.host, mosquitto.port, prefix)
    server = serve(tiny_model, *broker_args(mosquitto, prefix), "--bpm", 300)
    bad = [b"", b"\xff\xfe", b"[1, 2]", b"{not json", b"tempo", b"tempo fast", b"tempo 9000",
           b'{"cmd": "top_k", "value": -1}', b'{"cmd": "dance"}', b'{"cmd": "primer"',
           b"temperature 0", b'{"cmd": "seed", "value": 1.5}', b"primer no-such-piece",
           b'{"v": 3, "cmd": "play"}', b"null", b"42", b'"play"', b"top_p 2", b"stopp",
           b'{"cmd": "primer", "tokens": "X9"}']
    try:
        listener.wait_for(lambda l: len(l.events()) >= 3, "the first events")
        for i in range(1000):
            listener.client.publish(protocol.control_topic(prefix), bad[i % len(bad)], qos=1)
        listener.publish(protocol.control_topic(prefix), bad[0])
        listener.wait_for(lambda l: l.statuses()[-1]["invalid_controls"] == 1001,
                          "1001 invalid controls counted")
        listener.wait_for_more_events(5, "the stream going on")
    finally:
        stderr = finish(server, signal.SIGINT)
        listener.close()
    assert server.returncode == 0, stderr
    seqs = [e["seq"] for e in listener.events()]
    assert seqs == list(range(1, len(seqs) + 1))
    lines = [line for line in stderr.splitlines() if "ignored a control" in line]
    assert len(lines) == 1001 and all(protocol.control_topic(prefix) in line for line in lines)
    assert listener.statuses()[-1]["state"] == "stopped"


def test_a_broker_with_a_password(tiny_model, mosquitto_with_password, prefix):
    broker = mosquitto_with_password
    listener = Listener(broker.host, broker.port, prefix, broker.username, broker.password)
    wrong = serve(tiny_model, *broker_args(broker, prefix), "--username", broker.username,
                  "--password", "wrong", "--client-id", "intruder")
    try:
        server = serve(tiny_model, *broker_args(broker, prefix), "--notes", 10,
                       env={"PLAYBACH_BROKER_USERNAME": broker.username,
                            "PLAYBACH_BROKER_PASSWORD": broker.password})
        assert server.wait(TIMEOUT) == 0, finish(server)
        listener.wait_for(lambda l: len(l.events()) == 10, "10 events")
        wait_for_log(wrong, "refused the connection: Not authorized")
        assert wrong.poll() is None  # refused, retrying, not crashed
    finally:
        stderr = finish(wrong, signal.SIGTERM)
        listener.close()
    assert wrong.returncode == 0 and "Traceback" not in stderr


def test_the_server_rides_out_a_broker_restart(tiny_model, mosquitto, prefix):
    server = serve(tiny_model, *broker_args(mosquitto, prefix), "--bpm", 300)
    listener = Listener(mosquitto.host, mosquitto.port, prefix)
    try:
        listener.wait_for(lambda l: len(l.events()) >= 3, "the first events")
        listener.close()
        mosquitto.stop()
        time.sleep(1.5)
        assert server.poll() is None
        mosquitto.restart()
        listener = Listener(mosquitto.host, mosquitto.port, prefix)
        listener.wait_for(lambda l: len(l.events()) >= 3, "events after the restart")
        assert listener.events()[0]["seq"] > 10  # seq kept running while the broker was away
    finally:
        stderr = finish(server, signal.SIGTERM)
        listener.close()
    assert server.returncode == 0, stderr
    assert "lost the MQTT broker" in stderr and "Traceback" not in stderr


def test_the_embedded_broker_needs_no_mosquitto(tiny_model, prefix):
    port = free_port()
    server = serve(tiny_model, "--embedded-port", port, "--prefix", prefix)
    try:
        wait_for_port("127.0.0.1", port, lambda: server.poll() is None, "playbach serve")
        listener = Listener("127.0.0.1", port, prefix)
        listener.wait_for(lambda l: len(l.events()) >= 10, "10 events")
        listener.close()
        watch = playbach("watch", "--port", port, "--prefix", prefix, "--count", 5,
                         timeout=TIMEOUT)
    finally:
        stderr = finish(server, signal.SIGTERM)
    assert server.returncode == 0, stderr
    assert "mosquitto_sub -h 127.0.0.1 -p %d -t '%s/#' -v" % (port, prefix) in stderr
    assert watch.returncode == 0, watch.stderr
    lines = [line for line in watch.stdout.splitlines() if line[:5].strip().isdigit()]
    assert len(lines) == 5 and all(line.count("|") >= 2 for line in lines)


def test_the_recording_leaves_out_what_a_pause_cancelled(tmp_path):
    """Notes end where the players went silent; those after it are gone."""
    from playbach.live.recorder import Recorder

    recorder = Recorder(tmp_path / "take.mid").start()
    at = 1_700_000_000_000
    for seq, (notes, holds, offset) in enumerate([((60, 64), (1000, 500), 0), ((67,), (500,), 500),
                                                  ((72,), (500,), 1000)], 1):
        recorder.add(wire.message(protocol.EVENT, seq, notes, holds, "1", "f", 60, at + offset,
                                  (at + offset - LEAD_MS) * 1000, 1))
    recorder.cut(at + 750)  # C5 had not sounded; C4 and G4 stop then
    recorder.close()
    midi, notes = midi_notes(tmp_path / "take.mid")
    beat = midi.ticks_per_beat  # 60 bpm: a beat is a second
    assert notes == sorted([(0, beat * 3 // 4, 60, 96), (0, beat // 2, 64, 96),
                            (beat // 2, beat // 4, 67, 96)])


def test_watch_writes_each_event_as_it_sounds_with_its_voices_gaps_and_tempo():
    """Events come 200 ms ahead; each line waits for its moment on the watcher's clock (set by
    the stream: here this computer's clock is the server's less ``at``, plus 5 s, and messages
    take 0.3 ms). Status, controls and malformed messages show at once; a pause drops the
    lines still waiting."""
    import io

    from playbach.live.watch import Watcher

    out = io.StringIO()
    watcher = Watcher(out, "pb")
    at, lead = 1_700_000_000_000, 200
    here = lambda ms: 5_000_000 + ms * 1000  # noqa: E731  (local µs when the server shows at + ms)

    def event(seq, notes, holds, duration, dynamic, bpm, ms):
        return "pb/events", wire.encode(protocol.EVENT, seq, notes, holds, duration, dynamic,
                                        bpm, at + ms, (at + ms - lead) * 1000, 1), \
            here(ms - lead) + 300

    def voice(name, note, hold, ms):
        return "pb/voice/" + name, wire.encode(protocol.VOICE, 1, name, note, 96, hold, at + ms,
                                               (at + ms - lead) * 1000, 1), here(ms - lead) + 400

    def shown():
        return out.getvalue().splitlines()

    watcher.message("pb/status", wire.encode(protocol.STATUS, "playing", bpm=90), here(-300))
    for message in (event(1, (48, 64), (1000, 500), "1/2", "f", 90, 0), voice("bass", 48, 1000, 0),
                    voice("alto", 64, 500, 0), event(2, (67,), (333,), "1/2", "p", 90, 600)):
        watcher.message(*message)
    assert shown() == ["status: playing  bpm 90"]  # the events are yet to sound
    watcher.tick(here(0) + 299)
    assert len(shown()) == 1 and watcher.wait(here(0) + 299, 10 ** 6) == 1
    watcher.tick(here(0) + 300)
    assert shown()[1] == "tempo 90 bpm" and shown()[2].split()[:4] == ["1", "C3.E4", "1/2", "f"]
    assert shown()[2].endswith("B:C3  A:E4")
    watcher.tick(here(600) + 300)
    roll = shown()[3][shown()[3].index("|") + 1:shown()[3].rindex("|")]
    assert roll[67 - 36] == "o" and roll[48 - 36] == "|" and roll[64 - 36] == " "  # E4 ended
    watcher.message(*event(5, (), (), "1", None, 120, 999))
    watcher.message("pb/events", b'{"v": 2, "seq": 6, "notes": [200]}', here(900))
    watcher.message("pb/control", b"tempo 95", here(900))
    watcher.tick(here(999) + 300)
    watcher.message(*event(7, (60,), (100,), "1", "mf", 120, 1999))
    watcher.message("pb/status", wire.encode(protocol.STATUS, "paused", bpm=120), here(1900))
    watcher.tick(here(5000))
    watcher.close()
    lines = shown()[4:]
    assert lines[0].startswith("! malformed message on pb/events: bad event field 'notes'")
    assert lines[1:4] == ["control: tempo 95.0", "  ... missed 2 events (seq 3-4)",
                          "tempo 90 -> 120 bpm"]
    assert lines[4].split()[:3] == ["5", "R", "1"]
    assert lines[5:] == ["status: paused  bpm 120"]  # event 7 never sounded
    assert watcher.malformed == 1


def test_a_new_setting_plays_from_the_event_after_the_one_taken(tiny_model):
    from playbach.live.ahead import Ahead

    primer = primers.from_tokens(PRIMER)
    expected = Composer(model_file(tiny_model), seed=SEED)
    expected.begin(primer)
    before = [expected.next_event() for _ in range(5)]
    expected.generator.temperature = 0.3
    after = [expected.next_event() for _ in range(10)]

    ahead = Ahead(Composer(model_file(tiny_model), seed=SEED), primer).start()  # endless
    try:
        taken = [ahead.take(TIMEOUT) for _ in range(5)]
        time.sleep(0.5)  # let it generate ahead with the old temperature
        ahead.rewind({"temperature": 0.3})
        taken += [ahead.take(TIMEOUT) for _ in range(10)]
    finally:
        ahead.close()
    assert [(t.timed.notes, t.timed.duration, t.timed.dynamic) for t in taken] == before + after
    assert ahead.process.exitcode == 0


def test_a_new_piece_drops_what_was_ready(tiny_model):
    from playbach.live.ahead import Ahead

    first, second = primers.from_tokens(PRIMER), primers.from_tokens("G3.B3.D4.G4:1:f A3:1/2")

    def piece(primer, seed, count):
        composer = Composer(model_file(tiny_model), seed=seed)
        composer.begin(primer)
        return [composer.next_event() for _ in range(count)]

    old, new = piece(first, SEED, 5), piece(second, 7, 8)
    ahead = Ahead(Composer(model_file(tiny_model), seed=SEED), first).start()
    try:
        taken = [ahead.take(TIMEOUT) for _ in range(5)]
        time.sleep(0.5)  # events of the first piece ready
        ahead.restart(second, 7)
        after = [ahead.take(TIMEOUT) for _ in range(8)]
    finally:
        ahead.close()
    played = lambda events: [(e.timed.notes, e.timed.duration, e.timed.dynamic)  # noqa: E731
                             for e in events]
    assert played(taken) == old and played(after) == new


def test_a_generation_that_fails_stops_the_server_with_its_reason(tiny_model):
    """The worker process builds its composer itself: one that cannot is reported by take."""
    from playbach.live.ahead import Ahead

    composer = Composer(model_file(tiny_model), seed=SEED)
    composer.model_path = composer.model_path.with_name("gone.tflite")
    ahead = Ahead(composer, primers.from_tokens(PRIMER)).start()
    try:
        with pytest.raises(RuntimeError, match="generation failed: .*gone.tflite"):
            ahead.take(TIMEOUT)
    finally:
        ahead.close()


def test_bench_times_models_and_the_live_stream_through_both_brokers(tiny_model, tmp_path):
    """What `make bench` runs, on the tiny model: every figure present (none is judged here)."""
    out = tmp_path / "bench.json"
    result = playbach("bench", tiny_model, "--calls", 20, "--events", 10, "--stream-events", 30,
                      "--choir-events", 100, "--out", out, timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert {"step-int8", "window-int8"} <= set(report["models"]) == set(report["generation"])
    assert [s["broker"] for s in report["stream"]] == ["embedded", "mosquitto"]
    for stream in report["stream"]:
        assert stream["events"] == 30 and stream["lead_ms"] == LEAD_MS
        for figures in (stream["late"], stream["arrival"]):
            assert figures["p50_ms"] <= figures["p99_ms"] <= figures["max_ms"]
        assert stream["late"]["p50_ms"] < stream["arrival"]["p50_ms"]
    assert [choir["lead_ms"] for choir in report["choir"]] == [LEAD_MS, 0]
    for choir in report["choir"]:
        assert choir["onsets"] > 0 and choir["players"] == 4
        for name in ("skew", "error", "clock", "wake"):
            assert 0 <= choir[name]["p50_ms"] <= choir[name]["p99_ms"] <= choir[name]["max_ms"]
