"""Shared fixtures: a slice of the real Bach chorales, and a tiny model trained and exported
through the same code paths as the shipped one (real TensorFlow, real converter)."""
import json
import os
import subprocess
import sys

import mido
import pytest

CHORALES = 30
# Servers started by the tests serve no page and open no websockets listener unless a test asks
# (tests/test_page.py): the default ports (8080, 9001) are one per machine, and tests run at once.
os.environ.setdefault("PLAYBACH_HTTP_PORT", "0")
os.environ.setdefault("PLAYBACH_WS_PORT", "0")


def playbach(*args, timeout=900):
    """Run the playbach command line; return the completed process."""
    return subprocess.run([sys.executable, "-m", "playbach", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def bach_corpus(tmp_path_factory):
    """The first chorales of music21's corpus, tokenized by ``playbach corpus --bach``."""
    out = tmp_path_factory.mktemp("bach")
    result = playbach("corpus", "--bach", "--limit", CHORALES, "--out", out, "--json")
    assert result.returncode == 0, result.stderr
    return out, json.loads(result.stdout)


@pytest.fixture(scope="session")
def tiny_model(bach_corpus, tmp_path_factory):
    """A small model trained for one short epoch on the chorale slice (in batches of 64
    windows, the model the tests were measured on), then exported."""
    corpus, _ = bach_corpus
    out = tmp_path_factory.mktemp("model")
    result = playbach("train", corpus, "--out", out, "--name", "tiny", "--epochs", "1",
                      "--units", "48", "48", "--context", "10", "--batch-size", "64")
    assert result.returncode == 0, result.stderr
    result = playbach("export", out / "tiny.json")
    assert result.returncode == 0, result.stderr
    return out / "tiny.json"


@pytest.fixture(scope="session")
def tiny_parts_model(bach_corpus, tmp_path_factory):
    """The tiny model in the ``parts`` spelling: it gives each note its voice."""
    corpus, _ = bach_corpus
    out = tmp_path_factory.mktemp("parts_model")
    result = playbach("train", corpus, "--out", out, "--name", "tiny", "--epochs", "1",
                      "--units", "48", "48", "--context", "10", "--batch-size", "64",
                      "--spelling", "parts")
    assert result.returncode == 0, result.stderr
    result = playbach("export", out / "tiny.json", "--precision", "int8")
    assert result.returncode == 0, result.stderr
    return out / "tiny.json"


# --- MQTT brokers and a model with primers, for the live server (appended) ---------------------
import getpass  # noqa: E402
import socket  # noqa: E402
import time  # noqa: E402


class Mosquitto:
    """A real mosquitto broker on a free 127.0.0.1 port, optionally with a password file."""

    def __init__(self, folder, username=None, password=None):
        self.host, self.port = "127.0.0.1", free_port()
        self.username, self.password = username, password
        self.config = folder / "mosquitto.conf"
        # As root, mosquitto would switch to its own user, which cannot read tmp_path.
        lines = ["listener %d %s" % (self.port, self.host), "persistence false",
                 "user %s" % getpass.getuser()]
        if username:
            passwords = folder / "passwords"
            subprocess.run(["mosquitto_passwd", "-b", "-c", passwords, username, password],
                           check=True, capture_output=True)
            lines += ["allow_anonymous false", "password_file %s" % passwords]
        else:
            lines.append("allow_anonymous true")
        self.config.write_text("\n".join(lines) + "\n")
        self.log = folder / "mosquitto.log"
        self.process = None

    def restart(self):
        """Start the broker (again), waiting until it accepts connections."""
        self.stop()
        with open(self.log, "a") as log:
            self.process = subprocess.Popen(["mosquitto", "-c", self.config], stdout=log,
                                            stderr=subprocess.STDOUT)
        wait_for_port(self.host, self.port, lambda: self.process.poll() is None,
                      "mosquitto (see %s)" % self.log)
        return self

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(host, port, alive=lambda: True, what="the server", timeout=15):
    """Wait until ``host:port`` accepts TCP connections."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert alive(), "%s exited before listening on %s:%d" % (what, host, port)
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("%s does not listen on %s:%d after %d s" % (what, host, port, timeout))


@pytest.fixture
def mosquitto(tmp_path):
    """A running mosquitto allowing anonymous clients; ``.stop()``/``.restart()`` it at will."""
    broker = Mosquitto(tmp_path).restart()
    yield broker
    broker.stop()


@pytest.fixture
def mosquitto_with_password(tmp_path):
    """A running mosquitto that only lets in ``.username`` with ``.password``."""
    broker = Mosquitto(tmp_path, "player", "s3cret pass").restart()
    yield broker
    broker.stop()


def midi_notes(path):
    """``(start tick, length in ticks, pitch, velocity)`` of every note in a MIDI file."""
    midi = mido.MidiFile(path)
    tick, started, notes = 0, {}, []
    for message in midi.tracks[0]:
        tick += message.time
        if message.type == "note_on" and message.velocity:
            started[message.note] = (tick, message.velocity)
        elif message.type in ("note_on", "note_off") and message.note in started:
            start, velocity = started.pop(message.note)
            notes.append((start, tick - start, message.note, velocity))
    return midi, sorted(notes)
