"""Datasets on disk: the manifest format and its adapters, leave-subjects-out folds, NFCS regions, image loading."""
