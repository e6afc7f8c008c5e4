"""bench/paper_table.py: the paper's comparisons re-run on miniarena, every run from the same seeds, the same
SFT checkpoint per seed and the same test split (WebRL, arXiv 2411.02337: Table 1, Figure 5, Table 2).

    python bench/paper_table.py                                  # all of it: 3 seeds (hours on a laptop CPU)
    python bench/paper_table.py --seeds 0 --only webrl,digirl    # a piece; finished runs are reused
    python bench/paper_table.py --report                         # the tables and plot from what has finished
    python bench/paper_table.py --extra "--eval-tasks 50"        # any train.py flag, for every run

What runs (train.py, one process each, defaults = the default `python train.py` unless --extra says else):
  sft            `--algo sft`: phase 0 (SFT on the oracle demonstrations; + the tiny ORM under --reward orm); the SFT row, and
                 the starting point of every run below (copied, then `--resume`d), so all of them share it
  webrl          the full loop (eq. 6, replay, evolving curriculum; the evaluators' reward, --extra "--reward orm": the ORM's)
  filtered_bc, awr, digirl                                        the baselines of Table 1 (train.py --algo)
  webrl_no_replay, webrl_no_kl, webrl_no_curriculum               the ablations of Figure 5
  band_all, band_high, band_low   phase 1 only, the replay's confidence band (0, 1], (0.95, 1], (0, 0.5];
                 the paper's band (0.5, 0.95] is webrl's phase 1 (Table 2)
  answer         not in the paper, and no training: `evaluate.py --answer 1` on the same test tasks, every
                 task answered "1" at once. The floor of Table 1: what a constant guess earns (miniarena's
                 "How many ..." questions often count one thing), which a policy's success is read against

A run is cached when its state.json says its last phase finished; an interrupted one is resumed (train.py
--resume loses at most the phase in progress). Checkpoints go to --runs (ignored by git); the tables, the
plot and the exact commands to --out (results/paper_table/). Table 1 reports, per site and on average, the
mean +- std over the seeds of each algorithm's success after its last phase.

The report is built from --out/rows/seed<S>/<run>.json, one small record per run (its state.json's
per-phase success rows), refreshed from --runs before every report and committed with the results: the
tables can be re-made, and seeds added to them, on a checkout that has none of the checkpoints. Beside each
record, <run>/phase<k>.jsonl keeps each phase's per-task test results (task, site, score), so that runs are
also compared task by task: the report pools WebRL's gains and losses against each baseline over the seeds
(sign test), and `python compare.py A.jsonl B.jsonl` pairs any two.
"""
from __future__ import annotations

import argparse
import json
import math
import operator
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import evaluate  # noqa: E402
import rundir  # noqa: E402
import train  # noqa: E402
from rundir import SITE_COLUMNS  # noqa: E402
from train import ALGO_NAMES  # noqa: E402

# name -> (train.py flags, phases: None = --phases, else fixed)
RUNS = {
    "webrl": ([], None),
    "filtered_bc": (["--algo", "filtered_bc"], None),
    "awr": (["--algo", "awr"], None),
    "digirl": (["--algo", "digirl"], None),
    "webrl_no_replay": (["--no-replay"], None),
    "webrl_no_kl": (["--no-kl"], None),
    "webrl_no_curriculum": (["--curriculum", "none"], None),
    "band_all": (["--conf-low", "0", "--conf-high", "1"], 1),
    "band_high": (["--conf-low", "0.95", "--conf-high", "1"], 1),
    "band_low": (["--conf-low", "0", "--conf-high", "0.5"], 1),
}
ANSWER = "1"   # the answer row's constant guess
TABLE1 = ["answer", "sft", "filtered_bc", "awr", "digirl", "webrl"]
NAMES = ["answer", "sft", *RUNS]   # every name --only takes
LABELS = {"answer": f"Answer {ANSWER!r}, no model (not in the paper)", **ALGO_NAMES}
FIGURE5 = ["webrl", "webrl_no_replay", "webrl_no_kl", "webrl_no_curriculum", "digirl", "awr", "filtered_bc"]
BANDS = [("(0, 1] (all)", "band_all"), ("(0.95, 1]", "band_high"), ("(0.5, 0.95] (paper)", "webrl"), ("(0, 0.5]", "band_low")]
COLS = [name for _, name in SITE_COLUMNS] + ["Avg"]


