"""How the stream keeps time: real ``playbach serve`` and players on this machine.

:func:`stream_latency`: each event says when it sounds (``at``, Unix ms) and when it was sent
(``sent_us``); a subscriber notes when it arrives. The server's lateness is how much later than
its deadline (``at`` less the lead) it sent each event: generation, the scheduler, Python's
threads. :func:`choir`: four players, one per voice, each behind a :class:`JitterProxy` (a WiFi
link), log when they start each note; the skew is how far apart they sound the same event.
Everything stays on 127.0.0.1.
"""
import getpass
import re
import shutil
import signal
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
from playbach.live.jitter import JitterProxy

PREFIX = "playbach-bench"
START_S = 30


def stream_latency(card_path, events=200, bpm=480, broker="embedded", lead_ms=0):
    """How late ``playbach serve`` sends its events, and how late they arrive, in ms.

    ``broker``: ``embedded`` (the server's own, as ``playbach serve`` runs by default) or
    ``mosquitto`` (started here, as on a Pi with the system broker). ``late``: from each
    event's deadline (``at`` less the lead) to its ``sent_us``; ``arrival``: from the deadline
    to its arrival at a subscriber (with no lead, what a player hears as lateness). Each as
    p50/p99/max.
    """
    port = _free_port()
    with tempfile.TemporaryDirectory() as folder:
        mosquitto = _start_mosquitto(Path(folder), port) if broker == "mosquitto" else None
        serve = [sys.executable, "-m", "playbach", "serve", "--model", str(card_path),
                 "--prefix", PREFIX, "--seed", "0", "--bpm", str(bpm), "--lead-ms", str(lead_ms)]
        serve += (["--host", "127.0.0.1", "--port", str(port)] if mosquitto
                  else ["--embedded-port", str(port)])
        server = subprocess.Popen(serve, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  text=True)
        try:
            arrived = _listen(port, events, bpm, server)[:events]
        finally:
            for process in (server, mosquitto):
                if process and process.poll() is None:
                    process.terminate()
                    process.wait(10)
    late = [event["sent_us"] / 1000 - (event["at"] - lead_ms) for event, _ in arrived]
    arrival = [received - (event["at"] - lead_ms) for event, received in arrived]
    return {"broker": broker, "events": len(arrived), "bpm": bpm, "lead_ms": lead_ms,
            "late": figures(late), "arrival": figures(arrival)}


def figures(values):
    """p50, p99 and max of ``values`` (ms), rounded to 0.01 ms."""
    return {"p50_ms": round(float(np.median(values)), 2),
            "p99_ms": round(float(np.percentile(values, 99)), 2),
            "max_ms": round(float(np.max(values)), 2)}


def _listen(port, events, bpm, server):
    """The first ``events`` events to arrive, with their arrival (Unix ms) (the server plays on
    until it is stopped: with the embedded broker, its first events may precede the
    subscription)."""
    arrived, done = [], threading.Event()

    def on_message(client, userdata, message):
        received = time.time() * 1000
        arrived.append((protocol.decode(protocol.EVENT, message.payload), received))
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


def choir(card_path, events=320, bpm=1000, lead_ms=200, seed=0, warmup_s=3.0,
          folder=None):
    """Four ``playbach play --voice V`` (the board's player), each behind its own
    :class:`JitterProxy`, play ``events`` events of one ``playbach serve`` through mosquitto,
    logging when they start each note (``--onset-log``).

    Returns the ``skew`` (per event, the spread of its onsets across the players that sound
    it), the ``error`` (each onset less its ``at``, both on this machine's clock), its parts
    ``clock`` (where the player's clock put ``at``, less ``at``) and ``wake`` (the onset less
    that), as p50/p99/max in ms, counted from ``warmup_s`` after the first event (the players'
    clocks converge meanwhile: ``warmup`` has the error before); and what the players counted
    (``late``: messages after their moment, skipped). Logs go to ``folder`` (default: a
    temporary one).
    """
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(folder or temporary)
        port = _free_port()
        mosquitto = _start_mosquitto(folder, port)
        proxies = [JitterProxy(port, seed + i).start() for i in range(len(protocol.VOICES))]
        players = []
        try:
            for voice, proxy in zip(protocol.VOICES, proxies):
                log = open(folder / ("%s.log" % voice), "w+")
                players.append((voice, log, subprocess.Popen(
                    [sys.executable, "-m", "playbach", "play", "--host", "127.0.0.1", "--port",
                     str(proxy.port), "--prefix", PREFIX, "--voice", voice, "--onset-log",
                     str(folder / ("%s.onsets" % voice))],
                    stdout=subprocess.DEVNULL, stderr=log, text=True)))
            for voice, log, player in players:
                _wait_for_line(log, player, "connected to the MQTT broker")
            time.sleep(0.5)  # the subscriptions cross the proxies
            server = subprocess.run(
                [sys.executable, "-m", "playbach", "serve", "--model", str(card_path), "--host",
                 "127.0.0.1", "--port", str(port), "--prefix", PREFIX, "--seed", str(seed),
                 "--bpm", str(bpm), "--notes", str(events), "--lead-ms", str(lead_ms)],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                timeout=START_S + events * 4 * 60 / bpm)
            if server.returncode:
                raise RuntimeError("playbach serve failed: %s" % server.stderr[-500:])
            time.sleep(1)  # the last notes, the stopped status
        finally:
            for voice, log, player in players:
                player.send_signal(signal.SIGTERM)
            for voice, log, player in players:
                player.wait(10)
            for proxy in proxies:
                proxy.close()
            mosquitto.terminate()
            mosquitto.wait(10)
        wall_us = time.time_ns() // 1000 - time.monotonic_ns() // 1000
        onsets, late = {}, 0
        for voice, log, player in players:
            log.seek(0)
            summary = re.search(r"played (\d+), late (\d+)", log.read())
            if not summary:
                raise RuntimeError("the %s player logged no summary" % voice)
            late += int(summary.group(2))
            for line in (folder / ("%s.onsets" % voice)).read_text().splitlines():
                seq, at, due, onset = map(int, line.split())
                onsets.setdefault(seq, []).append((at * 1000 - wall_us, due, onset))
    start = min(at for heard in onsets.values() for at, _, _ in heard) + warmup_s * 1e6
    steady = [heard for heard in onsets.values() if heard[0][0] >= start]
    every = [onset for heard in steady for onset in heard]
    if not every:
        raise RuntimeError("no onsets %g s after the first: play more events" % warmup_s)
    ms = lambda values: figures([value / 1000 for value in values])  # noqa: E731
    return {"lead_ms": lead_ms, "events": events, "bpm": bpm, "players": len(players),
            "onsets": len(every), "late": late,
            "skew": ms([max(o for _, _, o in heard) - min(o for _, _, o in heard)
                        for heard in steady if len(heard) > 1]),
            "error": ms([abs(onset - at) for at, _, onset in every]),
            "clock": ms([due - at for at, due, _ in every]),
            "wake": ms([onset - due for _, due, onset in every]),
            "warmup": ms([abs(onset - at) for heard in onsets.values() if heard[0][0] < start
                          for at, _, onset in heard] or [0])}


def _wait_for_line(log, process, text):
    """Wait until ``process`` has written ``text`` to ``log`` (a file it appends to)."""
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        log.seek(0)
        if text in log.read():
            return
        if process.poll() is not None:
            break
        time.sleep(0.05)
    log.seek(0)
    raise RuntimeError("no %r from %s: %s" % (text, process.args[:4], log.read()[-300:]))


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
