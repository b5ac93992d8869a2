"""An MQTT broker inside the server process (amqtt), for when no broker is configured.

It runs its own asyncio loop in a daemon thread, so the rest of the server stays plain threads.
Anonymous clients are allowed: bind it to 127.0.0.1 (the default) unless the network is yours.
"""
import asyncio
import logging
import threading

log = logging.getLogger(__name__)

HOST, PORT = "127.0.0.1", 1883
START_TIMEOUT = 10  # seconds


class EmbeddedBroker:
    """``start()`` listens on ``host:port``; ``stop()`` closes every connection."""

    def __init__(self, host=HOST, port=PORT):
        self.host, self.port = host, port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="embedded-broker",
                                        daemon=True)
        self._broker = None

    def start(self):
        from amqtt.broker import Broker  # imported here: only this path needs it

        config = {
            "listeners": {"default": {"type": "tcp", "bind": "%s:%d" % (self.host, self.port)}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin":
                        {"allow_anonymous": True}},
        }
        # amqtt logs each connection at INFO: keep it to warnings unless debugging.
        if not log.isEnabledFor(logging.DEBUG):
            logging.getLogger("amqtt").setLevel(logging.WARNING)
            logging.getLogger("transitions").setLevel(logging.WARNING)
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
            raise OSError("cannot start the embedded MQTT broker on %s:%d: %s"
                          % (self.host, self.port, error)) from None
        finally:
            quiet.setLevel(level)
        log.info("embedded MQTT broker listening on %s:%d", self.host, self.port)
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
