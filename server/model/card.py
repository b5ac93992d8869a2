"""The model card: one JSON file that travels with the model.

It holds everything needed to use and judge the model: the vocabulary, the hyper-parameters, the
corpus and its split, training time, the exported files (paths relative to the card) and every
evaluation figure. ``models/playbach.json`` is the card of the model that ships.
"""
import json
import os
import shlex
import sys
from pathlib import Path

FORMAT = "playbach-model/2"  # 2: the network reads the voicing


def _models_folder():
    """``$PLAYBACH_MODELS``, else the repo's ``models/`` (an editable or source install), else
    ``models/`` in the working directory (an installed package, as in the Docker image)."""
    configured = os.environ.get("PLAYBACH_MODELS")
    if configured:
        return Path(configured)
    repo = Path(__file__).resolve().parents[2] / "models"
    return repo if repo.is_dir() else Path("models")


MODELS = _models_folder()
SHIPPED_CARD = MODELS / "playbach.json"


def shipped_model(kind="step", precision="int8"):
    """Path of the shipped ``.tflite`` model of ``kind`` (step, window) and ``precision``."""
    card = load_card(SHIPPED_CARD)
    return MODELS / card["files"][kind][precision]


def load_card(path):
    """Return the card at ``path``; ``ValueError`` if it is not a playbach model card."""
    path = Path(path)
    try:
        card = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ValueError("%s: cannot read the model card (%s)" % (path, error)) from None
    if not isinstance(card, dict) or card.get("format") != FORMAT:
        raise ValueError("%s: not a playbach model card (format %r, expected %r)"
                         % (path, isinstance(card, dict) and card.get("format"), FORMAT))
    return card


def save_card(path, card):
    """Write ``card`` to ``path`` as readable JSON."""
    Path(path).write_text(json.dumps(card, indent=1) + "\n")


def record_command(card):
    """Append the running ``playbach`` command line to the card's ``commands`` (how to
    reproduce it), once."""
    command = shlex.join(["playbach"] + sys.argv[1:])
    commands = card.setdefault("commands", [])
    if command not in commands:
        commands.append(command)


def card_for(model_path):
    """Return ``(card path, card)`` of a ``.tflite`` file, a weights file, or a card itself:
    the card is the ``.json`` whose ``files`` name it, in the same folder."""
    model_path = Path(model_path)
    if model_path.suffix == ".json":
        return model_path, load_card(model_path)
    for candidate in sorted(model_path.parent.glob("*.json")):
        try:
            card = load_card(candidate)
        except ValueError:
            continue
        if model_path.name in _file_names(card):
            return candidate, card
    raise ValueError("%s: no model card (.json) beside it names this file" % model_path)


def _file_names(card):
    names = [card.get("weights")]
    for variants in card.get("files", {}).values():
        names += list(variants.values())
    return names


def _dynamics_note(dynamics):
    if len(dynamics) == 1:
        return ("Every note of this corpus is played at one dynamic (`%s`), so the dynamic head "
                "has only learned that constant here; on a corpus with dynamics it learns them "
                "the same way, from its own head." % next(iter(dynamics)))
    return "Dynamics in the corpus: %s." % ", ".join("`%s` %d" % item for item in dynamics.items())


