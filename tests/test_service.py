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
