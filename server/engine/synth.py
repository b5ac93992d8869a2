"""Render a MIDI file to a WAV file with FluidSynth and a General MIDI soundfont."""
import os
import shutil
import subprocess
from pathlib import Path

SAMPLE_RATE = 44100
# Where Debian's fluid-soundfont-gm (or timgm6mb-soundfont, which fluidsynth pulls in) and
# other distributions put a General MIDI soundfont.
SOUNDFONTS = ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/sounds/sf2/default-GM.sf2",
              "/usr/share/sounds/sf2/TimGM6mb.sf2", "/usr/share/soundfonts/default.sf2",
              "/usr/share/soundfonts/FluidR3_GM.sf2")
INSTALL_HINT = "sudo apt-get install fluidsynth fluid-soundfont-gm"


class SynthError(RuntimeError):
    """FluidSynth or a soundfont is missing, or rendering failed; says what to do."""


def find_soundfont():
    """The soundfont to use: ``$PLAYBACH_SOUNDFONT``, else the first one installed."""
    candidates = [os.environ.get("PLAYBACH_SOUNDFONT")] + list(SOUNDFONTS)
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise SynthError("no General MIDI soundfont found (looked in %s); install one: %s, "
                     "or set PLAYBACH_SOUNDFONT" % (", ".join(SOUNDFONTS), INSTALL_HINT))


def render_wav(midi_path, wav_path, soundfont=None):
    """Render ``midi_path`` to a 16-bit stereo WAV at ``wav_path``."""
    fluidsynth = shutil.which("fluidsynth")
    if fluidsynth is None:
        raise SynthError("--wav needs FluidSynth, which is not installed: " + INSTALL_HINT)
    soundfont = soundfont or find_soundfont()
    command = [fluidsynth, "-ni", "-q", "-g", "0.8", "-r", str(SAMPLE_RATE), "-T", "wav",
               "-F", str(wav_path), str(soundfont), str(midi_path)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0 or not Path(wav_path).is_file():
        raise SynthError("fluidsynth failed (exit %d): %s"
                         % (result.returncode, (result.stderr or result.stdout).strip()[-300:]))
