"""The model pipeline: vocabulary, split, windows, then a tiny model trained, exported to every
TFLite variant and evaluated through the same code as the shipped one."""
import json
import subprocess
import sys

import numpy as np
import pytest

import playbach_protocol as protocol
from playbach.music import Voicer
from playbach.corpus import store
from playbach.corpus.midi import Piece
from playbach.engine import generator
from playbach.model import dataset
from playbach.model.card import card_for, load_card
from playbach.model.vocabulary import (CONTINUES, END, HOLD, IGNORED, NONE, PAD, PHRASE, PIECE,
                                       SPELLINGS, Step, Vocabulary, columns, key_input,
                                       sequences, transpose)
from conftest import playbach


def events(text):
    return [protocol.parse_event(t) for t in text.split()]


def piece(text, phrase_ends=()):
    return Piece("p", events(text), 120, "4/4", None, phrase_ends)


def same_steps(one, other):
    """Whether two :class:`Step` records of arrays hold the same values."""
    return all(np.array_equal(a, b) for a, b in zip(one, other, strict=True))


def test_vocabulary_factors_chords_into_notes_and_an_end():
    vocabulary = Vocabulary.default()
    assert len(vocabulary.symbols) == 130
    assert vocabulary.symbols[:2] == [PAD, END] and vocabulary.pad == 0
    inputs, targets = vocabulary.encode_piece(piece("A2.G#3:1/2:mf R:1 B2:2:ff", (0,)))
    symbols, durations, dynamics = inputs.symbol, inputs.duration, inputs.dynamic
    voicings = inputs.voicing
    a2, gs3, b2 = (vocabulary.note_symbol(n) for n in (45, 56, 47))
    end = vocabulary.end
    # The stream is "<end> A2 G#3 <end> <end> B2 <end>": inputs all but the last symbol.
    assert list(symbols) == [end, a2, gs3, end, end, b2]
    assert list(durations) == [NONE, NONE, NONE, 1 + protocol.DURATIONS.index("1/2"),
                               1 + protocol.DURATIONS.index("1"), NONE]
    assert list(dynamics) == [NONE, NONE, NONE, 1 + protocol.DYNAMICS.index("mf"), NONE, NONE]
    assert list(targets["symbol"]) == [a2, gs3, end, end, b2, end]
    # Duration and dynamic are scored where the next symbol ends an event; a rest has no dynamic.
    # The duration head's classes are (form, duration): the first event ends a phrase, the
    # last the piece.
    assert vocabulary.forms == [CONTINUES, PHRASE, PIECE]
    assert list(targets["duration"]) == [IGNORED, IGNORED, vocabulary.close("1/2", PHRASE),
                                         vocabulary.close("1"), IGNORED,
                                         vocabulary.close("2", PIECE)]
    assert vocabulary.closes[vocabulary.close("2", PIECE)] == (PIECE, "2")
    assert vocabulary.close("1/2", PHRASE) == len(protocol.DURATIONS) + 6
    assert list(inputs.form) == [NONE, NONE, NONE, 2, 1, NONE]  # form index + 1 on <end>
    assert list(targets["dynamic"]) == [IGNORED, IGNORED, protocol.DYNAMICS.index("mf"), IGNORED,
                                IGNORED, protocol.DYNAMICS.index("ff")]
    # Each step reads what the voices hold before the event it spells, never the event itself:
    # A2 and G#3 are held once their <end> is read; the rest silences them.
    silent = [vocabulary.pad] * len(protocol.VOICES)
    assert voicings.tolist()[:3] == [silent] * 3
    assert sorted(voicings[3]) == [vocabulary.pad] * 2 + [a2, gs3]
    assert voicings.tolist()[4:] == [silent] * 2


