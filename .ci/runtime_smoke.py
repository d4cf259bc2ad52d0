"""The `make run` path in an environment with only requirements.txt installed (no test packages).

Run by `make check-runtime` with that environment's Python: the smoke demo (twin -> folds -> training -> audit)
through the `painxai` command, then one photo assessed through the dashboard's own script (Streamlit's
AppTest, which ships with Streamlit). Any module the library, app.py or app_pages/ import at run time that
requirements.txt lacks fails here, as it would on a newcomer's machine. Prints one line per step; exit 1 on
the first failure.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(work: Path) -> int:
    data, run = work / "twin", work / "artifacts" / "smoke"
    painxai = Path(sys.executable).with_name("painxai")
    started = time.perf_counter()
    demo = subprocess.run(
        [str(painxai), "demo", "--data", str(data), "--out", str(run), "--size-scale", "0.1", "--profile", "smoke"],
        cwd=ROOT, capture_output=True, text=True,
    )
    if demo.returncode != 0 or not (run / "audit.json").is_file():
        print(demo.stdout[-4000:], demo.stderr[-4000:], sep="\n")
        print(f"runtime smoke: the demo failed (exit {demo.returncode})")
        return 1
    print(f"runtime smoke: demo (twin, folds, training, audit) in {time.perf_counter() - started:.0f} s")

    from streamlit.testing.v1 import AppTest

    os.environ.update(PAINXAI_ARTIFACTS=str(run.parent), PAINXAI_RUN=str(run))
    photo = next(p for p in sorted(data.glob("twin-*/*/*.png")) if not p.name.endswith(".regions.png")).read_bytes()
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300).run()
    app.file_uploader(key="photo_upload").set_value(("twin.png", photo, "image/png"))
    app.run(timeout=300)
    if app.exception or len(app.metric) != 5:
        print(f"runtime smoke: the assessment failed: exceptions {[e.value for e in app.exception]}, "
              f"errors {[e.value for e in app.error]}, {len(app.metric)} probabilities shown")
        return 1
    print("runtime smoke: one photo assessed by the dashboard: "
          + ", ".join(f"{m.label} {m.value}" for m in app.metric))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
