"""The MQTT connection of serve, play and watch: client ids, reconnection, TLS with client
certificates and the errors it reports, the embedded broker's password; clear errors at start
for outputs that cannot be written. Real mosquitto (with TLS where needed), real processes."""
import argparse
import logging
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

import playbach_protocol as protocol
from certificates import Authority
from conftest import Mosquitto, free_port, midi_notes, playbach, wait_for_port
from playbach.live import broker, connection
from playbach.model.card import SHIPPED_CARD
from test_serve import TIMEOUT, Listener, finish, serve, wait_for_log

FAST = ("--keys", "0")  # the shipped model in its written key: fast enough for 600 bpm


def start(*args):
    """Start a playbach command; its log goes to a file (read it with ``finish``)."""
    log = tempfile.TemporaryFile("w+")
    process = subprocess.Popen([sys.executable, "-m", "playbach", *map(str, args)], text=True,
                               stdout=log, stderr=subprocess.STDOUT)
    process.log = log
    return process


# --- client ids and retries --------------------------------------------------------------------

def test_client_ids_are_readable_and_differ_per_process():
    host = re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname().split(".")[0])
    mine = connection.client_id("playbach", "server")
    assert re.fullmatch(r"playbach-server-%s-%d-[0-9a-f]{4}" % (re.escape(host), os.getpid()),
                        mine)
    theirs = subprocess.run([sys.executable, "-c", "from playbach.live.connection import "
                             "client_id; print(client_id('playbach', 'server'))"],
                            capture_output=True, text=True, check=True).stdout.strip()
    assert theirs.startswith("playbach-server-%s-" % host) and theirs[:-5] != mine[:-5]
    assert connection.client_id("home/bach 1", "play").startswith("home-bach-1-play-")


def test_retries_start_short_double_and_stay_capped_with_jitter():
    def waits(rand):
        delays = connection.retry_delays(0.1, 1.5, rand)
        return [round(next(delays), 4) for _ in range(8)]

    assert waits(lambda: 1.0) == [0.1, 0.2, 0.4, 0.8, 1.5, 1.5, 1.5, 1.5]  # the most
    assert waits(lambda: 0.0) == [0.05, 0.1, 0.2, 0.4, 0.75, 0.75, 0.75, 0.75]  # the least
    spread = set(waits(random.Random(1).random))
    assert len(spread) == 8  # jittered: no two clients need wait alike


def test_servers_and_players_share_a_broker(mosquitto, tmp_path):
    """Two servers (their own prefixes) and a player for each, all on one broker and one host,
    under the default client ids: nobody knocks anybody off, both streams flow unbroken."""
    prefixes = ["shareA", "shareB"]
    listener = Listener(mosquitto.host, mosquitto.port, "share")
    for prefix in prefixes:
        listener.client.subscribe(protocol.events_topic(prefix), qos=1)
    address = ["--host", mosquitto.host, "--port", mosquitto.port]
    servers = [serve(SHIPPED_CARD, *address, *FAST, "--prefix", prefix) for prefix in prefixes]
    players = [start("play", *address, "--prefix", prefix, "--out", tmp_path / (prefix + ".mid"))
               for prefix in prefixes]

    def events(prefix):
        return [protocol.decode(protocol.EVENT, payload)["seq"] for topic, payload, _ in
                list(listener.messages) if topic == protocol.events_topic(prefix)]

    try:
        listener.wait_for(lambda _: all(len(events(p)) >= 60 for p in prefixes),
                          "60 events on each prefix")
    finally:
        logs = [finish(process, signal.SIGTERM) for process in servers + players]
        listener.close()
    for prefix in prefixes:
        seqs = events(prefix)
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "a gap in %s" % prefix
    for log in logs:
        assert log.count("connected to the MQTT broker") == 1, log
        assert "lost the MQTT broker" not in log and "Traceback" not in log, log
    broker_log = mosquitto.log.read_text()
    assert "already connected" not in broker_log
    ids = re.findall(r"New client connected from \S+ as (\S+)", broker_log)
    assert len([i for i in ids if re.match(r"share[AB]-(server|play)-", i)]) == 4
    for prefix in prefixes:
        assert midi_notes(tmp_path / (prefix + ".mid"))[1], "%s's player recorded no note" % prefix


def options(*argv):
    """The broker options of ``playbach watch`` with ``argv``."""
    parser = argparse.ArgumentParser()
    connection.add_broker_arguments(parser)
    args = parser.parse_args([str(arg) for arg in argv])
    args.command = "watch"
    return args


