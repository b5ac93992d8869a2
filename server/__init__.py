"""playbach: a neural network that plays Bach live on small hardware."""

__version__ = "0.1.0"
