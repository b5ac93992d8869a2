"""The Pi player's loop: paho hands messages to the player on its network thread, and the
caller's thread releases notes on time, connected or not."""
import threading
import time

POLL_S = 0.005


def now_ms():
    return time.monotonic_ns() // 1_000_000


class Listener:
    """Feeds a :class:`playbach_player.Player` from paho and from the clock.

    Give :meth:`subscribe` and :meth:`on_message` to the connection (``playbach.live.
    connection.start``), then :meth:`run` until stopped.
    """

    def __init__(self, player):
        self.player = player
        self.lock = threading.Lock()  # the player runs on paho's thread and the caller's

    def subscribe(self, client):
        """After each (re)connection: subscribe to the player's topics."""
        for topic in self.player.topics():
            client.subscribe(topic)

    def on_message(self, client, userdata, message):
        """paho's callback. The player counts and logs what it cannot use; whatever else fails
        here is counted too, never raised into paho's network thread (it would die)."""
        with self.lock:
            try:
                self.player.message(message.topic, message.payload, now_ms())
            except Exception as error:  # e.g. paho's message.topic on a topic not UTF-8
                self.player.failed("a message", error)

    def run(self, stop, flush=None):
        """Release notes on time until the ``stop`` event is set, calling ``flush`` (if any)
        between polls; then silence every note."""
        try:
            while not stop.wait(POLL_S):
                with self.lock:
                    self.player.tick(now_ms())
                    if flush:
                        flush()
        finally:
            with self.lock:
                self.player.silence()
