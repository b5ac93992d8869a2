"""Play Bach live: publish each generated event over MQTT, a lead ahead of the moment it sounds.

Events go to PREFIX/events, each voice's moves to PREFIX/voice/<bass|tenor|alto|soprano>, each
published --lead-ms before it sounds and stamped with when it sounds and when it was sent; the
state (retained; "offline" by last will if the server dies) to PREFIX/status; commands come in
on PREFIX/control (JSON {"cmd": "tempo", "bpm": 90} or text "tempo 90": play, pause, stop,
tempo, temperature, top_k, top_p, seed, primer). It plays piece after piece: each ends where
the model ends it or at --piece-events events, and the next, after the next shipped primer,
begins a breath later (--breath). Without a broker host, an MQTT broker starts inside the
server on 127.0.0.1:1883; with --username and --password it admits that user alone (and the
server logs in as it). The page, a piano roll that plays along and steers the server,
is served at http://127.0.0.1:8080/; it speaks MQTT over WebSockets, which the embedded broker
also listens for, on port 9001 (mosquitto: a listener with "protocol websockets"). Every option
also reads an environment variable, named in its help, so that a service keeps its settings in
an env file.

examples:
  playbach serve                                   embedded broker, shipped model
  playbach serve --host broker.local --bpm 80      an existing broker
  playbach serve --http-host 0.0.0.0 --embedded-host 0.0.0.0 --username bach
                                                   the page and the broker for your LAN
  mosquitto_pub -t playbach/control -m 'tempo 120' change the tempo live
  PLAYBACH_BROKER_PASSWORD=... playbach serve --username bach --embedded-host 0.0.0.0
                                                   the embedded broker for your LAN, one user
"""
import argparse
import logging
import signal
from pathlib import Path

from playbach.cli import check_writable
from playbach.engine.options import add_music_arguments, env, flag, open_composer
from playbach.live import broker, connection, page
from playbach.live.recorder import Recorder
from playbach.live.server import BREATH, LEAD_MS, PIECE_EVENTS, LiveServer

log = logging.getLogger(__name__)


def add_arguments(parser):
    connection.add_broker_arguments(parser)
    group = parser.add_argument_group("embedded broker (when no --host is given)")
    group.add_argument("--embedded-host", default=env("EMBEDDED_HOST", broker.HOST),
                       help="address to listen on [PLAYBACH_EMBEDDED_HOST] (default: %s)"
                       % broker.HOST)
    group.add_argument("--embedded-port", type=int, default=env("EMBEDDED_PORT", broker.PORT, int),
                       help="port to listen on [PLAYBACH_EMBEDDED_PORT] (default: %d)"
                       % broker.PORT)
    group = parser.add_argument_group("the page (a piano roll in a browser)")
    group.add_argument("--http-host", default=env("HTTP_HOST", page.HOST),
                       help="address to serve the page on [PLAYBACH_HTTP_HOST] (default: %s; "
                       "0.0.0.0 for every interface)" % page.HOST)
    group.add_argument("--http-port", type=int, default=env("HTTP_PORT", page.PORT, int),
                       help="port to serve the page on, 0 for no page [PLAYBACH_HTTP_PORT] "
                       "(default: %d)" % page.PORT)
    group.add_argument("--ws-port", type=int, default=env("WS_PORT", page.WS_PORT, int),
                       help="MQTT over WebSockets, which the page speaks: the embedded broker "
                       "listens on this port too (0: it does not); with --host, the port of "
                       "that broker's websockets listener [PLAYBACH_WS_PORT] (default: %d)"
                       % page.WS_PORT)
    group.add_argument("--ws-url", type=ws_url, default=env("WS_URL", None, ws_url),
                       metavar="URL",
                       help="where the page finds the broker, when not at --ws-port of the host "
                       "it was loaded from, e.g. ws://broker.local:9001 [PLAYBACH_WS_URL]")
    add_music_arguments(parser)
    parser.add_argument("--paused", action="store_true", default=env("PAUSED", False, flag),
                        help="wait for a 'play' command before the first event (playbach watch "
                        "--play sends it once it listens, as make run does) [PLAYBACH_PAUSED=1]")
    parser.add_argument("--notes", type=int, metavar="N",
                        help="stop after N events (default: play until stopped)")
    parser.add_argument("--piece-events", type=piece_events,
                        default=env("PIECE_EVENTS", PIECE_EVENTS, piece_events), metavar="N",
                        help="end a piece at N events if the model has not ended it, then play "
                        "the next, after the next shipped primer (0: one piece that never ends) "
                        "[PLAYBACH_PIECE_EVENTS] (default: %d)" % PIECE_EVENTS)
    parser.add_argument("--breath", type=beats, default=env("BREATH", BREATH, beats),
                        metavar="BEATS",
                        help="silence between pieces, in beats (at least the lead) "
                        "[PLAYBACH_BREATH] (default: %g)" % BREATH)
    parser.add_argument("--lead-ms", type=lead_ms, default=env("LEAD_MS", LEAD_MS, lead_ms),
                        metavar="MS",
                        help="publish each event this long before it sounds; players sound it "
                        "then on their own clocks, whatever the network's delays up to it "
                        "(0: as it sounds) [PLAYBACH_LEAD_MS] (default: %d)" % LEAD_MS)
    parser.add_argument("--record", type=Path, default=env("RECORD", None, Path),
                        metavar="FILE",
                        help="record what is published to a MIDI file, saved every second "
                        "[PLAYBACH_RECORD]")


