"""The MQTT connection of ``serve``, ``play`` and ``watch``: options, client, reconnection.

Every option has an environment variable (``PLAYBACH_BROKER_HOST``...), so a service keeps its
settings in an env file. Each process connects under a client id of its own (prefix, role, host,
process: ``playbach-server-pi-812-3f9a``), so servers, players and watchers share a broker.
Connections retry for ever in paho's network thread, the waits doubling from 0.1 s to 1.5 s,
each a random part of that (clients that lost one broker do not all come back in step): a
broker that returns is found within 1.5 s, the caller never blocks on the broker and never
crashes for it. Each outage is logged once, with its reason (``connection refused``,
``TLS: certificate verify failed: ...``); a file given for TLS that cannot be loaded stops the
command at start, naming the option and the file.
"""
import logging
import os
import random
import re
import socket
import ssl

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

import playbach_protocol as protocol
from playbach.engine.options import env, flag

log = logging.getLogger(__name__)

PORT, TLS_PORT = 1883, 8883  # MQTT's standard ports, plain and TLS
KEEPALIVE = 15  # seconds: a killed server is declared offline (its will) within ~1.5x this
RETRY_FIRST, RETRY_LONGEST = 0.1, 1.5  # seconds: the waits before retrying, before jitter
HOSTNAME_MISMATCH = 62  # OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH, a certificate's verify_code
# MQTT 5 reason codes (paho gives 3.1.1's as these too)
UNSPECIFIED, REFUSED_BAD_LOGIN, REFUSED_NOT_AUTHORIZED = 128, 134, 135

# What to do about the TLS failures OpenSSL names (its reason codes), for the log line.
TLS_HINTS = {
    "CERTIFICATE_VERIFY_FAILED": "give --cafile with the CA that signed the broker's certificate",
    "HOSTNAME_MISMATCH": "connect to a name the broker's certificate was issued for",
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": "the broker requires a client certificate: give "
                                         "--certfile and --keyfile",
    "TLSV1_ALERT_UNKNOWN_CA": "the broker does not trust the CA that signed --certfile",
    "SSLV3_ALERT_BAD_CERTIFICATE": "the broker rejected the client certificate (--certfile)",
    "SSLV3_ALERT_CERTIFICATE_EXPIRED": "the client certificate (--certfile) has expired",
    "WRONG_VERSION_NUMBER": "the broker does not speak TLS on this port",
    "RECORD_LAYER_FAILURE": "the broker does not speak TLS on this port",
    "PEM lib": "not in PEM format?",
}


def add_broker_arguments(parser, host=None):
    """Add the broker options; ``host`` is the default broker host (None: none)."""
    group = parser.add_argument_group("MQTT broker")
    group.add_argument("--host", default=env("BROKER_HOST", host),
                       help="broker host [PLAYBACH_BROKER_HOST] (default: %s)"
                       % (host or "none, start an embedded broker"))
    group.add_argument("--port", type=int, default=env("BROKER_PORT", None, int),
                       help="broker port [PLAYBACH_BROKER_PORT] (default: %d, %d with TLS)"
                       % (PORT, TLS_PORT))
    group.add_argument("--username", default=env("BROKER_USERNAME"),
                       help="broker user name [PLAYBACH_BROKER_USERNAME]")
    group.add_argument("--password", default=env("BROKER_PASSWORD"),
                       help="broker password [PLAYBACH_BROKER_PASSWORD]")
    group.add_argument("--tls", action="store_true", default=env("BROKER_TLS", False, flag),
                       help="connect with TLS, trusting the system's CAs [PLAYBACH_BROKER_TLS=1]")
    group.add_argument("--cafile", default=env("BROKER_CAFILE"), metavar="PEM",
                       help="trust the broker's certificate if this CA signed it (implies "
                       "--tls) [PLAYBACH_BROKER_CAFILE]")
    group.add_argument("--certfile", default=env("BROKER_CERTFILE"), metavar="PEM",
                       help="client certificate, for brokers that require one (implies --tls) "
                       "[PLAYBACH_BROKER_CERTFILE]")
    group.add_argument("--keyfile", default=env("BROKER_KEYFILE"), metavar="PEM",
                       help="the client certificate's private key, unless --certfile holds it "
                       "[PLAYBACH_BROKER_KEYFILE]")
    group.add_argument("--client-id", default=env("CLIENT_ID"),
                       help="MQTT client id [PLAYBACH_CLIENT_ID] (default: prefix, role, host "
                       "and process, e.g. playbach-server-pi-812-3f9a)")
    group.add_argument("--prefix", default=env("PREFIX", protocol.DEFAULT_PREFIX),
                       help="topic prefix [PLAYBACH_PREFIX] (default: %s)"
                       % protocol.DEFAULT_PREFIX)