def test_the_speller_voices_every_step_as_the_shared_voicer_and_carries_on_from_its_memory():
    vocabulary = Vocabulary.default()
    played = events("C3.G3.E4.C5:1:mf D3:1:mf B2.G4:1:mf")
    inputs, _ = vocabulary.encode_piece(Piece("p", played, 120, "4/4"))
    voicer, expected = Voicer(), []
    for notes, _, _ in played:  # one row per symbol read before the event: <end> and notes
        expected += [[vocabulary.pad if note is None else vocabulary.note_symbol(note)
                      for note in voicer.held]] * (len(notes) + 1)
        voicer.step(notes)
    assert inputs.voicing.tolist() == expected
    assert expected[5] == [vocabulary.note_symbol(n) for n in (48, 55, 64, 72)]
    # D3 moves the bass; the other voices hold.
    assert expected[7] == [vocabulary.note_symbol(50)] + expected[5][1:]
    # The steps are the same, spelt one by one as the generator spells them.
    speller = vocabulary.speller()
    steps = [speller.start()] + speller.event(played[0])
    memory = speller.memory()
    rest = [step for event in played[1:] for step in speller.event(event)]
    assert same_steps(columns(steps + rest[:-1]), inputs)
    speller.start()
    assert speller.note(vocabulary.note_symbol(60)).voicing == (vocabulary.pad,) * len(
        protocol.VOICES)
    speller.recall(memory)
    assert [step for event in played[1:] for step in speller.event(event)] == rest


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_every_spelling_writes_every_chord_and_reads_back_its_notes_and_voices(spelling):
    vocabulary = Vocabulary.default(spelling)
    # Bach's parts cross (the alto below the tenor), meet in a unison, rest; then five notes,
    # one beyond the voices.
    parted = Piece("p", events("C3.G3.E4.C5:1:f A3:1:f B2.G3.G4:2:f R:1 C3.E3.G3.C4.E4:4:f"),
                   120, "3/4", [((0,), (2,), (1,), (3,)), ((2,),), ((0,), (1, 2), (3,)), (),
                                ((0,), (), (1,), (2,), (3,))], (2,))
    for piece in (parted, parted._replace(parts=None),
                  Piece("big", [(tuple(range(0, 128, 7)), "1", "f")], 120, "4/4")):
        steps = vocabulary.speller().spell(piece)
        reader = vocabulary.speller()  # reads the symbols back one by one, as the generator
        reader.start(piece.time_signature)
        position = 1
        for index, (notes, duration, dynamic) in enumerate(piece.events):
            while steps[position].symbol != vocabulary.end:
                assert reader.allowed(len(notes))[steps[position].symbol]
                reader.note(steps[position].symbol)
                position += 1
            assert reader.allowed(len(notes))[vocabulary.end]
            reader.end(duration, dynamic, vocabulary.form_of(piece, index))
            position += 1
            assert reader.notes == notes
            voices = [voice for singers in reader.parts for voice in singers]
            assert len(voices) == len(set(voices)) and len(reader.parts) == len(notes)
            if piece.parts is not None and spelling != "ascending":
                assert reader.parts == piece.parts[index]  # Bach's voices, crossing and all
        assert position == len(steps)
    names = lambda piece: [vocabulary.symbols[step.symbol] for step in
                           vocabulary.speller().spell(piece)[1:]]
    spelt = {"ascending": ["C3", "G3", "E4", "C5", END, "A3", END],
             "voices": ["C3", "E4", "G3", "C5", END, HOLD, HOLD, "A3", HOLD, END],
             "parts": ["C3@bass", "E4@tenor", "G3@alto", "C5@soprano", END, "A3@alto", END]}
    assert names(parted._replace(events=parted.events[:2]))[:len(spelt[spelling])] == spelt[
        spelling]
    unison = names(parted)[len(spelt[spelling]):]
    assert unison[:{"ascending": 4, "voices": 5, "parts": 5}[spelling]] == {
        "ascending": ["B2", "G3", "G4", END], "voices": ["B2", "G3", "G3", "G4", END],
        "parts": ["B2@bass", "G3@tenor", "G3@alto", "G4@soprano", END]}[spelling]
    # The grammar allows nothing else: voices in order, one note each, an event of a note.
    speller = vocabulary.speller()
    speller.start()
    if spelling == "voices":
        for _ in range(3):
            speller.note(vocabulary.hold)
        assert not speller.allowed(4)[vocabulary.hold] and not speller.allowed(4)[vocabulary.end]
    if spelling == "parts":
        speller.note(vocabulary.note_symbol(60, 2))
        allowed = speller.allowed(4)
        assert not allowed[vocabulary.note_symbol(50, 1)] and allowed[vocabulary.note_symbol(
            50, 3)] and allowed[vocabulary.end]


