"""The run folder: the one package that writes and reads it (layout, writer, reader, fold ensembles)."""
