"""The live stream as text: one line per event, with a small piano roll and the voices.

::

    seq  token            dur  dyn  C2          C3          C4          C5          C6
     17  F#3.C#4.E4.G#5   1    f   |.......o....o.....|..o...........o...............|  B:F#3 T:C#4

``o`` marks a note starting, ``|`` one still held (from ``holds_ms``), ``.`` a C. The voices
that move follow as they arrive (``B:`` bass ... ``S:`` soprano, ``-`` silence). Gaps in ``seq``,
tempo changes, the server's status, commands on the control topic and malformed messages each
get a line of their own; malformed messages are counted too.
"""
import playbach_protocol as protocol
from playbach.live import wire

LOW, HIGH = 36, 84  # C2-C6: the piano roll's range; notes beyond show at its edges as < >


class Watcher:
    """Turns a playbach stream's MQTT messages into lines written to ``out``."""

    def __init__(self, out, prefix=protocol.DEFAULT_PREFIX, limit=None):
        self.out, self.prefix, self.limit = out, prefix, limit
        self.events = 0
        self.last_seq = None
        self.bpm = None
        self.sounding = []  # (pitch, Unix ms when it stops)
        self.line_open = False  # an event line waiting for its voices
        self.malformed = 0  # messages it could not show, whatever the reason

    def header(self):
        octaves = "".join("C%-11d" % (n // 12 - 1) for n in range(LOW, HIGH + 1, 12))
        self._line("%5s  %-16s %-4s %-3s  %s" % ("seq", "token", "dur", "dyn", octaves))

    @property
    def done(self):
        return self.limit is not None and self.events >= self.limit

    def on_message(self, client, userdata, message):
        """paho's callback: show one message. Nothing raises into paho's network thread."""
        try:
            self.show(message.topic, message.payload)
        except Exception as error:  # a bug, or a topic paho cannot decode: shown, counted
            self.malformed += 1
            self._line("! cannot show a message: %s: %s" % (type(error).__name__, error))

    def show(self, topic, payload):
        kind = topic[len(self.prefix) + 1:] if topic.startswith(self.prefix + "/") else topic
        try:
            if kind == "events":
                self._event(protocol.decode(protocol.EVENT, payload))
            elif kind.startswith("voice/"):
                self._voice(protocol.decode(protocol.VOICE, payload))
            elif kind == "status":
                self._status(protocol.decode(protocol.STATUS, payload))
            elif kind == "control":
                control = wire.decode_control(payload)
                self._line("control: " + " ".join("%.60s" % (value,)
                                                  for value in control.values()))
        except ValueError as error:
            self.malformed += 1
            self._line("! malformed message on %s: %s" % (topic, error))

    def close(self):
        if self.line_open:
            self.out.write("\n")
            self.line_open = False
        self.out.flush()

    def _event(self, event):
        seq = event["seq"]
        if self.last_seq is not None and seq > self.last_seq + 1:
            self._line("  ... missed %d event%s (seq %d-%d)" % (
                seq - self.last_seq - 1, "" if seq == self.last_seq + 2 else "s",
                self.last_seq + 1, seq - 1))
        elif self.last_seq is not None and seq <= self.last_seq:
            self._line("  ... the stream started over at seq %d" % seq)
        self.last_seq = seq
        if event["bpm"] != self.bpm:
            self._line("tempo %s%g bpm" % ("" if self.bpm is None else "%g -> " % self.bpm,
                                           event["bpm"]))
            self.bpm = event["bpm"]
        at = event["at"]
        held = {pitch for pitch, end in self.sounding if end > at}
        self.sounding = [(pitch, end) for pitch, end in self.sounding if end > at]
        self.sounding += [(pitch, at + hold) for pitch, hold in zip(event["notes"],
                                                                     event["holds_ms"])]
        self._line("%5d  %-16s %-4s %-3s |%s|" % (
            seq, event["token"], event["duration"], event["dynamic"] or "",
            piano_roll(event["notes"], held)), keep_open=True)
        self.events += 1

    def _voice(self, move):
        if self.line_open and move["seq"] == self.last_seq:
            self.out.write("  %s:%s" % (move["voice"][0].upper(),
                                        "-" if move["note"] is None else move["name"]))
            self.out.flush()

    def _status(self, status):
        settings = " ".join("%s %s" % item for item in status.items()
                            if item[0] not in ("v", "state"))
        self._line("status: %s  %s" % (status["state"], settings))

    def _line(self, text, keep_open=False):
        self.close()
        self.out.write(text)
        if keep_open:
            self.line_open = True
        else:
            self.out.write("\n")
        self.out.flush()


def piano_roll(notes, held=()):
    """One line of a piano roll from C2 to C6: ``o`` starts, ``|`` held, ``.`` each C."""
    cells = ["." if n % 12 == 0 else " " for n in range(LOW, HIGH + 1)]
    for pitch in held:
        cells[min(max(pitch, LOW), HIGH) - LOW] = "|"
    for pitch in notes:
        cells[min(max(pitch, LOW), HIGH) - LOW] = "<" if pitch < LOW else ">" if pitch > HIGH \
            else "o"
    return "".join(cells)
