"""Measure the speed and memory of a model's exported files on this machine (JSON out).

Times one interpreter call of each exported model (step and window, every precision) and whole
generated events, and reports the process's peak memory; then runs playbach serve on 127.0.0.1
and measures how late its events reach a subscriber (scheduled onset to arrival), through the
embedded broker and through mosquitto, and how soon it publishes again after mosquitto is
killed and restarted (from the broker accepting connections to the server's first message).
Figures for the README and the model card come from
here, never from a timed test.

example:
  playbach bench models/playbach.json --out bench.json
"""
import json
from pathlib import Path

from playbach.cli import check_writable


def add_arguments(parser):
    parser.add_argument("card", type=Path, nargs="?", help="model card (default: the shipped one)")
    parser.add_argument("--calls", type=int, default=2000, help="step calls to time")
    parser.add_argument("--events", type=int, default=300, help="events to generate per model")
    parser.add_argument("--stream-events", type=int, default=200, metavar="N",
                        help="events to time through the live stream (0: none)")
    parser.add_argument("--brokers", nargs="+", choices=("embedded", "mosquitto"),
                        default=["embedded", "mosquitto"], help="brokers to stream through")
    parser.add_argument("--outages", type=float, nargs="*", default=[1, 2, 3, 5, 8],
                        metavar="S", help="broker outages (seconds) to time the server's "
                        "resumption after (default: 1 2 3 5 8; none: skip)")
    parser.add_argument("--out", type=Path, help="also write the JSON to this file")


def run(args):
    if args.out:
        check_writable(args, "--out")
    from playbach.engine.bench import benchmark
    from playbach.live.latency import resume_times, stream_latency
    from playbach.model.card import SHIPPED_CARD, ModelError

    card = args.card or SHIPPED_CARD
    try:
        report = benchmark(card, args.calls, args.events)
    except ModelError as error:  # found before anything is timed
        raise SystemExit("playbach bench: %s" % error) from None
    if args.stream_events:
        report["stream"] = [stream_latency(card, args.stream_events, broker=broker)
                            for broker in args.brokers]
    if args.outages:
        report["resume"] = resume_times(card, args.outages)
    text = json.dumps(report, indent=1)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)
    return 0
