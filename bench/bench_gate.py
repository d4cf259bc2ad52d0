"""The input gate's error rates: false accepts on images without a face, false rejects on the twin.

Images without a newborn's face: uniform and Gaussian noise at several sizes, generated textures
(stripes, checkers, gradients, smooth blobs, flat colour), scikit-image's texture and object photos
(brick, grass, gravel, coffee, rocket, horse, coins, moon, page, text, ...; the astronaut and the
camera man, which show adult faces, are left out, and so is chelsea the cat, reported on its own line)
and each of those flipped and rotated. Faces: every image of the twin (``--twin``, default data/twin).

For each image the raw signals are kept (detector score, face side in pixels and as a share of the
photo, landmark check), so the table shows what each threshold would accept; the last lines give the
rates at the thresholds of :mod:`painxai.inference.gate`.

    python bench/bench_gate.py [--twin data/twin] [--limit N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import machine

SKIMAGE_NON_FACES = ("brick", "grass", "gravel", "coffee", "rocket", "horse", "coins", "moon", "page", "text",
                     "retina", "hubble_deep_field", "cell", "clock", "logo", "colorwheel", "immunohistochemistry",
                     "microaneurysms", "checkerboard")


def _rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8:
        image = (255 * (image - image.min()) / max(float(image.max() - image.min()), 1e-9)).astype(np.uint8)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return np.ascontiguousarray(image[..., :3])


def non_faces(seed: int = 0) -> dict[str, np.ndarray]:
    """Named RGB uint8 images that hold no face."""
    import skimage.data

    rng = np.random.default_rng(seed)
    images: dict[str, np.ndarray] = {}
    for height, width in ((480, 640), (224, 224), (1080, 1920), (300, 200)):
        for index in range(5):
            images[f"uniform noise {width}x{height} #{index}"] = rng.integers(0, 256, (height, width, 3), np.uint8)
            gauss = np.clip(rng.normal(128, 50, (height, width, 3)), 0, 255).astype(np.uint8)
            images[f"gaussian noise {width}x{height} #{index}"] = gauss
    y, x = np.mgrid[0:480, 0:640]
    for period in (8, 32, 96):
        images[f"stripes {period}px"] = _rgb(((x // period) % 2 * 255).astype(np.uint8))
        images[f"checkers {period}px"] = _rgb((((x // period) + (y // period)) % 2 * 255).astype(np.uint8))
    images["gradient"] = _rgb((x * 255 // 639).astype(np.uint8))
    images["flat skin colour"] = np.full((480, 640, 3), (224, 172, 150), np.uint8)
    for index in range(5):
        import cv2

        blobs = cv2.GaussianBlur(rng.integers(0, 256, (480, 640, 3), np.uint8), (0, 0), 4 + 8 * index)
        images[f"smooth blobs #{index}"] = cv2.normalize(blobs, None, 0, 255, cv2.NORM_MINMAX)
    for name in SKIMAGE_NON_FACES:
        loader = getattr(skimage.data, name, None)
        if loader is None:
            continue
        try:
            picture = _rgb(loader())
        except Exception:
            continue
        images[name] = picture
        images[f"{name} flipped"] = np.ascontiguousarray(picture[::-1])
        images[f"{name} rotated"] = np.ascontiguousarray(np.rot90(picture))
    return images


def signals(image: np.ndarray, floor: float = 0.3) -> list[dict[str, float | bool]]:
    """The gate's raw inputs for every face the detector scores at least ``floor`` in ``image``."""
    from painxai.faces.detection import detect_faces
    from painxai.faces.landmarks import face_landmarks

    rows = []
    for face in detect_faces(image, min_score=floor).faces:
        side = min(face.box[2] - face.box[0], face.box[3] - face.box[1])
        rows.append({"score": face.score, "area": face.area, "side": side, "share": side / min(image.shape[:2]),
                     "landmarks_ok": bool(face_landmarks(image, face).ok)})
    return rows