def render_markdown(card):
    """A short human-readable model card from the JSON one: every figure comes from it."""
    hyper, training = card["hyperparameters"], card["training"]
    lines = [
        "# Model card: %s" % card["name"], "",
        "Generated from `%s.json` by `playbach eval --write-card`; the JSON is the reference."
        % card["name"], "",
        "## What it is", "",
        "A next-event model of four-part Bach chorales. Each event (the notes that start at one "
        "onset) is read and predicted as its notes in ascending pitch and an end symbol (%d "
        "symbols, so no chord is ever unknown or cut), each step also reading what the four "
        "voices hold before the event it spells; the duration and dynamic of an event are "
        "predicted by their own heads when it ends." % len(card["vocabulary"]["symbols"]), "",
        "- layers: embeddings (symbol %d, duration %d, dynamic %d, voicing 4 x %d), LSTM %s, "
        "dropout %s"
        % (hyper["symbol_embedding"], hyper["duration_embedding"], hyper["dynamic_embedding"],
           hyper["voice_embedding"], " + ".join(map(str, hyper["lstm_units"])),
           hyper["dropout"]),
        "- parameters: %d" % training["parameters"],
        _keys_note(card.get("inference", {})),
        "- window model context: %d symbols (about %d events); training sequences of %d symbols"
        % (hyper["window"], hyper["context_events"], hyper.get("train_window", hyper["window"])),
        "- training: %d epochs (best: %d%s) in %d min on %s, batch %d, Adam at %s%s, 12-key "
        "transposition of the training pieces, early stopping on the validation symbol loss"
        % (training["epochs"], training["best_epoch"],
           "; within a %g-minute budget" % training["minutes"] if training.get("minutes")
           else "", round(training["seconds"] / 60), training.get("machine", "a 2-core CPU"),
           hyper["batch_size"], hyper["learning_rate"], _anneal_note(hyper, training)),
        "",
        "## Data", "",
        "%s. Split by piece with seed %d into %d / %d / %d pieces (train / validation / test); "
        "no window of a test piece is ever seen in training. %s"
        % (card["corpus"].get("description", "Corpus: " + card["corpus"]["folder"]),
           card["split"]["seed"], len(card["split"]["train"]), len(card["split"]["validation"]),
           len(card["split"]["test"]), card["corpus"].get("licence", "")), "",
        _dynamics_note(card["corpus"].get("dynamics", {})), "",
        "## Files", "",
        "| file | KB |", "| --- | --- |",
    ]
    lines += ["| `%s` | %d |" % item for item in card.get("sizes_kb", {}).items()]
    evaluations = card.get("evaluation", {})
    if evaluations:
        lines += ["", "## Evaluation on the held-out test pieces", "",
                  "NLL in nats per event (one onset); the pitch part sums its notes and end.", "",
                  "| model | pitch NLL | duration NLL | dynamic NLL | event NLL | pitch top-1 "
                  "| pitch top-5 | vs best n-gram | unrepresentable |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for name, report in evaluations.items():
            s = report["model_scores"]
            lines.append("| %s | %.3f | %.3f | %.3f | %.3f | %s | %s | %s | %s |" % (
                name, s["pitch"]["nll_per_event"], s["duration"]["nll_per_event"],
                s["dynamic"]["nll_per_event"], s["event"]["nll_per_event"],
                s["pitch"].get("top1", "-"), s["pitch"].get("top5", "-"),
                "%+.1f%%" % (100 * report["pitch_nll_vs_best_ngram"])
                if "pitch_nll_vs_best_ngram" in report else "-",
                "%.2f%%" % (100 * s["pitch"].get("unrepresentable", 0))))
        baselines = next((r["baselines"] for r in evaluations.values() if "baselines" in r), {})
        if baselines:
            lines += ["", "Interpolated Kneser-Ney baselines, trained on the same transposed "
                      "training pieces, scored on the same events:", "",
                      "| n-gram | NLL per event |", "| --- | --- |"]
            for head, models in baselines.items():
                lines += ["| %s %s | %.3f |" % (head, name, figures["nll_per_event"])
                          for name, figures in models.items()]
        music = next((r["music"] for r in evaluations.values() if "music" in r), None)
        if music:
            lines += ["", "Music check: %d events generated (seed %d) after the first %d events "
                      "of held-out `%s`, against the held-out chorales:" % (
                          music["generated"]["events"], music["seed"], music["primer_events"],
                          music["primer"]), "",
                      "| | pitch-class entropy (bits) | notes in the key's scale | notes in "
                      "the local key's scale | longest repeated event | rests |",
                      "| --- | --- | --- | --- | --- | --- |"]
            for name in ("generated", "held_out_bach"):
                m = music[name]
                lines.append("| %s | %.3f | %.3f | %.3f | %d | %.3f |" % (
                    name.replace("_", " "), m["pitch_class_entropy_bits"], m["in_scale"],
                    m["in_local_scale"], m["longest_repeat"], m["rests"]))
            lines += ["", "The key of a held-out piece is its own (Krumhansl-Kessler profiles); "
                      "of the generated music, the primer's; the local key is re-estimated for "
                      "every stretch of 32 events."]
    commands = card.get("commands", [])
    if commands:
        lines += ["", "## Reproduce", "", "```sh"] + commands + ["```"]
    return "\n".join(lines) + "\n"


def _anneal_note(hyper, training):
    # A time budget may have cut the plan and its annealing (train.TimeLimit).
    epochs = training.get("annealed_epochs", hyper.get("anneal_epochs"))
    if not epochs:
        return ""
    return ", the last %s annealed from %s to %s on a cosine" % (
        "epoch" if epochs == 1 else "%d epochs" % epochs, *hyper["anneal_rates"])


def _keys_note(inference):
    keys = inference.get("keys", [0])
    if keys == [0]:
        return "- read in the written key only"
    return ("- read in %d keys at once (%+d..%+d semitones), predictions moved back and combined "
            "by their geometric mean: "
            "a test-time ensemble of the one network, chosen on the validation pieces (event "
            "NLL %s)" % (len(keys), keys[0], keys[-1], ", ".join(
                "%s %.3f" % item for item in inference.get("validation_event_nll", {}).items())))