def test_each_step_reads_where_the_event_falls_and_the_key_of_the_opening():
    vocabulary = Vocabulary.default("voices")
    # 3/4; the first phrase ends on event 2 (a fermata), in G major.
    played = Piece("p", events("G2.B3.D4.G4:1:f D3.A3.F#4.A4:1:f G2.B3.D4.G4:3:f "
                               "C3.C4.E4.G4:1/2:f D3:1/2:f"), 120, "3/4", None, (2,))
    steps = vocabulary.speller().spell(played)
    ends = [step for step in steps if step.symbol == vocabulary.end]  # the start, then each end
    # Onsets 0, 1, 2, 5, 5.5 beats: beats in the bar 0, 1, 2, 2, 2.5, in twelfths (+ 1).
    assert [step.beat for step in ends] == [1, 13, 25, 25, 31, 1 + 12 * 0]  # 6 wraps to 0
    assert [step.phrase for step in ends] == [1, 2, 3, 1, 2, 1]  # the piece's end ends one
    assert [step.phrases for step in ends] == [1, 1, 1, 2, 2, 3]
    assert [step.key for step in ends] == [NONE] * 3 + [key_input((7, "major"))] * 3
    assert all(step.beat == ends[0].beat for step in steps[1:5])  # an event's steps share it


def test_transpose_refuses_to_leave_the_midi_range():
    assert transpose(events("C4:1:mf R:1"), 2) == events("D4:1:mf R:1")
    assert transpose(events("G9:1:mf"), 1) is None
    assert transpose(events("C-1:1:mf"), -1) is None


def test_split_is_by_piece_deterministic_and_disjoint():
    pieces = [Piece("p%03d" % i, events("C4:1:mf"), 120, "4/4") for i in range(100)]
    split = dataset.split_by_piece(pieces, seed=0)
    assert [len(split[p]) for p in ("train", "validation", "test")] == [80, 10, 10]
    names = [set(p.name for p in split[part]) for part in split]
    assert not (names[0] & names[1] or names[0] & names[2] or names[1] & names[2])
    again = dataset.split_by_piece(list(reversed(pieces)), seed=0)
    assert [p.name for p in again["test"]] == [p.name for p in split["test"]]
    other = dataset.split_by_piece(pieces, seed=1)
    assert [p.name for p in other["test"]] != [p.name for p in split["test"]]
    with pytest.raises(ValueError, match="lacks 1 pieces of the model's split"):
        dataset.pieces_by_name(pieces, ["p001", "nowhere"])


def test_windows_cover_every_target_and_pad_the_end():
    vocabulary = Vocabulary.default()
    piece = Piece("p", events(" ".join(["C4.E4:1/2:mf"] * 10)), 120, "4/4")  # 31 steps
    inputs, targets = dataset.windows(dataset.encode([piece], vocabulary), length=12, stride=6)
    symbols, voicings, targets = inputs.symbol, inputs.voicing, targets["symbol"]
    encoded = dataset.encode([piece], vocabulary)[0][0]
    stream, stream_voicings = encoded.symbol, encoded.voicing
    assert len(stream) == 30
    assert symbols.shape == (4, 12)  # starts 0, 6, 12, and 18 to reach the end
    assert voicings.shape == (4, 12, len(protocol.VOICES))
    for row, start in enumerate((0, 6, 12, 18)):
        assert list(symbols[row]) == list(stream[start:start + 12])
        assert (voicings[row] == stream_voicings[start:start + 12]).all()
    assert (targets >= 0).all()
    short = Piece("s", events("C4:1:mf"), 120, "4/4")
    inputs, targets = dataset.windows(dataset.encode([short], vocabulary), length=12, stride=6)
    symbols, voicings, targets = inputs.symbol, inputs.voicing, targets["symbol"]
    assert symbols.shape == (1, 12)
    assert list(symbols[0, 2:]) == [vocabulary.pad] * 10
    assert (voicings[0, 2:] == vocabulary.pad).all()
    assert list(targets[0, 2:]) == [IGNORED] * 10


def test_a_piece_ends_anywhere_in_its_last_window_not_on_its_last_step():
    vocabulary = Vocabulary.default()
    ends = set()
    for count in range(6, 24):  # 12 to 46 steps
        piece = Piece("p", events(" ".join(["C4:1/2:mf"] * count)), 120, "4/4")
        encoded = dataset.encode([piece], vocabulary)
        size = len(encoded[0][0].symbol)
        inputs, targets = dataset.windows(encoded, length=12, stride=6)
        last = 6 * (len(inputs.symbol) - 1)  # every window starts on the stride
        assert last + 6 < size <= last + 12  # the end falls in the last window's second half
        steps = (targets["symbol"] != IGNORED).sum(axis=1)
        assert list(steps) == [min(12, size - 6 * row) for row in range(len(steps))]
        ends.add(size - last)
    assert ends == {8, 10, 12}  # not always on its last step


