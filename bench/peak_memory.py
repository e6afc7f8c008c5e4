"""bench/peak_memory.py: run a command and report its wall time and the peak memory of its whole process tree.

    python bench/peak_memory.py -- python train.py --run-dir runs/default

Memory is the sum of PSS (proportional set size: shared pages split among the processes sharing them) over
the command and all its descendants (the browsers included), sampled every --every seconds from
/proc/PID/smaps_rollup (Linux). `/usr/bin/time -v` reports only the largest single process's RSS."""
import argparse
import json
import os
import subprocess
import sys
import time


def tree(root: int) -> list[int]:
    kids: dict = {}
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                ppid = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(pid))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def pss_kb(pid: int) -> int:
    try:
        for line in open(f"/proc/{pid}/smaps_rollup"):
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--every", type=float, default=2.0, help="seconds between samples")
    ap.add_argument("--out", default="", help="also write the figures to this JSON file")
    ap.add_argument("command", nargs=argparse.REMAINDER, help="the command, after --")
    a = ap.parse_args()
    cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
    if not cmd:
        raise SystemExit("give the command to run after --")
    t0 = time.time()
    proc = subprocess.Popen(cmd)
    peak, peak_at = 0, 0.0
    figures = lambda: {"command": " ".join(cmd), "returncode": proc.returncode, "wall_s": round(time.time() - t0, 1),  # noqa: E731
                       "peak_pss_gb": round(peak / 1024 ** 2, 2), "peak_at_s": round(peak_at, 1)}
    while proc.poll() is None:
        kb = sum(pss_kb(p) for p in tree(proc.pid))
        if kb > peak:
            peak, peak_at = kb, time.time() - t0
            if a.out:   # so far: a run killed before its end still leaves its figures
                open(a.out, "w").write(json.dumps(figures(), indent=1) + "\n")
        time.sleep(a.every)
    res = figures()
    print(json.dumps(res), flush=True)
    if a.out:
        open(a.out, "w").write(json.dumps(res, indent=1) + "\n")
    sys.exit(proc.returncode)


if __name__ == "__main__":
    main()