def test_a_refusal_is_said_once_while_retrying(mosquitto_with_password, caplog):
    broker = mosquitto_with_password
    args = options("--host", broker.host, "--port", broker.port, "--username", broker.username,
                   "--password", "wrong")
    client = connection.make_client(args, "watch")
    with caplog.at_level(logging.INFO, "playbach.live.connection"):
        connection.start(client, args)
        try:
            deadline = time.monotonic() + TIMEOUT
            while broker.log.read_text().count("not authorised") < 4:  # 4 attempts refused
                assert time.monotonic() < deadline, "the client did not retry"
                time.sleep(0.05)
        finally:
            client.disconnect()
            client.loop_stop()
    assert [r.getMessage() for r in caplog.records] == [
        "cannot connect to the MQTT broker at 127.0.0.1:%d: it refused the connection: Not "
        "authorized (check --username and --password); retrying" % broker.port]


# --- TLS -----------------------------------------------------------------------------------------

class Certificates:
    """A CA, the broker's certificate (for 127.0.0.1 only), a client certificate it signed, and
    one signed by another CA."""

    def __init__(self, folder):
        self.ca = Authority(folder)
        self.server = self.ca.issue("broker", "127.0.0.1", ["127.0.0.1"])
        self.client = self.ca.issue("player", "playbach player", client=True)
        self.stranger = Authority(folder, "other CA").issue("stranger", "stranger", client=True)


@pytest.fixture
def tls_broker(tmp_path):
    """mosquitto with TLS only, requiring a client certificate its CA signed."""
    certificates = Certificates(tmp_path)
    broker = Mosquitto(tmp_path)
    with open(broker.config, "a") as config:
        config.write("cafile %s\ncertfile %s\nkeyfile %s\nrequire_certificate true\n" % (
            certificates.ca.crt, *certificates.server))
    broker.certificates = certificates
    yield broker.restart()
    broker.stop()


def tls_args(broker, *extra):
    return ["--host", broker.host, "--port", broker.port, *map(str, extra)]


def client_files(broker):
    certificates = broker.certificates
    return ["--cafile", certificates.ca.crt, "--certfile", certificates.client[0],
            "--keyfile", certificates.client[1]]


def test_serve_play_and_watch_with_client_certificates(tls_broker, tmp_path):
    certificates = tls_broker.certificates
    files = {"PLAYBACH_BROKER_CAFILE": str(certificates.ca.crt),  # the server's, from its env
             "PLAYBACH_BROKER_CERTFILE": str(certificates.client[0]),
             "PLAYBACH_BROKER_KEYFILE": str(certificates.client[1])}
    server = serve(SHIPPED_CARD, *tls_args(tls_broker), *FAST, "--prefix", "tls", env=files)
    player = start("play", *tls_args(tls_broker, *client_files(tls_broker)), "--prefix", "tls",
                   "--out", tmp_path / "tls.mid")
    try:
        watch = playbach("watch", *tls_args(tls_broker, *client_files(tls_broker)), "--prefix",
                         "tls", "--count", 20, timeout=TIMEOUT)
        wait_for_log(player, "connected to the MQTT broker")
    finally:
        played = finish(player, signal.SIGTERM)
        served = finish(server, signal.SIGTERM)
    assert watch.returncode == 0, watch.stderr
    assert len([line for line in watch.stdout.splitlines() if line[:5].strip().isdigit()]) == 20
    assert "connected to the MQTT broker at 127.0.0.1:%d" % tls_broker.port in served
    assert server.returncode == 0 and player.returncode == 0, served + played
    assert midi_notes(tmp_path / "tls.mid")[1]


def attempt(broker, caplog, *extra, host=None, port=None):
    """Connect a watcher's client with these options until it logs why it cannot; that line."""
    args = options("--host", host or broker.host, "--port", port or broker.port, *extra)
    client = connection.make_client(args, "watch")
    failed = threading.Event()

    class Wait(logging.Handler):
        def emit(self, record):
            if "cannot connect" in record.getMessage():
                failed.set()

    waiting = Wait()
    logging.getLogger("playbach.live.connection").addHandler(waiting)
    try:
        with caplog.at_level(logging.WARNING, "playbach.live.connection"):
            connection.start(client, args)
            assert failed.wait(TIMEOUT), "no reason logged"
            client.disconnect()
            client.loop_stop()
    finally:
        logging.getLogger("playbach.live.connection").removeHandler(waiting)
    lines = [r.getMessage() for r in caplog.records if "cannot connect" in r.getMessage()]
    caplog.clear()
    return lines[0]


