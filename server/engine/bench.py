"""Speed and memory of the shipped models on this machine, as one JSON-ready dict."""
import resource
import time
from pathlib import Path

import numpy as np

from playbach.engine.generator import Generator
from playbach.model.card import card_for, check_file, max_notes
from playbach.model.runtime import StepModel, WindowModel, open_model
from playbach.model.vocabulary import columns


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
    files = {"%s-%s" % (kind, precision): Path(card_path).parent / name
             for kind, variants in card["files"].items() for precision, name in variants.items()}
    for path in files.values():  # a damaged file stops the run before any is timed
        check_file(card, path)
    for path in files.values():
        open_model(path)
    report = {"card": str(card_path), "models": {}, "generation": {}}
    for key, path in files.items():
        _, vocabulary, model = open_model(path)  # in the card's keys, as it plays
        start = vocabulary.speller().start()
        if model.kind == "step":
            alone = StepModel(path)
            state = alone.zero_state()
            call = lambda: alone.step(start, state)
            report["models"][key] = _timings(call, calls)
        else:
            alone = WindowModel(path)
            window = columns([start] * alone.window)
            call = lambda: alone.predict(window)
            report["models"][key] = _timings(call, max(calls // 10, 10))
        report["models"][key]["file_kb"] = path.stat().st_size // 1024
        generator = Generator(model, vocabulary, seed=seed, max_notes=max_notes(card))
        begun = time.perf_counter()
        for _ in range(events):
            generator.next_event()
        seconds = time.perf_counter() - begun
        report["generation"][key] = {"events": events, "keys": list(model.shifts),
                                     "ms_per_event": round(1000 * seconds / events, 4)}
    step, window = report["models"].get("step-float32"), report["models"].get("window-float32")
    if step and window:
        report["window_over_step_float32"] = round(window["p50_ms"] / step["p50_ms"], 1)
    report["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return report
