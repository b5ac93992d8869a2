"""Run the ESP32's main.py under CPython against a real broker: python esp32_on_cpython.py DIR

DIR holds config.json. The MicroPython bits main.py needs are mapped here: time.ticks_*,
time.sleep_ms/us, and the usocket/ustruct/ubinascii that umqtt.simple imports (select.poll is
CPython's, watching the socket's fileno); ``machine`` and
``network`` are the fakes in fakes/, printing what the board would do.
"""
import binascii
import os
import socket
import struct
import sys
import time
import types
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


class Socket:
    """MicroPython's stream methods on a CPython socket."""

    def __init__(self):
        self.sock = socket.socket()

    def connect(self, address):
        self.sock.connect(address)

    def setblocking(self, flag):
        self.sock.setblocking(flag)

    def read(self, size):
        data = b""
        while len(data) < size:
            try:
                chunk = self.sock.recv(size - len(data))
            except BlockingIOError:  # MicroPython returns None when nothing is waiting
                return data or None
            if not chunk:
                break
            data += chunk
        return data

    def write(self, data, length=None):
        if isinstance(data, str):  # MicroPython streams take text as UTF-8
            data = data.encode()
        data = bytes(data if length is None else data[:length])
        self.sock.sendall(data)
        return len(data)

    def fileno(self):
        return self.sock.fileno()

    def close(self):
        self.sock.close()


time.ticks_ms = lambda: time.monotonic_ns() // 1_000_000
time.ticks_us = lambda: time.monotonic_ns() // 1_000
time.sleep_us = lambda us: time.sleep(us / 1_000_000)
time.ticks_add = lambda ticks, delta: ticks + delta
time.ticks_diff = lambda end, start: end - start
time.sleep_ms = lambda ms: time.sleep(ms / 1000)
sys.modules["usocket"] = types.SimpleNamespace(socket=Socket, getaddrinfo=socket.getaddrinfo)
sys.modules["ustruct"] = struct
sys.modules["ubinascii"] = binascii
sys.path[:0] = [str(HERE / "fakes"), str(HERE), str(ROOT / "device" / "esp32"),
                str(ROOT / "shared")]
os.chdir(sys.argv[1])

import main  # noqa: E402  (after the mapping above)

main.main()
