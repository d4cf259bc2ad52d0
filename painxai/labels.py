"""The two classes, spelled once: their names, their order as class indices, and the positive class.

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
