"""docker-compose.yml and its broker script: no Docker engine runs here, so the compose file is
read as YAML (with compose's ${VAR:-default} and ${VAR:?error}) and docker/mosquitto.sh runs
with this machine's real mosquitto."""
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

from conftest import free_port, wait_for_port
from test_connection import connack

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "docker" / "mosquitto.sh"
CREDENTIALS = {"PLAYBACH_BROKER_USERNAME": "playbach",
               "PLAYBACH_BROKER_PASSWORD": "Kunst der Fuge: BWV 1080"}


def interpolate(value, variables):
    """Compose's variable substitution in every string of a parsed file (after parsing, as
    compose does), for the forms the file uses: ``${VAR:-default}``, ``${VAR:?error}``."""
    if isinstance(value, dict):
        return {key: interpolate(item, variables) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, variables) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match):
        name, form, word = match.groups()
        if variables.get(name):
            return variables[name]
        if form == ":?":
            raise ValueError("%s: %s" % (name, word))
        return word
    return re.sub(r"\$\{(\w+)(:-|:\?)([^}]*)\}", substitute, value)


def compose(variables):
    return interpolate(yaml.safe_load((ROOT / "docker-compose.yml").read_text()), variables)


def test_compose_needs_a_password_and_publishes_the_broker_on_this_machine_only():
    with pytest.raises(ValueError, match="PLAYBACH_BROKER_PASSWORD: set it in .env"):
        compose({"PLAYBACH_BROKER_USERNAME": "playbach"})
    services = compose(CREDENTIALS)["services"]
    broker = services["mosquitto"]
    assert broker["ports"] == ["127.0.0.1:1883:1883", "127.0.0.1:9001:9001"]
    assert services["server"]["ports"] == ["127.0.0.1:8080:8080"]
    opened = compose(dict(CREDENTIALS, PLAYBACH_PUBLISH_ADDRESS="0.0.0.0"))["services"]
    assert opened["mosquitto"]["ports"] == ["0.0.0.0:1883:1883", "0.0.0.0:9001:9001"]
    assert opened["server"]["ports"] == ["0.0.0.0:8080:8080"]
    assert broker["command"] == ["sh", "/playbach/mosquitto.sh"]
    assert broker["volumes"] == ["./docker/mosquitto.sh:/playbach/mosquitto.sh:ro"]
    for name, service in services.items():
        assert {key: service["environment"][key] for key in CREDENTIALS} == CREDENTIALS, name
    assert "allow_anonymous true" not in (ROOT / "docker-compose.yml").read_text()
    example = (ROOT / "docker" / "example.env").read_text()
    assert re.search(r"^PLAYBACH_BROKER_PASSWORD=$", example, re.M)  # no shared default


@pytest.fixture
def broker_folder():
    """A folder as the image's /mosquitto/config: mosquitto, once it drops root for its own
    user, must reach the password file (pytest's tmp_path is private to root)."""
    folder = tempfile.mkdtemp(prefix="playbach-mosquitto-")
    os.chmod(folder, 0o711)
    yield Path(folder)
    shutil.rmtree(folder)


def run_script(folder, port, credentials, ws_port=0):
    environment = dict(os.environ, MOSQUITTO_DIR=str(folder), MOSQUITTO_PORT=str(port),
                       MOSQUITTO_WS_PORT=str(ws_port), MOSQUITTO_BIND="127.0.0.1", **credentials)
    return subprocess.Popen(["sh", str(SCRIPT)], env=environment, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_the_compose_broker_admits_its_user_alone(broker_folder):
    port = free_port()
    mosquitto = run_script(broker_folder, port, CREDENTIALS)
    try:
        wait_for_port("127.0.0.1", port, lambda: mosquitto.poll() is None, "mosquitto.sh")
        assert connack(port, *CREDENTIALS.values()) == "Success"
        assert connack(port) == "Not authorized"
        assert connack(port, "playbach", "wrong") == "Not authorized"
    finally:
        mosquitto.kill()
        log = mosquitto.communicate(timeout=10)[0]
    assert "mosquitto.sh: admitting user playbach alone, on port %d" % port in log
    passwords = (broker_folder / "playbach.passwd").read_text()
    assert passwords.startswith("playbach:$") and "Fuge" not in passwords  # hashed
    assert (broker_folder / "playbach.passwd").stat().st_mode & 0o077 == 0


def test_the_compose_broker_will_not_start_without_a_password(broker_folder):
    result = run_script(broker_folder, free_port(), {"PLAYBACH_BROKER_USERNAME": "playbach"})
    log = result.communicate(timeout=10)[0]
    assert result.returncode == 1
    assert log.strip() == ("mosquitto.sh: set PLAYBACH_BROKER_USERNAME and "
                           "PLAYBACH_BROKER_PASSWORD (in .env beside docker-compose.yml; see "
                           "the README, Docker)")
    assert not list(broker_folder.iterdir())
