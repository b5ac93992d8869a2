"""Hostile messages, seeded. Every decoder raises ValueError, and nothing else, for whatever it
is given, under CPython and under the real MicroPython; and a real ``playbach serve``, ``playbach
watch`` and ``playbach play --out`` on a real mosquitto count and log every hostile message on
every topic, after which a control still works and a broker restart is still ridden out."""
import json
import os
import random
import re
import signal
import subprocess
import sys
import time

import pytest

import playbach_protocol as protocol
from playbach.live import wire
from test_device_esp32 import play as play_on_board
from test_micropython import HARNESS, PROTOCOL, run_micropython
from test_player import notes_on
from test_serve import TIMEOUT, broker_args, finish, serve

SEED = 16
TABLES = {"event": protocol.EVENT, "voice": protocol.VOICE, "status": protocol.STATUS}
# Wrong for a field of any kind: an integer, a number, text, a list of integers, one of a few.
BAD_VALUES = ([], {}, [[[]]], {"x": {"y": [1]}}, [None], ["C4"])


def valid(table):
    """A message of ``table`` as the server sends it."""
    return {
        "event": lambda: wire.message(protocol.EVENT, 41, (48, 60, 64), [500, 250, 250], "1/2",
                                      "f", 120.0, 1764160000123, 1764159999923456, 33),
        "voice": lambda: wire.message(protocol.VOICE, 41, "tenor", 60, 96, 250, 1764160000123,
                                      1764159999923456, 33),
        "status": lambda: wire.message(protocol.STATUS, "playing", seq=41, piece=33, from_seq=40,
                                       lead_ms=200, model="m.tflite", bpm=120.0,
                                       temperature=1.0, top_k=0, top_p=1.0, seed=7,
                                       primer="bwv269", invalid_controls=0),
        "control": lambda: {"cmd": "primer", "tokens": "C3.E4.G4.C5:1:f D5:1/2:f B2.D4:2:p"},
    }[table]()


def common(rng):
    """Payloads that are no message of any kind: not text, not JSON, not an object, too big,
    too deep, numbers too large."""
    payloads = [b"", b" ", b"null", b"true", b"42", b"-1e999", b'"text"', b"[]", b"[1, 2]",
                b"{}", b'{"v": 1}', b'{"v": 2}', b'{"v": 3}', b'{"v": "2"}', b'{"v": 1e999}',
                b"\xff\xfe",
                b"{\xc3\x28}", b"9" * 5000, b"x" * (protocol.MAX_PAYLOAD + 1), b" " * 1000000]
    for depth in (9, 100, 10000, 100000):
        payloads += [b"[" * depth + b"]" * depth, b'{"a": ' * depth + b"1" + b"}" * depth]
    for _ in range(20):
        payloads.append(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))))
    return payloads


