"""The Pi player, ``playbach play``: the MIDI it sends to a port and records; the real command
against a real mosquitto that restarts mid-stream; and end to end, behind ``playbach serve``."""
import os
import signal
import subprocess
import sys
import time
import wave
from pathlib import Path

import mido
import numpy as np
import pytest

import playbach_protocol as protocol
from playbach.engine.synth import SOUNDFONTS
from playbach.live import wire
from playbach.player import midi
from playbach_outputs import MidiOut, note_frequency
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


def test_list_ports_uses_python_rtmidi_or_says_what_is_missing():
    result = subprocess.run([sys.executable, "-m", "playbach", "play", "--list-ports"],
                            capture_output=True, text=True, timeout=30)
    if os.path.exists("/dev/snd/seq"):  # a machine with ALSA MIDI: the ports, or none
        assert result.returncode == 0 and result.stdout.strip()
    else:  # here: no sound hardware, so the ALSA sequencer python-rtmidi opens is missing
        assert result.returncode == 1
        assert "MIDI ports are not available here" in result.stderr
        assert "ALSA sequencer (/dev/snd/seq)" in result.stderr


def test_synth_that_cannot_start_says_why():
    result = subprocess.run([sys.executable, "-m", "playbach", "play", "--synth",
                             "--audio-driver", "nonesuch"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "playbach play: fluidsynth exited (255): fluidsynth: error: "
        "Couldn't find the requested audio driver 'nonesuch'.")


def loudest_notes(wav, count=2):
    """The ``count`` MIDI notes (semitones, C3-C6) holding the most energy in a WAV file,
    lowest first."""
    with wave.open(str(wav)) as audio:
        rate = audio.getframerate()
        samples = np.frombuffer(audio.readframes(audio.getnframes()), np.int16)
    mono = samples.reshape(-1, audio.getnchannels()).mean(axis=1)
    # No window: a window would weigh a note by when it sounded; one semitone holds ~100 bins
    # of a second's spectrum, so leakage into the next semitone is negligible.
    power = np.abs(np.fft.rfft(mono)) ** 2
    frequencies = np.fft.rfftfreq(len(mono), 1 / rate)[1:]
    nearest = np.round(69 + 12 * np.log2(frequencies / 440.0))
    energy = {note: power[1:][nearest == note].sum() for note in range(48, 85)}
    return sorted(sorted(energy, key=energy.get)[-count:])


def installed_soundfonts():
    """Every General MIDI soundfont playbach would find here, ``$PLAYBACH_SOUNDFONT`` first (so
    any other soundfont can be tried); [None] (playbach's own error) if there is none."""
    candidates = [os.environ.get("PLAYBACH_SOUNDFONT")] + list(SOUNDFONTS)
    found = {Path(c).resolve(): None for c in candidates if c and Path(c).is_file()}
    return list(found) or [None]


@pytest.mark.parametrize("soundfont", installed_soundfonts(),
                         ids=lambda path: getattr(path, "name", "none"))
def test_play_into_fluidsynth_sounds_the_published_notes(mosquitto, tmp_path, soundfont):
    """The real FluidSynth renders what it is sent to a WAV (its file audio driver stands in
    for a sound card): the stream's A4 and C5 are the loudest notes in the recording, with each
    soundfont installed (the Makefile installs FluidR3, and FluidSynth brings TimGM6mb)."""
    sound = tmp_path / "live.wav"
    player = subprocess.Popen(
        [sys.executable, "-m", "playbach", "play", "--host", mosquitto.host, "--port",
         str(mosquitto.port), "--synth", "--soundfont", str(soundfont), "--audio-driver", "file",
         "--synth-setting", "audio.file.name=%s" % sound,
         # Ocarina: close to a sine in General MIDI soundfonts, so its strongest partial is the
         # note played (an organ may sound an octave below, as TimGM6mb's does).
         "--program", "79"],
        stderr=subprocess.PIPE, text=True)
    player.stdout = player.stderr
    log = Lines(player)
    try:
        log.wait_for("connected to the MQTT broker")
        time.sleep(0.3)
        publish(mosquitto, status("playing"), live_event(1, [69], hold=600))
        time.sleep(0.6)
        publish(mosquitto, live_event(2, [72], hold=600))
        time.sleep(0.8)
    finally:
        player.send_signal(signal.SIGTERM)
        assert player.wait(timeout=15) == 0
    assert "played 2, late 0" in log.wait_for("played")
    assert loudest_notes(sound) == [69, 72]


def live_event(seq, notes, hold=80):
    """An event sounding now, as a server with no lead sends it."""
    at = round(time.time() * 1000)
    return EVENTS, wire.encode(protocol.EVENT, seq, notes, [hold] * len(notes), "1/4", "f", 120,
                               at, at * 1000, 1)


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
    assert "played 4, late 0, repeated 1, cancelled 0, malformed 1, missed 2, failed 0" in \
        log.wait_for("played")
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
    assert "played 40, late 0, repeated 0, cancelled 0, malformed 0, missed 0, failed 0" in \
        log.wait_for("played")
    assert notes_on(take) == [note for event in sniffer.events() for note in event["notes"]]


def test_frequencies_are_equal_tempered_from_a440():
    assert note_frequency(69) == 440.0 and note_frequency(81) == 880.0
    assert abs(note_frequency(60) - 261.6256) < 1e-3