def uses_tls(args):
    return bool(args.tls or args.cafile or args.certfile or args.keyfile)


def port_of(args):
    """The broker port of ``args``: the one given, else the standard one."""
    if args.port:
        return int(args.port)
    return TLS_PORT if uses_tls(args) else PORT


def client_id(prefix, role):
    """A client id that no other process shares, readable in a broker's log: prefix, role
    (``server``, ``play``, ``watch``), host name, process id and 4 random hex digits, with
    anything but letters, digits and ``-._`` turned into ``-``."""
    host = socket.gethostname().split(".")[0] or "host"
    text = "%s-%s-%s-%d-%04x" % (prefix, role, host, os.getpid(), random.getrandbits(16))
    return re.sub(r"[^A-Za-z0-9._-]", "-", text)


def retry_delays(first=RETRY_FIRST, longest=RETRY_LONGEST, rand=random.random):
    """The waits before successive retries, in seconds: doubling from ``first`` up to
    ``longest``, each between half and all of that (jitter)."""
    delay = first
    while True:
        yield delay * (0.5 + 0.5 * rand())
        delay = min(2 * delay, longest)


def describe(error):
    """Why a connection failed, in a few words, from the exception (an ``OSError``)."""
    if isinstance(error, ssl.SSLCertVerificationError):
        hint = TLS_HINTS["HOSTNAME_MISMATCH" if error.verify_code == HOSTNAME_MISMATCH
                         else "CERTIFICATE_VERIFY_FAILED"]
        return "TLS: certificate verify failed: %s (%s)" % (
            (error.verify_message or str(error)).rstrip("."), hint)
    if isinstance(error, ssl.SSLError):
        return "TLS: " + tls_reason(str(error))
    if isinstance(error, socket.gaierror):
        return "unknown host (%s)" % error.strerror
    if isinstance(error, ConnectionRefusedError):
        return "connection refused (no broker listening on that port)"
    if isinstance(error, ConnectionResetError):
        return "connection reset by the broker"
    if isinstance(error, (TimeoutError, socket.timeout)):
        return "timed out"
    return error.strerror or str(error) or type(error).__name__


def tls_reason(text):
    """An OpenSSL error's text (``[SSL: REASON] words (_ssl.c:1000)``) as ``words (what to
    do)``."""
    match = re.match(r"\[(?:SSL|X509)(?:: (\w+))?\] ?([^(]*)", text)
    if not match:
        return text
    reason, words = match.group(1), match.group(2).strip() or match.group(1) or text
    hint = TLS_HINTS.get(reason or words)
    return "%s (%s)" % (words, hint) if hint else words


class Client(mqtt.Client):
    """paho's client (callbacks of API version 2) that keeps why its last connection attempt
    failed, in ``failure``: paho's ``on_connect_fail`` does not say, and a broker's TLS alert
    arrives only as a log line."""

    def __init__(self, client_id):
        super().__init__(CallbackAPIVersion.VERSION2, client_id=client_id)
        self.id = client_id
        self.tls = False
        self.failure = None
        self.on_log = self._keep_failure

    def reconnect(self):
        self.failure = None
        try:
            return super().reconnect()
        except OSError as error:
            self.failure = describe(error)
            raise

    def _keep_failure(self, client, userdata, level, text):
        # e.g. "failed to receive on socket: [SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] ..."
        if level == mqtt.MQTT_LOG_ERR and " on socket: " in text:
            detail = text.partition(" on socket: ")[2]
            if detail.startswith(("[SSL", "[X509")):
                self.failure = "TLS: " + tls_reason(detail)
            elif "reset by peer" in detail and not self.tls:
                self.failure = "connection reset by the broker (a TLS port? give --tls)"
            else:
                self.failure = re.sub(r"^\[Errno \d+\] ", "", detail).lower()


