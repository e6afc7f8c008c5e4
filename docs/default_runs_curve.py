"""docs/default_runs_curve.py: the README's learning curve of the default run (SFT, then WebRL phases), one line per
whole `make train`-equivalent run whose records are committed under results/.

Each point is the test success of one phase's checkpoint on the run's 80 test tasks (greedy), read from that
run's `phaseK/eval.jsonl`; the error bars are one binomial standard error, sqrt(p (1 - p) / n), about +-5 points
at 25% on 80 tasks. The runs play the same 80 test tasks (seed 0), so their points can be read side by side.

    .venv/bin/python docs/default_runs_curve.py      # writes docs/default_runs_curve.png
"""
from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# (label, records directory), in the order they were run
RUNS = [
    ("run 1: eager (sessions 27-28, ~3 h 05 min)", "results/make_train_s27"),
    ("run 2: --compile (session 29)", "results/make_train_s29"),
]


def curve(records: Path) -> list[tuple[int, int, int]]:
    """[(phase, tasks solved, tasks played)] for every phase whose evaluation is in `records`."""
    out = []
    for ev in sorted(records.glob("phase*/eval.jsonl"), key=lambda p: int(p.parent.name[5:])):
        scores = [json.loads(line)["score"] for line in ev.read_text().splitlines() if line.strip()]
        out.append((int(ev.parent.name[5:]), sum(s == 1.0 for s in scores), len(scores)))
    return out


def main(out: Path = Path(__file__).with_name("default_runs_curve.png")) -> None:
    from smollm2_curve import plot   # beside this file
    series = []
    for label, rel in RUNS:
        points = curve(ROOT / rel)
        if points:
            series.append((label, points))
        else:
            print(f"{rel}: no phase*/eval.jsonl, left out")
    plot(series, out, "The default run: SmolLM2-135M-Instruct, SFT then WebRL, seed 0", ylim=45, step=0.05)


if __name__ == "__main__":
    main()
