"""playbach: a neural network that plays Bach, live, on small hardware."""
import argparse
import importlib
import logging
import os
import tempfile
from pathlib import Path

# Each subcommand is a module of this package with a docstring (its help),
# add_arguments(parser) and run(args) -> exit status.
COMMANDS = ("corpus", "train", "export", "eval", "bench", "generate", "serve", "watch", "play")


def check_writable(args, option):
    """``SystemExit`` with one line naming the command, ``option`` (``--out``...) and its file,
    unless that file (``args``' value of ``option``) can be written. Checked at start, by
    creating and removing a file beside it, so that a long run neither ends without its output
    nor goes on writing nothing."""
    path = Path(getattr(args, option.lstrip("-").replace("-", "_")))
    problem = "playbach %s: cannot write %s %s: " % (args.command, option, path)
    folder = path.parent
    if path.is_dir():
        raise SystemExit(problem + "it is a folder")
    if not folder.exists():
        raise SystemExit(problem + "there is no folder %s" % folder)
    if not folder.is_dir():
        raise SystemExit(problem + "%s is not a folder" % folder)
    if path.exists() and not os.access(path, os.W_OK):
        raise SystemExit(problem + "permission denied")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise SystemExit(problem + (error.strerror or str(error)))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="playbach", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = importlib.import_module("playbach.cli." + name)
        summary, _, details = module.__doc__.partition("\n")
        sub = subparsers.add_parser(name, help=summary, description=module.__doc__,
                                    formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.run(args)
    except KeyboardInterrupt:
        return 130
