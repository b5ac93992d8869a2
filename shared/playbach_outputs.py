"""What a player plays on: a piezo buzzer (PWM, on a board) or a MIDI synth (a board's UART at
31250 baud; ``playbach play`` gives :class:`MidiOut` its ``playbach.player.midi.Wire`` instead).

Both take ``play(notes, velocity)``, ``release(notes)`` and ``silence()`` from the player.
"""
import math

from playbach_protocol import voice_index

MIDI_BAUDRATE = 31250
NOTE_OFF, NOTE_ON, CONTROL, PROGRAM = 0x80, 0x90, 0xB0, 0xC0
ALL_NOTES_OFF = 123


def note_frequency(midi):
    """The equal-tempered frequency in Hz of a MIDI note (A4 = 69 = 440 Hz)."""
    return 440.0 * math.pow(2.0, (midi - 69) / 12.0)


class Buzzer:
    """A piezo buzzer on a ``machine.PWM``: it sounds one note, the chosen voice of what sounds.

    ``voice`` picks from the sounding notes, low to high: ``bass`` the lowest, ``tenor`` the
    second lowest, ``alto`` the second highest, ``soprano`` (the default) the highest.
    """

    def __init__(self, pwm, voice="soprano"):
        self.pwm = pwm
        self.pick = (0, 1, -2, -1)[voice_index(voice)]
        self.sounding = {}  # note -> velocity
        self.note = None
        pwm.duty_u16(0)

    def play(self, notes, velocity):
        for note in notes:
            self.sounding[note] = velocity
        self._update()

    def release(self, notes):
        for note in notes:
            self.sounding.pop(note, None)
        self._update()

    def silence(self):
        self.sounding = {}
        self._update()

    def _update(self):
        notes = sorted(self.sounding)
        if not notes:
            if self.note is not None:
                self.pwm.duty_u16(0)
            self.note = None
            return
        index = self.pick + len(notes) if self.pick < 0 else self.pick
        note = notes[max(0, min(index, len(notes) - 1))]
        if note != self.note:
            self.pwm.freq(round(note_frequency(note)))
            # A piezo is loudest at half duty: velocity 127 gives 50%.
            self.pwm.duty_u16(self.sounding[note] * 32768 // 127)
            self.note = note


class MidiOut:
    """A MIDI synth (VS1053, SAM2695 ...) on a ``machine.UART`` at 31250 baud: every note sounds.

    ``channel`` is 1-16; ``program`` (0-127, General MIDI numbering from 0) is sent first.
    """

    def __init__(self, uart, channel=1, program=None):
        self.uart = uart
        self.channel = channel - 1
        self.sounding = []
        if program is not None:
            uart.write(bytes((PROGRAM | self.channel, program)))

    def play(self, notes, velocity):
        for note in notes:
            if note in self.sounding:
                self._send(NOTE_OFF, note, 0)  # a repeated note strikes again
            else:
                self.sounding.append(note)
            self._send(NOTE_ON, note, velocity)

    def release(self, notes):
        for note in notes:
            if note in self.sounding:
                self.sounding.remove(note)
                self._send(NOTE_OFF, note, 0)

    def silence(self):
        # Explicit note-offs first: some synths ignore All Notes Off.
        self.release(list(self.sounding))
        self._send(CONTROL, ALL_NOTES_OFF, 0)

    def _send(self, status, data1, data2):
        # One write per message, so a reader of the bytes sees whole messages.
        self.uart.write(bytes((status | self.channel, data1, data2)))
