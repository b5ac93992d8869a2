"""The default corpus: the Bach four-part chorales bundled with music21, exported to MIDI.

music21 is only in the ``train`` extra. Some encodings in its corpus are licensed for
non-commercial use only; the README says so.
"""
import logging
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from tqdm import tqdm

log = logging.getLogger(__name__)

VOICE_COUNT = 4
SCORE_SUFFIXES = (".mxl", ".xml", ".musicxml", ".krn")  # not the analyses (.rntxt)


def export_chorales(folder, limit=None, progress=True):
    """Write each four-part chorale bundled with music21 to ``folder/NAME.mid``; return the
    folder. Files already there are kept, so a second run costs nothing."""
    try:
        from music21 import corpus
    except ImportError:
        raise SystemExit("the Bach chorales need music21: pip install 'playbach[train]'")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    scores = [path for path in corpus.getComposer("bach") if path.suffix in SCORE_SUFFIXES]
    jobs = [(path, folder / (path.stem + ".mid")) for path in sorted(scores)[:limit]]
    jobs = [job for job in jobs if not job[1].exists()]
    with ProcessPoolExecutor(max_workers=os.cpu_count()) as pool:
        for level, problem in tqdm(pool.map(_export, jobs), total=len(jobs),
                                   desc="exporting chorales", unit="chorale",
                                   disable=not progress, leave=False):
            if problem:
                log.log(level, problem)
    return folder


def _export(job):
    """Write one chorale to MIDI; return ``(log level, why it was left out)`` or ``(0, None)``."""
    from music21 import bar, converter, repeat

    source, target = job
    partial = target.with_suffix(".part")
    try:
        score = converter.parse(source)
        if len(score.parts) != VOICE_COUNT:
            return logging.DEBUG, "left out %s: %d parts, not %d" % (
                source.name, len(score.parts), VOICE_COUNT)
        try:
            score.write("midi", fp=str(partial))
        except repeat.ExpanderException:
            # A few encodings have unbalanced repeat signs: play them straight through.
            for sign in list(score.recurse().getElementsByClass(bar.Repeat)):
                sign.activeSite.replace(sign, bar.Barline())
            score.write("midi", fp=str(partial))
        partial.rename(target)
    except Exception as error:  # music21 raises many kinds on encodings it cannot handle
        return logging.WARNING, "skipped %s: music21 cannot export it (%s)" % (source.name, error)
    return 0, None
