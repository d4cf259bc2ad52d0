"""Showing maps: one overlay function, per-map or shared scales, a colour bar, the side-by-side figure.

Libraries normalise every map to [0, 1] on its own, which hides how strong one model's evidence is
next to another's (docs/PROTOCOL.md#grad-cam). Here a map is always drawn against a ``vmax``: its own maximum
(per-map normalisation), one value shared by all the maps in a figure (:func:`shared_scale`), or the
model's own reference scale from the trust audit (:func:`model_scales`: comparable across photos for
one model, and every model visible however weak its raw values).
Values at or above ``vmax`` get the top colour; 0 gets the bottom one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# Shared scale: this percentile of the pooled *positive* values of all maps. Not the plain max,
# because one model's single hot spot would then wash out every other map; with smooth
# (bilinearly upsampled) CAMs the 99th percentile sits just under the true peak.
SHARED_PERCENTILE = 99.0

#: Colour maps a page offers, with the words it shows. The default is perceptually uniform (equal steps in
#: value look like equal steps in colour, and it reads in grey too); jet is the paper's choice, kept for
#: comparison with its Figure 1 (its bright cyan and yellow bands suggest edges that are not in the map).
CMAPS: dict[str, str] = {
    "inferno": "inferno (perceptually uniform)",
    "turbo": "turbo (rainbow-like, smoother than jet)",
    "jet": "jet (the paper's)",
}
DEFAULT_CMAP = "inferno"
#: The opacity of the top colour in an overlay; lower values are proportionally more transparent.
MAX_ALPHA = 0.7
#: Colour of the NFCS region outlines (:func:`outline_regions`): white reads over the dark end of inferno
#: and over skin; the maps' top colours are warm, so it does not blend into a hot spot.
OUTLINE_COLOUR = (255, 255, 255)


def normalise(heatmap: np.ndarray, vmax: float | None = None) -> np.ndarray:
    """Map values to [0, 1] as ``clip(heatmap / vmax, 0, 1)``; vmax None = the map's own maximum.

    heatmap: (H, W) float. A map whose scale is 0 (nothing positive) becomes all zeros.
    """
    heatmap = np.asarray(heatmap, dtype=np.float32)
    scale = float(heatmap.max(initial=0.0)) if vmax is None else float(vmax)
    if not np.isfinite(scale) or scale <= 0:
        return np.zeros_like(heatmap)
    return np.clip(heatmap / scale, 0.0, 1.0)


def shared_scale(maps: Sequence[np.ndarray] | np.ndarray, percentile: float = SHARED_PERCENTILE) -> float:
    """One vmax for several raw maps (any shapes): the ``percentile`` of their pooled positive values.

    Returns 0.0 when no map has a positive value (every overlay then shows no colour).
    """
    if not 0 < percentile <= 100:
        raise ValueError(f"percentile must be in (0, 100]; got {percentile}")
    values = np.concatenate([np.asarray(m, dtype=np.float32).ravel() for m in maps]) if len(maps) else np.zeros(0)
    positive = values[values > 0]
    return float(np.percentile(positive, percentile)) if positive.size else 0.0


#: The colour scales a page offers, with the words its caption uses.
SCALES: dict[str, str] = {
    "reference": "each model on its own reference scale from the audit",
    "per-map": "each map on its own maximum",
    "shared": "one raw scale shared by all maps",
}


def model_scales(
    maps: Mapping[str, Sequence[np.ndarray] | np.ndarray], choice: str, reference: Mapping[str, float | None]
) -> tuple[dict[str, float | None], str]:
    """The ``vmax`` of each model's maps (None = each map on its own maximum) and a caption saying so.

    maps: model -> its raw maps (any shapes). choice: a key of :data:`SCALES`. ``reference``: model -> the
    audit's ``reference_scale`` (raw units: the 99th percentile of the model's out-of-fold maps), None for
    a model not audited. On its reference scale one model's maps are comparable across photos and every
    model is visible; a model without one falls back to per-map scaling, and the caption names it.
    """
    if choice not in SCALES:
        raise ValueError(f"unknown scale {choice!r}: expected one of {', '.join(SCALES)}")
    if choice == "per-map":
        return dict.fromkeys(maps), f"{SCALES[choice]} (hides how strong one model's evidence is)"
    if choice == "shared":
        vmax = shared_scale([np.asarray(group) for group in maps.values()])
        return dict.fromkeys(maps, vmax), f"{SCALES[choice]}: 0 to {vmax:.3g} (a weak model may look blank)"
    scales = {name: (reference.get(name) if (reference.get(name) or 0) > 0 else None) for name in maps}
    known = ", ".join(f"{name} 0 to {value:.3g}" for name, value in scales.items() if value is not None)
    missing = [name for name, value in scales.items() if value is None]
    caption = f"{SCALES[choice]} ({known})" if known else "no model has a reference scale yet"
    if missing:
        caption += f"; {', '.join(missing)}: not audited, each map on its own maximum"
    return scales, caption


def resize_map(heatmap: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a float map (h, w) to ``shape`` (H, W)."""
    heatmap = np.asarray(heatmap, dtype=np.float32)
    if heatmap.shape == tuple(shape):
        return heatmap
    return np.asarray(Image.fromarray(heatmap, mode="F").resize((shape[1], shape[0]), Image.Resampling.BILINEAR))


