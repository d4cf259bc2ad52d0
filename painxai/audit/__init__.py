"""The trust audit of a run: per model, can its maps be believed? Written to ``<run>/audit.json``.

A layer of its own above :mod:`painxai.explain` (the array-level scores) and :mod:`painxai.inference`: ``store`` owns
audit.json, ``images`` picks and loads the out-of-fold images, ``model`` computes one model's figures, ``run``
audits a run with resume, ``verdict`` turns figures into a verdict.

Each model is audited on the same out-of-fold test images: every image is explained by the one fold model
whose test fold held its subject (it never saw that face). The figures, per model:

- **randomisation** (:mod:`painxai.explain.sanity`): Spearman and SSIM between the trained model's pain
  map and the map after each step of a cascading randomisation, output layer first;
- **localisation**, on pain images with the twin's region masks (:mod:`painxai.data.regions`): the
  strict pointing game (the map's maximum on a cue region) and the share of positive map mass on the
  cue regions, beside the same figures for three
  maps that ignore the model, made at the model's own map resolution and upsampled like its maps: a
  uniform map, random maps (``RANDOM_DRAWS`` per image) and a centred Gaussian (a centre prior). A map
  whose maximum is tied over several pixels scores the share of those pixels that hit (the expected hit
  under a random tie-break). Without masks: the mean NFCS region shares from FaceMesh landmarks only;
- **faithfulness** (:mod:`painxai.explain.faithfulness`): deletion and insertion AUCs of the map of the
  image's true class, following that class's probability, against random maps;
- **class sensitivity**: the mean Spearman correlation of the pain and the no-pain map (1 = the map does
  not depend on the class asked);
- **fold agreement**: the mean pairwise Spearman correlation of the fold models' pain maps of one image;
- **reference_scale**: the ``REFERENCE_PERCENTILE``-th percentile of the positive values of the model's
  out-of-fold pain maps (raw units), the colour scale the dashboard draws this model's maps on;
- the **verdict** and its reasons (:mod:`painxai.audit.verdict`, where the thresholds are documented).

The file is written atomically after each model, so an interrupted audit resumes: a model already audited
with the same settings and the same finished folds is skipped. The dashboard only reads the file.

Cost: one fold model is cloned per model and loaded with each fold's weights in turn, so every map of a
model comes from one compiled function (a clone per fold would compile ten).
"""
