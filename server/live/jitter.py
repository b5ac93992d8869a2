"""A WiFi link on this machine: a TCP relay on 127.0.0.1 holding each chunk it passes for a
random delay, bytes kept in order.

The kernel here has no netem, so the choir's test and ``make bench`` put one of these between
the broker and each player. Delays follow :func:`wifi_delay`: a third of the chunks cross at the
first attempt (a fraction of a ms), the rest wait for retries, contention or a sleeping radio
(a log-normal body, median 20 ms): p50 13 ms, p99 110 ms, one in a thousand over 200 ms, as
published round trips to an ESP32 run. A chunk never overtakes the one before (TCP), so a slow
one holds up those behind it. Bounded: at most ``connections`` connections and ``chunks``
chunks, each held at most ``longest`` seconds, for ``seconds`` in all.
"""
import math
import queue
import random
import socket
import threading
import time

FIRST_ATTEMPT = 0.3  # the share of chunks that cross at once
FIRST_S, FIRST_MEAN_S = 0.0002, 0.001  # their delay: 0.2 ms and an exponential of mean 1 ms
MEDIAN_S, SIGMA = 0.0202, 0.775  # the others: log-normal


def wifi_delay(rng, longest=1.0):
    """One chunk's delay in seconds, drawn with ``rng`` (a ``random.Random``)."""
    if rng.random() < FIRST_ATTEMPT:
        delay = FIRST_S + rng.expovariate(1 / FIRST_MEAN_S)
    else:
        delay = MEDIAN_S * math.exp(rng.gauss(0, SIGMA))
    return min(delay, longest)


class JitterProxy:
    """Listens on 127.0.0.1 (``.port``) and relays each connection to ``upstream`` (a port on
    127.0.0.1), delaying every chunk both ways by ``delay(rng)`` seconds."""

    def __init__(self, upstream, seed=0, delay=wifi_delay, connections=8, chunks=200000,
                 seconds=600):
        self.upstream, self.delay = upstream, delay
        self.rng = random.Random(seed)
        self.lock = threading.Lock()  # the rng is shared by the connections' readers
        self.connections, self.chunks = connections, chunks
        self.deadline = time.monotonic() + seconds
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.closed = False
        self.sockets = []
        self.threads = [threading.Thread(target=self._accept, daemon=True)]

    def start(self):
        self.threads[0].start()
        return self

    def close(self):
        self.closed = True
        for sock in [self.listener] + self.sockets:
            try:
                sock.close()
            except OSError:
                pass
        for thread in self.threads:
            thread.join(5)

    def _alive(self):
        return not self.closed and time.monotonic() < self.deadline

    def _accept(self):
        while self._alive() and self.connections > 0:
            try:
                client, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.connections -= 1
            server = socket.create_connection(("127.0.0.1", self.upstream))
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sockets += [client, server]
            for source, sink in ((client, server), (server, client)):
                held = queue.Queue()
                self.threads += [threading.Thread(target=self._read, args=(source, held),
                                                  daemon=True),
                                 threading.Thread(target=self._write, args=(held, sink),
                                                  daemon=True)]
                self.threads[-2].start()
                self.threads[-1].start()

    def _read(self, source, held):
        """Stamp each chunk with its moment to leave: its delay, not before the one ahead."""
        leave = 0.0
        try:
            while self._alive():
                data = source.recv(65536)
                if not data:
                    break
                with self.lock:
                    if self.chunks <= 0:
                        break
                    self.chunks -= 1
                    delay = self.delay(self.rng)
                leave = max(time.monotonic() + delay, leave)
                held.put((leave, data))
        except OSError:
            pass
        held.put((leave, None))

    def _write(self, held, sink):
        while True:
            leave, data = held.get()
            wait = leave - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            try:
                if data is None:
                    sink.shutdown(socket.SHUT_WR)
                    return
                sink.sendall(data)
            except OSError:
                return
