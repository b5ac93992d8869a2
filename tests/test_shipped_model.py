"""The model that ships in models/: it loads with the interpreter alone, gives valid
distributions over its own vocabulary, and makes music from its own primers."""

import numpy as np
import pytest

from playbach.corpus import store
from playbach.model.card import MODELS, SHIPPED_CARD, load_card
from conftest import playbach

CARD = load_card(SHIPPED_CARD)


@pytest.mark.parametrize("kind, precision", [("step", "int8"), ("step", "float32"),
                                             ("window", "int8"), ("window", "float32")])
def test_shipped_models_give_distributions_over_the_shipped_vocabulary(kind, precision):
    from playbach.model.runtime import StepModel, WindowModel
    from playbach.model.vocabulary import NONE, Vocabulary, Voicing

    vocabulary = Vocabulary.from_card(CARD)
    silence = Voicing(vocabulary).read(vocabulary.end)
    path = MODELS / CARD["files"][kind][precision]
    if kind == "step":
        model = StepModel(path)
        log_probs, state = model.step(vocabulary.end, NONE, NONE, silence, model.zero_state())
        assert set(state) == {"h0", "c0", "h1", "c1"}
    else:
        model = WindowModel(path)
        assert model.window == CARD["hyperparameters"]["window"]
        log_probs = model.predict([vocabulary.end], [NONE], [NONE], [silence])
    sizes = {"symbol": len(vocabulary.symbols), "duration": len(vocabulary.durations),
             "dynamic": len(vocabulary.dynamics)}
    for head, size in sizes.items():
        assert log_probs[head].shape == (size,)
        assert np.exp(log_probs[head]).sum() == pytest.approx(1.0, abs=1e-3)
    # A piece starts with a note, not padding.
    assert int(np.argmax(log_probs["symbol"])) not in (vocabulary.pad, vocabulary.end)


def test_shipped_int8_models_are_small():
    for variants in CARD["files"].values():
        assert (MODELS / variants["int8"]).stat().st_size <= 2 * 1024 * 1024


def test_shipped_primers_are_held_out_openings():
    primers = store.read_pieces(MODELS / CARD["primers"])
    assert len(primers) >= 5
    assert {p.name for p in primers} <= set(CARD["split"]["test"])


def test_shipped_card_records_an_honest_evaluation():
    evaluation = CARD["evaluation"]["step-int8"]
    float_nll = CARD["evaluation"]["step-float32"]["model_scores"]["pitch"]["nll_per_event"]
    int8_nll = evaluation["model_scores"]["pitch"]["nll_per_event"]
    assert abs(int8_nll / float_nll - 1) < 0.01
    assert evaluation["test_pieces"] == len(CARD["split"]["test"])
    best = min(b["nll_per_event"] for b in evaluation["baselines"]["pitch"].values())
    assert evaluation["pitch_nll_vs_best_ngram"] == pytest.approx(int8_nll / best - 1, abs=1e-3)
    assert (MODELS / "playbach.md").read_text().count("step-int8") >= 1


def test_the_shipped_model_generates_with_its_own_primers(tmp_path):
    out = tmp_path / "shipped.mid"
    result = playbach("generate", "--notes", 50, "--seed", 1, "--out", out, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "primer " in result.stdout
    import mido
    notes = [m for m in mido.MidiFile(out) if m.type == "note_on" and m.velocity > 0]
    assert len(notes) >= 50