def run(args):
    if args.record:
        check_writable(args, "--record")
    if not args.host:
        check_embedded(args)
    client = connection.make_client(args, "server")  # checks the TLS files, before the model
    composer, primer = open_composer(args)
    embedded = None
    if not args.host:
        embedded = start_embedded(args)
        args.host, args.port = broker.local_address(args.embedded_host), args.embedded_port
        log.info("watch it: playbach watch --port %d, or mosquitto_sub -h %s -p %d -t '%s/#' -v%s",
                 args.port, args.host, args.port, args.prefix,
                 " -u %s -P PASSWORD" % args.username if args.username else "")
    page_server = start_page(args, composer) if args.http_port else None
    recorder = Recorder(args.record).start() if args.record else None
    server = None
    try:
        server = LiveServer(composer, primer, client, args.prefix, args.bpm, args.notes, recorder,
                            args.lead_ms, args.piece_events, args.breath)
        if args.paused:
            server.state = "paused"  # its first status says so; 'play' starts the piece
        connection.start(client, args, on_connect=server.on_connect,
                         on_message=server.on_message)
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: server.stop())
        server.run()
    except RuntimeError as error:
        log.error("%s", error)
        return 1
    finally:
        if recorder:
            recorder.close()
            log.info("recorded to %s", args.record)
        if page_server:
            page_server.stop()
        if embedded:
            embedded.stop()
    return 0


def ws_url(text):
    """argparse type of the page's broker address: a ws:// or wss:// URL."""
    if not text.startswith(("ws://", "wss://")) or len(text.split("//", 1)[1]) == 0:
        raise argparse.ArgumentTypeError("%r: expected a ws:// or wss:// URL, e.g. "
                                         "ws://broker.local:9001" % text)
    return text


def start_embedded(args):
    """The embedded broker, listening for websockets too unless --ws-port is 0 or taken (the
    page is an extra: a port taken for it never stops the music)."""
    problem = args.ws_port and broker.listen_problem(args.embedded_host, args.ws_port)
    if problem:
        log.warning("the embedded MQTT broker cannot listen for websockets on %s:%d (%s), so "
                    "the page cannot reach it (give --ws-port)", args.embedded_host,
                    args.ws_port, problem)
        args.ws_port = 0
    try:
        return broker.EmbeddedBroker(args.embedded_host, args.embedded_port, args.username,
                                     args.password, args.ws_port).start()
    except OSError as error:
        raise SystemExit("playbach serve: %s (give --host to use another broker, or "
                         "--embedded-port)" % error)


def start_page(args, composer):
    """The page's HTTP server, or None (and a warning) when it cannot listen: the music goes
    on without it."""
    settings = page.settings(args.prefix, args.ws_port, args.ws_url, composer.primers)
    try:
        return page.PageServer(args.http_host, args.http_port, settings).start()
    except OSError as error:
        log.warning("%s: going on without the page (give --http-port)", error)
        return None


def within(kind, low, high, unit):
    """An argparse type: a ``kind`` (int, float) from ``low`` to ``high`` (None: no top)."""
    def parse(text):
        value = kind(text)
        if value < low or high is not None and value > high:
            raise argparse.ArgumentTypeError("%s: expected %s %s" % (
                text, "%g or more" % low if high is None else "%g-%g" % (low, high), unit))
        return value
    parse.__name__ = kind.__name__  # argparse names it: "invalid float value: 'x'"
    return parse


lead_ms = within(int, 0, 10000, "ms")  # whole ms (players take up to a minute)
piece_events = within(int, 0, None, "events")  # the cap on a piece (0: no end)
beats = within(float, 0, 64, "beats")  # the breath between pieces


def check_embedded(args):
    """``SystemExit`` for broker options the embedded broker cannot honour."""
    if connection.uses_tls(args):
        raise SystemExit("playbach serve: the embedded broker has no TLS: give --host with a "
                         "broker that has (--tls, --cafile, --certfile need one)")
    if bool(args.username) != bool(args.password):
        raise SystemExit("playbach serve: the embedded broker needs both --username and "
                         "--password (or neither: anonymous, on 127.0.0.1)")
