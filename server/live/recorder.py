"""Record what the server publishes to a MIDI file, rewritten (atomically) every second.

Times come from the published events (``at``, Unix ms, and ``holds_ms``), so the file plays back
exactly what was heard, pauses and tempo changes included, on a grid at the first event's tempo;
what a pause, a stop or a new piece cancelled is cut out.
A kill loses at most the last second.
"""
import logging
import threading

import playbach_protocol as protocol
from playbach.engine.midifile import MidiNote, write_midi

log = logging.getLogger(__name__)

FLUSH_SECONDS = 1.0


class Recorder:
    """Collects published events; a thread writes them to ``path`` each second they change."""

    def __init__(self, path):
        self.path = path
        self.notes, self.start_ms, self.bpm = [], None, None
        self.lock = threading.Lock()
        self.dirty = False
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._flush_every_second, name="recorder",
                                       daemon=True)

    def start(self):
        self.thread.start()
        return self

    def add(self, event):
        """Record one published event (a dict of ``playbach_protocol.EVENT``'s fields)."""
        with self.lock:
            if self.start_ms is None:
                self.start_ms, self.bpm = event["at"], event["bpm"]
            beat_ms = protocol.beats_to_ms(1, self.bpm)
            start = (event["at"] - self.start_ms) / beat_ms
            for pitch, hold in zip(event["notes"], event["holds_ms"]):
                self.notes.append(MidiNote(start, hold / beat_ms, pitch, event["velocity"]))
            self.dirty = True

    def cut(self, at):
        """Players went silent at ``at`` (Unix ms): notes end there, those after it go."""
        with self.lock:
            if self.start_ms is None:
                return
            beats = (at - self.start_ms) / protocol.beats_to_ms(1, self.bpm)
            self.notes = [note._replace(length=min(note.length, beats - note.start))
                          for note in self.notes if note.start < beats]
            self.dirty = True

    def flush(self):
        """Write the file now if anything changed."""
        with self.lock:
            if not self.dirty:
                return
            notes, bpm, self.dirty = list(self.notes), self.bpm, False
        try:
            write_midi(self.path, notes, bpm, name="playbach live")
        except OSError as error:
            log.error("cannot write the recording %s: %s", self.path, error)

    def close(self):
        self.done.set()
        self.thread.join(5)
        self.flush()

    def _flush_every_second(self):
        while not self.done.wait(FLUSH_SECONDS):
            self.flush()
