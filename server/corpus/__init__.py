"""MIDI files to event tokens: the corpus the model learns from."""
