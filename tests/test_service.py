"""How playbach runs for its users: ``make run`` (the server and the watcher in one terminal)."""
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
EVENT_LINE = re.compile(r"^ *(\d+)  \S")  # the watcher's event lines start with their seq


def make_run(port, *run_args, timeout=60):
    """``make run`` with this test's virtual environment (already set up: nothing to install)
    on 127.0.0.1:``port``; returns its exit status, output (the watcher's) and log. Past
    ``timeout`` seconds the server and the watcher are stopped as Ctrl-C would, status None."""
    env = dict(os.environ, PLAYBACH_PREFIX="make-run-%d" % os.getpid(),  # the page on free ports
               PLAYBACH_HTTP_PORT=str(free_port()), PLAYBACH_WS_PORT=str(free_port()))
    make = subprocess.Popen(["make", "--no-print-directory", "run", "VENV=" + sys.prefix,
                             "--old-file", os.path.join(sys.prefix, ".runtime"),  # as it is
                             "RUN_PORT=%d" % port, "RUN_ARGS=" + " ".join(run_args)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        output, log = make.communicate(timeout=timeout)
        return make.returncode, output, log
    except subprocess.TimeoutExpired:
        os.killpg(make.pid, signal.SIGINT)
        return None, *make.communicate(timeout=30)


@pytest.mark.parametrize("broker", ["embedded", "mosquitto"])
def test_make_run_shows_the_piece_from_its_first_event(broker, request):
    """At 600 bpm an event sounds every 100 ms or less: a watcher that subscribed after the
    server began would miss the first ones. The watcher (started second, with the embedded
    broker; possibly first, with a broker already there) starts the paused server itself."""
    port = request.getfixturevalue("mosquitto").port if broker == "mosquitto" else free_port()
    status, output, log = make_run(port, "--notes", "12", "--bpm", "600", "--seed", "5")
    assert status == 0, output + log
    assert ("using the MQTT broker already listening" in output) == (broker == "mosquitto")
    lines = output.splitlines()
    seqs = [int(match.group(1)) for match in map(EVENT_LINE.match, lines) if match]
    assert seqs == list(range(1, 13)), output
    first_status = next(line for line in lines if line.startswith("status: "))
    assert first_status.startswith("status: paused") and re.search(r" seq 0\b", first_status)
    assert "control: play" in lines



def test_make_run_on_32_bit_arm_says_that_playbach_needs_64_bit(tmp_path):
    """No LiteRT build for 32-bit ARM: make run stops at once with one line, installing nothing
    (``uname`` answers as on 32-bit Raspberry Pi OS; the venv asked for does not exist)."""
    uname = tmp_path / "uname"
    uname.write_text("#!/bin/sh\necho armv7l\n")
    uname.chmod(0o755)
    venv = tmp_path / "venv"
    result = subprocess.run(["make", "--no-print-directory", "run", "VENV=%s" % venv],
                            cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env=dict(os.environ, PATH="%s:%s" % (tmp_path, os.environ["PATH"])))
    assert result.returncode != 0 and result.stdout == ""
    assert result.stderr.splitlines()[0] == (
        "playbach needs a 64-bit OS (Raspberry Pi OS 64-bit on a Pi 3, 4, 5 or Zero 2 W); "
        "this one is 32-bit (armv7l)")
    assert not venv.exists()

# --- The systemd unit a Raspberry Pi runs ------------------------------------------------------
UNIT = ROOT / "server" / "playbach.service"


def unit_settings():
    """The unit's settings: {key: value} (no key of this unit is given twice)."""
    lines = [line.strip() for line in UNIT.read_text().splitlines()]
    return dict(line.split("=", 1) for line in lines if "=" in line and line[0] not in "#;")


def readme_pi_steps():
    """The shell block of the README's "On a Raspberry Pi", one command a line."""
    section = (ROOT / "README.md").read_text().split("## On a Raspberry Pi\n")[1]
    block = section.split("```sh\n")[1].split("```")[0]
    return [line.split("  #")[0].strip() for line in block.splitlines()]


def test_the_unit_runs_what_the_readme_steps_install():
    """The README clones to the unit's folder and runs make there, which makes its VENV (the
    Makefile's default) holding the ``playbach`` command; the unit starts that command, as a
    user that exists (systemd makes it), restarts it on failure and logs to the journal."""
    steps = readme_pi_steps()
    folder = next(re.fullmatch(r"sudo git clone \S+ (/\S+)", step) for step in steps
                  if step.startswith("sudo git clone")).group(1)
    assert "cd %s && sudo make run" % folder in steps
    assert "sudo cp server/playbach.service /etc/systemd/system/" in steps
    assert "journalctl -u playbach -f" in steps
    venv = re.search(r"^VENV \?= (\S+)$", (ROOT / "Makefile").read_text(), re.M).group(1)
    unit = unit_settings()
    assert unit["WorkingDirectory"] == folder
    assert unit["ExecStart"] == "%s/%s/bin/playbach serve" % (folder, venv)
    assert unit["DynamicUser"] == "yes" and "User" not in unit
    assert unit["Restart"] == "on-failure"
    assert "StandardOutput" not in unit and "StandardError" not in unit  # the journal's


def test_systemd_finds_nothing_wrong_with_the_unit(tmp_path):
    """``systemd-analyze verify`` (which also checks that ExecStart is an executable) on the unit
    with the README's clone standing for this checkout and its venv for this test's, made by
    the same Makefile: no error, no warning."""
    text = UNIT.read_text().replace("/opt/playbach/.venv", sys.prefix)
    unit = tmp_path / UNIT.name
    unit.write_text(text.replace("/opt/playbach", str(ROOT)))
    assert Path(sys.prefix, "bin", "playbach").is_file()
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), \
        result.stdout + result.stderr


def test_the_settings_the_unit_names_are_options_of_serve():
    named = set(re.findall(r"#\s+(PLAYBACH_[A-Z_]+)=", UNIT.read_text()))
    assert len(named) >= 5
    result = subprocess.run([sys.executable, "-m", "playbach", "serve", "--help"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert {name for name in named if "[%s" % name not in result.stdout} == set()
