"""Measure the speed and memory of a model's exported files on this machine (JSON out).

Times one interpreter call of each exported model (step and window, every precision) and whole
generated events, and reports the process's peak memory; then runs playbach serve on 127.0.0.1:
how late it sends its events (from each event's deadline, at less the lead, to its sent_us) and
how late they arrive at a subscriber, through the embedded broker and through mosquitto
('stream'); four players, one per voice, each behind a WiFi-like link (a relay holding each
chunk p50 13 ms, p99 110 ms), with the lead and without: how far apart they sound each event
('skew') and how far from its at ('error') ('choir'); and how soon the server publishes again
after mosquitto is killed and restarted ('resume'). Figures for the README and the model card
come from here, never from a timed test.

example:
  playbach bench models/playbach.json --out bench.json
"""
import json
from pathlib import Path

from playbach.cli import check_writable
from playbach.live.server import LEAD_MS


def add_arguments(parser):
    parser.add_argument("card", type=Path, nargs="?", help="model card (default: the shipped one)")
    parser.add_argument("--calls", type=int, default=2000, help="step calls to time")
    parser.add_argument("--events", type=int, default=300, help="events to generate per model")
    parser.add_argument("--stream-events", type=int, default=300, metavar="N",
                        help="events to time through the live stream (0: none)")
    parser.add_argument("--brokers", nargs="+", choices=("embedded", "mosquitto"),
                        default=["embedded", "mosquitto"], help="brokers to stream through")
    parser.add_argument("--choir-events", type=int, default=320, metavar="N",
                        help="events for the four players to play, at 1000 bpm, with a lead of "
                        "%d ms and of 0 (0: none)" % LEAD_MS)
    parser.add_argument("--outages", type=float, nargs="*", default=[1, 2, 3, 5, 8],
                        metavar="S", help="broker outages (seconds) to time the server's "
                        "resumption after (default: 1 2 3 5 8; none: skip)")
    parser.add_argument("--out", type=Path, help="also write the JSON to this file")


def run(args):
    if args.out:
        check_writable(args, "--out")
    from playbach.engine.bench import benchmark
    from playbach.live.latency import choir, resume_times, stream_latency
    from playbach.model.card import SHIPPED_CARD, ModelError

    card = args.card or SHIPPED_CARD
    try:
        report = benchmark(card, args.calls, args.events)
    except ModelError as error:  # found before anything is timed
        raise SystemExit("playbach bench: %s" % error) from None
    if args.stream_events:
        report["stream"] = [stream_latency(card, args.stream_events, broker=broker,
                                           lead_ms=LEAD_MS) for broker in args.brokers]
    if args.choir_events:
        report["choir"] = [choir(card, args.choir_events, lead_ms=lead)
                           for lead in (LEAD_MS, 0)]
    if args.outages:
        report["resume"] = resume_times(card, args.outages)
    text = json.dumps(report, indent=1)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)
    return 0
