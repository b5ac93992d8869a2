"""The page in a real browser: Debian's Chromium driven by Playwright, against a real
``playbach serve`` (its embedded broker's websockets listener) and a real mosquitto (the
project's docker/mosquitto.sh, websockets on), beside a paho subscriber that sees what the
server published. The page's clock estimator runs under Node; its HTTP server and its settings
are checked over HTTP.

``PLAYBACH_SCREENSHOT=docs/page.png pytest tests/test_page.py -k steers`` also saves the
README's screenshot of the page from that run.
"""
import contextlib
import getpass
import gzip
import hashlib
import http.client
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

import playbach_player
import playbach_protocol as protocol
from conftest import free_port, wait_for_port
from playbach.live import broker, page as web, wire
from playbach.live.server import LEAD_MS
from playbach.model.card import SHIPPED_CARD
from test_choir import LEAD_US, _locals, stream
from test_connection import connack
from test_docker import CREDENTIALS, broker_folder, run_script  # noqa: F401 (a fixture)
from test_serve import TIMEOUT, Listener, finish, serve, wait_for_log

CHROMIUM = "/usr/bin/chromium"
# As root here: no sandbox; nothing the page does not ask for (no updates, sync, GPU).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
FAST = ("--keys", "0")  # the shipped model in its written key: fast enough for 600 bpm
WAIT_MS = TIMEOUT * 1000
SCHEDULE_TOLERANCE_MS = 5


# --- without a browser -----------------------------------------------------------------------

