"""Generate a piece offline and write it as a MIDI file (and a WAV with FluidSynth).

The model continues a primer: by default the opening of a held-out Bach piece shipped with the
model card, picked by the seed, until it ends the piece (a model trained before pieces ended
goes on to --notes). Each note lasts until its voice moves again (or a rest comes); the same
seed, primer and settings give the same piece, with the step or the window model.

examples:
  playbach generate --out piece.mid --wav piece.wav
  playbach generate --notes 200 --seed 7 --temperature 0.8 --top-p 0.95 --out calm.mid
  playbach generate --primer-tokens "G3.B3.D4.G4:1:f A3:1/2 B3:1/2" --keep-primer --out g.mid
"""
import logging
import time
from pathlib import Path

from playbach.cli import check_writable
from playbach.engine import timeline
from playbach.engine.midifile import timed_notes, write_midi
from playbach.engine.options import add_music_arguments, open_composer
from playbach.engine.synth import SynthError, render_wav

log = logging.getLogger(__name__)


def add_arguments(parser):
    parser.add_argument("--notes", type=int, default=400, metavar="N",
                        help="the most events (onsets: notes, chords or rests) to generate, if "
                             "the model has not ended the piece before (default: 400)")
    parser.add_argument("--out", type=Path, default=Path("piece.mid"),
                        help="the MIDI file to write (default: piece.mid)")
    parser.add_argument("--wav", type=Path, metavar="FILE",
                        help="also render a WAV file (needs fluidsynth and a GM soundfont)")
    parser.add_argument("--keep-primer", action="store_true",
                        help="start the file with the primer instead of after it")
    add_music_arguments(parser)


def run(args):
    if args.notes < 1:
        raise SystemExit("playbach generate: --notes must be at least 1")
    check_writable(args, "--out")
    if args.wav:
        check_writable(args, "--wav")
    composer, primer = open_composer(args)
    primed = composer.begin(primer)
    started = time.perf_counter()
    events = []
    while len(events) < args.notes and not (events and events[-1].piece_end):
        events.append(composer.generate())
    log.debug("generated %d events in %.2f s", len(events), time.perf_counter() - started)
    if args.keep_primer:
        kept = timeline.timed(primed + events)
    else:  # the primer still voices the first events, as it would live
        kept = timeline.timed(events, primer=primed)
    notes = timed_notes(kept, origin=kept[0].onset)
    write_midi(args.out, notes, args.bpm, name="playbach %s" % composer.name)
    beats = float(sum(event.beats for event in kept))
    minutes, seconds = divmod(round(beats * 60 / args.bpm), 60)
    print("wrote %s: %d events, %d notes, %d:%02d at %g bpm (model %s, seed %d, primer %s%s); %s"
          % (args.out, len(kept), len(notes), minutes, seconds, args.bpm, composer.name,
             composer.seed, primer.name, ", kept" if args.keep_primer else "",
             "the model ended the piece" if events[-1].piece_end
             else "stopped at --notes %d before the model ended the piece" % args.notes))
    if args.wav:
        try:
            render_wav(args.out, args.wav)
        except SynthError as error:
            log.error("%s", error)
            return 1
        print("wrote %s" % args.wav)
    return 0