def test_tls_failures_say_what_failed(tls_broker, caplog):
    certificates = tls_broker.certificates
    ca, stranger = certificates.ca.crt, certificates.stranger
    where = "cannot connect to the MQTT broker at 127.0.0.1:%d: " % tls_broker.port
    assert attempt(tls_broker, caplog, "--tls") == where + (
        "TLS: certificate verify failed: self-signed certificate in certificate chain (give "
        "--cafile with the CA that signed the broker's certificate); retrying")
    assert attempt(tls_broker, caplog, "--cafile", ca, host="localhost") == (
        "cannot connect to the MQTT broker at localhost:%d: TLS: certificate verify failed: "
        "Hostname mismatch, certificate is not valid for 'localhost' (connect to a name the "
        "broker's certificate was issued for); retrying" % tls_broker.port)
    assert attempt(tls_broker, caplog, "--cafile", ca) == where + (
        "TLS: tlsv13 alert certificate required (the broker requires a client certificate: "
        "give --certfile and --keyfile); retrying")
    assert attempt(tls_broker, caplog, "--cafile", ca, "--certfile", stranger[0], "--keyfile",
                   stranger[1]) == where + (
        "TLS: tlsv1 alert unknown ca (the broker does not trust the CA that signed "
        "--certfile); retrying")
    assert attempt(tls_broker, caplog) == where + (
        "connection reset by the broker (a TLS port? give --tls); retrying")
    closed = free_port()
    assert attempt(tls_broker, caplog, "--cafile", ca, port=closed) == (
        "cannot connect to the MQTT broker at 127.0.0.1:%d: connection refused (no broker "
        "listening on that port); retrying" % closed)


def test_tls_files_that_cannot_be_loaded_stop_at_start(tmp_path):
    certificates = Certificates(tmp_path)
    ca, client, broker_key = certificates.ca.crt, certificates.client, certificates.server[1]
    text = tmp_path / "notes.txt"
    text.write_text("not a certificate\n")
    cases = {
        ("--cafile", tmp_path / "nope.crt"): "--cafile %s: no such file" % (tmp_path / "nope.crt"),
        ("--cafile", text): "--cafile %s: cannot load CA certificates from it: no certificate "
                            "or crl found" % text,
        ("--cafile", ca, "--certfile", client[0], "--keyfile", broker_key):
            "--certfile %s with --keyfile %s: cannot load the client certificate and its key: "
            "key values mismatch" % (client[0], broker_key),
        ("--cafile", ca, "--certfile", text, "--keyfile", client[1]):
            "--certfile %s with --keyfile %s: cannot load the client certificate and its key: "
            "PEM lib (not in PEM format?)" % (text, client[1]),
        ("--keyfile", client[1]): "--keyfile %s: give the client certificate too (--certfile)"
                                  % client[1],
    }
    for options, reason in cases.items():
        for command in ("watch", "play"):
            extra = ("--out", tmp_path / "x.mid") if command == "play" else ()
            result = playbach(command, "--port", free_port(), *options, *extra, timeout=TIMEOUT)
            assert result.returncode == 1, result.stderr
            assert result.stderr.strip() == "playbach %s: %s" % (command, reason)
    result = playbach("serve", "--host", "127.0.0.1", "--cafile", tmp_path / "nope.crt",
                      timeout=TIMEOUT)
    assert (result.returncode, result.stderr.strip()) == (
        1, "playbach serve: --cafile %s: no such file" % (tmp_path / "nope.crt"))


# --- the embedded broker -----------------------------------------------------------------------