def test_the_page_clock_is_the_players_under_node(tmp_path):
    """clock.js, imported by Node as the browser imports it, is the players' ServerClock: on a
    stream through a WiFi-like link (a drift of 100 ppm, one message in five a second late, a
    silence of 59 s, the server's clock stepping back 5 s and on 0.1 s), its estimates equal
    CPython's to the µs, and its constants are the player's."""
    rng = random.Random(6)
    messages = [(sent, arrived + (1_000_000 if rng.random() < 0.2 else 0), truth)
                for sent, arrived, truth in stream(240, 100e-6, seed=6, silences=[(40, 99)],
                                                   steps=[(120, -5_000_000), (180, 100_000)])]
    expected = list(_locals(messages))
    plan = tmp_path / "clock.json"
    plan.write_text(json.dumps([[sent, arrived] for sent, arrived, _ in messages]))
    script = """
    import * as clock from %s;
    import { readFileSync } from "node:fs";
    const server = new clock.ServerClock();
    const locals = [];
    for (const [sent, arrived] of JSON.parse(readFileSync(%s, "utf8"))) {
      server.add(sent, arrived);
      locals.push(server.local(sent + %d));
    }
    const constants = Object.fromEntries(
      Object.entries(clock).filter(([, value]) => typeof value === "number"));
    console.log(JSON.stringify({locals, constants}));
    """ % (json.dumps((web.WEB / "clock.js").as_uri()), json.dumps(str(plan)), LEAD_US)
    result = subprocess.run(["node", "--input-type=module", "-e", script], capture_output=True,
                            text=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["locals"] == expected
    assert out["constants"] == {name: getattr(playbach_player, name) for name in out["constants"]}
    assert len(out["constants"]) == 9


def get(port, path, headers=None, method="GET"):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    connection.request(method, path, headers=headers or {})
    response = connection.getresponse()
    return response, response.read()


def test_the_page_server_serves_the_files_and_the_settings_from_the_one_table():
    settings = web.settings("own", 9101, primers=["bwv2.6", "bwv110.7"])
    port = free_port()
    server = web.PageServer("127.0.0.1", port, settings).start()
    try:
        response, body = get(port, "/")
        assert response.status == 200 and b'<script type="module" src="page.js">' in body
        assert response.getheader("Content-Type") == "text/html; charset=utf-8"
        assert "default-src 'self'" in response.getheader("Content-Security-Policy")
        response, body = get(port, "/settings.json")
        served = json.loads(body)
        assert served["prefix"] == "own" and served["broker"] == {"url": None, "port": 9101}
        assert served["primers"] == ["bwv110.7", "bwv2.6"]
        for what, fields in (protocol.EVENT, protocol.VOICE, protocol.STATUS):  # the wire's
            assert [f["name"] for f in served["wire"]["tables"][what]] == [f[0] for f in fields]
        assert served["wire"]["tables"]["voice"][1] == {
            "name": "voice", "kind": "one of", "values": list(protocol.VOICES), "min": None,
            "max": None, "source": "sent"}
        assert served["wire"]["limits"]["payload"] == protocol.MAX_PAYLOAD
        assert served["controls"]["tempo"] == {"argument": "bpm", "kind": "number",
                                               "min": protocol.MIN_BPM, "max": protocol.MAX_BPM}
        assert served["controls"]["seed"]["kind"] == "integer"
        for command, spec in wire.CONTROLS.items():  # the server's table, not a copy
            assert served["controls"][command] == (spec and dict(zip(
                ("argument", "kind", "min", "max"), spec)))
        response, body = get(port, "/mqtt.min.js", {"Accept-Encoding": "gzip, br"})
        assert response.getheader("Content-Encoding") == "gzip"
        assert gzip.decompress(body) == (web.WEB / "mqtt.min.js").read_bytes()
        assert len(body) < 0.4 * len(gzip.decompress(body))
        etag = response.getheader("ETag")
        response, body = get(port, "/mqtt.min.js", {"If-None-Match": etag})
        assert response.status == 304 and body == b""
        response, body = get(port, "/clock.js", method="HEAD")
        assert response.status == 200 and body == b""
        assert response.getheader("Content-Type") == "text/javascript; charset=utf-8"
        for path in ("/../page.py", "/%2e%2e/page.py", "/update-mqtt.sh", "/settings.jsonx",
                     "//etc/passwd"):
            assert get(port, path)[0].status == 404, path
    finally:
        server.stop()
    taken = web.PageServer("127.0.0.1", port).start()
    try:
        with pytest.raises(OSError, match="cannot serve the page on 127.0.0.1:%d" % port):
            web.PageServer("127.0.0.1", port).start()
    finally:
        taken.stop()
    assert web.settings(ws_url="wss://broker.example/mqtt")["broker"] == {
        "url": "wss://broker.example/mqtt", "port": None}
    assert web.settings(ws_port=0)["broker"] == {"url": None, "port": None}


def test_the_vendored_mqtt_js_is_the_pinned_release_with_its_licence():
    name, version, algorithm, digest = (web.WEB / "mqtt.version").read_text().split()
    assert (name, algorithm) == ("mqtt", "sha256") and re.fullmatch(r"\d+\.\d+\.\d+", version)
    assert hashlib.sha256((web.WEB / "mqtt.min.js").read_bytes()).hexdigest() == digest
    assert "MIT License" in (web.WEB / "mqtt.LICENSE.md").read_text()


# --- the websockets listeners --------------------------------------------------------------

def test_the_embedded_broker_admits_its_user_alone_over_websockets_too():
    port, ws_port = free_port(), free_port()
    embedded = broker.EmbeddedBroker("127.0.0.1", port, "bach", "BWV 565", ws_port).start()
    try:
        assert connack(ws_port, "bach", "BWV 565", "websockets") == "Success"
        assert connack(ws_port, transport="websockets") == "Not authorized"
        assert connack(ws_port, "bach", "wrong", "websockets") == "Not authorized"
        assert connack(port, "bach", "BWV 565") == "Success"
    finally:
        embedded.stop()
    assert "(and %d, websockets)" % ws_port in broker.exposure_warning("0.0.0.0", port, None,
                                                                        ws_port)


def test_the_pi_mosquitto_config_opens_websockets_to_its_user_alone(tmp_path):
    # The file as shipped, its ports and password file moved for the test; as root here,
    # mosquitto stays root to read a password file in a private folder.
    port, ws_port = free_port(), free_port()
    passwords = tmp_path / "playbach.passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", passwords, "playbach", "Orgelbüchlein"],
                   check=True, capture_output=True)
    config = (Path(web.__file__).parent.parent / "playbach-mosquitto.conf").read_text()
    for line in ("listener 1883", "listener 9001", "protocol websockets",
                 "allow_anonymous false", "password_file /etc/mosquitto/playbach.passwd"):
        assert "\n%s\n" % line in config, line
    config = (config.replace("listener 1883", "listener %d 127.0.0.1" % port)
              .replace("listener 9001", "listener %d 127.0.0.1" % ws_port)
              .replace("/etc/mosquitto/playbach.passwd", str(passwords)))
    (tmp_path / "mosquitto.conf").write_text(config + "user %s\n" % getpass.getuser())
    with open(tmp_path / "mosquitto.log", "w") as log:
        mosquitto = subprocess.Popen(["mosquitto", "-c", tmp_path / "mosquitto.conf"],
                                     stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port("127.0.0.1", ws_port, lambda: mosquitto.poll() is None, "mosquitto")
        assert connack(ws_port, "playbach", "Orgelbüchlein", "websockets") == "Success"
        assert connack(ws_port, transport="websockets") == "Not authorized"
        assert connack(port, "playbach", "Orgelbüchlein") == "Success"
    finally:
        mosquitto.kill()
        mosquitto.wait(TIMEOUT)


def test_serve_plays_on_when_the_page_or_its_listener_cannot_have_their_ports(tmp_path):
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        server = serve(SHIPPED_CARD, *FAST, "--embedded-port", port, "--ws-port", busy,
                       "--http-port", busy)
        try:
            wait_for_log(server, "playing ")
            listener = Listener("127.0.0.1", port, "playbach")
            listener.wait_for(lambda l: len(l.events()) >= 3, "3 events")
            listener.close()
        finally:
            log = finish(server, signal.SIGTERM)
    assert server.returncode == 0, log
    assert ("the embedded MQTT broker cannot listen for websockets on 127.0.0.1:%d (address "
            "already in use), so the page cannot reach it (give --ws-port)" % busy) in log
    assert ("cannot serve the page on 127.0.0.1:%d: Address already in use: going on without "
            "the page (give --http-port)" % busy) in log
    result = subprocess.run([sys.executable, "-m", "playbach", "serve", "--ws-url",
                             "http://pi.local:9001"], capture_output=True, text=True,
                            timeout=TIMEOUT)
    assert result.returncode == 2
    assert ("argument --ws-url: 'http://pi.local:9001': expected a ws:// or wss:// URL, "
            "e.g. ws://broker.local:9001") in result.stderr


# --- in the browser --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Page:
    """A page in a fresh browser context, with every request it made."""

    def __init__(self, browser, url, **context):
        """``context``: Playwright's browser context options (a laptop's viewport unless given)."""
        self.context = browser.new_context(
            **{"viewport": {"width": 1100, "height": 900}, **context})
        self.page = self.context.new_page()
        self.requests, self.errors = [], []
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on("websocket", lambda socket: self.requests.append(socket.url))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("console", lambda message: message.type == "error"
                     and self.errors.append(message.text))
        self.page.goto(url)

    def state(self, expression):
        return self.page.evaluate("() => playbach.%s" % expression)

    def wait(self, expression, what):
        try:
            self.page.wait_for_function("() => %s" % expression, timeout=WAIT_MS)
        except Exception:
            raise AssertionError("the page: timed out waiting for %s (connection: %r)"
                                 % (what, self.page.inner_text("#connection"))) from None

    def shown(self):
        """``{seq: note names}`` of the events the page lists."""
        rows = self.page.eval_on_selector_all(
            "#events li[data-seq]",
            "items => items.map(i => [i.dataset.seq, i.querySelector('.notes').textContent])")
        return {int(seq): notes for seq, notes in rows}

    def close(self):
        self.context.close()


def names(event):
    return " ".join(map(protocol.midi_to_note, event["notes"])) or "rest"


def check_the_events_shown(page, listener):
    """The page lists the events the server published: the same seq, the same notes."""
    shown = page.shown()
    assert len(shown) >= 10, shown
    listener.wait_for(lambda l: {e["seq"] for e in l.events()} >= set(shown), "the page's seqs")
    published = {event["seq"]: names(event) for event in listener.events()}
    assert shown == {seq: published[seq] for seq in shown}


def scheduling_errors(page, listener):
    """For each note the page gave its organ in time, in ms: when it sounds (its AudioContext
    time, mapped to the page's clock through the browser's output timestamp) minus its ``at``
    mapped through the page's own clock (``due``: the players' ServerClock); and the same
    against the ``at`` paho saw (``true``): one clock on one machine, so this adds the clock's
    own error, the fastest network delay. Also the notes that started late."""
    clock = page.page.evaluate("""() => {
        const stamp = playbach.organ.context.getOutputTimestamp();
        return {context: stamp.contextTime, performance: stamp.performanceTime,
                origin: performance.timeOrigin, schedule: playbach.schedule}; }""")
    at = {event["seq"]: event["at"] for event in listener.events()}
    mapped, true, late = [], [], []
    for note in clock["schedule"]:
        assert note["at"] == at[note["seq"]]
        if note["late"]:
            late.append(note["late"])
            continue
        sounds = clock["performance"] + 1000 * (note["start"] - clock["context"])
        mapped.append(sounds - note["due"])
        true.append(clock["origin"] + sounds - note["at"])
    return mapped, true, late


def field_shown(name):
    return "document.querySelector('dd[data-field=%s]').textContent" % name


@contextlib.contextmanager
def serving(browser, *args):
    """``playbach serve`` of the shipped model, ``args`` added, its embedded broker and page
    on free ports: yields the page, a paho listener and the ports (MQTT, websockets, HTTP).
    The page ends with no error, the server at SIGTERM with its page's address logged."""
    port, ws_port, http_port = free_port(), free_port(), free_port()
    server = serve(SHIPPED_CARD, *FAST, "--embedded-port", port, "--ws-port", ws_port,
                   "--http-port", http_port, *args)
    page = listener = None
    try:
        wait_for_port("127.0.0.1", http_port, lambda: server.poll() is None, "playbach serve")
        listener = Listener("127.0.0.1", port, "playbach")
        page = Page(browser, "http://127.0.0.1:%d/" % http_port)
        yield page, listener, (port, ws_port, http_port)
        assert page.errors == []
    finally:
        if page:
            page.close()
        if listener:
            listener.close()
        log = finish(server, signal.SIGTERM)
    assert server.returncode == 0, log
    assert "the page: http://127.0.0.1:%d/" % http_port in log


def test_the_page_shows_plays_and_steers_playbach_serve(browser, tmp_path):
    with serving(browser) as (page, listener, (_, ws_port, http_port)):
        page.page.click("#sound")
        page.wait("playbach.organ.running && playbach.schedule.length >= 60", "60 notes sounded")
        check_the_events_shown(page, listener)
        assert page.page.inner_text("#connection") == "Connected to ws://127.0.0.1:%d/mqtt" % (
            ws_port)
        mapped, true, late = scheduling_errors(page, listener)
        for name, errors in (("mapped through its offset", mapped), ("true", true)):
            print("the page's notes minus their at (%s), over %d notes: median %.2f ms, "
                  "max |%.2f| ms" % (name, len(errors), statistics.median(errors),
                                    max(map(abs, errors))))
        print("started late: %d notes of %d; skipped as late: %d messages"
              % (len(late), len(late) + len(mapped), page.state("counts.late")))
        assert max(map(abs, mapped)) <= SCHEDULE_TOLERANCE_MS
        # Once the estimate has seen the fastest messages: at their true at, within 5 ms.
        assert max(map(abs, true[len(true) // 2:])) <= SCHEDULE_TOLERANCE_MS
        assert len(late) <= 0.05 * len(mapped), (late, page.state("schedule"))
        # The status, every field of its table: the lead the server publishes with among them.
        page.wait("%s === '%d'" % (field_shown("lead_ms"), LEAD_MS), "the lead")
        assert page.page.inner_text("dd[data-field=piece]") == str(
            listener.statuses()[-1]["piece"])

        # One voice: the soprano's notes alone, from its own topic.
        page.page.select_option("#voice", "soprano")
        heard = page.state("schedule.length")
        page.wait("playbach.schedule.length >= %d + 10" % heard, "10 soprano notes")
        soprano = {(m["seq"], m["note"]) for m in listener.voices() if m["voice"] == "soprano"}
        for note in page.state("schedule")[heard:]:
            assert (note["seq"], note["note"]) in soprano, note
        page.page.select_option("#voice", "all")

        # Refused in the page, with the server's ranges; nothing published.
        for value, reason in (("5000", "Tempo (beats per minute): 5000 is outside 20-1000"),
                              ("fast", 'Tempo (beats per minute): "fast" is not a number')):
            page.page.fill("#tempo", value)
            page.page.press("#tempo", "Enter")
            assert page.page.inner_text("#message") == reason
            assert "refused" in page.page.get_attribute("#message", "class")
        page.page.fill("#seed", "1.5")
        page.page.click("form[data-command=seed] button")
        assert page.page.inner_text("#message") == "Seed (a new piece): 1.5 is not a whole number"

        # A control from the page changes the stream.
        page.page.fill("#tempo", "300")
        page.page.press("#tempo", "Enter")
        listener.wait_for(lambda l: any(e["bpm"] == 300 for e in l.events()), "events at 300")
        controls = [json.loads(p) for t, p, _ in listener.messages if t == "playbach/control"]
        assert controls == [{"cmd": "tempo", "bpm": 300}]  # the refused ones never left
        page.wait("%s === '300'" % field_shown("bpm"), "the tempo shown")
        first = min(e["seq"] for e in listener.events() if e["bpm"] == 300)
        page.wait("%s === '%d'" % (field_shown("from_seq"), first), "from which seq")

        # The server's count of refused controls, shown.
        listener.publish("playbach/control", "tempo fast")
        page.wait("%s === '1'" % field_shown("invalid_controls"), "invalid_controls 1")

        if os.environ.get("PLAYBACH_SCREENSHOT"):  # at a tempo whose notes are wide enough
            page.page.set_viewport_size({"width": 860, "height": 940})  # to be named
            page.page.fill("#tempo", "100")
            page.page.press("#tempo", "Enter")
            page.page.fill("#seed", "")
            page.page.evaluate("document.activeElement.blur(); window.scrollTo(0, 0)")
            time.sleep(9)
            page.page.screenshot(path=os.environ["PLAYBACH_SCREENSHOT"])

        # Pause cancels what the page scheduled and silences what sounds: pressed as an event
        # with notes arrives, published a lead (200 ms) before they sound.
        cancelled = page.state("counts.cancelled")
        page.page.evaluate("""() => new Promise((resolve) => {
            const received = playbach.received;
            const wait = setInterval(() => {
              if (playbach.received === received || playbach.pending() === 0) return;
              clearInterval(wait);
              document.querySelector("button[data-command=pause]").click();
              resolve();
            }, 1); })""")
        listener.wait_for(lambda l: l.statuses()[-1]["state"] == "paused", "paused")
        page.wait("%s === 'paused'" % field_shown("state"), "the state shown")
        paused_at = len(listener.events())
        time.sleep(0.5)
        assert len(listener.events()) == paused_at
        assert page.page.evaluate("playbach.organ.sounding.size") == 0  # silenced
        assert page.state("pending()") == 0
        now_cancelled = page.state("counts.cancelled")
        print("pause cancelled %d notes scheduled" % (now_cancelled - cancelled))
        assert now_cancelled > cancelled
        assert page.page.inner_text("dd[data-count=cancelled]") == str(now_cancelled)
        page.page.click("button[data-command=play]")
        listener.wait_for(lambda l: len(l.events()) > paused_at + 3, "events after play")

        # Bad messages on the page's topics are refused as the players refuse them (the
        # wire's tables, read by the page from settings.json), counted and shown, and the
        # stream goes on. Each says what is wrong as the protocol says it (JSON for repr).
        received = page.state("received")
        event = dict(listener.events()[-1])
        voice = dict(listener.voices()[-1])
        bad = [("events", b"not json"), ("events", b"[1, 2]"), ("events", b"\xff\xfe"),
               ("events", b"[" * 100000 + b"]" * 100000),
               ("events", json.dumps(dict(event, v=1))),
               ("events", json.dumps(dict(event, holds_ms=[]))),
               ("events", json.dumps(dict(event, velocity=300))),
               ("events", json.dumps({k: v for k, v in event.items() if k != "sent_us"})),
               ("voice/alto", json.dumps(dict(voice, note=200))),
               ("status", json.dumps({"v": protocol.SCHEMA_VERSION, "state": "dancing"}))]
        for topic, payload in bad:
            listener.publish("playbach/" + topic, payload, qos=0)
        page.wait("playbach.ignored === %d" % len(bad), "the bad messages counted")
        page.wait("playbach.received > %d + 5" % received, "events after them")
        refusals = page.state("refusals")[-len(bad):]
        tables = {"events": protocol.EVENT, "voice/alto": protocol.VOICE,
                  "status": protocol.STATUS}
        for (topic, payload), refusal in zip(bad, refusals):
            with pytest.raises(ValueError) as refused:
                protocol.decode(tables[topic], payload)
            said = str(refused.value).replace("None", "null").replace("'dancing'", '"dancing"')
            if "not JSON" not in said:
                assert refusal == "playbach/%s: %s" % (topic, said)
        assert refusals[0] == 'playbach/events: bad event payload: not JSON: "not json"'
        assert page.page.inner_text("#ignored") == (
            "Ignored 10 bad messages (last: playbach/status: bad status field 'state': "
            '"dancing", expected one of playing paused stopped offline)')

        # Nothing from elsewhere: the page's files, its settings, the broker (and MQTT.js's
        # timer worker, made in the page from a blob).
        for url in page.requests:
            assert url.startswith(("http://127.0.0.1:%d/" % http_port,
                                   "ws://127.0.0.1:%d/" % ws_port,
                                   "blob:http://127.0.0.1:%d/" % http_port)), url


def test_the_page_marks_where_pieces_end_and_shows_how_far_one_has_come(browser):
    """Against ``playbach serve --piece-events 5``: the roll marks where each phrase and each
    piece ends (at the end of the event whose ``end`` says so) and where each piece starts (its
    first event, whose seq is the piece), as the server published them; the status shows the
    piece's progress, ``k / 5``, counting on from the status's own count (sent at the piece's
    start) with the events of the piece received since."""
    cap = 5
    with serving(browser, "--piece-events", cap) as (page, listener, _):
        page.wait("playbach.marks.filter((m) => m.kind === 'piece').length >= 2",
                  "two pieces' ends marked")
        page.wait("""(() => {
            const p = playbach, k = p.lastSeq - p.piece + 1;
            return p.status && p.status.piece === p.piece && k > 1 && %s === `${k} / %d`;
            })()""" % (field_shown("piece_events"), cap), "the progress counted on")
        marks, last = page.state("marks"), page.state("lastSeq")
        listener.wait_for(lambda l: any(e["seq"] >= last for e in l.events()), "the page's seq")
        published = {event["seq"]: event for event in listener.events()}
        first = min(mark["seq"] for mark in marks)
        expected = {(seq, event["end"]) for seq, event in published.items()
                    if first <= seq <= last and "end" in event}
        expected |= {(seq, "new piece") for seq, event in published.items()
                     if first <= seq <= last and seq == event["piece"]}
        assert {(mark["seq"], mark["kind"]) for mark in marks} == expected
        assert {"piece", "new piece"} <= {kind for _, kind in expected}
        for mark in marks:
            ends = published[mark["seq"]]["ms"] if mark["kind"] != "new piece" else 0
            assert mark["at"] == pytest.approx(mark["start"] + ends)
            assert mark["text"] == {"phrase": "", "piece": "end of the piece"}.get(
                mark["kind"], "a new piece, from seq %d" % mark["seq"])
        labels = page.page.eval_on_selector_all("#status dt",
                                                "items => items.map(i => i.textContent)")
        assert "Progress" in labels and "Piece" in labels and "Piece cap" not in labels


def test_the_page_shows_a_status_field_the_wire_gains_without_a_change_to_it(browser):
    """The status rows come from the wire's status table: a field added there (piece progress,
    say) is shown, under its own name, beside the page's counts."""
    settings = web.settings(primers=[])
    settings["wire"]["tables"]["status"].append(
        {"name": "bars_played", "kind": "integer", "min": 0, "max": None, "source": "optional"})
    port = free_port()
    server = web.PageServer("127.0.0.1", port, settings).start()
    page = Page(browser, "http://127.0.0.1:%d/" % port)
    try:
        page.wait("document.querySelector('dd[data-field=bars_played]')", "the new field")
        labels = page.page.eval_on_selector_all("#status dt",
                                                "items => items.map(i => i.textContent)")
        assert labels[-3:] == ["Bars played", "Late, skipped", "Notes cancelled"]
        assert "Lead (ms)" in labels and "Settings from seq" in labels and "Piece" in labels
    finally:
        page.close()
        server.stop()


def test_the_page_fits_a_phone(browser):
    """On a phone 390 CSS pixels wide (touch, 3x pixels): nothing scrolls sideways, the roll
    takes the screen's width, each control's label its own line above it, and every field and
    button is a finger's height (40 px) with 16 px text, so the phone does not zoom into it."""
    port = free_port()
    server = web.PageServer("127.0.0.1", port, web.settings(primers=[])).start()
    page = Page(browser, "http://127.0.0.1:%d/" % port, viewport={"width": 390, "height": 844},
                is_mobile=True, has_touch=True, device_scale_factor=3)
    try:
        page.wait("document.querySelector('#fields label')", "the controls built")
        layout = page.page.evaluate("""() => {
            const box = (e) => e.getBoundingClientRect();
            const shown = (e) => box(e).width > 0;
            return {
              scroll: document.documentElement.scrollWidth,
              roll: box(document.querySelector('#roll')).width,
              labels: [...document.querySelectorAll('form .row label, form.row label')]
                .filter(shown)
                .map((l) => [box(l).width, box(l.closest('.row')).width]),
              targets: [...document.querySelectorAll('input:not([type=checkbox]), select, button')]
                .filter(shown).map((e) => [e.id || e.textContent, box(e).height,
                                           getComputedStyle(e).fontSize]),
            };
        }""")
        assert layout["scroll"] <= 390
        assert 300 <= layout["roll"] <= 390
        assert layout["labels"] and all(label >= row - 1 for label, row in layout["labels"])
        assert len(layout["targets"]) >= 5
        for name, height, font in layout["targets"]:
            assert height >= 40 and font == "16px", (name, height, font)
    finally:
        page.close()
        server.stop()


def test_the_page_rides_out_a_mosquitto_restart(browser, broker_folder):  # noqa: F811
    port, ws_port, http_port = free_port(), free_port(), free_port()
    user, password = CREDENTIALS.values()

    def start_mosquitto():
        process = run_script(broker_folder, port, CREDENTIALS, ws_port)
        wait_for_port("127.0.0.1", ws_port, lambda: process.poll() is None, "mosquitto.sh")
        return process

    mosquitto = start_mosquitto()
    server = serve(SHIPPED_CARD, *FAST, "--host", "127.0.0.1", "--port", port, "--ws-port",
                   ws_port, "--http-port", http_port, env=CREDENTIALS)
    page = listener = None
    try:
        wait_for_port("127.0.0.1", http_port, lambda: server.poll() is None, "playbach serve")
        listener = Listener("127.0.0.1", port, "playbach", user, password)
        page = Page(browser, "http://127.0.0.1:%d/" % http_port)
        page.wait("/Not authorized/.test(document.querySelector('#connection').textContent)",
                  "the broker's refusal")
        page.page.click("summary")
        page.page.fill("#broker-username", user)
        page.page.fill("#broker-password", password)
        page.page.click("#broker button[type=submit]")
        page.wait("playbach.received >= 20", "20 events")
        page.page.reload()  # the broker's settings are kept in the browser
        page.wait("playbach.received >= 20", "20 events after a reload")
        assert page.page.input_value("#broker-host") == "127.0.0.1"
        assert page.page.input_value("#broker-port") == str(ws_port)
        check_the_events_shown(page, listener)

        page.page.click("button[data-command=pause]")
        listener.wait_for(lambda l: l.statuses()[-1]["state"] == "paused", "paused")
        page.page.click("button[data-command=play]")
        listener.wait_for(lambda l: l.statuses()[-1]["state"] == "playing", "playing again")

        mosquitto.kill()
        mosquitto.wait(TIMEOUT)
        time.sleep(1)  # the server plays on: seq runs on while nobody hears it
        before = page.state("lastSeq")  # the last the page had, once what was on its way came
        mosquitto = start_mosquitto()
        page.wait("playbach.lastSeq > %d + 10" % before, "events after the restart")
        assert page.page.inner_text("#connection") == "Connected to ws://127.0.0.1:%d/mqtt" % (
            ws_port)
        gaps = page.state("gaps")
        assert gaps and re.fullmatch(r"missed \d+ events \(seq %d-\d+\)" % (before + 1),
                                     gaps[0]), gaps
        assert page.errors == [] or all("WebSocket" in error for error in page.errors)
    finally:
        if page:
            page.close()
        if listener:
            listener.close()
        mosquitto.kill()
        log = finish(server, signal.SIGTERM)
    assert server.returncode == 0, log
