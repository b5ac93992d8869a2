"""Evaluate a model honestly on its held-out test pieces, with n-gram baselines.

Runs a .tflite file (window or step, any precision) with the TFLite interpreter alone, reading
the music in the keys its card names (--choose-keys picks them on the validation pieces). Reports,
per event (one onset) and in nats: the NLL of the pitch part (its notes and end), of the duration
and of the dynamic, perplexity, top-1/top-5 accuracy (a beam over the notes, step models only),
interpolated Kneser-Ney baselines trained on the same transposed training pieces (whole chord
tokens n=1..5, the model's symbols, durations), and a music check: whole pieces played from the
opening of each judged piece until the model ends them, by the model with the sampler's options
(and each of them off) and by the best symbol n-gram, measured beside what Bach wrote after the
same openings (parallel fifths and octaves, phrase endings, durations, key, tonic ending,
lengths).

On a corpus that is not the model's own (your MIDI folder, tokenized by playbach corpus) it
scores every piece of it, against n-grams trained on the model's training pieces (from
--train-corpus, by default the corpus folder its card names).

examples:
  playbach eval models/playbach-step-int8.tflite --corpus data/bach --json
  playbach eval models/playbach-step-int8.tflite --corpus data/cello --train-corpus data/bach
"""
import json
import sys
from pathlib import Path

from playbach.engine.music import CAP, SAMPLES


def add_arguments(parser):
    parser.add_argument("model", type=Path, help="a .tflite file listed in a model card")
    parser.add_argument("--corpus", type=Path, default=Path("data/bach"),
                        help="the corpus to score: the model's own (its test pieces) or another "
                             "(all its pieces) (default: data/bach)")
    parser.add_argument("--train-corpus", type=Path, metavar="DIR",
                        help="where the n-grams find the model's training pieces (default: "
                             "--corpus if it is the model's own, else the corpus its card names)")
    parser.add_argument("--beam", type=int, default=5, help="top-k accuracy's k (0: skip)")
    parser.add_argument("--samples", type=int, default=SAMPLES,
                        help="music check: pieces played from the opening of each judged piece, "
                             "by the model and by the best symbol n-gram (0: skip; default: %d)"
                             % SAMPLES)
    parser.add_argument("--cap", type=int, default=CAP,
                        help="music check: the most events a piece may last after its opening "
                             "(default: %d)" % CAP)
    parser.add_argument("--no-baselines", action="store_true", help="skip the n-gram models")
    parser.add_argument("--seed", type=int, default=0, help="seed of the music check")
    parser.add_argument("--keys", type=int, nargs="+", metavar="SHIFT",
                        help="read the music moved by these semitones and combine the "
                             "predictions (default: the card's; 0 alone: the written key)")
    parser.add_argument("--choose-keys", action="store_true",
                        help="first pick the keys on the validation pieces and store them in "
                             "the card, for every consumer of the model")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--write-card", action="store_true",
                        help="store the report in the model card and rewrite its Markdown")
    parser.add_argument("--check-card", action="store_true",
                        help="fail unless the figures equal those stored in the card (on a "
                             "machine that computes otherwise, the model's within the card's "
                             "tolerance, the generated music not compared)")