def finished(run: Path) -> int:
    """The last finished phase of a run directory (-1: none)."""
    try:
        return json.loads((run / "state.json").read_text())["finished"]
    except (OSError, ValueError, KeyError):
        return -1


def train_cmd(run: Path, seed: int, flags: list, phases: int, extra: list, resume: bool) -> list:
    return ([sys.executable, str(ROOT / "train.py"), "--run-dir", str(run), "--seed", str(seed), "--phases", str(phases)]
            + extra + flags + (["--resume"] if resume else []))


def run_one(name: str, seed: int, a, log) -> bool:
    """Run (or finish, or reuse) one configuration for one seed; True when its last phase has finished."""
    base = Path(a.runs) / f"seed{seed}"
    run = base / name
    if name == "sft":
        flags, phases = ["--algo", "sft"], 0
    else:
        flags, phases = RUNS[name][0], RUNS[name][1] if RUNS[name][1] is not None else a.phases
    if finished(run) >= phases:
        return True
    if name != "sft":
        if not run_one("sft", seed, a, log):
            return False
        if not run.exists():   # every algorithm starts from this seed's SFT checkpoint, ORM and replay buffer
            shutil.copytree(base / "sft", run, ignore=shutil.ignore_patterns("episodes", "FROM.txt"))
    cmd = train_cmd(run, seed, flags, phases, shlex.split(a.extra), resume=run.exists() and any(run.iterdir()))
    announce(cmd[1:], name, seed, a, log)
    t0 = time.time()
    with open(base / f"{name}.log", "a") as out:
        rc = subprocess.run(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT).returncode
    log(f"[{name} seed {seed}] exit {rc} after {time.time() - t0:.0f}s")
    return rc == 0 and finished(run) >= phases


def announce(script_args: list, name: str, seed: int, a, log) -> None:
    """Log a run's command and append it to --out/commands.txt, paths relative to the repository."""
    line = "python " + " ".join(shlex.quote(str(c)) for c in script_args).replace(str(ROOT) + "/", "")
    log(f"[{name} seed {seed}] {line}")
    with open(Path(a.out) / "commands.txt", "a") as f:
        f.write(line + "\n")


def record_path(out: Path, seed: int, name: str) -> Path:
    return out / "rows" / f"seed{seed}" / f"{name}.json"


def write_record(out: Path, seed: int, name: str, rec: dict) -> None:
    path = record_path(out, seed, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rec, indent=1) + "\n")


def tasks_path(out: Path, seed: int, name: str, phase: int) -> Path:
    """A phase's per-task test results of one run, beside its record: what pairs runs task by task."""
    return out / "rows" / f"seed{seed}" / name / f"phase{phase}.jsonl"


def write_tasks(out: Path, seed: int, name: str, phase: int, evaluation: Path) -> None:
    """Copy an evaluation's per-task lines (rundir.read_eval: task, site, score; ~5 KB for 96 tasks) to tasks_path."""
    path = tasks_path(out, seed, name, phase)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(x) + "\n" for x in rundir.read_eval(evaluation)))


def run_answer(name: str, seed: int, a, log) -> bool:
    """The answer row: evaluate.py --answer on the test tasks train.py evaluates on (same seed, --eval-tasks and
    --test-tasks, --extra included). Nothing is trained, so the record is written here; it is cached like a run."""
    if record_path(Path(a.out), seed, name).exists():
        return True
    targs = train.parse_args(["--seed", str(seed), *shlex.split(a.extra)])
    ea = evaluate.EvalArgs(answer=ANSWER, seed=seed, limit=targs.eval_tasks, tasks=targs.test_tasks,
                           max_steps=targs.max_steps, out=str(Path(a.runs) / f"seed{seed}" / "answer"))
    announce(["evaluate.py", "--answer", ea.answer, "--seed", seed, "--limit", ea.limit, "--out", ea.out]
             + (["--tasks", ea.tasks] if ea.tasks else []), name, seed, a, log)
    try:
        row = evaluate.main(ea)
    except Exception as e:   # a browser or site failure: reported with the failed runs, the other runs go on
        log(f"[answer seed {seed}] failed: {type(e).__name__}: {e}")
        return False
    write_record(Path(a.out), seed, name, {"finished": 0, "rows": [dict(row, phase=0)]})
    write_tasks(Path(a.out), seed, name, 0, Path(ea.out))
    return True


