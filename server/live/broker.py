"""An MQTT broker inside the server process (amqtt), for when no broker is configured.

It runs its own asyncio loop in a daemon thread, so the rest of the server stays plain threads.
Beside MQTT it can listen for MQTT over WebSockets (``ws_port``), which is how a browser (the
page, :mod:`playbach.live.page`) speaks MQTT; both listeners share the address and the users.
Without a user name it admits anyone who reaches it, so it listens on 127.0.0.1 by default and
says so in the log when bound beyond this machine. With a user name and password it admits that
user alone, no anonymous client (the password still travels in clear: it has no TLS).
"""
import asyncio
import ipaddress
import logging
import socket
import threading

from playbach.live.connection import PORT

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
START_TIMEOUT = 10  # seconds


def beyond_loopback(host):
    """Whether a broker listening on ``host`` can be reached from other machines: any address
    but 127.x and ::1 (``0.0.0.0``, ``::`` and empty mean every interface), any name that does
    not resolve to loopback alone."""
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host or None, None)}
    except OSError:
        return True
    return not all(ipaddress.ip_address(address.split("%")[0]).is_loopback
                   for address in addresses)


def exposure_warning(host, port, username=None, ws_port=None):
    """The line to log when a broker on ``host:port`` (and ``ws_port``, for websockets) is open
    beyond this machine, else None."""
    if not beyond_loopback(host):
        return None
    where = "the embedded MQTT broker listens on %s:%d%s, beyond this machine" % (
        host, port, " (and %d, websockets)" % ws_port if ws_port else "")
    if username:
        return ("%s: it admits only user %r, but the password travels in clear (no TLS); on a "
                "network you do not trust use a broker with TLS (--host)" % (where, username))
    return ("%s, and admits anyone who reaches it, to play and to control the music: give "
            "--username and --password (PLAYBACH_BROKER_USERNAME, PLAYBACH_BROKER_PASSWORD) to "
            "admit only them" % where)


def listen_problem(host, port):
    """Why nothing could listen on ``host:port`` now (``address already in use``), else None:
    found by listening there a moment."""
    try:
        family = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM)[0][0]
        with socket.socket(family) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as error:
        return (error.strerror or str(error)).lower()
    return None


def local_address(host):
    """The address a client on this machine reaches a broker listening on ``host`` at."""
    return {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)


class EmbeddedBroker:
    """``start()`` listens on ``host:port``, and for MQTT over WebSockets on ``host:ws_port``
    unless that is None or 0; ``stop()`` closes every connection. With a ``username`` (and
    ``password``), only that user is admitted."""

    def __init__(self, host=HOST, port=PORT, username=None, password=None, ws_port=None):
        self.host, self.port, self.ws_port = host, port, ws_port
        self.username, self.password = username, password
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="embedded-broker",
                                        daemon=True)
        self._broker = None

    def start(self):
        from amqtt.broker import Broker  # imported here: only this path needs it

        if self.username:
            plugins = {"playbach.live.broker_auth.OneUser":
                       {"username": self.username, "password": self.password or ""}}
        else:
            plugins = {"amqtt.plugins.authentication.AnonymousAuthPlugin":
                       {"allow_anonymous": True}}
        listeners = {"default": {"type": "tcp", "bind": "%s:%d" % (self.host, self.port)}}
        if self.ws_port:
            listeners["websockets"] = {"type": "ws", "bind": "%s:%d" % (self.host, self.ws_port)}
        config = {"listeners": listeners, "plugins": plugins}
        # amqtt logs each connection at INFO: keep it to warnings unless debugging.
        if not log.isEnabledFor(logging.DEBUG):
            logging.getLogger("amqtt").setLevel(logging.WARNING)
            logging.getLogger("transitions").setLevel(logging.WARNING)
            logging.getLogger("websockets").setLevel(logging.WARNING)
        self._thread.start()

        async def start():
            self._broker = Broker(config)
            await self._broker.start()

        quiet = logging.getLogger("amqtt.broker")
        level = quiet.level
        quiet.setLevel(logging.CRITICAL)  # a port in use is reported below, not as a traceback
        try:
            asyncio.run_coroutine_threadsafe(start(), self._loop).result(START_TIMEOUT)
        except Exception as error:
            self._loop.call_soon_threadsafe(self._loop.stop)
            raise OSError("cannot start the embedded MQTT broker on %s:%d%s: %s"
                          % (self.host, self.port, " and %d (websockets)" % self.ws_port
                             if self.ws_port else "", error)) from None
        finally:
            quiet.setLevel(level)
        log.info("embedded MQTT broker listening on %s:%d%s", self.host, self.port,
                 " for user %r alone" % self.username if self.username else "")
        if self.ws_port:
            log.info("embedded MQTT broker listening for MQTT over WebSockets on %s:%d",
                     self.host, self.ws_port)
        warning = exposure_warning(self.host, self.port, self.username, self.ws_port)
        if warning:
            log.warning("%s", warning)
        return self

    def stop(self):
        if self._broker is not None:
            try:
                asyncio.run_coroutine_threadsafe(self._broker.shutdown(),
                                                 self._loop).result(START_TIMEOUT)
            except Exception as error:  # shutting down anyway: say so, do not fail the exit
                log.warning("embedded broker did not shut down cleanly: %s", error)
            self._broker = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(START_TIMEOUT)
