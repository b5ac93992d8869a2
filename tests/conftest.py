"""Shared fixtures: a slice of the real Bach chorales, and a tiny model trained and exported
through the same code paths as the shipped one (real TensorFlow, real converter)."""
import json
import subprocess
import sys

import pytest

CHORALES = 30


def playbach(*args, timeout=900):
    """Run the playbach command line; return the completed process."""
    return subprocess.run([sys.executable, "-m", "playbach", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def bach_corpus(tmp_path_factory):
    """The first chorales of music21's corpus, tokenized by ``playbach corpus --bach``."""
    out = tmp_path_factory.mktemp("bach")
    result = playbach("corpus", "--bach", "--limit", CHORALES, "--out", out, "--json")
    assert result.returncode == 0, result.stderr
    return out, json.loads(result.stdout)


@pytest.fixture(scope="session")
def tiny_model(bach_corpus, tmp_path_factory):
    """A small model trained for one short epoch on the chorale slice, then exported."""
    corpus, _ = bach_corpus
    out = tmp_path_factory.mktemp("model")
    result = playbach("train", corpus, "--out", out, "--name", "tiny", "--epochs", "1",
                      "--units", "48", "48", "--context", "10")
    assert result.returncode == 0, result.stderr
    result = playbach("export", out / "tiny.json")
    assert result.returncode == 0, result.stderr
    return out / "tiny.json"