def accepted(faces: list[dict], score: float, side: float, share: float, landmarks: bool = True) -> bool:
    """Whether the gate with these thresholds would accept the image whose faces are ``faces``: the largest
    face scored at least ``score`` must be large enough and (with ``landmarks``) pass the landmark check."""
    candidates = [face for face in faces if face["score"] >= score]
    if not candidates:
        return False
    face = max(candidates, key=lambda f: f["area"])
    return face["side"] >= side and face["share"] >= share and (face["landmarks_ok"] or not landmarks)


def best_score(faces: list[dict]) -> float:
    return max((face["score"] for face in faces), default=0.0)


def main() -> None:

    from painxai.data.images import load_image
    from painxai.inference import gate

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--twin", type=Path, default=Path("data/twin"))
    parser.add_argument("--limit", type=int, default=0, help="At most this many twin images (0: all).")
    args = parser.parse_args()
    print(machine())
    started = time.perf_counter()
    negatives = {name: signals(image) for name, image in non_faces().items()}
    import skimage.data

    cat = signals(_rgb(skimage.data.chelsea()))
    manifest_file = args.twin / "manifest.csv"
    manifest = ([args.twin / line.split(",", 1)[0] for line in manifest_file.read_text().splitlines()[1:]]
                if manifest_file.is_file() else [])
    if args.limit:
        manifest = manifest[:: max(1, len(manifest) // args.limit)][: args.limit]
    positives = {str(path.relative_to(args.twin)): signals(load_image(path)) for path in manifest}
    print(f"{len(negatives)} images without a face, {len(positives)} twin faces; {time.perf_counter() - started:.0f} s")
    if not positives:
        print(f"no twin images under {args.twin}: make the twin first (painxai demo or painxai data twin)")

    def rates(score: float, side: float, share: float, landmarks: bool = True) -> tuple[float, float]:
        fa = np.mean([accepted(r, score, side, share, landmarks) for r in negatives.values()])
        fr = np.mean([not accepted(r, score, side, share, landmarks) for r in positives.values()]) if positives else 0
        return float(fa), float(fr)

    header = ("min score", "min side", "min share", "landmarks", "false accept", "false reject")
    print(" ".join(f"{title:>12}" for title in header))
    for score in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
        for landmarks in (False, True):
            fa, fr = rates(score, gate.MIN_FACE_SIDE, gate.MIN_FACE_SHARE, landmarks)
            print(f"{score:>12.1f} {gate.MIN_FACE_SIDE:>12} {gate.MIN_FACE_SHARE:>12.2f} {landmarks!s:>12} "
                  f"{fa:>12.1%} {fr:>12.1%}")
    fa, fr = rates(gate.MIN_DETECTOR_SCORE, gate.MIN_FACE_SIDE, gate.MIN_FACE_SHARE)
    print(f"chosen: score >= {gate.MIN_DETECTOR_SCORE}, side >= {gate.MIN_FACE_SIDE} px, share >= "
          f"{gate.MIN_FACE_SHARE}, landmarks ok: false accept {fa:.1%} of {len(negatives)}, "
          f"false reject {fr:.1%} of {len(positives)}")
    let_through = [n for n, r in negatives.items()
                   if accepted(r, gate.MIN_DETECTOR_SCORE, gate.MIN_FACE_SIDE, gate.MIN_FACE_SHARE)]
    print("non-faces accepted:", ", ".join(let_through) or "none")
    print("detected but refused (highest scores):", ", ".join(
        f"{n} {best_score(r):.2f}" for n, r in sorted(negatives.items(), key=lambda kv: -best_score(kv[1]))[:8]))
    print(f"chelsea the cat: best score {best_score(cat):.2f}, accepted "
          f"{accepted(cat, gate.MIN_DETECTOR_SCORE, gate.MIN_FACE_SIDE, gate.MIN_FACE_SHARE)}")
    rejected = [n for n, r in positives.items()
                if not accepted(r, gate.MIN_DETECTOR_SCORE, gate.MIN_FACE_SIDE, gate.MIN_FACE_SHARE)]
    print(f"twin faces refused ({len(rejected)}):", ", ".join(rejected[:20]))
    scores = np.array([best_score(r) for r in positives.values()])
    if scores.size:
        print(f"twin best detector scores: min {scores.min():.2f}, 5th percentile {np.percentile(scores, 5):.2f}, "
              f"median {np.median(scores):.2f}")


if __name__ == "__main__":
    main()
