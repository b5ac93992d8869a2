"""No unused imports or names, no undefined names, no syntax errors (ruff's pyflakes rules), no
line longer than the width pyproject.toml sets."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_finds_nothing():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--select", "F,E9,E501",
                             "server", "shared", "device", "tests"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
