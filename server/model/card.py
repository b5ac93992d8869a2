"""The model card: one JSON file that travels with the model.

It holds everything needed to use and judge the model: the vocabulary, the hyper-parameters, the
corpus and its split, training time, the exported files (paths relative to the card) and every
evaluation figure. ``models/playbach.json`` is the card of the model that ships.
"""
import hashlib
import json
import os
import shlex
import sys
from fractions import Fraction
from pathlib import Path

from playbach.model.vocabulary import INPUTS

FORMAT = "playbach-model/2"  # 2: the network reads the voicing
FIELDS = {"name": str, "vocabulary": dict, "hyperparameters": dict, "split": dict,
          "files": dict}  # every card has them


# How far a figure the interpreter computes (the model's scores) may stray from the card's on a
# machine whose arithmetic differs (another CPU's kernels): 0.2%, or 0.002 for a figure below 1.
CHECK_TOLERANCE = 0.002


class ModelError(ValueError):
    """A model file or card that cannot be used, and why, naming the file."""


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
    """Return the card at ``path``; :class:`ModelError` if it is not a playbach model card."""
    path = Path(path)
    try:
        card = json.loads(path.read_text())
    except OSError as error:
        raise ModelError("%s: cannot read the model card (%s)"
                         % (path, error.strerror or error)) from None
    except ValueError as error:
        raise ModelError("%s: the model card is not JSON (%s)" % (path, error)) from None
    if not isinstance(card, dict) or card.get("format") != FORMAT:
        raise ModelError("%s: not a playbach model card (format %r, expected %r)"
                         % (path, isinstance(card, dict) and card.get("format"), FORMAT))
    missing = [field for field, kind in FIELDS.items() if not isinstance(card.get(field), kind)]
    if missing:
        raise ModelError("%s: not a whole model card (no %s)" % (path, ", ".join(missing)))
    return card


def max_notes(card):
    """The most notes an event of the card's model may have: the most in one training event."""
    return card["hyperparameters"]["max_notes"]


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
    unreadable = []
    for candidate in sorted(model_path.parent.glob("*.json")):
        try:
            card = load_card(candidate)
        except ModelError as error:
            unreadable.append(str(error))
            continue
        if model_path.name in _file_names(card):
            return candidate, card
    raise ModelError("%s: no model card (.json) beside it names this file%s" % (
        model_path, "; " + "; ".join(unreadable) if unreadable else ""))


