"""Play Bach live: publish each generated event over MQTT at the moment it should sound.

Events go to PREFIX/events, each voice's moves to PREFIX/voice/<bass|tenor|alto|soprano>, the
state (retained; "offline" by last will if the server dies) to PREFIX/status; commands come in
on PREFIX/control (JSON {"cmd": "tempo", "bpm": 90} or text "tempo 90": play, pause, stop,
tempo, temperature, top_k, top_p, seed, primer). Without a broker host, an MQTT broker starts
inside the server on 127.0.0.1:1883; with --username and --password it admits that user alone
(and the server logs in as it). Every option also reads an environment variable, named in its
help, so that a service keeps its settings in an env file.

examples:
  playbach serve                                   embedded broker, shipped model
  playbach serve --host broker.local --bpm 80      an existing broker
  mosquitto_pub -t playbach/control -m 'tempo 120' change the tempo live
  PLAYBACH_BROKER_PASSWORD=... playbach serve --username bach --embedded-host 0.0.0.0
                                                   the embedded broker for your LAN, one user
"""
import logging
import signal
from pathlib import Path

from playbach.cli import check_writable
from playbach.engine.options import add_music_arguments, env, open_composer
from playbach.live import broker, connection
from playbach.live.recorder import Recorder
from playbach.live.server import LiveServer

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
    add_music_arguments(parser)
    parser.add_argument("--notes", type=int, metavar="N",
                        help="stop after N events (default: play until stopped)")
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
        try:
            embedded = broker.EmbeddedBroker(args.embedded_host, args.embedded_port,
                                             args.username, args.password).start()
        except OSError as error:
            raise SystemExit("playbach serve: %s (give --host to use another broker, or "
                             "--embedded-port)" % error)
        args.host, args.port = broker.local_address(args.embedded_host), args.embedded_port
        log.info("watch it: playbach watch --port %d, or mosquitto_sub -h %s -p %d -t '%s/#' -v%s",
                 args.port, args.host, args.port, args.prefix,
                 " -u %s -P PASSWORD" % args.username if args.username else "")
    recorder = Recorder(args.record).start() if args.record else None
    server = None
    try:
        server = LiveServer(composer, primer, client, args.prefix, args.bpm, args.notes, recorder)
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
        if embedded:
            embedded.stop()
    return 0


def check_embedded(args):
    """``SystemExit`` for broker options the embedded broker cannot honour."""
    if connection.uses_tls(args):
        raise SystemExit("playbach serve: the embedded broker has no TLS: give --host with a "
                         "broker that has (--tls, --cafile, --certfile need one)")
    if bool(args.username) != bool(args.password):
        raise SystemExit("playbach serve: the embedded broker needs both --username and "
                         "--password (or neither: anonymous, on 127.0.0.1)")