def record(runs: Path, out: Path, seed: int, name: str) -> None:
    """Copy a run's success rows (and its FROM.txt, when it was made elsewhere) from its checkpoint directory
    to its record under out/rows/, which the report reads; a run that has no state.json keeps its record."""
    run = runs / f"seed{seed}" / name
    try:
        state = json.loads((run / "state.json").read_text())
        rec = {"finished": state["finished"], "rows": state["rows"]}
    except (OSError, ValueError, KeyError):
        return
    if (run / "FROM.txt").exists():
        rec["note"] = (run / "FROM.txt").read_text().strip()
    write_record(out, seed, name, rec)
    for k in range(rec["finished"] + 1):
        if (run / f"phase{k}" / "eval.jsonl").exists():
            write_tasks(out, seed, name, k, run / f"phase{k}")


def records(out: Path, seed: int) -> dict:
    """{run name: record} of one seed's records."""
    return {p.stem: json.loads(p.read_text()) for p in sorted((out / "rows" / f"seed{seed}").glob("*.json"))}


def mean_std(xs: list) -> str:
    xs = [x for x in xs if not math.isnan(x)]
    if not xs:
        return "-"
    m = sum(xs) / len(xs)
    s = math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else 0.0
    return f"{m:.1f} +- {s:.1f}"


def last_row(rows: list, phases: int):
    """The row after the run's last phase (phase 0 for sft), or None while it has not finished."""
    return rows[-1] if rows and rows[-1]["phase"] == phases else None


def paired(*sides: dict) -> tuple:
    """Each side's mean over the seeds that every side finished ({seed: success}), and their number: a
    comparison of runs from different seeds would measure the seeds (their test tasks differ), not the runs."""
    common = set.intersection(*(set(side) for side in sides))
    means = [sum(side[k] for k in common) / len(common) if common else float("nan") for side in sides]
    return means, len(common)


def pooled(out: Path, seeds: list, after: tuple, before: tuple) -> tuple:
    """(rundir.paired's 'Avg', seeds) of two runs' (name, phase) test results, task by task, pooled over the seeds
    whose per-task files both have (a task is its seed's: seeds evaluate different test tasks); (None, 0) if none."""
    a, b, used = [], [], 0
    for s in seeds:
        pa, pb = tasks_path(out, s, *after), tasks_path(out, s, *before)
        if pa.exists() and pb.exists():
            a += [dict(x, task_id=f"{s}:{x['task_id']}") for x in rundir.read_eval(pa)]
            b += [dict(x, task_id=f"{s}:{x['task_id']}") for x in rundir.read_eval(pb)]
            used += 1
    return (rundir.paired(b, a)["Avg"], used) if used else (None, 0)


