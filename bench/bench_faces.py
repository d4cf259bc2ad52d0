"""Face detection + landmarks: time per photo, detection rate and landmark error on the synthetic twin.

Prints the machine, then
- on scikit-image's astronaut (512x512) and on a 3008x2000 upscale of it (an iCOPE-sized photo): the
  median time of MediaPipe detection, of the landmarks (one pass and with the refining second pass),
  and of the Haar cascade (the baseline, same process); target: detection + landmarks under 30 ms;
- on the twin (``data/twin`` if generated, else a small one generated into a temporary folder): the
  share of images where each detector finds a face, and the landmark error against ``truth.csv``
  (eye centres, nose tip, mouth centre, chin) in % of the true inter-ocular distance.

Usage: ``python bench/bench_faces.py [--twin DIR] [--limit N]``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from skimage import data

from benchlib import cpu_model, median_seconds
from painxai.data.images import load_image
from painxai.data.regions import LANDMARKS
from painxai.faces.detection import detect_faces
from painxai.faces.landmarks import face_landmarks
from painxai.faces.model_files import models_status

ROOT = Path(__file__).resolve().parent.parent


def time_photo(name: str, image: np.ndarray, repeats: int) -> None:
    face = detect_faces(image).primary
    if face is None:
        print(f"{name}: no face found, nothing to time")
        return
    detect = 1000 * median_seconds(lambda: detect_faces(image), repeats)
    one_pass = 1000 * median_seconds(lambda: face_landmarks(image, face, refine=False), repeats)
    two_pass = 1000 * median_seconds(lambda: face_landmarks(image, face), repeats)
    haar = 1000 * median_seconds(lambda: detect_faces(image, method="haar"), repeats)
    print(f"{name} {image.shape[1]}x{image.shape[0]}: MediaPipe detection {detect:.1f} ms, landmarks "
          f"{one_pass:.1f} ms (1 pass) / {two_pass:.1f} ms (2 passes); detection + landmarks {detect + two_pass:.1f} "
          f"ms (target < 30); baseline Haar detection {haar:.1f} ms")


def twin_folder(requested: Path | None) -> tuple[Path | None, str]:
    """The twin to measure on: ``requested``, ``data/twin``, or a small one generated now."""
    for folder in (requested, ROOT / "data" / "twin"):
        if folder is not None and (folder / "truth.csv").is_file():
            return folder, f"twin {folder}"
    try:
        from painxai.synth.twin import generate_twin
    except ImportError:
        return None, "no twin (data/twin missing and painxai.synth.twin not available)"
    out = Path(tempfile.mkdtemp(prefix="twin_faces_"))
    generate_twin(out, seed=0, size_scale=0.2)
    return out, f"small twin generated in {out} (size_scale 0.2)"


def landmark_errors(points: np.ndarray, truth: pd.Series) -> dict[str, float]:
    """Distance of each keypoint from the truth, in % of the true inter-ocular distance."""
    right_eye = np.array([truth.right_eye_x, truth.right_eye_y])
    left_eye = np.array([truth.left_eye_x, truth.left_eye_y])
    interocular = float(np.linalg.norm(left_eye - right_eye))
    estimates = {
        "right_eye": points[list(LANDMARKS["eye_right"])].mean(axis=0),
        "left_eye": points[list(LANDMARKS["eye_left"])].mean(axis=0),
        "nose": points[1],
        "mouth": points[list(LANDMARKS["mouth"])].mean(axis=0),
        "chin": points[152],
    }
    return {key: 100 * float(np.linalg.norm(value - np.array([truth[f"{key}_x"], truth[f"{key}_y"]]))) / interocular
            for key, value in estimates.items()}


def measure_twin(folder: Path, limit: int) -> None:
    truth = pd.read_csv(folder / "truth.csv")
    if len(truth) > limit:
        truth = truth.sample(limit, random_state=0)
    found = {"mediapipe": 0, "haar": 0}
    errors: dict[str, list[dict[str, float]]] = {"mediapipe": [], "haar": []}
    landmarks_ok = {"mediapipe": 0, "haar": 0}
    for row in truth.itertuples(index=False):
        path = Path(row.path) if Path(row.path).is_absolute() else folder / row.path
        image = load_image(path)
        for method in found:
            face = detect_faces(image, method=method).primary
            if face is None:
                continue
            found[method] += 1
            landmarks = face_landmarks(image, face)
            landmarks_ok[method] += landmarks.ok
            errors[method].append(landmark_errors(landmarks.points, pd.Series(row._asdict())))
    print(f"{len(truth)} twin images")
    for method in found:
        rate = 100 * found[method] / len(truth)
        print(f"  {method}: face found in {found[method]}/{len(truth)} ({rate:.0f}%), landmarks ok in "
              f"{landmarks_ok[method]}")
        if errors[method]:
            table = pd.DataFrame(errors[method])
            summary = ", ".join(f"{key} {table[key].median():.0f}" for key in table.columns)
            print(f"    landmark error, median % of inter-ocular distance: {summary}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--twin", type=Path, default=None, help="twin folder with truth.csv (default data/twin)")
    parser.add_argument("--limit", type=int, default=120, help="at most this many twin images")
    parser.add_argument("--repeats", type=int, default=30, help="timed calls per measurement")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, {cpu_model()}; OpenCV {cv2.__version__}, "
          f"threads {cv2.getNumThreads()}")
    status = models_status()
    if any(row["state"] != "ok" for row in status.values()):
        print("face models missing: run `painxai faces fetch-models` first")
        return
    astronaut = data.astronaut()
    time_photo("astronaut", astronaut, args.repeats)
    time_photo("astronaut upscaled", cv2.resize(astronaut[:, 6:506], (3008, 2000), interpolation=cv2.INTER_CUBIC),
               args.repeats)
    folder, description = twin_folder(args.twin)
    print(description)
    if folder is not None:
        measure_twin(folder, args.limit)


if __name__ == "__main__":
    main()
