"""The ESP32 player: its logic and outputs under a real MicroPython (fake ``machine`` printing
each PWM and UART call), fed real payloads built by the shared module; its main.py under
MicroPython with a fake MQTT client; and main.py with the real umqtt.simple under CPython,
against a real mosquitto (tests/conftest.py) that restarts mid-stream."""
import json
import queue
import random
import subprocess
import sys
import threading
import time

import paho.mqtt.client
import pytest

import playbach_protocol as protocol
from playbach.live import wire
from playbach.live.jitter import wifi_delay
from test_micropython import HARNESS, PROTOCOL, ROOT

ESP32 = ROOT / "device" / "esp32"
SHARED = ROOT / "shared"
FAKES = HARNESS / "fakes"
T0 = 1_764_000_000_000  # the server's Unix ms at the first note
EVENTS = protocol.events_topic()
STATUS = protocol.status_topic()


def event(seq, notes, holds, at, duration="1/2", dynamic="mf", lead=0, piece=1):
    """An event sounding at ``at`` (ms from T0), sent ``lead`` ms before."""
    return EVENTS, wire.encode(protocol.EVENT, seq, notes, holds, duration, dynamic, 120, T0 + at,
                               (T0 + at - lead) * 1000, piece)


def status(state, **fields):
    return STATUS, wire.encode(protocol.STATUS, state, **fields)


def play(tmp_path, steps, **settings):
    """Run ``steps`` ``(local_ms, topic, payload)`` or ``(local_ms,)`` (a tick) through the
    player on MicroPython; return its output lines after the outputs' setup."""
    plan = dict(settings, steps=[])
    for step in steps:
        if len(step) == 1:
            plan["steps"].append({"t": step[0]})
        else:
            payload = step[2] if isinstance(step[2], bytes) else step[2].encode()
            plan["steps"].append({"t": step[0], "topic": step[1], "payload": payload.hex()})
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    lines = run_board(HARNESS / "player_check.py", {
        "plan.json": tmp_path / "plan.json", "machine.py": FAKES / "machine.py",
        "playbach_protocol.py": PROTOCOL, "playbach_player.py": SHARED / "playbach_player.py",
        "playbach_outputs.py": SHARED / "playbach_outputs.py"})
    return lines[[i for i, line in enumerate(lines) if line.startswith("@")][0]:]