def report(a) -> str:
    seeds = a.seed_list
    recs = {s: records(Path(a.out), s) for s in seeds}
    rows_of = lambda s, name: recs[s].get(name, {}).get("rows", [])  # noqa: E731
    out = ["# WebRL on miniarena: the paper's comparisons\n",
           f"Seeds {seeds}; {a.phases} phases; train.py defaults{' + ' + a.extra if a.extra else ''}. "
           "Success rate (%) on miniarena's test split (train.py --eval-tasks of it, spread over sites), "
           "mean +- std over the seeds that finished (n).\n",
           "## Table 1: algorithms (after the last phase)\n",
           "| model | n | " + " | ".join(COLS) + " |", "|---" * (len(COLS) + 2) + "|"]
    final = {}   # run -> {seed: average success after its last phase}
    for name in TABLE1:
        phases = 0 if name in ("sft", "answer") else a.phases
        rows = {s: r for s, r in ((s, last_row(rows_of(s, name), phases)) for s in seeds) if r}
        final[name] = {s: r["Avg"] for s, r in rows.items()}
        out.append(f"| {LABELS[name]} | {len(rows)} | " + " | ".join(mean_std([r.get(c, math.nan) for r in rows.values()]) for c in COLS) + " |")
    out += ["", "## Figure 5: average success per phase (phase 0 = the shared SFT checkpoint)\n",
            "| run | n | " + " | ".join(f"phase {k}" for k in range(a.phases + 1)) + " |", "|---" * (a.phases + 3) + "|"]
    curves = {}
    for name in FIGURE5:
        if name not in final:   # webrl is in Table 1 already
            final[name] = {s: r["Avg"] for s in seeds if (r := last_row(rows_of(s, name), a.phases))}
        per = []
        for k in range(a.phases + 1):
            xs = [r["Avg"] for s in seeds for r in rows_of(s, name if k else "sft") if r["phase"] == k]
            if k and not any(r["phase"] == k for s in seeds for r in rows_of(s, name)):
                xs = []
            per.append(sum(xs) / len(xs) if xs else float("nan"))
        curves[name] = per
        out.append(f"| {name} | {len(final[name])} | " + " | ".join("-" if math.isnan(x) else f"{x:.1f}" for x in per) + " |")
    out += ["", "## Table 2: replay confidence band, phase-1 success\n", "| band exp(mean log pi) | n | Avg |", "|---|---|---|"]
    band = {}    # band -> {seed: phase-1 success}
    for label, name in BANDS:
        band[label] = {s: r["Avg"] for s in seeds for r in rows_of(s, name) if r["phase"] == 1}
        out.append(f"| {label} | {len(band[label])} | {mean_std(list(band[label].values()))} |")

    def check(claim, sides, holds, sides_to_compare=lambda m: (m[0], m[1])):
        """(claim, left, right, holds, n): the sides' means over the n seeds all of them finished; both sides
        are printed so that a tie (0.0 vs 0.0) reads as one."""
        means, n = paired(*sides)
        left, right = sides_to_compare(means)
        return claim, left, right, holds(left, right), n
    checks = [check("WebRL > DigiRL", (final["webrl"], final["digirl"]), operator.gt),
              check("WebRL > AWR", (final["webrl"], final["awr"]), operator.gt),
              check("DigiRL and AWR > Filtered BC", (final["digirl"], final["awr"], final["filtered_bc"]), operator.gt,
                    lambda m: (min(m[0], m[1]), m[2])),
              check("Filtered BC > SFT", (final["filtered_bc"], final["sft"]), operator.gt),
              check("WebRL >= SFT + 15 points", (final["webrl"], final["sft"]), operator.ge, lambda m: (m[0], m[1] + 15)),
              check(f"WebRL > Answer {ANSWER!r} (not in the paper)", (final["webrl"], final["answer"]), operator.gt),
              check("no replay: below WebRL at the last phase", (final["webrl_no_replay"], final["webrl"]), operator.lt),
              check("no KL: below WebRL at the last phase", (final["webrl_no_kl"], final["webrl"]), operator.lt)]
    # the paper's band holds if it is >= every other band that was run (each pair over its shared seeds);
    # the line shows the closest pair
    paper = BANDS[2][0]
    vs = [check("", (band[paper], band[label]), operator.ge) for label, _ in BANDS if label != paper and band[label]]
    _, left, right, _, n = min(vs, key=lambda c: c[1] - c[2] if c[4] else math.inf, default=("", math.nan, math.nan, False, 0))
    checks.append(("(0.5, 0.95] band >= every other band", left, right, bool(vs) and all(c[3] for c in vs), n))
    out += ["", "## The paper's shape, as measured\n"]
    out += [f"- {claim}: {'yes' if ok else 'NO'} ({left:.1f} vs {right:.1f}, n={n})" for claim, left, right, ok, n in checks]
    out.append("\n(each comparison is over the n seeds that both sides finished; with n=0, nan, it reads NO)")
    out += ["", "## Task by task: the last phases paired on the same test tasks, pooled over seeds\n",
            "| after | before | seeds | tasks | before | after | gained | lost | sign test p |", "|---" * 9 + "|"]
    last = lambda name: (name, 0 if name in ("sft", "answer") else a.phases)  # noqa: E731
    for after, before in (("webrl", "sft"), ("webrl", "digirl"), ("webrl", "awr"), ("webrl", "filtered_bc"),
                          ("filtered_bc", "sft"), ("webrl", "webrl_no_replay"), ("webrl", "webrl_no_kl"), ("sft", "answer")):
        r, n = pooled(Path(a.out), seeds, last(after), last(before))
        if r:
            out.append(f"| {after} | {before} | {n} | {r['tasks']} | {r['before']} | {r['after']} | {r['gained']} | "
                       f"{r['lost']} | {r['p']:.3g} |")
    out.append("\n(from the per-task files beside the records, rows/seed<S>/<run>/phase<k>.jsonl; "
               "`python compare.py` pairs any two of them)")
    notes = {}   # runs not made by this script (e.g. the default run reused as seed 0's webrl), records not from a run
    for s in seeds:
        for name, rec in recs[s].items():
            if "note" in rec:
                notes.setdefault(rec["note"], {}).setdefault(s, []).append(name)
    if notes:
        out += ["", "Notes on the records:"]
        for note, where in notes.items():
            out.append("- " + "; ".join(f"seed{s} ({', '.join(names)})" for s, names in where.items()) + f": {note}")
    floor = list(final["answer"].values())
    plot(curves, {k: len(final[k]) for k in curves}, a, Path(a.out) / "figure5.png",
         floor=(sum(floor) / len(floor), len(floor)) if floor else None)
    return "\n".join(out) + "\n"


