"""The synthetic twin of UNIFESP and iCOPE: planned subjects and drawn newborn faces with known cue regions."""