def test_tiny_model_card_records_split_hyperparameters_and_files(tiny_model, bach_corpus):
    card = load_card(tiny_model)
    _, summary = bach_corpus
    split = card["split"]
    assert len(split["train"]) + len(split["validation"]) + len(split["test"]) == \
        summary["pieces"]
    assert not set(split["train"]) & set(split["test"])
    assert card["hyperparameters"]["lstm_units"] == [48, 48]
    assert card["hyperparameters"]["window"] == 40
    assert card["training"]["epochs"] == 1
    assert 3 <= card["hyperparameters"]["max_notes"] <= 6
    assert "Bach chorales bundled with music21" in card["corpus"]["description"]
    assert "non-commercial" in card["corpus"]["licence"]
    primers = store.read_pieces(tiny_model.parent / card["primers"])
    assert primers and {p.name for p in primers} <= set(split["test"])
    assert all(0 < len(p.events) <= dataset.PRIMER_EVENTS for p in primers)
    assert set(card["files"]) == {"window", "step"}
    for kind in ("window", "step"):
        assert set(card["files"][kind]) == {"float32", "float16", "int8"}
        for name in card["files"][kind].values():
            assert (tiny_model.parent / name).stat().st_size > 10_000
            assert card_for(tiny_model.parent / name)[0] == tiny_model


def held_out_windows(card_path, corpus, count=3):
    """Full windows (length = the model's window) from the card's held-out pieces."""
    card = load_card(card_path)
    vocabulary = Vocabulary.from_card(card)
    pieces = dataset.pieces_by_name(store.load_pieces(corpus),
                                    card["split"]["validation"] + card["split"]["test"])
    window = card["hyperparameters"]["window"]
    inputs, _ = dataset.windows(dataset.encode(pieces, vocabulary), window, window)
    full = (inputs.symbol != vocabulary.pad).all(axis=1)
    return Step(*(values[full][:count] for values in inputs))


def test_exported_models_match_keras(tiny_model, bach_corpus):
    from playbach.model.network import read_inputs
    from playbach.model.runtime import StepModel, WindowModel
    from playbach.model.train import load_model

    model, card = load_model(tiny_model)
    windows = held_out_windows(tiny_model, bach_corpus[0])
    assert len(windows.symbol) >= 3 and (windows.voicing != 0).any()
    expected = model(sequences(windows, read_inputs(card["hyperparameters"])))
    expected = {head: np.asarray(values)[:, -1] for head, values in expected.items()}
    folder = tiny_model.parent
    for precision, tolerance in (("float32", 1e-4), ("float16", 0.02), ("int8", 0.1)):
        window = WindowModel(folder / card["files"]["window"][precision])
        step = StepModel(folder / card["files"]["step"][precision])
        for row in range(len(windows.symbol)):
            from_window = window.predict(Step(*(values[row] for values in windows)))
            state = step.zero_state()
            for i in range(len(windows.symbol[row])):
                from_step, state = step.step(Step(*(values[row, i] for values in windows)),
                                             state)
            for head in ("symbol", "duration", "dynamic"):
                assert np.abs(from_window[head] - expected[head][row]).max() < tolerance
                assert np.abs(from_step[head] - expected[head][row]).max() < tolerance
                assert np.exp(from_step[head]).sum() == pytest.approx(1.0, abs=1e-3)
            if precision == "float32":  # the step model reproduces the window exactly
                assert np.abs(from_step["symbol"] - from_window["symbol"]).max() < 1e-4


