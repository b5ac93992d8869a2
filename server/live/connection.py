"""The MQTT connection both ``serve`` and ``watch`` use: options, client, reconnection.

Every option has an environment variable (``PLAYBACH_BROKER_HOST``...), so a service keeps its
settings in an env file. Connections retry for ever with backoff (1 s doubling to 30 s) in
paho's network thread; the caller never blocks on the broker and never crashes for it.
"""
import logging
import os
import socket
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

import playbach_protocol as protocol

log = logging.getLogger(__name__)

PORT, TLS_PORT = 1883, 8883
KEEPALIVE = 15  # seconds: a killed server is declared offline (its will) within ~1.5x this
RECONNECT_DELAYS = (1, 30)  # seconds: first retry, longest wait between retries


def _env(name, default=None):
    return os.environ.get("PLAYBACH_" + name) or default


def add_broker_arguments(parser, host=None, client_id=None):
    """Add the broker options; ``host`` is the default broker host (None: none)."""
    group = parser.add_argument_group("MQTT broker")
    group.add_argument("--host", default=_env("BROKER_HOST", host),
                       help="broker host [PLAYBACH_BROKER_HOST] (default: %s)"
                       % (host or "none, start an embedded broker"))
    group.add_argument("--port", type=int, default=_env("BROKER_PORT"),
                       help="broker port [PLAYBACH_BROKER_PORT] (default: %d, %d with --tls)"
                       % (PORT, TLS_PORT))
    group.add_argument("--username", default=_env("BROKER_USERNAME"),
                       help="broker user name [PLAYBACH_BROKER_USERNAME]")
    group.add_argument("--password", default=_env("BROKER_PASSWORD"),
                       help="broker password [PLAYBACH_BROKER_PASSWORD]")
    group.add_argument("--tls", action="store_true", default=bool(_env("BROKER_TLS")),
                       help="connect with TLS [PLAYBACH_BROKER_TLS=1]")
    group.add_argument("--cafile", default=_env("BROKER_CAFILE"),
                       help="CA certificates for TLS (implies --tls) [PLAYBACH_BROKER_CAFILE]")
    group.add_argument("--client-id", default=_env("CLIENT_ID", client_id),
                       help="MQTT client id [PLAYBACH_CLIENT_ID] (default: %s)"
                       % (client_id or "random"))
    group.add_argument("--prefix", default=_env("PREFIX", protocol.DEFAULT_PREFIX),
                       help="topic prefix [PLAYBACH_PREFIX] (default: %s)"
                       % protocol.DEFAULT_PREFIX)


def port_of(args):
    """The broker port of ``args``: the one given, else the standard one."""
    if args.port:
        return int(args.port)
    return TLS_PORT if args.tls or args.cafile else PORT


def make_client(args, role, reconnect_delays=RECONNECT_DELAYS):
    """Return a paho client for ``args``, not yet connected; ``role`` goes into its id."""
    client_id = args.client_id or "playbach-%s-%s" % (role, uuid.uuid4().hex[:8])
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    if args.username:
        client.username_pw_set(args.username, args.password)
    if args.tls or args.cafile:
        client.tls_set(ca_certs=args.cafile)
    client.reconnect_delay_set(*reconnect_delays)
    return client


def start(client, args, on_connect=None, on_message=None):
    """Connect in the background (paho's network thread), retrying until it works.

    ``on_connect(client)`` runs after each (re)connection: subscribe and publish state there.
    """
    address = "%s:%d" % (args.host, port_of(args))
    trouble = {"logged": False}  # one line per outage, not one per retry

    def connected(client, userdata, flags, reason, properties):
        if reason.is_failure:
            log.error("the MQTT broker at %s refused the connection: %s", address, reason)
            return
        # Small packets go out at once: Nagle's algorithm alone adds 30-40 ms spikes.
        client.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        log.info("connected to the MQTT broker at %s", address)
        trouble["logged"] = False
        if on_connect:
            on_connect(client)

    def disconnected(client, userdata, flags, reason, properties):
        if reason.is_failure:
            log.warning("lost the MQTT broker at %s (%s); reconnecting", address, reason)

    def connect_failed(client, userdata):
        if not trouble["logged"]:
            log.warning("cannot reach the MQTT broker at %s yet; retrying", address)
            trouble["logged"] = True

    client.on_connect = connected
    client.on_disconnect = disconnected
    client.on_connect_fail = connect_failed
    if on_message:
        client.on_message = on_message
    client.connect_async(args.host, port_of(args), keepalive=KEEPALIVE)
    client.loop_start()