def plot(curves: dict, n: dict, a, path: Path, floor: tuple | None = None) -> None:
    """Figure 5: each run's mean success per phase; floor = (mean, n) of the answer row, drawn across."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    for name, ys in curves.items():
        ax.plot(range(len(ys)), ys, marker="o" if name == "webrl" else ".", label=f"{name} (n={n[name]})",
                color="black" if name == "webrl" else None)
    if floor:
        ax.axhline(floor[0], ls="--", color="gray", label=f"answer {ANSWER!r}, no model (n={floor[1]})")
    ax.set_xlabel("phase (0 = SFT)")
    ax.set_ylabel("test success (%)")
    ax.set_title(f"miniarena, mean over the n of seeds {a.seed_list} that finished", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    ap.add_argument("--phases", type=int, default=3, help="RL phases of every run but the bands (train.py --phases)")
    ap.add_argument("--only", default="", help="comma-separated run names (" + ", ".join(NAMES) + "); empty: all")
    ap.add_argument("--extra", default="", help="more train.py flags for every run, e.g. \"--eval-tasks 50\"")
    ap.add_argument("--runs", default=str(ROOT / "runs" / "paper_table"), help="where the runs go")
    ap.add_argument("--out", default=str(ROOT / "results" / "paper_table"), help="where the tables, plot and commands go")
    ap.add_argument("--report", action="store_true", help="only write the report from the finished runs")
    a = ap.parse_args(argv)
    a.seed_list = [int(s) for s in a.seeds.split(",") if s.strip()]
    names = [n.strip() for n in a.only.split(",") if n.strip()] or NAMES
    unknown = [n for n in names if n not in NAMES]
    if unknown:
        raise SystemExit(f"--only: unknown run names {unknown}; known: {', '.join(NAMES)}")
    Path(a.out).mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    log = lambda s: print(f"[{time.time() - t0:6.0f}s] {s}", flush=True)  # noqa: E731
    failed = []
    if not a.report:
        for seed in a.seed_list:           # seed by seed, so a partial run gives whole comparisons
            (Path(a.runs) / f"seed{seed}").mkdir(parents=True, exist_ok=True)
            for name in names:
                if not (run_answer if name == "answer" else run_one)(name, seed, a, log):
                    failed.append(f"{name} seed {seed}")
    for seed in a.seed_list:
        for name in ["sft", *RUNS]:   # the answer row writes its record itself
            record(Path(a.runs), Path(a.out), seed, name)
    text = report(a)
    if failed:
        text += "\nRuns that failed (see their .log under " + a.runs + "): " + ", ".join(failed) + "\n"
    (Path(a.out) / "README.md").write_text(text)
    print(text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
