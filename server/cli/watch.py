"""Watch the live stream in a terminal: one line per event as it sounds, a small piano roll, the
voices.

Subscribes to PREFIX/# and prints every event (seq, notes, duration, dynamic, which notes start
and which are held, the voices that move) at the moment it sounds, as the players sound it (the
server publishes each event ahead of its moment), with tempo changes, gaps in seq, the ends of
phrases (;) and pieces (|| end of the piece) and where a new piece begins; the server's status
and commands sent to it at once. A malformed message gets a one-line note and
is otherwise ignored; their count is the last line, on stderr.

examples:
  playbach watch                          the embedded broker of 'playbach serve' on this machine
  playbach watch --play                   start a 'playbach serve --paused': see it from seq 1
  playbach watch --host raspberrypi.local
"""
import signal
import sys

import playbach_protocol as protocol

from playbach.live import connection, wire
from playbach.live.watch import Watcher
from playbach.player.listen import Listener


def add_arguments(parser):
    connection.add_broker_arguments(parser, host="127.0.0.1")
    parser.add_argument("--count", type=int, metavar="N", help="exit after N events")
    parser.add_argument("--play", action="store_true",
                        help="send 'play' to a server waiting to start (status paused at seq 0, "
                        "as 'playbach serve --paused' begins), so no event is missed")


def run(args):
    watcher = Watcher(sys.stdout, args.prefix, args.count)
    listener = Listener(watcher)

    def on_message(client, userdata, message):
        listener.on_message(client, userdata, message)
        if args.play and message.topic == protocol.status_topic(args.prefix) \
                and waiting_to_start(message.payload):
            # This status came through the subscription: no event can pass unseen.
            client.publish(protocol.control_topic(args.prefix), wire.encode_control("play"), qos=1)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: listener.stop())
    client = connection.make_client(args, "watch")
    watcher.header()
    connection.start(client, args, on_connect=listener.subscribe, on_message=on_message)
    try:
        listener.run(lambda: watcher.done and listener.stop())
    finally:
        client.disconnect()
        client.loop_stop()
        watcher.close()
        print("playbach watch: %d malformed messages ignored" % watcher.malformed,
              file=sys.stderr)
    return 0


def waiting_to_start(status):
    """True for the status payload of a server paused before its first event."""
    try:
        status = protocol.decode(protocol.STATUS, status)
    except ValueError:
        return False
    return status["state"] == "paused" and status.get("seq") == 0
