"""Measure the speed and memory of a model's exported files on this machine (JSON out).

Times one interpreter call of each exported model (step and window, every precision) and whole
generated events, and reports the process's peak memory. Figures for the README and the model
card come from here, never from a timed test.

example:
  playbach bench models/playbach.json --out bench.json
"""
import json
from pathlib import Path


def add_arguments(parser):
    parser.add_argument("card", type=Path, nargs="?", help="model card (default: the shipped one)")
    parser.add_argument("--calls", type=int, default=2000, help="step calls to time")
    parser.add_argument("--events", type=int, default=300, help="events to generate per model")
    parser.add_argument("--out", type=Path, help="also write the JSON to this file")


def run(args):
    from playbach.engine.bench import benchmark
    from playbach.model.card import SHIPPED_CARD

    report = benchmark(args.card or SHIPPED_CARD, args.calls, args.events)
    text = json.dumps(report, indent=1)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)
    return 0