def test_the_readers_feed_the_models_what_training_encoded(tiny_model, bach_corpus):
    from playbach.model.network import read_inputs
    from playbach.model.runtime import StepModel, WindowModel, reader_for
    from playbach.model.train import load_model

    model, card = load_model(tiny_model)
    vocabulary = Vocabulary.from_card(card)
    piece = dataset.pieces_by_name(store.load_pieces(bach_corpus[0]), card["split"]["test"])[0]
    cut = piece._replace(events=piece.events[:8])
    inputs, _ = vocabulary.encode_piece(cut)
    expected = np.asarray(model(sequences(Step(*(values[np.newaxis] for values in inputs)),
                                          read_inputs(card["hyperparameters"])))["symbol"])
    speller = vocabulary.speller()  # as the generator and eval spell the events
    steps = [speller.start(cut.time_signature)] + [
        step for index, event in enumerate(cut.events) for step in speller.event(
            event, vocabulary.form_of(cut, index), cut.parts[index] if cut.parts else None)][:-1]
    assert same_steps(columns(steps), inputs)
    # The window model from a history shorter than its window: its left padding is skipped.
    window = WindowModel(tiny_model.parent / card["files"]["window"]["float32"])
    assert len(steps) < window.window
    window_reader = reader_for(window)
    from_window = [window_reader.read(step)["symbol"] for step in steps]
    reader = reader_for(StepModel(tiny_model.parent / card["files"]["step"]["float32"]))
    outputs = [reader.read(step)["symbol"] for step in steps]
    for position in (0, len(steps) // 2, -1):
        assert np.abs(outputs[position] - expected[0, position]).max() < 1e-4
        assert np.abs(from_window[position] - expected[0, position]).max() < 1e-4
    # Carried on from a memory taken in the middle of an event (after one of its notes), it
    # reads the rest the same.
    middle = next(i for i in range(len(steps) // 2, len(steps))
                  if steps[i - 1].symbol != vocabulary.end)
    for one in (reader, window_reader):
        one.reset()
        for step in steps[:middle]:
            one.read(step)
        memory = one.memory()
        one.reset()
        one.recall(memory)
        again = [one.read(step)["symbol"] for step in steps[middle:]]
        assert np.abs(np.array(again) - np.array(outputs[middle:])).max() < 1e-4


def test_eval_reports_model_and_baselines_on_the_test_split(tiny_model, bach_corpus):
    card = load_card(tiny_model)
    result = playbach("eval", tiny_model.parent / card["files"]["step"]["int8"],
                      "--corpus", bach_corpus[0], "--samples", "1", "--cap", "30", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["test_pieces"] == len(card["split"]["test"])
    scores = report["model_scores"]
    for head in ("pitch", "duration", "dynamic", "event"):
        assert 0 < scores[head]["nll_per_event"] < 50
    assert scores["event"]["nll_per_event"] > scores["pitch"]["nll_per_event"]
    assert 0 <= scores["pitch"]["top1"] <= scores["pitch"]["top5"] <= 1
    assert set(report["baselines"]["pitch"]) >= {"token_1", "token_5", "symbol_10"}
    unigram = report["baselines"]["pitch"]["token_1"]["nll_per_event"]
    assert report["baselines"]["pitch"]["token_3"]["nll_per_event"] < unigram
    # The music check: a piece from each test piece's opening, by the model and the n-gram.
    music = report["music"]
    assert music["openings"] == len(card["split"]["test"]) and music["samples"] == 1
    for name in ("generated", "ngram", "held_out_bach"):
        figures = music[name]
        assert figures["pieces"] == len(card["split"]["test"])
        assert 0 <= figures["parallel_fifths_octaves"] <= 1 and figures["four_note_pairs"] >= 0
        assert 0 < figures["in_key"] <= 1 and 0 <= figures["tonic_end"] <= figures["ended"]
        assert sum(figures["duration_shares"].values()) == pytest.approx(1, abs=1e-3)
    assert music["held_out_bach"]["ended"] == 1 and music["held_out_bach"]["in_key"] > 0.8
    assert music["held_out_bach"]["four_note_pairs"] > 10  # 3 test chorales after their openings
    for name in ("generated", "ngram"):
        assert music[name]["longest_repeat"] <= 4 and 0 <= music[name]["duration_tv"] <= 1
    # Sampled as generate and serve sample by default, and once at the model's own odds.
    assert music["temperature"] == generator.TEMPERATURE != 1
    assert music["generated_temperature_1"]["pieces"] == len(card["split"]["test"])


def test_eval_runs_a_window_model_too(tiny_model, bach_corpus):
    card = load_card(tiny_model)
    result = playbach("eval", tiny_model.parent / card["files"]["window"]["float32"],
                      "--corpus", bach_corpus[0], "--samples", "1", "--cap", "5",
                      "--no-baselines")
    assert result.returncode == 0, result.stderr
    assert "pitch" in result.stdout and "nll_per_event" in result.stdout


def test_runtime_never_imports_tensorflow(tiny_model):
    card = load_card(tiny_model)
    step = tiny_model.parent / card["files"]["step"]["int8"]
    script = (
        "import sys\n"
        "from playbach.model.card import max_notes\n"
        "from playbach.model.runtime import open_model\n"
        "from playbach.engine.generator import Generator\n"
        "card, vocabulary, model = open_model(%r)\n"
        "generator = Generator(model, vocabulary, seed=1, max_notes=max_notes(card))\n"
        "print([generator.next_event() for _ in range(5)])\n"
        "assert not [m for m in sys.modules if m.startswith(('tensorflow', 'keras'))], "
        "sorted(m for m in sys.modules if m.startswith(('tensorflow', 'keras')))\n" % str(step))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr


def test_a_time_limit_fits_the_plan_at_each_epochs_pace_and_still_anneals_at_its_end():
    import keras

    from playbach.model.train import AnnealedRate, TimeLimit

    rate = AnnealedRate(0.003, 0.001, 5e-5, hold=8 * 5, anneal=2 * 5)  # 10 epochs of 5 updates
    now, plans, rates = [0.0], [], []
    # The first epoch takes 30 s (tracing), the others 15 s: two minutes hold 4 epochs at the
    # first pace, then 7; once the annealing has begun the plan stays.
    clock = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: now.__setitem__(0, now[0] + (30 if epoch == 0 else 15)))
    limit = TimeLimit(2, rate, 5, 2, clock=lambda: now[0])
    plan = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: plans.append(limit.last))
    record = keras.callbacks.LambdaCallback(on_train_batch_begin=lambda batch, logs: rates.append(
        float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))))
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(rate), loss="mse")
    history = model.fit(np.zeros((20, 3)), np.zeros(20), batch_size=4, epochs=10, verbose=0,
                        callbacks=[clock, limit, plan, record])
    assert plans == [4] + [7] * 6
    assert len(history.history["loss"]) == 7
    assert rates[:25] == [pytest.approx(0.003)] * 25  # five epochs at the constant rate
    assert rates[25] == pytest.approx(0.001)  # then the two last anneal
    assert rates[25:] == sorted(rates[25:], reverse=True) and rates[-1] < 0.0002
    # A plan annealing from its first update is still cut: 18 s end it after the 30 s first.
    now[0] = 0.0
    short = AnnealedRate(0.003, 0.001, 5e-5, hold=0, anneal=2 * 5)
    model.compile(optimizer=keras.optimizers.Adam(short), loss="mse")
    history = model.fit(np.zeros((20, 3)), np.zeros(20), batch_size=4, epochs=2, verbose=0,
                        callbacks=[clock, TimeLimit(0.3, short, 5, 2, clock=lambda: now[0])])
    assert len(history.history["loss"]) == 1


