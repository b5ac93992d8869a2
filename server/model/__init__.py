"""The next-event model: symbols, training, export, evaluation."""
