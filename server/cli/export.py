"""Export a trained model to TFLite: window and step models in float32, float16 and int8.

Reads the model card and weights written by playbach train, writes
NAME-window-PRECISION.tflite and NAME-step-PRECISION.tflite beside them (batch 1, built-in ops
only) and lists them in the card. Needs the train extra (TensorFlow); running them does not.

example:
  playbach export models/playbach.json
"""
from pathlib import Path


def add_arguments(parser):
    parser.add_argument("card", type=Path, help="the model card (.json) written by playbach train")
    parser.add_argument("--precision", nargs="+", choices=("float32", "float16", "int8"),
                        default=["float32", "float16", "int8"], help="which variants to write")


def run(args):
    from playbach.model.export import export

    card = export(args.card, args.precision)
    for name, size in card["sizes_kb"].items():
        print("%-40s %6d KB" % (name, size))
    return 0
