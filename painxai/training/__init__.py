"""Training: profiles, the image pool, augmentation, cached features, the fit loop and the two-phase protocol."""
