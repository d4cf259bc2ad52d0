"""InceptionV3 base from ``keras.applications``, with reproducible layer names.

``keras.applications`` leaves most InceptionV3 layers auto-named, and Keras numbers auto names with a
process-wide counter: the second InceptionV3 built in one process would have ``conv2d_94`` where the
first had ``conv2d``. The Grad-CAM target and the fine-tuned layers are addressed by name, so after
building we rename every auto-named layer to the name it gets in a fresh process (class prefix plus
its rank among layers of that class, in creation order). Names keras.applications sets itself
(``mixed0``..``mixed10``, ``mixed9_0``...) are kept.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any


def inception_v3_base(image: Any, weights: str | Path | None) -> Any:
    """Build InceptionV3 without top, average-pooled, on ``image`` ``(None, H, W, 3)`` (H, W >= 75).

    ``weights``: ``None`` (random), ``"imagenet"`` (Keras's download/cache) or a path to Keras's notop HDF5
    file. Returns the pooled feature ``(None, 2048)``; the layers become part of the caller's model.
    """
    import keras

    base = keras.applications.InceptionV3(
        include_top=False, weights=weights if weights is None else str(weights), input_tensor=image, pooling="avg"
    )
    _canonical_names(base.layers)
    return base.output


def _canonical_names(layers: list[Any]) -> None:
    """Rename auto-named layers ``<prefix>_<n>`` to ``<prefix>``, ``<prefix>_1``, ... by creation rank.

    ``model.layers`` is in topological, not creation, order; the creation order is the order of the
    counter Keras appended to each auto name, so layers are ranked by that number within each prefix.
    """
    from keras.src.utils.naming import to_snake_case

    by_prefix: dict[str, list[tuple[int, Any]]] = {}
    for layer in layers:
        prefix = to_snake_case(type(layer).__name__)
        match = re.fullmatch(rf"{re.escape(prefix)}(?:_(\d+))?", layer.name)
        if match is None or prefix == "input_layer":
            continue
        by_prefix.setdefault(prefix, []).append((int(match.group(1) or 0), layer))
    for prefix, numbered in by_prefix.items():
        for rank, (_, layer) in enumerate(sorted(numbered, key=lambda item: item[0])):
            layer.name = prefix if rank == 0 else f"{prefix}_{rank}"
