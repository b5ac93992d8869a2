"""The default corpus: the Bach four-part chorales bundled with music21, exported to MIDI.

Each part becomes its own track (the reader keeps them as parts), and the fermatas music21 reads
in the scores, which its MIDI export drops, are added as markers (``fermata``) on a track of
their own, so that the corpus knows where Bach's phrases end.

music21 is only in the ``train`` extra. Some encodings in its corpus are licensed for
non-commercial use only; the README says so.
"""
import logging
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import mido
from tqdm import tqdm

from playbach.corpus.midi import FERMATA

log = logging.getLogger(__name__)

VOICE_COUNT = 4
SCORE_SUFFIXES = (".mxl", ".xml", ".musicxml", ".krn")  # by preference; not the analyses (.rntxt)
EXPORT_VERSION = "3"  # 2: fermata markers; 3: one score per chorale. Others are exported again
VERSION_FILE = ".playbach-export"


def export_chorales(folder, limit=None, progress=True):
    """Write each four-part chorale bundled with music21 to ``folder/NAME.mid``; return the
    folder. Files already there from this version of the export are kept, so a second run
    costs nothing."""
    try:
        from music21 import corpus
    except ImportError:
        raise SystemExit("the Bach chorales need music21: pip install 'playbach[train]'")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    jobs = [(path, folder / (path.stem + ".mid"))
            for path in chorale_scores(corpus.getComposer("bach"))[:limit]]
    version = folder / VERSION_FILE
    if version.exists() and version.read_text().strip() == EXPORT_VERSION:
        jobs = [job for job in jobs if not job[1].exists()]
    with ProcessPoolExecutor(max_workers=os.cpu_count()) as pool:
        for level, problem in tqdm(pool.map(_export, jobs), total=len(jobs),
                                   desc="exporting chorales", unit="chorale",
                                   disable=not progress, leave=False):
            if problem:
                log.log(level, problem)
    version.write_text(EXPORT_VERSION + "\n")
    return folder


def chorale_scores(paths):
    """The score to export of each chorale among music21's ``paths``, sorted: of one
    encoded twice (bwv277, bwv281, bwv366 come as .mxl and .krn, which differ in tempo and
    notes), the first of ``SCORE_SUFFIXES``. Exporting both to one NAME.mid let whichever
    finished last win, so the corpus, and the n-grams trained on it, changed from run to run."""
    chosen = {}
    for path in sorted((path for path in paths if path.suffix in SCORE_SUFFIXES),
                       key=lambda path: SCORE_SUFFIXES.index(path.suffix)):
        chosen.setdefault(path.stem, path)
    return sorted(chosen.values())


def _export(job):
    """Write one chorale to MIDI with its fermatas; return ``(log level, why it was left out)``
    or ``(0, None)``."""
    from music21 import bar, converter, repeat

    source, target = job
    partial = target.with_suffix(".part")
    try:
        score = converter.parse(source)
        if len(score.parts) != VOICE_COUNT:
            return logging.DEBUG, "left out %s: %d parts, not %d" % (
                source.name, len(score.parts), VOICE_COUNT)
        # Expanded here as the MIDI export would, so that the fermatas fall where it plays them.
        try:
            score = score.expandRepeats()
        except repeat.ExpanderException:
            # A few encodings have unbalanced repeat signs: play them straight through.
            for sign in list(score.recurse().getElementsByClass(bar.Repeat)):
                sign.activeSite.replace(sign, bar.Barline())
            score = score.expandRepeats()
        score.write("midi", fp=str(partial))
        _add_fermatas(partial, fermatas(score))
        partial.rename(target)
    except Exception as error:  # music21 raises many kinds on encodings it cannot handle
        return logging.WARNING, "skipped %s: music21 cannot export it (%s)" % (source.name, error)
    return 0, None


def fermatas(score):
    """Return the offsets (in quarter notes, ascending) where a note of the music21 score
    carries a fermata."""
    from music21 import expressions

    return sorted({note.getOffsetInHierarchy(part) for part in score.parts
                   for note in part.recurse().notes
                   if any(isinstance(mark, expressions.Fermata) for mark in note.expressions)})


def _add_fermatas(path, offsets):
    """Add a track of ``fermata`` markers at ``offsets`` (quarter notes) to a MIDI file."""
    midi = mido.MidiFile(path)
    track, tick = mido.MidiTrack([mido.MetaMessage("track_name", name="fermatas")]), 0
    for offset in offsets:
        at = round(offset * midi.ticks_per_beat)
        track.append(mido.MetaMessage("marker", text=FERMATA, time=at - tick))
        tick = at
    midi.tracks.append(track)
    midi.save(path)
