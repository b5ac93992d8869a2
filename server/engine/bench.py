"""Speed and memory of the shipped models on this machine, as one JSON-ready dict."""
import resource
import time
from pathlib import Path

import numpy as np

from playbach.engine.generator import Generator
from playbach.model.card import card_for
from playbach.model.runtime import StepModel, WindowModel, open_model
from playbach.model.vocabulary import NONE, Vocabulary, Voicing


def _timings(call, count):
    """Milliseconds per call: median, 99th percentile, mean."""
    call()  # warm-up
    times = []
    for _ in range(count):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return {"p50_ms": round(float(np.median(times)), 4),
            "p99_ms": round(float(np.percentile(times, 99)), 4),
            "mean_ms": round(float(np.mean(times)), 4), "calls": count}


def benchmark(card_path, calls=2000, events=300, seed=0):
    """Time one interpreter call of every exported model, and whole events from the generator
    (reading the music in the card's keys, as the server does)."""
    card_path, card = card_for(card_path)
    vocabulary = Vocabulary.from_card(card)
    folder = Path(card_path).parent
    report = {"card": str(card_path), "models": {}, "generation": {}}
    silence = Voicing(vocabulary).current
    for kind, variants in card["files"].items():
        for precision, name in variants.items():
            key = "%s-%s" % (kind, precision)
            if kind == "step":
                model = StepModel(folder / name)
                state = model.zero_state()
                call = lambda: model.step(vocabulary.end, NONE, NONE, silence, state)
                report["models"][key] = _timings(call, calls)
            else:
                model = WindowModel(folder / name)
                window, voicings = [vocabulary.end] * model.window, [silence] * model.window
                call = lambda: model.predict(window, window, window, voicings)
                report["models"][key] = _timings(call, max(calls // 10, 10))
            report["models"][key]["file_kb"] = (folder / name).stat().st_size // 1024
            _, _, served = open_model(folder / name)  # in the card's keys, as it plays
            generator = Generator(served, vocabulary, seed=seed,
                                  max_notes=card["hyperparameters"].get("max_notes", 4))
            start = time.perf_counter()
            for _ in range(events):
                generator.next_event()
            seconds = time.perf_counter() - start
            report["generation"][key] = {"events": events,
                                         "keys": list(served.shifts),
                                         "ms_per_event": round(1000 * seconds / events, 4)}
    step, window = report["models"].get("step-float32"), report["models"].get("window-float32")
    if step and window:
        report["window_over_step_float32"] = round(window["p50_ms"] / step["p50_ms"], 1)
    report["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return report
