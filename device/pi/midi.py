"""MIDI on the Pi: the bytes the player writes, sent to a mido port and recorded to a .mid."""
import logging
import time
from pathlib import Path

import mido

from playbach.engine.midifile import save_atomically

TICKS_PER_BEAT = 500  # at the default 120 bpm (500000 us a beat) one tick is one millisecond
FLUSH_S = 1.0

log = logging.getLogger(__name__)


class NoBackend(RuntimeError):
    """mido cannot reach MIDI ports here: python-rtmidi is missing, or so is the system's MIDI
    (on Linux the ALSA sequencer, /dev/snd/seq)."""


def _backend(call, *args):
    try:
        return call(*args)
    except ImportError as error:
        raise NoBackend("no MIDI port backend (%s): pip install python-rtmidi, "
                        "or play with --synth, or record with --out FILE" % error)
    except OSError as error:  # python-rtmidi's SystemError: no MIDI system to open
        raise NoBackend("MIDI ports are not available here (%s); on Linux they need the ALSA "
                        "sequencer (/dev/snd/seq); play with --synth, or record with --out FILE"
                        % error)


def port_names():
    """The names of the MIDI output ports; ``NoBackend`` when mido has no backend."""
    return _backend(mido.get_output_names)


def open_port(name):
    """Open a MIDI output port by name; ``NoBackend`` when mido has no backend."""
    return _backend(mido.open_output, name)


class Wire:
    """Stands where a board has its UART: takes the bytes of whole MIDI messages, as
    ``outputs.MidiOut`` writes them, and sends each message on to every sink (``send(msg)``).

    A sink that fails is reported once and dropped; the others (the recording) go on."""

    def __init__(self, sinks):
        self.sinks = list(sinks)

    def write(self, data):
        message = mido.Message.from_bytes(list(data))
        for sink in list(self.sinks):
            try:
                sink.send(message)
            except (OSError, RuntimeError) as error:  # a port unplugged, FluidSynth gone
                log.error("stopped playing to %s: %s", type(sink).__name__, error)
                self.sinks.remove(sink)
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
