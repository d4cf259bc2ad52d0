"""Inference: one photo end to end (face, crop, fold-ensemble probabilities, maps) and its report."""