def test_training_resumes_with_the_same_split_and_one_history(tiny_model, bach_corpus,
                                                              tmp_path):
    import shutil

    for path in tiny_model.parent.iterdir():
        shutil.copy(path, tmp_path / path.name)
    before = load_card(tmp_path / "tiny.json")
    result = playbach("train", bach_corpus[0], "--out", tmp_path, "--name", "tiny",
                      "--epochs", "1", "--resume", tmp_path / "tiny.json")
    assert result.returncode == 0, result.stderr
    after = load_card(tmp_path / "tiny.json")
    assert after["split"] == before["split"]
    assert after["hyperparameters"] == before["hyperparameters"]
    assert after["training"]["epochs"] == before["training"]["epochs"] + 1
    assert len(after["training"]["history"]["val_loss"]) == after["training"]["epochs"]
    assert after["commands"][0] == before["commands"][0]
    assert after["commands"][-1].endswith("--resume %s" % (tmp_path / "tiny.json"))


def test_key_ensemble_combines_the_model_read_in_other_keys(tiny_model, bach_corpus):
    from playbach.model.runtime import KeyEnsemble, StepModel, WindowModel, open_model

    card = load_card(tiny_model)
    vocabulary = Vocabulary.from_card(card)
    folder = tiny_model.parent
    step = StepModel(folder / card["files"]["step"]["float32"])
    assert open_model(step.path, [0])[2].__class__ is StepModel  # the written key: no wrapper
    shifts = (-1, 0, 2)
    ensemble = open_model(step.path, shifts)[2]
    assert isinstance(ensemble, KeyEnsemble) and ensemble.shifts == shifts
    steps = Step(*(values[0] for values in held_out_windows(tiny_model, bach_corpus[0], 1)))
    move = lambda symbol, shift: symbol if vocabulary.note(symbol) < 0 else vocabulary.note_symbol(
        vocabulary.note(int(symbol)) + shift, vocabulary.voice(symbol))
    move_key = lambda key, shift: key and 1 + (key - 1) // 12 * 12 + (key - 1 + shift) % 12
    sung = lambda note: vocabulary.note_symbol(note, 0)  # by the bass, in the parts spelling
    state, members = ensemble.zero_state(), [step.zero_state() for _ in shifts]
    for row in zip(*steps):
        read = Step(*row)
        combined, state = ensemble.step(read, state)
        outputs = []
        for i, shift in enumerate(shifts):  # by hand: move the notes, read, move back
            log_probs, members[i] = step.step(read._replace(
                symbol=move(read.symbol, shift), key=move_key(read.key, shift),
                voicing=[move(held, shift) for held in read.voicing]), members[i])
            outputs.append(log_probs)
    normalised, votes = lambda row: row - np.logaddexp.reduce(row), {}
    for head in ("duration", "dynamic"):  # the members' arithmetic mean (a mixture)
        expected = normalised(np.logaddexp.reduce([o[head] for o in outputs], axis=0))
        assert np.abs(combined[head] - expected).max() < 1e-5
    # The members' geometric mean, renormalised; a note a member cannot move back (127 read
    # 2 keys up) is left to the others.
    for note in (40, 60, 76, 127):
        moved = [sung(note + shift) if note + shift < 128 else None for shift in shifts]
        votes[note] = np.mean([o["symbol"][m] for o, m in zip(outputs, moved) if m is not None])
    votes["end"] = np.mean([o["symbol"][vocabulary.end] for o in outputs])
    for note in (60, 76, 127):  # ratios do not depend on the normalisation
        ratio = combined["symbol"][sung(note)] - combined["symbol"][sung(40)]
        assert ratio == pytest.approx(votes[note] - votes[40], abs=1e-4)
    assert combined["symbol"][vocabulary.end] - combined["symbol"][sung(40)] == pytest.approx(
        votes["end"] - votes[40], abs=1e-4)
    assert np.exp(combined["symbol"]).sum() == pytest.approx(1.0, abs=1e-4)
    window = KeyEnsemble(WindowModel(folder / card["files"]["window"]["float32"]), vocabulary,
                         shifts)
    from_window = window.predict(steps)
    assert np.abs(from_window["symbol"] - combined["symbol"]).max() < 1e-4


