"""playbach: a neural network that plays Bach, live, on small hardware."""
import argparse
import importlib
import logging

# Each subcommand is a module of this package with a docstring (its help),
# add_arguments(parser) and run(args) -> exit status.
COMMANDS = ("corpus", "train", "export", "eval", "bench", "generate", "serve", "watch", "play")


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
