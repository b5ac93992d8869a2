"""MIDI on the Pi: the bytes the player writes, sent to a mido port and recorded to a .mid."""
import time
from pathlib import Path

import mido

from playbach.engine.midifile import save_atomically

TICKS_PER_BEAT = 500  # at the default 120 bpm (500000 us a beat) one tick is one millisecond
FLUSH_S = 1.0


class NoBackend(RuntimeError):
    """mido has no port backend here (python-rtmidi is not installed)."""


def _backend(call, *args):
    try:
        return call(*args)
    except ImportError as error:
        raise NoBackend("no MIDI port backend (%s): pip install python-rtmidi, "
                        "or record with --out FILE" % error)


def port_names():
    """The names of the MIDI output ports; ``NoBackend`` when mido has no backend."""
    return _backend(mido.get_output_names)


def open_port(name):
    """Open a MIDI output port by name; ``NoBackend`` when mido has no backend."""
    return _backend(mido.open_output, name)


class Wire:
    """Stands where a board has its UART: takes the bytes of whole MIDI messages, as
    ``outputs.MidiOut`` writes them, and sends each message on to every sink (``send(msg)``)."""

    def __init__(self, sinks):
        self.sinks = sinks

    def write(self, data):
        message = mido.Message.from_bytes(list(data))
        for sink in self.sinks:
            sink.send(message)
        return len(data)


class Recorder:
    """Records messages as they are sent into a type 0 .mid file, one tick per millisecond.

    The file is rewritten whole (through a temporary file, so it is never seen half written)
    by :meth:`flush`, at most once a second, and by :meth:`close`.
    """

    def __init__(self, path, clock=time.monotonic):
        self.path = Path(path)
        self.clock = clock
        self.file = mido.MidiFile(type=0, ticks_per_beat=TICKS_PER_BEAT)
        self.track = self.file.add_track("playbach")
        self.start = None
        self.last_tick = 0
        self.saved = clock()
        self.dirty = True

    def send(self, message):
        now = self.clock()
        if self.start is None:
            self.start = now
        tick = round((now - self.start) * 1000)
        self.track.append(message.copy(time=tick - self.last_tick))
        self.last_tick = tick
        self.dirty = True

    def flush(self):
        """Save if anything changed and a second has passed since the last save."""
        if self.dirty and self.clock() - self.saved >= FLUSH_S:
            self.save()

    def save(self):
        save_atomically(self.file, self.path)
        self.saved = self.clock()
        self.dirty = False

    def close(self):
        self.save()