def hostile(table, rng):
    """Payloads no decoder of ``table`` (event, voice, status or control) may accept."""
    if table == "control":
        return common(rng) + hostile_controls(rng)
    message, payloads = valid(table), common(rng)
    for name, _, _, _, source in TABLES[table][1]:
        for bad in BAD_VALUES:
            payloads.append(json.dumps(dict(message, **{name: bad})).encode())
        if source is not protocol.OPTIONAL:
            payloads.append(json.dumps({k: v for k, v in message.items() if k != name}).encode())
    payloads += [json.dumps(dict(message, seq=10 ** 30)).encode(),
                 json.dumps(dict(message, seq=1e999)).encode()]
    if table == "event":
        for count in (protocol.MAX_NOTES + 1, 20000):
            notes = list(range(count % 128)) * (count // 128) + list(range(count % 128))
            payloads.append(json.dumps(dict(message, notes=notes, holds_ms=[1] * count,
                                            token=protocol.format_token(notes))).encode())
    text = json.dumps(message).encode()
    for _ in range(30):  # cut short: never a whole object
        payloads.append(text[:rng.randrange(len(text) - 1)])
    return payloads


def hostile_controls(rng):
    payloads = [b'{"cmd": []}', b'{"cmd": {}}', b'{"cmd": null}', b'{"cmd": 5}', b'{"v": 3, '
                b'"cmd": "play"}', b"tempo", b"tempo fast", b"tempo 1e999", b"tempo nan",
                b"tempo 5", b"seed -5", b"seed 1.5", b"top_k 1e3", b"top_p 2",
                b"temperature 0", b"seed " + b"9" * 5000, b"primer " + b"C4 " * 100000,
                b'{"cmd": "primer", "tokens": "B2 X9"}', b'{"cmd": "primer", "tokens": "C4:5/4"}',
                b'{"cmd": "primer", "tokens": "' + b"C4." * 200 + b'C4"}', b"tempo \xff"]
    for command, spec in sorted(wire.CONTROLS.items()):
        if spec:
            numbers = {protocol.INT: (1e999, 1.5, "7"), protocol.NUMBER: (1e999, "7")}
            for bad in BAD_VALUES + numbers.get(spec[1], ()):
                payloads.append(json.dumps({"cmd": command, spec[0]: bad}).encode())
    while len(payloads) < 100:
        word = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz_") for _ in range(rng.randrange(8)))
        if word not in wire.CONTROLS:
            payloads.append(word.encode())
    return payloads


def damaged(table, rng, count):
    """``count`` random corruptions of a valid message: some still valid, most not."""
    text = json.dumps(valid(table)).encode()
    payloads = []
    for _ in range(count):
        damage = bytearray(text)
        for _ in range(rng.randrange(1, 4)):
            at = rng.randrange(len(damage))
            cut = rng.choice(("flip", "delete", "insert", "double"))
            if cut == "flip":
                damage[at] = rng.randrange(256)
            elif cut == "delete":
                del damage[at:at + rng.randrange(1, 8)]
            elif cut == "insert":
                damage[at:at] = bytes(rng.choice(b'[]{}",:0123456789.e-') for _ in range(4))
            else:
                damage[at:at] = damage[at:at + rng.randrange(1, 30)]
        payloads.append(bytes(damage))
    return payloads


def decoder(table):
    if table == "control":
        return wire.decode_control
    return lambda payload: protocol.decode(TABLES[table], payload)


@pytest.mark.parametrize("table", ["event", "voice", "status", "control"])
def test_every_decoder_rejects_every_hostile_payload(table):
    for payload in hostile(table, random.Random(SEED)):
        with pytest.raises(ValueError):
            decoder(table)(payload)
            print("accepted: %r" % payload[:200])


@pytest.mark.parametrize("table", ["event", "voice", "status", "control"])
def test_random_damage_raises_value_error_or_nothing(table):
    rng = random.Random(SEED)
    outcomes = {"accepted": 0, "ValueError": 0}
    for payload in damaged(table, rng, 2000) + [bytes(rng.randrange(256) for _ in range(300))
                                                 for _ in range(200)]:
        try:
            decoder(table)(payload)
            outcomes["accepted"] += 1
        except ValueError:
            outcomes["ValueError"] += 1
    assert outcomes["ValueError"] > 1000  # the damage was real


def test_micropython_decoders_let_nothing_but_value_error_out(tmp_path):
    """Hostile payloads are rejected there too; damaged ones may pass where CPython's stricter
    json does not (MicroPython's reads ``[1, , 2]``) when what it reads checks out."""
    rng = random.Random(SEED)
    plan = []
    for table in TABLES:
        plan += [(table, payload, "ValueError") for payload in hostile(table, rng)
                 if len(payload) < 200000]
        plan += [(table, payload, None) for payload in damaged(table, rng, 300)]
    (tmp_path / "fuzz.json").write_text(json.dumps([[t, p.hex()] for t, p, _ in plan]))
    result = run_micropython(HARNESS / "fuzz_check.py", PROTOCOL, tmp_path / "fuzz.json")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == len(plan)
    assert [line for line in lines if line.startswith("FAILED")] == []
    for (table, payload, expected), line in zip(plan, lines):
        if expected:
            assert line == expected, (table, payload[:200])


def test_the_board_player_counts_hostile_messages_and_plays_on(tmp_path):
    rng = random.Random(SEED)
    events, status = protocol.events_topic(), protocol.status_topic()
    steps = [(0, status, wire.encode(protocol.STATUS, "playing"))]
    steps += [(1, events, payload) for payload in hostile("event", rng) if len(payload) < 200000]
    steps += [(2, status, payload) for payload in hostile("status", rng) if len(payload) < 200000]
    bad = len(steps) - 1
    steps.append((3, events, wire.encode(protocol.EVENT, 1, (60,), [100], "1/2", "mf", 120,
                                         1764000000003, 1764000000003000, 1)))
    lines = play_on_board(tmp_path, steps, output="midi", channel=1, program=None,
                          stream="events")
    assert "UART.write 90 3c 50" in lines  # the one good event, after all that
    assert lines[-1] == "COUNTS cancelled=0 failed=0 late=0 malformed=%d missed=0 played=1 " \
        "repeated=0" % bad


def test_live_server_watcher_and_player_count_hostile_messages_and_play_on(
        tiny_model, mosquitto, tmp_path):
    prefix = "fuzz-%d" % os.getpid()
    rng = random.Random(SEED)
    topics = {protocol.control_topic(prefix): "control", protocol.events_topic(prefix): "event",
              protocol.status_topic(prefix): "status"}
    topics.update({protocol.voice_topic(voice, prefix): "voice" for voice in protocol.VOICES})
    sent = {topic: hostile(table, rng) for topic, table in topics.items()}
    take = tmp_path / "take.mid"
    server = serve(tiny_model, *broker_args(mosquitto, prefix), "--bpm", 300)
    common = ["--host", mosquitto.host, "--port", str(mosquitto.port), "--prefix", prefix]
    # Appending: the processes write at the end whatever the test reads meanwhile.
    watch_log, play_log = open(tmp_path / "watch.log", "a+"), open(tmp_path / "play.log", "a+")
    watcher = subprocess.Popen([sys.executable, "-m", "playbach", "watch", *common],
                               stdout=watch_log, stderr=subprocess.STDOUT, text=True)
    player = subprocess.Popen([sys.executable, "-m", "playbach", "play", *common, "--out",
                               str(take), "--late-ms", "1000"], stderr=play_log,
                              stdout=subprocess.DEVNULL, text=True)
    sniffer = Sniffer(mosquitto, prefix)
    started = time.monotonic()
    try:
        sniffer.wait_for(lambda s: len(s.events) >= 3, "the first events")
        wait_for_file(watch_log, "tempo 300 bpm")
        wait_for_file(play_log, "connected to the MQTT broker")
        time.sleep(0.3)  # the player subscribes once connected
        for topic, payloads in sent.items():
            for payload in payloads:
                sniffer.client.publish(topic, payload, qos=1).wait_for_publish(TIMEOUT)
        controls = len(sent[protocol.control_topic(prefix)])
        heard_by_player = len(sent[protocol.events_topic(prefix)]) + len(
            sent[protocol.status_topic(prefix)])
        total = sum(len(payloads) for payloads in sent.values())
        sniffer.wait_for(lambda s: s.statuses[-1]["invalid_controls"] == controls,
                         "%d invalid controls counted" % controls)
        wait_for_file(watch_log, "! malformed", count=total)
        wait_for_file(play_log, ": ignored: ", count=heard_by_player)

        sniffer.client.publish(protocol.control_topic(prefix), "tempo 200", qos=1)
        sniffer.wait_for(lambda s: s.events[-1]["bpm"] == 200, "the tempo control")
        recorded = len(wait_for_recording(take, 1))
        mosquitto.restart()
        seq = sniffer.events[-1]["seq"]
        sniffer.wait_for(lambda s: s.events[-1]["seq"] > seq + 10, "events after the restart")
        wait_for_recording(take, recorded + 10)
        for log in (watch_log, play_log):
            wait_for_file(log, "connected to the MQTT broker", count=2)
        elapsed = time.monotonic() - started
    finally:
        for process in (player, watcher):
            process.send_signal(signal.SIGTERM)
            process.wait(TIMEOUT)
        stderr = finish(server, signal.SIGTERM)
        sniffer.close()
    watch_log.seek(0)
    play_log.seek(0)
    watched, played = watch_log.read(), play_log.read()
    assert server.returncode == 0 and watcher.returncode == 0 and player.returncode == 0
    for log in (stderr, watched, played):
        assert "Traceback" not in log
    assert len(re.findall("ignored a control on", stderr)) == controls
    assert "lost the MQTT broker" in stderr and "lost the MQTT broker" in played
    assert watched.count("! malformed message on ") == total
    assert "playbach watch: %d malformed messages ignored" % total in watched
    summary = re.search(r"played (\d+), late \d+, repeated \d+, cancelled \d+, "
                        r"malformed (\d+), missed \d+, failed (\d+)", played)
    assert summary and int(summary[2]) == heard_by_player and int(summary[3]) == 0
    print("fuzz: sent %s; counted: server %d, watcher %d, player %d; %.1f s"
          % ({t[len(prefix) + 1:]: len(p) for t, p in sent.items()}, controls, total,
             heard_by_player, elapsed))


class Sniffer:
    """The server's own events and statuses, as a paho client sees them (hostile ones aside)."""

    def __init__(self, broker, prefix):
        import threading

        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.events, self.statuses = [], []
        self.changed = threading.Condition()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2)
        self.wanted = {protocol.events_topic(prefix): (protocol.EVENT, self.events),
                       protocol.status_topic(prefix): (protocol.STATUS, self.statuses)}
        subscribed = threading.Event()

        def on_connect(client, *_):
            for topic in self.wanted:
                client.subscribe(topic, qos=1)

        self.client.on_connect = on_connect
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.on_message = self._record
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        assert subscribed.wait(TIMEOUT), "the sniffer could not subscribe"

    def _record(self, client, userdata, message):
        table, kept = self.wanted[message.topic]
        try:
            decoded = protocol.decode(table, message.payload)
        except ValueError:
            return  # one of the test's own
        with self.changed:
            kept.append(decoded)
            self.changed.notify_all()

    def wait_for(self, condition, what):
        with self.changed:
            assert self.changed.wait_for(
                lambda: self.events and self.statuses and condition(self), TIMEOUT), \
                "timed out waiting for %s" % what

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


def wait_for_file(log, text, count=1):
    """Wait until ``log`` (a file a process writes) holds ``text`` ``count`` times."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        log.seek(0)
        found = log.read().count(text)
        if found >= count:
            return
        assert time.monotonic() < deadline, "%d of %d %r in the log" % (found, count, text)
        time.sleep(0.1)


def wait_for_recording(path, count):
    """The notes of a recording once it holds ``count`` of them (it is saved every second)."""
    deadline = time.monotonic() + TIMEOUT
    while len(notes_on(path)) < count:
        assert time.monotonic() < deadline, "%d notes recorded, not %d" % (
            len(notes_on(path)), count)
        time.sleep(0.2)
    return notes_on(path)
