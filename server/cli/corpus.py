"""Tokenize MIDI files into the corpus the model learns from.

Reads MIDI files (type 0 and 1; folders are searched recursively), merges their tracks, leaves
out drums, and writes each piece's events (chords of the notes that start together, rests,
duration and dynamic classes) to OUT/pieces.jsonl, with the vocabulary in OUT/vocab.json. Where
a file holds up to four parts singing one note at a time (one track or channel each), each
note's part is kept; "fermata" markers (written by --bach from the scores) end phrases.
A file that cannot be read (damaged, SMPTE timing, over 8 MB or 500,000 events) is skipped with
one line naming it and saying why; the run ends with a summary.

examples:
  playbach corpus --bach --out data/bach        the Bach chorales bundled with music21
  playbach corpus ~/midi/cello --out data/cello  any folder of your own MIDI files
"""
import json
import sys
import tempfile
from pathlib import Path

from playbach.corpus import bach, store, tokenize
from playbach.corpus.midi import DEFAULT_MIN_REST, DEFAULT_TOLERANCE


def add_arguments(parser):
    parser.add_argument("sources", nargs="*", metavar="SRC", help="MIDI files or folders")
    parser.add_argument("--out", required=True, type=Path, help="folder to write the corpus to")
    parser.add_argument("--bach", action="store_true",
                        help="add the Bach chorales bundled with music21 (exported to OUT/midi)")
    parser.add_argument("--limit", type=int, metavar="N",
                        help="with --bach: only the first N chorales")
    parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE, metavar="BEATS",
                        help="notes starting this close form one chord (default: 1/24 beat)")
    parser.add_argument("--min-rest", type=float, default=DEFAULT_MIN_REST, metavar="BEATS",
                        help="shorter silences are articulation, not rests (default: 1/4 beat)")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")


def run(args):
    sources = list(args.sources)
    progress = sys.stderr.isatty()
    try:  # at start, so that a long run never ends without its output
        args.out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=args.out):
            pass
    except OSError as error:
        raise SystemExit("playbach corpus: cannot write --out %s: %s"
                         % (args.out, error.strerror or error))
    if args.bach:
        sources.append(bach.export_chorales(args.out / "midi", args.limit, progress))
    if not sources:
        raise SystemExit("playbach corpus: give MIDI files or folders, or --bach")
    try:
        files = tokenize.midi_files(sources)
    except FileNotFoundError as error:
        raise SystemExit("playbach corpus: %s" % error)
    pieces, skipped, duplicates, slowest = tokenize.tokenize(files, args.tolerance,
                                                             args.min_rest, progress)
    vocab = tokenize.vocabulary(pieces)
    summary = tokenize.summarize(files, pieces, skipped, duplicates, vocab, slowest)
    summary["sources"] = [str(source) for source in sources]
    summary["bach_chorales"] = args.bach
    store.write_corpus(args.out, pieces, vocab, summary)
    if args.json:
        print(json.dumps(summary))
    else:
        print(_readable(summary, args.out))
    return 0 if pieces else 1


def _readable(summary, folder):
    coverage = ", ".join("%s %.1f%%" % (top.replace("_", " "), 100 * share)
                         for top, share in summary["coverage"].items())
    kinds = ", ".join("%d %s" % (count, kind) for kind, count in summary["skipped_by_kind"].items())
    return ("%(files_ok)d files read, %(files_skipped)d skipped, %(duplicates)d duplicates "
            "dropped: %(pieces)d pieces, %(tokens)d events, %(vocab_size)d distinct tokens\n"
            % summary + ("skipped: %s\n" % kinds if kinds else "")
            + "%(pieces_with_parts)d pieces with parts, %(pieces_with_phrase_ends)d with phrase "
            "ends (%(phrase_ends_per_100_events)s per 100 events)\n" % summary
            + "token coverage: %s\nwritten to %s" % (coverage, folder))
