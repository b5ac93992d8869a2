"""How late the stream arrives: a real ``playbach serve`` and a subscriber on this machine.

Each event says when it should sound (``at``, Unix ms); the subscriber notes when it arrives.
The difference is what a player hears as lateness: generation, the scheduler, the broker and
the network stack together. Everything stays on 127.0.0.1.
"""
import getpass
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt

import playbach_protocol as protocol

PREFIX = "playbach-bench"
START_S = 30


def stream_latency(card_path, events=200, bpm=480, broker="embedded"):
    """Milliseconds from each event's scheduled onset to its arrival at a subscriber.

    ``broker``: ``embedded`` (the server's own, as ``playbach serve`` runs by default) or
    ``mosquitto`` (started here, as on a Pi with the system broker). Returns p50/p99/max.
    """
    port = _free_port()
    with tempfile.TemporaryDirectory() as folder:
        mosquitto = _start_mosquitto(Path(folder), port) if broker == "mosquitto" else None
        serve = [sys.executable, "-m", "playbach", "serve", "--model", str(card_path),
                 "--prefix", PREFIX, "--seed", "0", "--bpm", str(bpm)]
        serve += (["--host", "127.0.0.1", "--port", str(port)] if mosquitto
                  else ["--embedded-port", str(port)])
        server = subprocess.Popen(serve, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  text=True)
        try:
            lateness = _listen(port, events, bpm, server)
        finally:
            for process in (server, mosquitto):
                if process and process.poll() is None:
                    process.terminate()
                    process.wait(10)
    lateness = lateness[:events]
    return {"broker": broker, "events": len(lateness), "bpm": bpm,
            "p50_ms": round(float(np.median(lateness)), 2),
            "p99_ms": round(float(np.percentile(lateness, 99)), 2),
            "max_ms": round(float(np.max(lateness)), 2)}


def _listen(port, events, bpm, server):
    """The lateness of the first ``events`` events to arrive (the server plays on until it is
    stopped: with the embedded broker, its first events may precede the subscription)."""
    arrived, done = [], threading.Event()

    def on_message(client, userdata, message):
        received = time.time() * 1000
        arrived.append(received - protocol.decode(protocol.EVENT, message.payload)["at"])
        if len(arrived) == events:
            done.set()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="playbach-bench")
    client.on_connect = lambda c, *_: c.subscribe(protocol.events_topic(PREFIX))
    client.on_message = on_message
    _connect(client, port, server)  # the embedded broker listens once the server is up
    client.loop_start()
    try:
        if not done.wait(START_S + events * 4 * 60 / bpm):  # 4 beats: the longest event
            raise RuntimeError("received %d of %d events" % (len(arrived), events))
    finally:
        client.disconnect()
        client.loop_stop()
    return arrived


def _connect(client, port, server):
    """Connect ``client`` to 127.0.0.1:``port`` as soon as a broker listens there;
    ``RuntimeError`` if the ``server`` process exits or ``START_S`` pass first."""
    deadline = time.monotonic() + START_S
    while True:
        try:
            client.connect("127.0.0.1", port)
            return
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("playbach serve did not start: %s"
                                   % server.stderr.read().strip()[-300:])
            time.sleep(0.05)


def _start_mosquitto(folder, port):
    """mosquitto on 127.0.0.1:``port``, accepting connections since ``.accepting``."""
    if shutil.which("mosquitto") is None:
        raise RuntimeError("mosquitto is not installed (make system installs it)")
    config = folder / "mosquitto.conf"
    # As root, mosquitto would switch to its own user, which cannot read this folder.
    config.write_text("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n"
                      "user %s\n" % (port, getpass.getuser()))
    process = subprocess.Popen(["mosquitto", "-c", str(config)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        process.accepting = _accepting(port)
    except RuntimeError:
        process.kill()
        raise
    return process


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def resume_times(card_path, outages=(1, 2, 3, 5, 8), bpm=480):
    """Seconds from a restarted broker accepting connections to ``playbach serve`` publishing
    on it again, once for each outage (seconds mosquitto stays killed), and their
    min/median/max.

    A subscriber connects the moment the broker accepts again and times the first message the
    server publishes live (its status, sent on each reconnection, or an event). Should the
    server get there first, its status reaches the subscriber as retained: the subscription's
    own time is then the measure (an upper bound).
    """
    port = _free_port()
    with tempfile.TemporaryDirectory() as folder:
        mosquitto = _start_mosquitto(Path(folder), port)
        serve = [sys.executable, "-m", "playbach", "serve", "--model", str(card_path),
                 "--prefix", PREFIX, "--seed", "0", "--bpm", str(bpm), "--host", "127.0.0.1",
                 "--port", str(port)]
        server = subprocess.Popen(serve, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  text=True)
        resumed = []
        try:
            _first_publication(port, server)  # playing
            for outage in outages:
                mosquitto.kill()
                mosquitto.wait(10)
                time.sleep(outage)
                mosquitto = _start_mosquitto(Path(folder), port)
                resumed.append(_first_publication(port, server) - mosquitto.accepting)
        finally:
            for process in (server, mosquitto):
                if process.poll() is None:
                    process.terminate()
                    process.wait(10)
    return {"broker": "mosquitto", "bpm": bpm, "outages_s": list(outages),
            "resume_s": [round(seconds, 3) for seconds in resumed],
            "min_s": round(min(resumed), 3), "median_s": round(float(np.median(resumed)), 3),
            "max_s": round(max(resumed), 3)}


def _accepting(port):
    """The moment (``time.monotonic()``) 127.0.0.1:``port`` first accepts a connection."""
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return time.monotonic()
        except OSError:
            time.sleep(0.002)
    raise RuntimeError("mosquitto did not listen on 127.0.0.1:%d" % port)


def _first_publication(port, server):
    """When (``time.monotonic()``) the server's first live message under PREFIX arrives at a
    subscriber connecting now; the subscription's time if a retained one comes first."""
    arrived, subscribed = [], []
    done = threading.Event()

    def on_message(client, userdata, message):
        if not arrived:
            arrived.append(max(subscribed) if message.retain else time.monotonic())
            done.set()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="playbach-bench-resume")
    client.on_subscribe = lambda *_: subscribed.append(time.monotonic())
    client.on_message = on_message
    _connect(client, port, server)
    client.subscribe(PREFIX + "/#")
    client.loop_start()
    try:
        if not done.wait(START_S):
            raise RuntimeError("playbach serve published nothing within %d s" % START_S)
    finally:
        client.disconnect()
        client.loop_stop()
    return arrived[0]