def run(args):
    from playbach.engine.generator import SAMPLER, TEMPERATURE
    from playbach.engine.music import music_check
    from playbach.model.card import max_notes
    from playbach.model.evaluate import Evaluation, best_symbol_order

    try:
        if args.choose_keys:
            _choose_keys(args.model, args.corpus)
        evaluation = Evaluation(args.model, args.corpus, args.keys, args.train_corpus,
                                not args.no_baselines)
        if not evaluation.own and (args.write_card or args.check_card):
            raise ValueError("%s is not the model's corpus: the card holds the figures of its "
                             "own test pieces (leave out --write-card and --check-card)"
                             % args.corpus)
    except (OSError, ValueError) as error:
        raise SystemExit("playbach eval: %s" % error) from None
    report = evaluation.report(args.beam)
    if args.samples:
        players = {"generated": (evaluation.model, {})}
        tried = [dict(SAMPLER)]
        for option in SAMPLER:  # each of the sampler's options the other way, and all off
            tried.append(dict(SAMPLER, **{option: not SAMPLER[option]}))
            players["generated_%s_%s" % ("no" if SAMPLER[option] else "with", option)] = (
                evaluation.model, tried[-1])
        plain = {option: False for option in SAMPLER}
        if plain not in tried:
            players["generated_plain"] = (evaluation.model, plain)
        if TEMPERATURE != 1:
            players["generated_temperature_1"] = (evaluation.model, {"temperature": 1.0})
        ngram = evaluation.ngram_player(best_symbol_order(report))
        if ngram is not None:
            players["ngram"] = (ngram, {})
        report["music"] = music_check(
            players, evaluation.vocabulary, evaluation.pieces, max_notes(evaluation.card),
            args.seed, args.samples, args.cap,
            reference="held_out_bach" if evaluation.own else "corpus")
    if args.write_card:
        _write_card(args.model, report)
    if args.check_card:
        differences, note = _card_differences(args.model, report)
        if note:
            print("check-card: " + note, file=sys.stderr)
        for line in differences:
            print("differs from the card: " + line, file=sys.stderr)
        if differences:
            return 1
    if args.json:
        print(json.dumps(report))
        return 0
    scores = report["model_scores"]
    print("%s in keys %+d..%+d on %d %s (%d events)" % (
        report["model"], report["keys"][0], report["keys"][-1], report["test_pieces"],
        "held-out pieces" if "corpus" not in report else "pieces of %s, not the model's corpus"
        % report["corpus"], report["test_events"]))
    for head in ("pitch", "duration", "dynamic", "event"):
        figures = ", ".join("%s %s" % item for item in scores[head].items())
        print("  %-9s %s" % (head, figures))
    for head, models in report.get("baselines", {}).items():
        best = min(models.items(), key=lambda item: item[1]["nll_per_event"])
        print("  best n-gram (%s): %s, %.4f nats/event%s" % (
            head, best[0], best[1]["nll_per_event"], ", trained on the model's training pieces "
            "from %s" % report["train_corpus"] if "train_corpus" in report else ""))
    if "pitch_nll_vs_best_ngram" in report:
        print("  pitch NLL vs best n-gram: %+.1f%%" % (100 * report["pitch_nll_vs_best_ngram"]))
    if "music" in report:
        music = report["music"]
        for name in [name for name in music if isinstance(music[name], dict)]:
            print("  music, %s: %s" % (name.replace("_", " "), ", ".join(
                "%s %s" % item for item in music[name].items() if item[0] != "duration_shares")))
    return 0


def _choose_keys(model, corpus):
    from playbach.model.card import card_for, record_command, save_card
    from playbach.model.evaluate import KEY_TOLERANCE, choose_keys

    keys, scores = choose_keys(model, corpus)
    card_path, card = card_for(model)
    card["inference"] = {"keys": keys, "chosen_with": model.name,
                         "validation_event_nll": scores}
    record_command(card)
    save_card(card_path, card)
    print("keys %+d..%+d: the fewest within %g of the lowest validation event NLL of %s" % (
        keys[0], keys[-1], KEY_TOLERANCE, ", ".join("%s %.4f" % item for item in scores.items())))


def _evaluation_name(card, model, keys):
    """``kind-precision``, and the keys when they are not the card's (``step-int8-keys+0..+0``)."""
    from playbach.model.runtime import default_keys

    kind, precision = next((kind, precision) for kind, variants in card["files"].items()
                           for precision, file in variants.items() if file == model.name)
    name = "%s-%s" % (kind, precision)
    if keys != default_keys(card, kind):
        name += "-keys%+d..%+d" % (keys[0], keys[-1])
    return name


def _card_differences(model, report):
    """The figures of ``report`` that differ from the card's stored evaluation of ``model``,
    and what was not compared exactly (:func:`~playbach.model.card.compare`)."""
    from playbach.model.card import CHECK_TOLERANCE, card_for, compare

    _, card = card_for(model)
    name = _evaluation_name(card, model, report["keys"])
    stored = card.get("evaluation", {}).get(name)
    if stored is None:
        return ["no stored evaluation %s" % name], None
    return compare(stored, report, card.get("check", {}).get("tolerance", CHECK_TOLERANCE))


def _write_card(model, report):
    from playbach.model.card import (CHECK_TOLERANCE, card_for, record_command,
                                     render_markdown, save_card)

    card_path, card = card_for(model)
    card.setdefault("evaluation", {})[_evaluation_name(card, model, report["keys"])] = report
    card.setdefault("check", {"tolerance": CHECK_TOLERANCE})
    record_command(card)
    save_card(card_path, card)
    card_path.with_suffix(".md").write_text(render_markdown(card))
