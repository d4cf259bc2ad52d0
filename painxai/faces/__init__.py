"""Faces in photos: the detector and landmark model files, detection, landmarks and the face crop."""
