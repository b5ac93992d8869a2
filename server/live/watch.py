"""The live stream as text: a line per event as it sounds, with a small piano roll and the voices.

::

    seq  token            dur  dyn  C2          C3          C4          C5          C6
     17  F#3.C#4.E4.G#5   1    f   |.......o....o.....|..o...........o...............|  B:F#3 T:C#4

``o`` marks a note starting, ``|`` one still held (from ``holds_ms``), ``.`` a C. The voices
that move follow (``B:`` bass ... ``S:`` soprano, ``-`` silence), then where the event ends a
phrase (``;``) or the piece (``|| end of the piece``); a new piece's first event comes after a
line of its own (``=== a new piece, from seq 41 ===``). An event's line is written at
the moment it sounds (``at``, put on this computer's clock as the players do, see
:class:`playbach_player.ServerClock`), not when its message arrives; a pause, a stop or a new
piece cancels the lines still waiting. Gaps in ``seq`` and tempo changes come with their event;
the server's status, commands on the control topic and malformed messages get a line of their
own at once; malformed messages are counted too.
"""
import playbach_protocol as protocol
from playbach.live import wire
from playbach_player import ServerClock, ticks_diff

LOW, HIGH = 36, 84  # C2-C6: the piano roll's range; notes beyond show at its edges as < >
ENDINGS = {"phrase": "  ;", "piece": "  || end of the piece"}  # an event's "end"


class Watcher:
    """Turns a playbach stream's MQTT messages into lines written to ``out``.

    It has a player's interface (``topics``, ``message``, ``tick``, ``wait``, ``silence``), so
    :class:`playbach.player.listen.Listener` runs it.
    """

    def __init__(self, out, prefix=protocol.DEFAULT_PREFIX, limit=None):
        self.out, self.prefix, self.limit = out, prefix, limit
        self.events = 0
        self.last_seq = None
        self.bpm = None
        self.piece = None
        self.sounding = []  # (pitch, Unix ms when it stops)
        self.clock = ServerClock()
        self.waiting = []  # [due (local µs), seq, lines, voices, piece, end] of events not
        # sounded yet
        self.line_open = False  # an event line written, waiting for its voices
        self.ending = ""  # written at the end of that line: where it ends a phrase or the piece
        self.last_written = None  # the seq of that line
        self.piece_written = None  # the piece of that line
        self.malformed = 0  # messages it could not show, whatever the reason

    def topics(self):
        return (self.prefix + "/#",)

    def header(self):
        octaves = "".join("C%-11d" % (n // 12 - 1) for n in range(LOW, HIGH + 1, 12))
        self._line("%5s  %-16s %-4s %-3s  %s" % ("seq", "token", "dur", "dyn", octaves))

    @property
    def done(self):
        return self.limit is not None and self.events >= self.limit

    def message(self, topic, payload, now):
        """Take one message that arrived at ``now`` (local µs). Nothing raises out of here."""
        kind = topic[len(self.prefix) + 1:] if topic.startswith(self.prefix + "/") else topic
        try:
            if kind == "events":
                self._event(protocol.decode(protocol.EVENT, payload), now)
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
        except Exception as error:  # a bug: shown, counted
            self.failed(topic, error)

    def failed(self, topic, error):
        self.malformed += 1
        self._line("! cannot show a message on %s: %s: %s" % (topic, type(error).__name__, error))

    def tick(self, now):
        """Write the lines of the events sounding by ``now`` (local µs)."""
        while self.waiting and ticks_diff(now, self.waiting[0][0]) >= 0 and not self.done:
            _, seq, lines, voices, piece, end = self.waiting.pop(0)
            if self.piece_written is not None and piece != self.piece_written:
                self._line("=== a new piece, from seq %d ===" % piece)
            for line in lines[:-1]:
                self._line(line)
            self._line(lines[-1], keep_open=True)
            self.ending = ENDINGS.get(end, "")
            self.last_written, self.piece_written = seq, piece
            self.out.write("".join(voices))
            self.out.flush()
            self.events += 1

    def wait(self, now, longest):
        """The µs from ``now`` to the next line due, ``longest`` at most."""
        if self.waiting:
            return min(longest, max(0, ticks_diff(self.waiting[0][0], now)))
        return longest

    def silence(self):
        """Drop the lines waiting: they will not sound."""
        self.waiting = []

    def close(self):
        if self.line_open:
            self.out.write(self.ending + "\n")
            self.line_open = False
        self.out.flush()

    def _event(self, event, now):
        seq, lines = event["seq"], []
        if self.last_seq is not None and seq > self.last_seq + 1:
            lines.append("  ... missed %d event%s (seq %d-%d)" % (
                seq - self.last_seq - 1, "" if seq == self.last_seq + 2 else "s",
                self.last_seq + 1, seq - 1))
        elif self.last_seq is not None and seq <= self.last_seq:
            lines.append("  ... the stream started over at seq %d" % seq)
            self.clock.restart()
        self.last_seq = seq
        if event["piece"] != self.piece:
            self.silence()
            self.piece = event["piece"]
        if event["bpm"] != self.bpm:
            lines.append("tempo %s%g bpm" % ("" if self.bpm is None else "%g -> " % self.bpm,
                                             event["bpm"]))
            self.bpm = event["bpm"]
        at = event["at"]
        held = {pitch for pitch, end in self.sounding if end > at}
        self.sounding = [(pitch, end) for pitch, end in self.sounding if end > at]
        self.sounding += [(pitch, at + hold) for pitch, hold in zip(event["notes"],
                                                                     event["holds_ms"])]
        lines.append("%5d  %-16s %-4s %-3s |%s|" % (
            seq, event["token"], event["duration"], event["dynamic"] or "",
            piano_roll(event["notes"], held)))
        self.clock.add(event["sent_us"], now)
        self.waiting.append([self.clock.local(at * 1000), seq, lines, [], event["piece"],
                             event.get("end")])

    def _voice(self, move):
        shown = "  %s:%s" % (move["voice"][0].upper(),
                             "-" if move["note"] is None else move["name"])
        for _, seq, _, voices, _, _ in self.waiting:
            if seq == move["seq"]:
                voices.append(shown)
                return
        if self.line_open and move["seq"] == self.last_written:
            self.out.write(shown)
            self.out.flush()

    def _status(self, status):
        if status["state"] != "playing" or status.get("piece", self.piece) != self.piece:
            self.silence()
        self.piece = status.get("piece", self.piece)
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
