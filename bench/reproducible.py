"""bench/reproducible.py: do two plays of the same tasks read the same pages?

A run replays only if every observation is a function of the task and the actions taken, never of timing: a page
read before its scripts settle (session 31: a Gitlab page read with "Loading activity..." once, because a fetch's
body came after its headers) changes the prompt, so the model's action, so the rest of the run. This plays
miniarena's oracle over `--tasks` training tasks twice, each time with a fresh MiniArena and env.Pool of `--slots`
episodes in flight (as train.py collects its demonstrations), and compares every step's observation (the prompt with its
simplified HTML, and the URL), the oracle's response and each episode's score. `--load K` runs K processes
of bf16 matmuls beside the browsers in both plays, as a run's model competes with them for the cores.

Prints the share of identical episodes and steps, and the first difference of each episode that differs.
`--runs A B` compares two train.py run directories instead (made with the same flags and seed): every checkpoint's
bytes, every JSON(L) record with its wall-clock, CPU-time and memory fields left out, and every episode record
(paired by task and episode number; their file names carry each pool's random id) with its timings left out and
the loopback addresses named by their site.

    python bench/reproducible.py [--tasks 200] [--slots 8] [--load 1]
    python bench/reproducible.py --runs runs/a runs/b
"""
from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from miniarena import MiniArena, oracle  # noqa: E402
from miniarena.tasks import build  # noqa: E402

FIELDS = ("url", "prompt", "response", "error")


def _spin(stop) -> None:
    """One core's worth of model-like work (bf16 matmuls, one thread) until `stop` is set."""
    import torch
    torch.set_num_threads(1)
    a = torch.randn(512, 512, dtype=torch.bfloat16)
    while not stop.is_set():
        a = (a @ a).clamp_(-1, 1)


def play(configs: list, slots: int) -> tuple[list, float]:
    """The oracle's results, each step's fields with this arena's loopback addresses (new ports each play) named
    by their site."""
    arena = MiniArena().start()
    try:
        t = time.perf_counter()
        results = oracle.run(configs, slots=slots, arena=arena)
        took = time.perf_counter() - t
    finally:
        arena.stop()
    for step in (step for r in results for step in r["steps"]):
        for f in (f for f in FIELDS if isinstance(step.get(f), str)):
            for site, url in arena.urls.items():
                step[f] = step[f].replace(url.rstrip("/"), f"<{site}>")
    return results, took


def first_difference(a: dict, b: dict) -> str | None:
    """Where two results of one task part, or None when every step and the score agree."""
    for k, (sa, sb) in enumerate(zip(a["steps"], b["steps"])):
        for f in FIELDS:
            if sa.get(f) != sb.get(f):
                return f"step {k} {f}: {str(sa.get(f))[:160]!r} vs {str(sb.get(f))[:160]!r}"
    if len(a["steps"]) != len(b["steps"]):
        return f"{len(a['steps'])} vs {len(b['steps'])} steps"
    if (a["score"], a["end"]) != (b["score"], b["end"]):
        return f"score {a['score']} ({a['end']}) vs {b['score']} ({b['end']})"
    return None


def _scrub(x):
    """A record without what differs between two identical runs: wall-clock, CPU time, memory, the run's path."""
    if isinstance(x, dict):
        return {k: _scrub(v) for k, v in x.items()
                if k not in ("ms", "seconds", "run_dir") and not k.endswith("_s") and "peak" not in k and "memory" not in k}
    return [_scrub(v) for v in x] if isinstance(x, list) else x


def _content(path: Path):
    if path.suffix == ".json":
        return _scrub(json.loads(path.read_text()))
    if path.suffix == ".jsonl":
        text = re.sub(r"http://127\.0\.0\.1:\d+", "<loopback>", path.read_text())
        return [_scrub(json.loads(line)) for line in text.splitlines() if line.strip()]
    return hashlib.sha256(path.read_bytes()).hexdigest()