def test_eval_chooses_the_keys_on_validation_and_every_consumer_uses_them(
        tiny_model, bach_corpus, tmp_path):
    import shutil

    from playbach.engine.composer import Composer
    from playbach.model.runtime import WindowModel

    for path in tiny_model.parent.iterdir():
        shutil.copy(path, tmp_path / path.name)
    card = load_card(tmp_path / "tiny.json")
    step = tmp_path / card["files"]["step"]["int8"]
    result = playbach("eval", step, "--corpus", bach_corpus[0], "--choose-keys", "--beam", "2",
                      "--samples", "1", "--cap", "5", "--no-baselines", "--write-card",
                      "--json")
    assert result.returncode == 0, result.stderr
    card = load_card(tmp_path / "tiny.json")
    chosen = card["inference"]["keys"]
    scores = card["inference"]["validation_event_nll"]
    # The fewest keys within 0.001 nats of the lowest validation NLL: each key costs a step.
    assert len(scores) == 7 and scores["%+d..%+d" % (chosen[0], chosen[-1])] <= min(
        scores.values()) + 0.001
    tied = [name for name, nll in scores.items() if nll <= min(scores.values()) + 0.001]
    size = lambda name: 1 + int(name.split("..")[1]) - int(name.split("..")[0])
    assert len(chosen) == min(size(name) for name in tied)
    assert json.loads(result.stdout.splitlines()[-1])["keys"] == chosen
    assert card["evaluation"]["step-int8"]["keys"] == chosen
    assert card["commands"][-1].endswith("--write-card --json")
    assert Composer(step).generator.reader.model.shifts == tuple(chosen)
    # The window model rereads its window for every symbol: the written key, unless asked.
    window = tmp_path / card["files"]["window"]["int8"]
    assert type(Composer(window).generator.reader.model) is WindowModel
    assert Composer(window, keys=[-1, 0, 1]).generator.reader.model.shifts == (-1, 0, 1)
    other = [-1, 0, 1] if chosen != [-1, 0, 1] else [-2, -1, 0, 1, 2]  # beside the card's
    result = playbach("eval", step, "--corpus", bach_corpus[0], "--keys", *other, "--beam", "0",
                      "--samples", "0", "--write-card")
    assert result.returncode == 0, result.stderr
    name = "%+d..%+d" % (other[0], other[-1])
    assert "in keys %s" % name in result.stdout
    report = load_card(tmp_path / "tiny.json")["evaluation"]["step-int8-keys" + name]
    # The best symbol n-gram is read in the same keys too, and counts as a baseline.
    pitch = report["baselines"]["pitch"]
    keyed = [name for name in pitch if name.endswith("_keys%+d..%+d" % (other[0], other[-1]))]
    assert len(keyed) == 1 and keyed[0].startswith("symbol_")
    best = min(b["nll_per_event"] for b in pitch.values())
    assert report["pitch_nll_vs_best_ngram"] == pytest.approx(
        report["model_scores"]["pitch"]["nll_per_event"] / best - 1, abs=1e-4)


