"""Record the chapters' measured run times for the teacher's guide: ``book/chapter_times.json``.

    make test && python tools/chapter_times.py      # after a full test run on the reference machine

Reads ``chapter_seconds`` from every ``results/<chapter>.json`` written by the run, and stores them with
the conditions of the measurement, which the guide prints beside them.
"""
from __future__ import annotations

import datetime
import json
import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    results = Path(os.environ.get("UNIGEN_HOME", ROOT)) / "results"
    times = {}
    for path in sorted(results.glob("*.json")):
        seconds = json.loads(path.read_text()).get("chapter_seconds")
        if seconds is not None:
            times[path.stem] = round(float(seconds), 1)
    chapters = {p.stem for p in (ROOT / "book").rglob("*.ipynb") if "_build" not in p.parts}
    missing = sorted(chapters - set(times) - {"teachers_guide"})
    if missing:
        print(f"no chapter_seconds for {', '.join(missing)}: run make test first")
        return 1
    record = {"conditions": f"make test (pytest -n 2, one torch thread per notebook), {os.cpu_count()} cores, "
                            f"{platform.machine()}, {datetime.date.today().isoformat()}",
              "chapter_seconds": {k: v for k, v in times.items() if k in chapters}}
    (ROOT / "book" / "chapter_times.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote book/chapter_times.json: {len(record['chapter_seconds'])} chapters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