def board_files(build):
    """What ``make flash`` copies, ``{name on the board: path}``, the modules compiled by
    ``make board`` into ``build``; but for config.json, which each test writes."""
    made = subprocess.run(["make", "-s", "board", "BOARD_BUILD=%s" % build], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    return {path.rsplit("/", 1)[-1]: ROOT / path for path in made.stdout.split()
            if not path.endswith("config.json")}


def run_board(script, files):
    """Run ``script`` on MicroPython with ``files`` (``{name on the board: host path}``);
    return its output lines."""
    command = ["node", str(HARNESS / "run.mjs")]
    for name, path in files.items():
        command += ["--file", "%s=%s" % (name, path)]
    result = subprocess.run(command + [str(script)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_buzzer_plays_top_notes_on_time_and_skips_late_repeated_and_bad_messages(tmp_path):
    mf = 80 * 32768 // 127
    lines = play(tmp_path, [
        (10_000,) + status("playing"),
        (10_000,) + event(1, [60, 64, 67], [400, 400, 200], 0),
        (10_199,), (10_200,),  # G4 ends: the buzzer falls to the top note still sounding
        (10_400,),
        (10_520,) + event(2, [72], [300], 500),  # 20 ms later than the first: on time
        (10_530,) + event(2, [72], [300], 500),  # the broker delivered it twice
        (10_540, EVENTS, "not json"),
        (10_541, EVENTS, b"\xff\xfe"),
        (10_542, EVENTS, '{"v": 2, "seq": 3, "notes": [200]}'),
        (10_543, EVENTS, wire.encode(protocol.VOICE, 3, "alto", 60, 80, 5, T0, T0 * 1000, 1)),
        (10_820,),
        (11_600,) + event(5, [74], [300], 1000),  # 600 ms later than the baseline: stale
        (11_700,) + event(6, [76], [300], 1700, dynamic="ff"),
        (11_800,) + status("paused"),
        (12_000,),
    ], output="buzzer", voice="soprano", stream="events")
    assert lines[:8] == [
        "@10000", "@10000", "PWM.freq 392", "PWM.duty_u16 %d" % mf,  # G4
        "@10199", "@10200", "PWM.freq 330", "PWM.duty_u16 %d" % mf]  # E4
    assert lines[8:13] == ["@10400", "PWM.duty_u16 0",
                           "@10520", "PWM.freq 523", "PWM.duty_u16 %d" % mf]  # C5
    assert lines[13:15] == ["@10530", "@10540"]
    assert lines[15].startswith("LOG playbach/events: ignored: bad event payload: not JSON")
    assert lines[17].startswith("LOG playbach/events: ignored: bad event payload: not UTF-8")
    assert lines[19].startswith("LOG playbach/events: ignored: bad event field 'notes': [200]")
    assert lines[21].startswith("LOG playbach/events: ignored: bad event payload: no field 'notes'")
    assert lines[22:] == [
        "@10820", "PWM.duty_u16 0",
        "@11600", "LOG playbach/events: missed 2 events (seq 3-4)",
        "@11700", "PWM.freq 659", "PWM.duty_u16 %d" % (112 * 32768 // 127),  # E5, ff
        "@11800", "PWM.duty_u16 0",
        "@12000",
        "COUNTS cancelled=0 failed=0 late=1 malformed=4 missed=2 played=3 repeated=1"]


def test_buzzer_can_follow_the_bass(tmp_path):
    lines = play(tmp_path, [(0,) + event(1, [48, 60, 64], [100, 100, 100], 0)],
                 output="buzzer", voice="bass", stream="events")
    assert lines[:3] == ["@0", "PWM.freq 131", "PWM.duty_u16 %d" % (80 * 32768 // 127)]


def test_midi_sends_chords_note_offs_on_time_and_all_notes_off_on_stop(tmp_path):
    lines = play(tmp_path, [
        (0,) + event(1, [48, 60], [1000, 500], 0),
        (499,), (500,),
        (900,) + event(2, [48], [600], 900, dynamic="p"),  # a repeated note strikes again
        (1_000,),  # the first C3's note-off is forgotten: the new one holds to 1500
        (1_200,) + status("stopped"),
        (1_600,),
    ], output="midi", channel=2, program=19, stream="events")
    assert lines == [
        "@0", "UART.write 91 30 50", "UART.write 91 3c 50",
        "@499", "@500", "UART.write 81 3c 00",
        "@900", "UART.write 81 30 00", "UART.write 91 30 31",
        "@1000",
        "@1200", "UART.write 81 30 00", "UART.write b1 7b 00",
        "@1600",
        "COUNTS cancelled=0 failed=0 late=0 malformed=0 missed=0 played=2 repeated=0"]


def test_midi_plays_one_voice_moving(tmp_path):
    topic = protocol.voice_topic("soprano")
    voice = lambda seq, note, ms, at: (at, topic, wire.encode(  # noqa: E731
        protocol.VOICE, seq, "soprano", note, 64 if note else 0, ms, T0 + at, (T0 + at) * 1000,
        1))
    lines = play(tmp_path, [
        voice(1, 67, 500, 0),
        voice(2, 69, 500, 250),  # the voice moves before the note's time is up
        voice(2, 71, 500, 260),  # same seq again: skipped
        (500,),
        voice(3, None, 0, 600),  # silence
        (5, EVENTS, wire.encode(protocol.EVENT, 9, [60], [100], "1", "mf", 120, T0, T0 * 1000,
                                1)),  # unheard
    ], output="midi", channel=1, program=None, stream="soprano")
    assert lines == [
        "@0", "UART.write 90 43 40",
        "@250", "UART.write 80 43 00", "UART.write 90 45 40",
        "@260", "@500",
        "@600", "UART.write 80 45 00",
        "@5",
        "COUNTS cancelled=0 failed=0 late=0 malformed=0 missed=0 played=3 repeated=1"]




def test_a_bogus_time_is_refused_and_a_clock_step_silences_two_seconds_at_most(tmp_path):
    bogus = wire.encode(protocol.EVENT, 2, [62], [100], "1", "mf", 120, T0 + 10 ** 9,
                        (T0 + 500) * 1000, 1)  # sounding in 12 days
    lines = play(tmp_path, [
        (0,) + event(1, [60], [100], 0),
        (500, EVENTS, bogus),
        (1_000,) + event(3, [64], [100], 0),  # the server's clock stepped a second back...
        (2_000,) + event(4, [65], [100], 1_000),  # ...so everything is a second late...
        (3_000,) + event(5, [67], [100], 2_000),
        (3_100,) + event(6, [69], [1 << 30], 2_100),  # ...until 2 s of that: a new line
        (3_200,), (600_500,),
    ], output="midi", channel=1, program=None, stream="events")
    assert lines == [
        "@0", "UART.write 90 3c 50",
        "@500", "LOG playbach/events: ignored: bad event field 'at': 1765000000000, "
        "over a minute from 'sent_us'", "UART.write 80 3c 00",
        "@1000", "LOG playbach/events: missed 1 event (seq 2)", "@2000", "@3000",
        "@3100", "UART.write 90 45 50", "@3200",
        "@600500", "UART.write 80 45 00",  # held 500 s at most
        "COUNTS cancelled=0 failed=0 late=3 malformed=1 missed=1 played=2 repeated=0"]


def test_main_wires_config_wifi_and_mqtt_and_reconnects_with_backoff(tmp_path):
    config = json.loads((ESP32 / "config.example.json").read_text())
    config["broker"]["keepalive"] = 1  # a ping every 500 ms
    config.update(output="midi", late_ms=1000)  # the second session's at is a guess, +-1 s
    (tmp_path / "config.json").write_text(json.dumps(config))
    session = lambda messages, drop_ms: {  # noqa: E731
        "drop_ms": drop_ms,
        "messages": [[after, topic, payload.encode().hex()] for after, topic, payload in messages]}
    backoff = 700 + 1000 + 2000  # ms between the two sessions: dropped, 1 s, refused, 2 s
    plan = [session([(0,) + status("playing"),
                     (50,) + event(1, [60], [100], 50),
                     (100, EVENTS, "garbage"),
                     (110, EVENTS, "[" * 5000),
                     (120, STATUS, '{"v": 2, "state": []}'),
                     (130, EVENTS, '{"cmd": {}}'),
                     (300,) + event(2, [62, 67], [100, 100], 300)], 700),
            "refuse",
            session([(50,) + event(4, [64], [100], backoff + 50)], 300)]
    (tmp_path / "mqtt_plan.json").write_text(json.dumps(plan))
    files = board_files(tmp_path / "board")
    assert sorted(files) == ["main.py", "playbach_outputs.mpy", "playbach_player.mpy",
                             "playbach_protocol.mpy"]
    lines = run_board(HARNESS / "esp32_main_check.py", dict(
        files, **{"config.json": tmp_path / "config.json",
                          "mqtt_plan.json": tmp_path / "mqtt_plan.json",
                          "machine.py": FAKES / "machine.py", "network.py": FAKES / "network.py",
                          "umqtt/simple.py": FAKES / "umqtt_simple.py"}))
    assert "MQTT.ping" in lines
    connected = "mqtt: connected to 192.168.1.10, playing playbach/events"
    subscribed = ["MQTT.subscribe playbach/events", "MQTT.subscribe playbach/status"]
    lines = [line.replace("OSError(-1,)", "OSError(-1)").replace("OSError(111,)", "OSError(111)")
             for line in lines if line != "MQTT.ping"]
    assert lines[:15] == [
        "UART.init id=2 baudrate=31250 tx=17", "UART.write c0 13",
        "MQTTClient playbach-fa4e0001 192.168.1.10:1883 keepalive=1",
        "WLAN.config pm=0", "WLAN.connect your-network", "MQTT.connect"] + subscribed + [
        connected,
        "UART.write 90 3c 50", "playbach/events: ignored: bad event payload: not JSON: 'garbage'",
        "playbach/events: ignored: bad event payload: 5000 bytes, more than 4096",
        "playbach/status: ignored: bad status field 'state': [], expected one of playing paused "
        "stopped offline",
        "playbach/events: ignored: bad event payload: schema version None, expected 2 (update "
        "the server and the players together)",
        "UART.write 80 3c 00"]
    assert lines[15:] == [
        "UART.write 90 3e 50", "UART.write 90 43 50", "UART.write 80 3e 00", "UART.write 80 43 00",
        "mqtt: OSError(-1); reconnecting in 1 s", "UART.write b0 7b 00",
        "MQTT.connect refused", "mqtt: OSError(111); reconnecting in 2 s", "UART.write b0 7b 00",
        "MQTT.connect"] + subscribed + [connected,
        "playbach/events: missed 1 event (seq 3)", "UART.write 90 40 50", "UART.write 80 40 00",
        "mqtt: OSError(-1); reconnecting in 1 s", "UART.write b0 7b 00"]


class Lines:
    """The output lines of a process, read on a thread so a test can wait for one."""

    def __init__(self, process):
        self.process = process
        self.seen = []
        self.queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            self.queue.put(line.rstrip("\n"))

    def wait_for(self, text, timeout=10):
        """Return the first new line containing ``text``; fail after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.queue.get(timeout=max(0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError("no line with %r in %s" % (text, self.seen[-20:]))
            self.seen.append(line)
            if text in line:
                return line


def publish(broker, *messages):
    """Publish ``(topic, payload)`` pairs with paho, as the server would, and wait for each."""
    client = paho.mqtt.client.Client(paho.mqtt.client.CallbackAPIVersion.VERSION2)
    if broker.username:
        client.username_pw_set(broker.username, broker.password)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        for topic, payload in messages:
            client.publish(topic, payload, qos=1).wait_for_publish(5)
    finally:
        client.disconnect()
        client.loop_stop()


def live_event(seq, note):
    return event(seq, [note], [60], round(time.time() * 1000) - T0)


@pytest.mark.parametrize("broker", ["mosquitto", "mosquitto_with_password"])
def test_main_loop_plays_from_a_real_broker_and_survives_its_restart(broker, request, tmp_path):
    mosquitto = request.getfixturevalue(broker)
    config = json.loads((ESP32 / "config.example.json").read_text())
    config["broker"].update(host=mosquitto.host, port=mosquitto.port, keepalive=5,
                            user=mosquitto.username, password=mosquitto.password)
    config.update(output="midi", midi={"uart": 2, "tx": 17, "channel": 1, "program": None})
    (tmp_path / "config.json").write_text(json.dumps(config))
    device = subprocess.Popen([sys.executable, "-u", str(HARNESS / "esp32_on_cpython.py"),
                               str(tmp_path)], stdout=subprocess.PIPE, text=True)
    lines = Lines(device)
    try:
        lines.wait_for("mqtt: connected to 127.0.0.1, playing playbach/events")
        publish(mosquitto, status("playing"), live_event(1, 60))
        assert lines.wait_for("UART.write") == "UART.write 90 3c 50"
        assert lines.wait_for("UART.write") == "UART.write 80 3c 00"  # 60 ms later
        publish(mosquitto, (EVENTS, "garbage"), live_event(2, 62))
        assert "ignored: bad event payload: not JSON" in lines.wait_for("ignored")
        assert lines.wait_for("UART.write") == "UART.write 90 3e 50"
        mosquitto.restart()
        assert "reconnecting in 1 s" in lines.wait_for("mqtt: ")
        lines.wait_for("mqtt: connected")
        publish(mosquitto, live_event(5, 64))
        assert lines.wait_for("missed") == "playbach/events: missed 2 events (seq 3-4)"
        assert lines.wait_for("UART.write") == "UART.write 90 40 50"
        assert lines.wait_for("UART.write") == "UART.write 80 40 00"
    finally:
        device.terminate()
        device.wait(timeout=10)


def test_the_board_sounds_each_note_at_its_moment_through_wifi_and_drift(tmp_path):
    """The board's player under MicroPython, on a fake clock running 100 ppm fast with µs ticks
    that wrap, fed through a WiFi-like link (``wifi_delay``) events published 200 ms ahead:
    once its clock has measured the drift (25 s), every note starts within 1 ms of the moment
    the server stamped on it and ends its hold later. A pause silences it and cancels what it
    had scheduled; so does a new piece."""
    rng, drift, start = random.Random(7), 100e-6, (1 << 30) - 20_000_000
    local = lambda server_us: round(start + (server_us - T0 * 1000) * (1 + drift))  # noqa: E731
    sent, arrived, truth = [], 0, {}

    def send(server_ms, payload):
        nonlocal arrived
        arrived = max(arrived, local(server_ms * 1000) + round(wifi_delay(rng) * 1e6))
        sent.append([arrived % (1 << 30), *payload])

    for seq in range(1, 241):  # an event every 250 ms, 200 ms ahead, for 60 s
        at, piece = T0 + 250 * seq, 1 if seq < 200 else 200
        if seq == 160:  # paused at 39.8 s on the server, playing again 2 s later
            send(at - 250 - 150, status("paused", piece=1))
            send(at - 250 + 1850, status("playing", piece=1))
        at += 2000 * (seq >= 160)
        truth[seq] = local(at * 1000)
        notes = [48 + seq % 24, 72 + seq % 12]
        send(at - 200, (EVENTS, wire.encode(protocol.EVENT, seq, notes, [200, 100], "1", "mf",
                                             240, at, (at - 200) * 1000, piece)))
    plan = {"messages": [[time, topic, payload.encode().hex()] for time, topic, payload in sent],
            "end": (arrived + 1_000_000) % (1 << 30)}
    (tmp_path / "choir.json").write_text(json.dumps(plan))
    lines = run_board(HARNESS / "choir_check.py", {
        "choir.json": tmp_path / "choir.json", "playbach_protocol.py": PROTOCOL,
        "playbach_player.py": SHARED / "playbach_player.py"})
    unwrap = lambda ticks: ticks + (1 << 30) * (ticks < start)  # noqa: E731
    onsets, releases, silences, seq = {}, {}, [], 0
    for line in lines[:-1]:
        kind, ticks, *notes = line.split()
        if kind == "ON":
            seq = next(s for s in truth if s > seq and [48 + s % 24, 72 + s % 12][:len(notes)]
                       == [int(n) for n in notes])
            onsets[seq] = unwrap(int(ticks))
        elif kind == "OFF":
            for note in map(int, notes):
                releases.setdefault(note, []).append(unwrap(int(ticks)))
        else:
            silences.append(unwrap(int(ticks)))
    assert lines[-1].startswith("COUNTS cancelled=")
    counts = dict(item.split("=") for item in lines[-1][7:].split())
    assert counts["late"] == "0" and counts["malformed"] == "0" and int(counts["cancelled"]) >= 1
    steady = [onsets[seq] - truth[seq] for seq in onsets if truth[seq] - start > 25_000_000]
    assert len(steady) > 100 and all(0 <= error < 1000 for error in steady)
    for seq, onset in onsets.items():  # the top note sounds 100 ms, the bass 200 ms
        assert onset + 100_000 in releases[72 + seq % 12] or seq == 199
    # Paused: silent at once, nothing until the events after it; a new piece silences too.
    pause = next(s for s in silences if s > truth[159] - 500_000)
    assert max(onsets[seq] for seq in onsets if seq < 160) < pause < min(
        onsets[seq] for seq in onsets if seq >= 160)
    assert 159 not in onsets or onsets[159] < pause
    assert any(onsets[199] < s <= onsets[200] for s in silences)
