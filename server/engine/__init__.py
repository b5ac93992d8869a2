"""Generation: the model turned into music, one event at a time (TFLite interpreter only)."""