def colourise(values: np.ndarray, cmap: str = DEFAULT_CMAP) -> np.ndarray:
    """RGB uint8 (..., 3) colours of values in [0, 1] through a matplotlib colour map."""
    from matplotlib import colormaps

    rgba = np.asarray(colormaps[cmap](np.clip(values, 0.0, 1.0)))
    return (rgba[..., :3] * 255.0 + 0.5).astype(np.uint8)


def overlay(
    image: np.ndarray, heatmap: np.ndarray, vmax: float | None = None, cmap: str = DEFAULT_CMAP,
    alpha: float = MAX_ALPHA,
) -> np.ndarray:
    """Blend a map over a photo, the colour's opacity following the value: with ``v = clip(heatmap / vmax,
    0, 1)`` each pixel is ``(1 - alpha * v) * image + alpha * v * colour(v)``.

    Where the map is 0 the result is the photo's pixel exactly; at ``vmax`` and above it is the top colour
    at opacity ``alpha``. image: RGB uint8 (H, W, 3). heatmap: raw float map (h, w), resized bilinearly to
    (H, W) when it differs. vmax: the value drawn with the top colour; None = the map's own maximum.
    Returns RGB uint8 (H, W, 3).
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be RGB uint8 (H, W, 3); got {image.dtype} {image.shape}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1]; got {alpha}")
    heatmap = np.asarray(heatmap)
    if heatmap.ndim != 2:
        raise ValueError(f"heatmap must be 2-D (H, W); got shape {heatmap.shape}")
    values = normalise(resize_map(heatmap, image.shape[:2]), vmax)
    colours = colourise(values, cmap).astype(np.float32)
    opacity = (alpha * values)[..., None]
    photo = image.astype(np.float32)
    # photo + opacity * (colour - photo): exactly the photo's integer value (plus 0.5, floored) where opacity is 0.
    blended = photo + opacity * (colours - photo)
    return np.clip(blended + 0.5, 0, 255).astype(np.uint8)


def outline_regions(picture: np.ndarray, label_map: np.ndarray, colour: tuple[int, int, int] = OUTLINE_COLOUR,
                    ) -> np.ndarray:
    """The ``picture`` (H, W, 3) uint8 with the borders of the regions of ``label_map`` (H, W) drawn in
    ``colour``, one pixel wide: a pixel is on a border when it belongs to a region (label > 0) and a
    4-neighbour has another label. The region ids are those of :data:`painxai.data.regions.REGIONS` (+1)."""
    picture, labels = np.asarray(picture), np.asarray(label_map)
    if picture.ndim != 3 or picture.shape[:2] != labels.shape:
        raise ValueError(f"label map {labels.shape} does not match the picture {picture.shape}")
    padded = np.pad(labels, 1, mode="edge")
    centre = padded[1:-1, 1:-1]
    differs = np.zeros(labels.shape, dtype=bool)
    for neighbour in (padded[:-2, 1:-1], padded[2:, 1:-1], padded[1:-1, :-2], padded[1:-1, 2:]):
        differs |= neighbour != centre
    out = picture.copy()
    out[differs & (centre > 0)] = colour
    return out


def scale_label(vmax: float | None, heatmap: np.ndarray | None = None) -> str:
    """The colour scale of one map in words, e.g. "0–17.5": ``vmax``, or the map's own maximum when None
    (the map is then needed). A scale of 0 says the map is empty."""
    top = float(np.max(heatmap, initial=0.0)) if vmax is None and heatmap is not None else vmax
    if top is None:
        raise ValueError("give vmax or the map")
    return "0 (empty map)" if not np.isfinite(top) or top <= 0 else f"0–{top:.3g}"


def colour_bar(vmax: float, cmap: str = DEFAULT_CMAP, height: int = 256, width: int = 24,
               horizontal: bool = False) -> np.ndarray:
    """A colour bar RGB uint8, the colours at full opacity: upright (height, width, 3) with 0 at the
    bottom and ``vmax`` at the top, or ``horizontal`` (height, width, 3) with 0 on the left.

    The image carries no labels; :func:`side_by_side_figure` draws a labelled one.
    """
    length, thickness = (width, height) if horizontal else (height, width)
    if length < 2 or thickness < 1:
        raise ValueError(f"the colour bar needs a length >= 2 and a thickness >= 1; got {height} x {width}")
    if horizontal:
        ramp = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :]
        repeat = (height, 1)
    else:
        ramp = np.linspace(1.0, 0.0, height, dtype=np.float32)[:, None]
        repeat = (1, width)
    if vmax <= 0:  # nothing positive to show: the whole bar is the bottom colour, like the overlays
        ramp = np.zeros_like(ramp)
    return np.tile(colourise(ramp, cmap), (*repeat, 1))


def side_by_side_figure(
    photo: np.ndarray,
    maps: Mapping[str, np.ndarray],
    titles: Mapping[str, str] | None = None,
    vmax: float | None = None,
    cmap: str = DEFAULT_CMAP,
    alpha: float = MAX_ALPHA,
    suptitle: str | None = None,
) -> Figure:
    """The photo and one overlay column per model, with one shared, labelled colour bar.

    photo: RGB uint8 (H, W, 3). maps: model name -> raw map (H, W) on the photo. titles: model name
    -> column title (e.g. "vgg16  p(pain) 0.82 ± 0.05"); default the name. vmax: default
    :func:`shared_scale` of all maps. Uses the Agg canvas (no display needed); save with
    ``fig.savefig``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    if not maps:
        raise ValueError("side_by_side_figure needs at least one map")
    scale = shared_scale(list(maps.values())) if vmax is None else vmax
    columns = 1 + len(maps)
    figure = Figure(figsize=(2.6 * columns + 0.8, 3.2), dpi=120, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, columns)
    axes[0].imshow(photo)
    axes[0].set_title("photo", fontsize=9)
    for axis, (name, heatmap) in zip(axes[1:], maps.items(), strict=True):
        axis.imshow(overlay(photo, heatmap, scale, cmap, alpha))
        axis.set_title((titles or {}).get(name, name), fontsize=9)
    for axis in axes:
        axis.set_axis_off()
    mappable = ScalarMappable(norm=Normalize(0.0, scale if scale > 0 else 1.0), cmap=cmap)
    bar = figure.colorbar(mappable, ax=list(axes), shrink=0.8, pad=0.01)
    bar.set_label("map value (shared scale, raw units)", fontsize=8)
    if suptitle:
        figure.suptitle(suptitle, fontsize=10)
    return figure


def figure_png(figure: Figure) -> bytes:
    """The PNG bytes of a matplotlib figure (write them with :func:`painxai.atomic.write_bytes`)."""
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def png_bytes(image: np.ndarray) -> bytes:
    """The PNG bytes of an RGB uint8 image (H, W, 3)."""
    import io

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()