def make_client(args, role):
    """Return a :class:`Client` for ``args``, not yet connected; ``role`` goes into its id.

    ``SystemExit`` naming the option and the file when a TLS file cannot be loaded."""
    client = Client(args.client_id or client_id(args.prefix, role))
    if args.username:
        client.username_pw_set(args.username, args.password)
    if uses_tls(args):
        client.tls_set_context(tls_context(args))
        client.tls = True
    return client


def tls_context(args):
    """The TLS settings of ``args``: the CAs to trust, the client certificate if any."""
    def fail(option, path, reason):
        raise SystemExit("playbach %s: %s %s: %s" % (args.command, option, path, reason))

    for option, path in (("--cafile", args.cafile), ("--certfile", args.certfile),
                         ("--keyfile", args.keyfile)):
        if path and not os.path.isfile(path):
            fail(option, path, "no such file" if not os.path.exists(path) else "not a file")
    if args.keyfile and not args.certfile:
        fail("--keyfile", args.keyfile, "give the client certificate too (--certfile)")
    try:
        context = ssl.create_default_context(cafile=args.cafile)
    except (OSError, ValueError) as error:
        fail("--cafile", args.cafile, "cannot load CA certificates from it: %s"
             % tls_reason(str(error)))
    if args.certfile:
        try:
            context.load_cert_chain(args.certfile, args.keyfile)
        except (OSError, ValueError) as error:
            files = "%s%s" % (args.certfile, " with --keyfile %s" % args.keyfile
                              if args.keyfile else "")
            fail("--certfile", files, "cannot load the client certificate and its key: %s"
                 % tls_reason(str(error)))
    return context


def start(client, args, on_connect=None, on_message=None):
    """Connect in the background (paho's network thread), retrying until it works.

    ``on_connect(client)`` runs after each (re)connection: subscribe and publish state there.
    """
    address = "%s:%d" % (args.host, port_of(args))
    state = {"connected": False, "reported": None, "delays": retry_delays()}

    def retry(reason):
        """After a failed attempt: say why, once until the reason changes; wait a little."""
        if reason != state["reported"]:
            log.warning("cannot connect to the MQTT broker at %s: %s; retrying", address,
                        reason)
            state["reported"] = reason
        delay = next(state["delays"])
        client.reconnect_delay_set(delay, delay)  # paho's next wait: exactly this

    def connected(client, userdata, flags, reason, properties):
        if reason.is_failure:  # the broker closes the connection next: retry says why then
            client.failure = "it refused the connection: %s%s" % (
                reason, " (check --username and --password)" if reason.value in (
                    REFUSED_BAD_LOGIN, REFUSED_NOT_AUTHORIZED) else "")
            return
        # Small packets go out at once: Nagle's algorithm alone adds 30-40 ms spikes.
        client.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        log.info("connected to the MQTT broker at %s as %s", address, client.id)
        state.update(connected=True, reported=None, delays=retry_delays())
        if on_connect:
            on_connect(client)

    def disconnected(client, userdata, flags, reason, properties):
        if not reason.is_failure:
            return  # we asked for it
        if state["connected"]:
            state["connected"] = False
            log.warning("lost the MQTT broker at %s (%s); reconnecting", address,
                        client.failure or ("connection closed" if reason.value == UNSPECIFIED
                                           else reason))
            state["reported"] = None
            delay = next(state["delays"])
            client.reconnect_delay_set(delay, delay)
        else:
            retry(client.failure or str(reason))

    client.on_connect = connected
    client.on_disconnect = disconnected
    client.on_connect_fail = lambda client, userdata: retry(client.failure or "no reason given")
    if on_message:
        client.on_message = on_message
    client.reconnect_delay_set(RETRY_FIRST, RETRY_FIRST)
    client.connect_async(args.host, port_of(args), keepalive=KEEPALIVE)
    client.loop_start()
