"""The model that ships in models/: it loads with the interpreter alone, gives valid
distributions over its own vocabulary, and makes music from its own primers."""
import json
from pathlib import Path

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
    from playbach.model.vocabulary import Vocabulary, columns

    vocabulary = Vocabulary.from_card(CARD)
    start = vocabulary.speller().start()
    path = MODELS / CARD["files"][kind][precision]
    if kind == "step":
        model = StepModel(path)
        log_probs, state = model.step(start, model.zero_state())
        assert set(state) == {"h0", "c0", "h1", "c1"}
    else:
        model = WindowModel(path)
        assert model.window == CARD["hyperparameters"]["window"]
        log_probs = model.predict(columns([start]))
    sizes = {"symbol": len(vocabulary.symbols), "duration": len(vocabulary.closes),
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


def test_the_shipped_card_records_the_shipped_files():
    from playbach.model.card import check_file

    for variants in CARD["files"].values():
        for name in variants.values():
            check_file(CARD, MODELS / name)  # raises if the file is not the card's


DAMAGES = {
    "flipped": lambda data: bytes(byte ^ 0xFF if i % 50_000 == 7 else byte
                                  for i, byte in enumerate(data)),  # weights: a valid flatbuffer
    "truncated": lambda data: data[:len(data) // 2],
    "empty": lambda data: b"",
    "not a flatbuffer": lambda data: b"playbach? no, a text file\n" * 100,
}


@pytest.mark.parametrize("damage", ["truncated", "empty", "not a flatbuffer"])
def test_the_interpreter_names_a_damaged_file(tmp_path, damage):
    from playbach.model.card import ModelError
    from playbach.model.runtime import StepModel, WindowModel

    path = tmp_path / "damaged.tflite"
    path.write_bytes(DAMAGES[damage]((MODELS / CARD["files"]["step"]["int8"]).read_bytes()))
    for kind in (StepModel, WindowModel):
        with pytest.raises(ModelError, match="^%s: not a TFLite model" % path):
            kind(path)
    window = MODELS / CARD["files"]["window"]["int8"]  # a TFLite model, of the other kind
    with pytest.raises(ModelError,
                       match="not a playbach step model \\(it reads no symbol, h0, c0\\)$"):
        StepModel(window)


def shipped_copy(folder, damage=None, card_text=None):
    """The shipped model's card and files copied into ``folder``, its step int8 model damaged
    by ``damage`` or its card replaced by ``card_text``; returns the card's path."""
    for path in [SHIPPED_CARD] + [MODELS / name for variants in CARD["files"].values()
                                  for name in variants.values()]:
        (folder / path.name).write_bytes(path.read_bytes())
    if damage:
        step = folder / CARD["files"]["step"]["int8"]
        step.write_bytes(DAMAGES[damage](step.read_bytes()))
    if card_text is not None:
        (folder / SHIPPED_CARD.name).write_text(card_text)
    return folder / SHIPPED_CARD.name


def command(name, card_path):
    """The command line of ``playbach NAME`` opening the step int8 model beside ``card_path``."""
    step = card_path.parent / CARD["files"]["step"]["int8"]
    return {"generate": ["generate", "--model", step, "--notes", 5,
                         "--out", card_path.parent / "x.mid"],
            "serve": ["serve", "--model", step, "--notes", 5, "--embedded-port", 1],
            "eval": ["eval", step, "--corpus", card_path.parent / "no-corpus"],
            "bench": ["bench", card_path, "--stream-events", 0]}[name]


def assert_one_line_naming(result, name, *words):
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("playbach %s: " % name), result.stderr
    for word in words:
        assert str(word) in lines[0], lines[0]


@pytest.mark.parametrize("name, damage", [("generate", "flipped"), ("serve", "truncated"),
                                          ("eval", "empty"), ("bench", "not a flatbuffer"),
                                          ("eval", "flipped"), ("bench", "flipped")])
def test_every_command_stops_at_start_with_one_line_on_a_damaged_model(tmp_path, name, damage):
    card_path = shipped_copy(tmp_path, damage)
    step = tmp_path / CARD["files"]["step"]["int8"]
    result = playbach(*command(name, card_path), timeout=60)
    # The card's SHA-256 finds any damage, even a flip the interpreter would run with.
    assert_one_line_naming(result, name, step, "damaged")


@pytest.mark.parametrize("name", ["generate", "serve", "eval", "bench"])
@pytest.mark.parametrize("card_text, reason", [
    ('{"format": "playbach-model/2", "name": ', "not JSON"),
    ('{"format": "playbach-model/1", "name": "old"}', "not a playbach model card"),
    ('{"format": "playbach-model/2", "name": "half"}', "not a whole model card")])
def test_every_command_stops_at_start_with_one_line_on_a_broken_card(tmp_path, name, card_text,
                                                                       reason):
    card_path = shipped_copy(tmp_path, card_text=card_text)
    result = playbach(*command(name, card_path), timeout=60)
    assert_one_line_naming(result, name, card_path, reason)


def test_the_bach_corpus_exports_one_score_per_chorale():
    # music21 has three chorales in two encodings that differ (tempo, a note); both used to be
    # exported to one NAME.mid by two workers at once, so the corpus, and the n-gram baselines
    # trained on it, depended on which finished last.
    from music21 import corpus

    from playbach.corpus.bach import chorale_scores

    paths = [Path("/c/bwv366.krn"), Path("/c/bwv366.mxl"), Path("/c/bwv1.6.mxl"),
             Path("/c/bwv1.6.rntxt"), Path("/c/bwv2.6.krn")]
    assert chorale_scores(paths) == [Path("/c/bwv1.6.mxl"), Path("/c/bwv2.6.krn"),
                                     Path("/c/bwv366.mxl")]
    chosen = chorale_scores(corpus.getComposer("bach"))
    assert len({path.stem for path in chosen}) == len(chosen) >= 400
    assert {path.suffix for path in chosen if path.stem in ("bwv277", "bwv281", "bwv366")} == {
        ".mxl"}


def test_check_card_is_exact_where_the_arithmetic_is_the_cards_and_tolerant_elsewhere():
    from playbach.model.card import compare

    stored = dict(CARD["evaluation"]["step-int8"], arithmetic="this machine's")
    report = json.loads(json.dumps(stored))
    assert compare(stored, report) == ([], None)
    report["model_scores"]["pitch"]["top1"] += 0.0003  # one ranking of 3,540 another way
    report["music"]["generated"]["in_key"] = 0.61  # another sampling path
    differences, note = compare(stored, report)  # the same arithmetic: both are regressions
    assert differences == ["model_scores.pitch.top1: %r, card says %r" % (
        report["model_scores"]["pitch"]["top1"], stored["model_scores"]["pitch"]["top1"]),
        "music.generated.in_key: 0.61, card says %r" % stored["music"]["generated"]["in_key"]]
    assert note is None
    report["arithmetic"] = "another machine"
    differences, note = compare(stored, report, 0.002)
    generated = sum(len(value) if isinstance(value, dict) else 1 for name in report["music"]
                    if name.startswith("generated") for value in report["music"][name].values())
    assert differences == [] and "generated music (%d figures) not compared" % generated in note
    report["model_scores"]["event"]["nll_per_event"] += 0.01  # 0.2% of 4.3 is 0.0086
    report["baselines"]["pitch"]["token_1"]["nll_per_event"] += 0.0001  # no interpreter: exact
    differences, _ = compare(stored, report, 0.002)
    assert [line.split(":")[0] for line in differences] == [
        "model_scores.event.nll_per_event", "baselines.pitch.token_1.nll_per_event"]