def connack(port, username=None, password=None, transport="tcp"):
    """The reason the broker on 127.0.0.1:``port`` gives a client logging in so (over
    ``transport``: ``tcp`` or ``websockets``)."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, transport=transport)
    if username is not None:
        client.username_pw_set(username, password)
    answered, reasons = threading.Event(), []

    def on_connect(client, userdata, flags, reason, properties):
        reasons.append(str(reason))
        answered.set()

    client.on_connect = on_connect
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        assert answered.wait(TIMEOUT), "no CONNACK"
    finally:
        client.disconnect()
        client.loop_stop()
    return reasons[0]


def test_the_embedded_broker_with_a_password_admits_its_user_alone():
    port = free_port()
    embedded = broker.EmbeddedBroker("127.0.0.1", port, "bach", "Wohltemperiert 1722").start()
    try:
        assert connack(port, "bach", "Wohltemperiert 1722") == "Success"
        assert connack(port) == "Not authorized"
        assert connack(port, "bach", "wrong") == "Not authorized"
        assert connack(port, "bach", "") == "Not authorized"
        assert connack(port, "händel", "Wohltemperiert 1722") == "Not authorized"
    finally:
        embedded.stop()
    anonymous = broker.EmbeddedBroker("127.0.0.1", port).start()
    try:
        assert connack(port) == "Success"
    finally:
        anonymous.stop()


def test_serve_opens_its_embedded_broker_to_its_own_user(tmp_path):
    port = free_port()
    server = serve(SHIPPED_CARD, *FAST, "--embedded-port", port, "--prefix", "own",
                   env={"PLAYBACH_BROKER_USERNAME": "bach", "PLAYBACH_BROKER_PASSWORD": "BWV 846"})
    try:
        wait_for_port("127.0.0.1", port, lambda: server.poll() is None, "playbach serve")
        listener = Listener("127.0.0.1", port, "own", "bach", "BWV 846")
        listener.wait_for(lambda l: len(l.events()) >= 5, "5 events")
        listener.close()
        assert connack(port) == "Not authorized"
    finally:
        log = finish(server, signal.SIGTERM)
    assert server.returncode == 0, log
    assert "listening on 127.0.0.1:%d for user 'bach' alone" % port in log
    assert "beyond this machine" not in log


def test_an_embedded_broker_open_beyond_this_machine_is_said_so():
    assert broker.exposure_warning("127.0.0.1", 1883) is None
    assert broker.exposure_warning("::1", 1883) is None
    assert broker.exposure_warning("localhost", 1883) is None
    assert broker.exposure_warning("0.0.0.0", 1883) == (
        "the embedded MQTT broker listens on 0.0.0.0:1883, beyond this machine, and admits "
        "anyone who reaches it, to play and to control the music: give --username and "
        "--password (PLAYBACH_BROKER_USERNAME, PLAYBACH_BROKER_PASSWORD) to admit only them")
    assert broker.exposure_warning("192.168.1.20", 1884, "bach") == (
        "the embedded MQTT broker listens on 192.168.1.20:1884, beyond this machine: it admits "
        "only user 'bach', but the password travels in clear (no TLS); on a network you do not "
        "trust use a broker with TLS (--host)")
    assert broker.beyond_loopback("") and broker.beyond_loopback("::")


def test_serve_refuses_what_its_embedded_broker_cannot_do():
    for options, reason in {
        ("--username", "bach"): "the embedded broker needs both --username and --password "
                                "(or neither: anonymous, on 127.0.0.1)",
        ("--tls",): "the embedded broker has no TLS: give --host with a broker that has "
                    "(--tls, --cafile, --certfile need one)",
    }.items():
        result = playbach("serve", *options, timeout=TIMEOUT)
        assert (result.returncode, result.stderr.strip()) == (1, "playbach serve: " + reason)


# --- outputs that cannot be written --------------------------------------------------------------

def test_outputs_that_cannot_be_written_stop_at_start(tmp_path):
    (tmp_path / "file").write_text("")
    missing = tmp_path / "no" / "such" / "dir"
    for args, option, path, reason in [
        (["play"], "--out", missing / "x.mid", "there is no folder %s" % missing),
        (["serve", "--host", "127.0.0.1", "--port", free_port()], "--record",
         missing / "x.mid", "there is no folder %s" % missing),
        (["generate"], "--out", tmp_path / "file" / "x.mid",
         "%s is not a folder" % (tmp_path / "file")),
        (["generate", "--out", tmp_path / "ok.mid"], "--wav", "/proc/x.wav",
         "No such file or directory"),
        (["bench"], "--out", tmp_path, "it is a folder"),
    ]:
        result = playbach(*args, option, path, timeout=TIMEOUT)
        assert result.returncode == 1, result.stderr
        assert result.stderr.strip() == "playbach %s: cannot write %s %s: %s" % (
            args[0], option, path, reason)
    assert not (tmp_path / "ok.mid").exists()  # generate stopped before generating


def test_resume_after_a_broker_restart_is_measured():
    """What `make bench` reports as "resume": the figures are there (none is judged here)."""
    from playbach.live.latency import resume_times

    report = resume_times(SHIPPED_CARD, outages=(0.5, 1))
    assert report["outages_s"] == [0.5, 1] and len(report["resume_s"]) == 2
    assert 0 < report["min_s"] <= report["median_s"] <= report["max_s"] < TIMEOUT