def write_tune(path, chords, ticks=240):
    """A MIDI file playing ``chords`` (tuples of MIDI notes, () a rest) a beat each."""
    import mido

    midi = mido.MidiFile(ticks_per_beat=ticks)
    track = mido.MidiTrack()
    midi.tracks.append(track)
    wait = 0
    for chord in chords:
        for i, note in enumerate(chord):
            track.append(mido.Message("note_on", note=note, velocity=90,
                                      time=wait if i == 0 else 0))
        if chord:
            wait = 0
        for i, note in enumerate(chord):
            track.append(mido.Message("note_off", note=note, time=ticks if i == 0 else 0))
        wait += 0 if chord else ticks
    midi.save(path)


@pytest.fixture(scope="module")
def foreign_corpus(tmp_path_factory):
    """Three tunes that are not the model's, tokenized by ``playbach corpus``."""
    folder = tmp_path_factory.mktemp("foreign")
    scale = [60, 62, 64, 65, 67, 69, 71, 72]
    write_tune(folder / "scale.mid", [(n,) for n in scale + scale[::-1]])
    write_tune(folder / "chords.mid", [(48, 64, 67), (53, 65, 69), (), (55, 62, 71), (48, 64, 72)]
               * 3)
    write_tune(folder / "fifths.mid", [(n, n + 7) for n in range(50, 70, 2)])
    result = playbach("corpus", folder, "--out", folder / "corpus", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["pieces"] == 3
    return folder / "corpus"


def test_eval_scores_every_piece_of_another_corpus_against_the_models_training_pieces(
        tiny_model, bach_corpus, foreign_corpus):
    card = load_card(tiny_model)
    step = tiny_model.parent / card["files"]["step"]["int8"]
    pieces = store.load_pieces(foreign_corpus)
    # The n-grams find the training pieces in the corpus the card names, unless told.
    assert card["corpus"]["folder"] == str(bach_corpus[0])
    result = playbach("eval", step, "--corpus", foreign_corpus, "--samples", 1, "--cap", 10,
                      "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["corpus"] == str(foreign_corpus) and report["test_pieces"] == 3
    assert report["test_events"] == sum(len(piece.events) for piece in pieces)
    assert report["train_corpus"] == str(bach_corpus[0])
    assert 0 < report["model_scores"]["pitch"]["nll_per_event"] < 50
    assert set(report["baselines"]["pitch"]) >= {"token_1", "symbol_16"}
    assert report["music"]["openings"] == 3 and "corpus" in report["music"]
    # The same n-grams as from the model's own corpus given by hand.
    again = playbach("eval", step, "--corpus", foreign_corpus, "--train-corpus", bach_corpus[0],
                     "--beam", 0, "--samples", 0)
    assert again.returncode == 0, again.stderr
    assert "on 3 pieces of %s, not the model's corpus" % foreign_corpus in again.stdout
    best = min(report["baselines"]["pitch"].items(), key=lambda item: item[1]["nll_per_event"])
    assert "%s, %.4f nats/event, trained on the model's training pieces from %s" % (
        best[0], best[1]["nll_per_event"], bach_corpus[0]) in again.stdout


def test_eval_says_what_it_lacks_on_another_corpus(tiny_model, bach_corpus, foreign_corpus,
                                                   tmp_path):
    card = load_card(tiny_model)
    step = tiny_model.parent / card["files"]["step"]["int8"]
    failures = {
        "holds no corpus": ["--train-corpus", tmp_path / "nowhere"],
        "lacks %d pieces of the model's split" % len(card["split"]["train"]): [
            "--train-corpus", foreign_corpus],
        "is not the model's corpus": ["--write-card"],
    }
    for reason, options in failures.items():
        result = playbach("eval", step, "--corpus", foreign_corpus, *options)
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        # After the model opened (LiteRT says so itself on stderr), one line says what is wrong.
        lines = [line for line in result.stderr.splitlines()
                 if not line.startswith("INFO: Created TensorFlow Lite")]
        assert len(lines) == 1 and lines[0].startswith("playbach eval: ") and reason in lines[0]
    # A corpus holding some of the model's test pieces is neither its own nor another.
    partial = tmp_path / "partial"
    pieces = store.load_pieces(bach_corpus[0])
    store.write_corpus(partial, dataset.pieces_by_name(pieces, card["split"]["test"][:1]), {}, {})
    result = playbach("eval", step, "--corpus", partial, "--no-baselines")
    assert result.returncode == 1 and "holds 1 of the %d test pieces" % len(
        card["split"]["test"]) in result.stderr
