"""The two classes, spelled once: their names, their order as class indices, the positive class, and the
probability at which a model says pain.

A leaf module (it imports nothing of painxai), so every package may use it, the models included: the
order of ``CLASSES`` is the order of a two-unit model's softmax columns and of the 0/1 training targets.
"""

from __future__ import annotations

NOPAIN = "nopain"
PAIN = "pain"
#: Class names in class-index order: 0 = no pain, 1 = pain.
CLASSES: tuple[str, str] = (NOPAIN, PAIN)
#: The positive class of the metrics (F1, AUC) and the class whose probability every model reports.
POSITIVE = PAIN
#: A model (or one fold model) says pain when its pain probability reaches this: the argmax of a two-way softmax,
#: the paper's decision threshold (metrics, verdicts, the dashboard's cards, the Compare grid's classes).
PAIN_THRESHOLD = 0.5