def record_files(folder, card):
    """Record the size and SHA-256 of each file the card lists (in ``folder``), so that a damaged
    copy is found before it plays (:func:`check_file`)."""
    names = [name for variants in card["files"].values() for name in variants.values()]
    card["sizes_kb"] = {name: (Path(folder) / name).stat().st_size // 1024 for name in names}
    card["sha256"] = {name: _sha256(Path(folder) / name) for name in names}


def check_file(card, path):
    """:class:`ModelError` unless the file at ``path`` is the one the card lists: present, and
    with the SHA-256 the card records (if it records one)."""
    path = Path(path)
    if not path.is_file():
        raise ModelError("%s: no such model file" % path)
    expected = card.get("sha256", {}).get(path.name)
    if expected and _sha256(path) != expected:
        raise ModelError("%s: damaged: its contents differ from the file its card lists "
                         "(SHA-256 %s..., expected %s...)" % (path, _sha256(path)[:12],
                                                               expected[:12]))


def _sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def compare(stored, report, tolerance=CHECK_TOLERANCE):
    """How a new evaluation ``report`` agrees with the card's ``stored`` one: ``(differences,
    note)``, the figures that differ (lines) and what was not compared exactly (a line or None).

    Where this machine's interpreter computes exactly as the card's (the same ``arithmetic``
    fingerprint), every figure must be equal. Elsewhere (another CPU picks other kernels: the
    log-probabilities differ by about 1e-6) the model's scores must be within ``tolerance``, and
    the generated music is not compared: one different draw sends the sampling down another
    path. The n-grams and the held-out music are computed without the interpreter: equal."""
    same = stored.get("arithmetic") is not None and stored["arithmetic"] == report.get(
        "arithmetic")
    differences, skipped = [], 0
    for section in ("model_scores", "baselines", "music"):
        expected_leaves = dict(_leaves(stored.get(section, {}), section))
        for path, value in _leaves(report.get(section, {}), section):
            expected = expected_leaves.get(path)
            if not same and path.startswith("music.generated"):  # and generated_plain, ...
                skipped += 1
                continue
            if same or not path.startswith("model_scores."):
                agrees = expected == value
            else:
                agrees = isinstance(expected, (int, float)) and abs(value - expected) <= (
                    tolerance * max(1.0, abs(expected)))
            if not agrees:
                differences.append("%s: %r, card says %r" % (path, value, expected))
    note = None
    if not same:
        note = ("this machine's interpreter computes otherwise than the card's (arithmetic %s, "
                "card %s): the model's scores compared within %g, the generated music (%d "
                "figures) not compared" % (report.get("arithmetic"), stored.get("arithmetic"),
                                            tolerance, skipped))
    return differences, note


def _leaves(tree, prefix):
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from _leaves(value, prefix + "." + key)
    else:
        yield prefix, tree


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
        "A next-event model of four-part Bach chorales. %s (%d symbols, so no chord is ever "
        "unknown or cut), each step also reading %s; the duration%s and dynamic of an event are "
        "predicted by their own heads when it ends." % (
            SPELLING_NOTES[card["vocabulary"].get("spelling", "ascending")],
            len(card["vocabulary"]["symbols"]), _reading(hyper),
            ", how it closes (it goes on, ends a phrase, ends the piece)"
            if len(card["vocabulary"].get("forms", [])) > 1 else ""), "",
        "- layers: embeddings (%s), LSTM %s, dropout %s"
        % (_embeddings(hyper), " + ".join(map(str, hyper["lstm_units"])), hyper["dropout"]),
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
                  "NLL in nats per event (one onset); the pitch part sums its notes and end.%s"
                  % _check_note(card.get("check")), "",
                  "| model | pitch NLL | duration NLL | dynamic NLL | event NLL | form NLL "
                  "| pitch top-1 | pitch top-5 | pitch vs best n-gram | event vs best n-grams "
                  "| unrepresentable |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for name, report in evaluations.items():
            s = report["model_scores"]
            lines.append("| %s | %.3f | %.3f | %.3f | %.3f | %s | %s | %s | %s | %s | %s |" % (
                name, s["pitch"]["nll_per_event"], s["duration"]["nll_per_event"],
                s["dynamic"]["nll_per_event"], s["event"]["nll_per_event"],
                "%.3f" % s["form"]["nll_per_event"] if "form" in s else "-",
                s["pitch"].get("top1", "-"), s["pitch"].get("top5", "-"),
                _versus(report, "pitch_nll_vs_best_ngram"),
                _versus(report, "event_nll_vs_best_ngrams"),
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
            lines += ["", _music_note(music), "",
                      "| | pieces | ended by the model | length: median (p10-p90) | parallel "
                      "5ths/8ves (four-note pairs) | in the voices | phrase endings per 100 "
                      "events | durations: TV from Bach | 1/4 beat | 2 beats or more | notes "
                      "in the key | ends on the tonic chord | longest repeat |",
                      "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- "
                      "| --- |"]
            rows = [name for name in music if isinstance(music[name], dict)]
            for name in rows[1:] + rows[:1]:  # the reference last
                m = music[name]
                shares = m["duration_shares"]
                lines.append("| %s | %d | %.0f%% | %g (%g-%g) | %.2f%% (%d) | %.2f%% | %.2f | %s "
                             "| %.1f%% | %.1f%% | %.1f%% | %.0f%% | %d |" % (
                                 _music_row(name), m["pieces"], 100 * m["ended"],
                                 m["length_median"], *m["length_p10_p90"],
                                 100 * m["parallel_fifths_octaves"], m["four_note_pairs"],
                                 100 * m["parallels_in_voices"], m["phrase_endings_per_100"],
                                 "%.3f" % m["duration_tv"] if "duration_tv" in m else "-",
                                 100 * shares.get("1/4", 0), 100 * sum(
                                     share for duration, share in shares.items()
                                     if Fraction(duration) >= 2),
                                 100 * m["in_key"], 100 * m["tonic_end"], m["longest_repeat"]))
    commands = card.get("commands", [])
    if commands:
        lines += ["", "## Reproduce", "", "```sh"] + commands + ["```"]
    return "\n".join(lines) + "\n"


SPELLING_NOTES = {
    "ascending": "Each event (the notes that start at one onset) is read and predicted as its "
                 "notes in ascending pitch and an end symbol, voiced by the shared Voicer",
    "voices": "Each event (the notes that start at one onset) is read and predicted voice by "
              "voice, bass to soprano, each voice's new note or a hold, then an end symbol: "
              "Bach's own parts where the corpus has them",
    "parts": "Each event (the notes that start at one onset) is read and predicted as its notes, "
             "each tagged with the voice singing it, bass to soprano, and an end symbol: Bach's "
             "own parts where the corpus has them",
}
INPUT_NOTES = {"voicing": "what the four voices hold before the event it spells",
               "beat": "the event's beat in the bar", "phrase": "how far into its phrase",
               "phrases": "how many phrases have ended",
               "key": "the key of the piece's opening once its first phrase has ended"}


def _reading(hyper):
    """What each step reads besides its symbol, duration, dynamic and form, in words."""
    notes = [note for name, note in INPUT_NOTES.items() if hyper.get(
        next(spec.embedding for spec in INPUTS if spec.name == name))]
    return ", ".join(notes[:-1]) + (" and " if len(notes) > 1 else "") + notes[-1]


def _embeddings(hyper):
    """``symbol 128, ..., voicing 4 x 16``: each input's embedding size (of the inputs the
    model was trained with)."""
    return ", ".join("%s %s" % (spec.name, " x ".join(
        map(str, spec.shape + (hyper[spec.embedding],)))) for spec in INPUTS
        if hyper.get(spec.embedding))


MUSIC_ROWS = {"generated": "the model", "generated_plain": "the model, no sampler option",
              "generated_temperature_1": "the model, at temperature 1 (its own odds)",
              "ngram": "the best symbol n-gram", "held_out_bach": "Bach (held out)",
              "corpus": "the corpus"}


def _music_row(name):
    """A music check's row in words: ``generated_with_key_pull`` is the model with the sampler
    option ``key_pull`` on ("the model, with key pull"), ``generated_no_...`` with it off."""
    for way in ("with", "no"):
        prefix = "generated_%s_" % way
        if name.startswith(prefix):
            return "the model, %s %s" % (way, name[len(prefix):].replace("_", " "))
    return MUSIC_ROWS.get(name, name)


def _music_note(music):
    return ("Music check: from the opening of each of the %d judged pieces (its events to its "
            "first phrase end: the key it begins in), %d piece%s played (seed %d) until the "
            "model ends it or %d events, measured after the opening beside what Bach wrote "
            "after it. Parallel fifths and octaves: of consecutive events that both start four "
            "notes, read bass to soprano in pitch order, the share with two voices moving the "
            "same way from a perfect fifth or octave into the same (issue 13's measure); *in "
            "the voices*: the same in the voices the model gave the notes (Bach's parts). A "
            "phrase ending is an event of 2 beats or more after a shorter one; the key is the "
            "opening's (Krumhansl-Kessler), the tonic chord its tonic in the bass and above it "
            "nothing but the tonic, a third (major or minor) and the fifth; a piece the cap "
            "stops does not end on it. The model and the n-gram are sampled as `generate` and "
            "`serve` sample by default (at temperature %g, with the sampler's options); each "
            "row between turns one of them the other way, *no sampler option* all off, and *at "
            "temperature 1* draws at the model's own odds."
            % (music["openings"], music["samples"], "" if music["samples"] == 1 else "s each",
               music["seed"], music["cap"], music.get("temperature", 1)))


def _versus(report, field):
    return "%+.1f%%" % (100 * report[field]) if field in report else "-"


def _check_note(check):
    if not check:
        return ""
    return (" `playbach eval --check-card` gives every figure back exactly on a machine whose "
            "interpreter computes as the one that wrote them (the same `arithmetic` "
            "fingerprint); on another CPU the model's scores within %g%% (%g below 1) and the "
            "generated music, which takes another sampling path, not compared."
            % (100 * check["tolerance"], check["tolerance"]))


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
            "by their geometric mean over the symbols, their arithmetic mean over durations and "
            "dynamics: "
            "a test-time ensemble of the one network, chosen on the validation pieces (event "
            "NLL %s)" % (len(keys), keys[0], keys[-1], ", ".join(
                "%s %.3f" % item for item in inference.get("validation_event_nll", {}).items())))
