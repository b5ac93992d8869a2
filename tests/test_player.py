"""The Pi player, ``playbach play``: the MIDI it sends to a port and records; the real command
against a real mosquitto that restarts mid-stream; and end to end, behind ``playbach serve``."""
import importlib.util
import os
import signal
import subprocess
import sys
import time

import mido
import pytest

import playbach_protocol as protocol
from playbach.player import midi
from playbach.player.outputs import MidiOut
from test_device_esp32 import EVENTS, Lines, publish, status
from test_serve import Listener as Sniffer, broker_args, finish, serve

T0 = 1_764_000_000_000


class Port:
    """A MIDI output port as mido opens one, minus the sound card."""

    def __init__(self):
        self.sent = []

    def send(self, message):
        self.sent.append(message)


def test_player_bytes_reach_a_port_and_a_recording(tmp_path):
    now = [0.0]
    port, recorder = Port(), midi.Recorder(tmp_path / "take.mid", lambda: now[0])
    output = MidiOut(midi.Wire([port, recorder]), channel=3, program=19)
    output.play([60, 64], 80)
    now[0] = 0.5
    output.release([60])
    now[0] = 0.8
    output.silence()  # E4 off, all notes off
    recorder.flush()
    assert not (tmp_path / "take.mid").exists()  # not a second yet
    now[0] = 1.0
    recorder.flush()
    assert [m.bytes() for m in port.sent] == [
        [0xC2, 19], [0x92, 60, 80], [0x92, 64, 80], [0x82, 60, 0], [0x82, 64, 0], [0xB2, 123, 0]]
    recorded = [m for m in mido.MidiFile(tmp_path / "take.mid").tracks[0] if not m.is_meta]
    assert recorded == [m.copy(time=t) for m, t in zip(port.sent, [0, 0, 0, 500, 300, 0])]


@pytest.mark.skipif(importlib.util.find_spec("rtmidi") is not None,
                    reason="python-rtmidi is installed here")
def test_list_ports_says_clearly_when_mido_has_no_backend():
    result = subprocess.run([sys.executable, "-m", "playbach", "play", "--list-ports"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "no MIDI port backend" in result.stderr and "python-rtmidi" in result.stderr


def live_event(seq, notes, hold=80):
    at = round(time.time() * 1000)
    return EVENTS, protocol.encode_event(seq, notes, [hold] * len(notes), "1/4", "f", 120, at)


def test_play_records_a_live_stream_and_survives_a_broker_restart(mosquitto, tmp_path):
    take = tmp_path / "take.mid"
    player = subprocess.Popen(
        [sys.executable, "-m", "playbach", "play", "--host", mosquitto.host, "--port",
         str(mosquitto.port), "--out", str(take)], stderr=subprocess.PIPE, text=True)
    player.stdout = player.stderr  # the log is what Lines reads
    log = Lines(player)
    try:
        log.wait_for("connected to the MQTT broker")
        time.sleep(0.3)  # the subscription follows the connection
        publish(mosquitto, status("playing"))
        for seq, notes in enumerate([[60], [48, 64], [67]], 1):
            publish(mosquitto, live_event(seq, notes))
            time.sleep(0.1)
        publish(mosquitto, (EVENTS, "garbage"), live_event(2, [72]))  # bad, then a repeat
        assert "playbach/events: ignored: bad event payload: not JSON" in log.wait_for("ignored")
        deadline = time.monotonic() + 3  # the recording is saved at least every second
        while notes_on(take) != [60, 48, 64, 67] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert notes_on(take) == [60, 48, 64, 67]
        mosquitto.restart()
        log.wait_for("lost the MQTT broker")
        log.wait_for("connected to the MQTT broker")
        time.sleep(0.3)
        publish(mosquitto, live_event(6, [69]))
        assert log.wait_for("missed").endswith("playbach/events: missed 2 events (seq 4-5)")
        time.sleep(0.2)
    finally:
        player.send_signal(signal.SIGTERM)
        assert player.wait(timeout=10) == 0
    assert "played 4, stale 0, repeated 1, malformed 1, missed 2" in log.wait_for("played")
    track = mido.MidiFile(take).tracks[0]
    assert notes_on(take) == [60, 48, 64, 67, 69]
    offs = [m.note for m in track if m.type == "note_off"]
    assert sorted(offs) == [48, 60, 64, 67, 69]  # each note released after its 80 ms
    assert [m for m in track if not m.is_meta][-1].is_cc(123)  # all notes off at exit


def notes_on(path):
    """The notes started in a recording, in order; none before it is first saved."""
    if not path.exists():
        return []
    return [m.note for m in mido.MidiFile(path).tracks[0] if m.type == "note_on"]


def test_play_plays_exactly_what_serve_publishes(tiny_model, mosquitto, tmp_path):
    prefix = "e2e-play-%d" % os.getpid()
    sniffer = Sniffer(mosquitto.host, mosquitto.port, prefix)
    take = tmp_path / "take.mid"
    player = subprocess.Popen(
        [sys.executable, "-m", "playbach", "play", "--host", mosquitto.host, "--port",
         str(mosquitto.port), "--prefix", prefix, "--out", str(take), "--late-ms", "1000"],
        stderr=subprocess.PIPE, text=True)
    player.stdout = player.stderr
    log = Lines(player)
    try:
        log.wait_for("connected to the MQTT broker")
        time.sleep(0.3)  # the subscription follows the connection
        server = serve(tiny_model, *broker_args(mosquitto, prefix), "--notes", 40)
        assert server.wait(60) == 0, finish(server)
        sniffer.wait_for(lambda s: len(s.events()) == 40 and s.statuses()[-1]["state"] ==
                         "stopped", "40 events and the stopped status")
        time.sleep(0.3)  # the stopped status reaches the player too
    finally:
        player.send_signal(signal.SIGTERM)
        assert player.wait(timeout=10) == 0
        sniffer.close()
    assert "played 40, stale 0, repeated 0, malformed 0, missed 0" in log.wait_for("played")
    assert notes_on(take) == [note for event in sniffer.events() for note in event["notes"]]