def compare_runs(a: Path, b: Path) -> dict:
    """Every file of two run directories, paired by its path (an episode record's pool id left out): which differ.
    The report (HTML, PNG, table) and state.json are derived from the records compared, and left out, as are
    args.json (its run_dir) and machines.jsonl (where and when each start ran)."""
    def files(root):
        return {re.sub(r"-[0-9a-f]{8}-(\d+)\.jsonl$", r"-\1.jsonl", str(p.relative_to(root))): p
                for p in root.rglob("*") if p.is_file() and p.suffix not in (".html", ".png", ".md", ".jpg")
                and p.name not in ("state.json", "args.json", "machines.jsonl")}
    fa, fb = files(a), files(b)
    common = sorted(fa.keys() & fb.keys())
    ca = {k: _content(fa[k]) for k in common}
    differ = [k for k in common if ca[k] != _content(fb[k])]
    return {"files": len(common), "differ": differ, "only_in_one": sorted(fa.keys() ^ fb.keys()),
            "checkpoints": sum(k.endswith(".safetensors") for k in common),
            "episode_records": sum(len(ca[k]) for k in common if k.startswith("episodes/"))}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", type=int, default=200, help="training tasks, spread over the split (every n-th)")
    ap.add_argument("--slots", type=int, default=8, help="episodes in flight (train.py's --slots)")
    ap.add_argument("--load", type=int, default=1, help="processes of bf16 matmuls running beside the browsers")
    ap.add_argument("--out", default="", help="write the figures and differences here (JSON)")
    ap.add_argument("--runs", nargs=2, metavar="RUN_DIR", help="compare two train.py run directories instead")
    args = ap.parse_args()
    if args.runs:
        c = compare_runs(Path(args.runs[0]), Path(args.runs[1]))
        print(f"{c['files'] - len(c['differ'])} of {c['files']} files identical ({c['checkpoints']} checkpoint files, "
              f"{c['episode_records']} episode records); {len(c['only_in_one'])} in one run only")
        for k in c["differ"] + c["only_in_one"]:
            print(f"  {'differs' if k in c['differ'] else 'one run only'}: {k}")
        if args.out:
            Path(args.out).write_text(json.dumps({"runs": args.runs, **c}, indent=1))
        return
    train = build("train")
    configs = train[::max(1, len(train) // args.tasks)][:args.tasks]
    stop = mp.Event()
    spinners = [mp.Process(target=_spin, args=(stop,), daemon=True) for _ in range(args.load)]
    for p in spinners:
        p.start()
    try:
        (first, t1), (second, t2) = play(configs, args.slots), play(configs, args.slots)
    finally:
        stop.set()
        for p in spinners:
            p.join()
    diffs = {c["task_id"]: d for c, a, b in zip(configs, first, second) if (d := first_difference(a, b))}
    steps = sum(len(a["steps"]) for a in first)
    same_steps = sum(sum(all(sa.get(f) == sb.get(f) for f in FIELDS) for sa, sb in zip(a["steps"], b["steps"]))
                     for a, b in zip(first, second))
    solved = [sum(r["score"] == 1.0 for r in rs) for rs in (first, second)]
    print(f"{len(configs)} tasks, {args.slots} in flight, {args.load} matmul process(es) beside: plays took "
          f"{t1:.0f} s and {t2:.0f} s; oracle solved {solved[0]} and {solved[1]}")
    print(f"identical episodes {len(configs) - len(diffs)}/{len(configs)}, identical steps {same_steps}/{steps} "
          f"(url, prompt, response, error)")
    for task_id, d in diffs.items():
        print(f"  task {task_id}: {d}")
    if args.out:
        Path(args.out).write_text(json.dumps({"args": vars(args), "play_s": [t1, t2], "solved": solved,
                                              "episodes": len(configs), "identical_episodes": len(configs) - len(diffs),
                                              "steps": steps, "identical_steps": same_steps, "differences": diffs},
                                             indent=1))


if __name__ == "__main__":
    main()
