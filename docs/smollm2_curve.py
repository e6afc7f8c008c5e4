"""docs/smollm2_curve.py: the README's learning-curve figure of the default actor (SmolLM2-135M-Instruct).

Every point is a measured test success on the same 96 miniarena test tasks (greedy, train.py's limits), one seed,
as the README's table "Where it stands" lists them with the run behind each; the error bars are one binomial
standard error, sqrt(p (1 - p) / 96), about +-3 points at 10%. The runs' checkpoints are not in the repository,
so the numbers are written here, each beside its run; `compare.py` pairs the evaluations of those that exist.

    .venv/bin/python docs/smollm2_curve.py        # writes docs/smollm2_curve.png
"""
from __future__ import annotations

import math
from pathlib import Path

N = 96
# (label, [(phase, tasks solved of 96, run)]), in the README's order
SERIES = [
    ("the chain's SFT (~4.5 h) -> WebRL, 16 tasks a phase", [(0, 11, "runs/p8"), (1, 17, "runs/p10"), (2, 19, "runs/p10")]),
    ("SFT on 320 tasks (2 h) -> phase 1 of 16 unseen tasks", [(0, 9, "runs/q2"), (1, 7, "runs/q2")]),
    ("SFT on 320 tasks -> phase 1 of 48 unseen tasks", [(0, 9, "runs/q2"), (1, 12, "runs/q3")]),
    ("SFT on 320 tasks -> phase 1 of 32 of its own tasks", [(0, 9, "runs/q2"), (1, 9, "runs/q4")]),
    ("the chain's SFT -> phase 1 without replay", [(0, 11, "runs/p8"), (1, 9, "runs/p11")]),
    ("SFT on 640 tasks (~3 h), the default", [(0, 17, "runs/s640")]),
]


def plot(series: list, out: Path, title: str, ylim: float, step: float = 0.04, line: float | None = None) -> None:
    """series: [(label, [(phase, tasks solved, tasks played)])] -> one line each with binomial standard errors."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    phases = sorted({p for _, points in series for p, _, _ in points})
    for i, (label, points) in enumerate(series):
        dx = (i - (len(series) - 1) / 2) * step   # side by side, so the error bars do not hide each other
        xs = [p + dx for p, _, _ in points]
        ys = [100.0 * k / n for _, k, n in points]
        err = [100.0 * math.sqrt(k / n * (1 - k / n) / n) for _, k, n in points]
        ax.errorbar(xs, ys, yerr=err, marker="o", capsize=3, linestyle="--" if "without" in label else "-", label=label)
    if line is not None:
        ax.axhline(line, color="grey", linewidth=0.8, linestyle=":")
        ax.text(phases[-1] + 0.05, line + 0.3, "issue's SFT line", fontsize=7, color="grey", ha="right")
    ax.set_xticks(phases, ["SFT" if p == 0 else f"phase {p}" for p in phases])
    ns = sorted({n for _, points in series for _, _, n in points})
    ax.set_ylabel(f"test success (%), {'/'.join(map(str, ns))} tasks")
    ax.set_ylim(0, ylim)   # room for the legend above the points
    ax.legend(fontsize=6.5, loc="upper left")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    print(f"wrote {out}")


def main(out: Path = Path(__file__).with_name("smollm2_curve.png")) -> None:
    series = [(label, [(p, k, N) for p, k, _ in points]) for label, points in SERIES]
    plot(series, out, "SmolLM2-135M-Instruct on miniarena, one seed per run", ylim=40, line=15)


if __name__ == "__main__":
    main()
