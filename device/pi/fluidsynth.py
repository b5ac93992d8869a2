"""Play straight into FluidSynth: a ``fluidsynth`` process started here, fed through its shell.

No MIDI port, no ALSA sequencer and no Python binding in between: each message becomes one
line of FluidSynth's command shell (``noteon 0 60 80``) on the process's standard input.
"""
import logging
import os
import select
import shutil
import subprocess
import threading
import time

from playbach.engine.synth import INSTALL_HINT, SynthError, find_soundfont

log = logging.getLogger(__name__)

START_S = 30.0  # loading a large soundfont on a Pi takes seconds
READY = b"Type 'help'"  # the shell's greeting: the synth and its audio driver are up
COMMANDS = {  # mido message type -> FluidSynth shell command (channels from 0, like mido's)
    "note_on": "noteon {channel} {note} {velocity}",
    "note_off": "noteoff {channel} {note}",
    "program_change": "prog {channel} {program}",
    "control_change": "cc {channel} {control} {value}",
}


class FluidSynth:
    """A FluidSynth process playing the messages it is sent (``send(msg)``, like a mido port).

    ``audio_driver``: FluidSynth's (``alsa``, ``pulseaudio``, ``jack``, ``file`` ...; its own
    default if None); ``settings``: more ``NAME=VALUE`` FluidSynth settings, e.g.
    ``audio.file.name=take.wav`` with the ``file`` driver. Raises ``SynthError`` with
    FluidSynth's own reason when it cannot start.
    """

    def __init__(self, soundfont=None, audio_driver=None, settings=(), gain=0.8):
        fluidsynth = shutil.which("fluidsynth")
        if fluidsynth is None:
            raise SynthError("FluidSynth is not installed: " + INSTALL_HINT)
        command = [fluidsynth, "--no-midi-in", "--quiet", "--gain", str(gain)]
        if audio_driver:
            command += ["--audio-driver", audio_driver]
        for setting in settings:
            command += ["-o", setting]
        command.append(str(soundfont or find_soundfont()))
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE)
        self.errors = []  # FluidSynth's last lines on stderr, for the error that names a reason
        threading.Thread(target=self._keep_errors, daemon=True).start()
        self._wait_until_ready()
        # The shell answers every command with a prompt: read them so its pipe never fills.
        threading.Thread(target=self.process.stdout.read, daemon=True).start()
        log.info("FluidSynth started (%s)", " ".join(command[1:]))

    def _keep_errors(self):
        for line in self.process.stderr:
            self.errors = (self.errors + [line.decode(errors="replace").strip()])[-5:]

    def _wait_until_ready(self):
        greeting, deadline = b"", time.monotonic() + START_S
        while READY not in greeting:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.process.stdout], [], [], left)[0]:
                self.close()
                raise SynthError("fluidsynth did not start within %d s" % START_S)
            chunk = os.read(self.process.stdout.fileno(), 4096)
            if not chunk:  # it closed its output: it is exiting
                raise SynthError("fluidsynth exited (%d): %s" % (
                    self.process.wait(), self._reason()))
            greeting += chunk

    def _reason(self):
        time.sleep(0.1)  # the stderr reader catches up with a process that just died
        errors = [line for line in self.errors if "error" in line] or self.errors
        return errors[-1] if errors else "no message"

    def send(self, message):
        command = COMMANDS.get(message.type)
        if command is None:
            return
        try:
            self.process.stdin.write(command.format(**message.dict()).encode() + b"\n")
            self.process.stdin.flush()
        except (BrokenPipeError, ValueError):
            raise SynthError("fluidsynth has stopped (exit %s): %s"
                             % (self.process.poll(), self._reason()))

    def close(self):
        """Quit FluidSynth (it finishes writing its audio file, if any)."""
        if self.process.poll() is None:
            try:
                self.process.stdin.write(b"quit\n")
                self.process.stdin.close()
                self.process.wait(timeout=10)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
