"""bench/peak_memory.py: run a command and report its wall time and the peak memory of its whole process tree.

    python bench/peak_memory.py -- python train.py --run-dir runs/default

Memory is the sum of PSS (proportional set size: shared pages split among the processes sharing them) over
the command and all its descendants (the browsers included), sampled every --every seconds from
/proc/PID/smaps_rollup (Linux). `/usr/bin/time -v` reports only the largest single process's RSS.
At the peak it also keeps the split by process (`peak_by_process`: the python scripts by name, Chromium by
process type), so a figure over a budget says which part is over.

    python bench/peak_memory.py --pid 12345 --out mem.json    # watch a run that is already going"""
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


def alive(pid: int) -> bool:
    """The process exists and has not exited (a zombie waiting for its parent has)."""
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def cmdline(pid: int) -> list[str]:
    """A process's argv (OSError once it has gone)."""
    return open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace").rstrip("\0").split("\0")


def label(pid: int) -> str:
    """A short name for a process: `python train.py`, `python -m miniarena`, `chromium renderer`, or its comm."""
    try:
        args = cmdline(pid)
        comm = open(f"/proc/{pid}/comm").read().strip()
    except OSError:
        return "?"
    exe = os.path.basename(args[0]) if args and args[0] else comm
    if exe.startswith("python"):
        rest = args[1:]
        if rest[:1] == ["-m"] and len(rest) > 1:
            return f"python -m {rest[1]}"
        if rest[:1] == ["-c"]:
            return "python -c"
        script = next((a for a in rest if a and not a.startswith("-")), "")
        return f"python {os.path.basename(script)}".strip()
    if "chrom" in exe or "chrom" in comm or "headless_shell" in exe:
        words = " ".join(args).split()    # Chromium's child processes rewrite argv into one string
        kind = next((w.split("=", 1)[1] for w in words if w.startswith("--type=")), "browser")
        return f"chromium {kind}"
    if exe == "node":
        return "node (playwright driver)"
    return comm or exe


def by_process(sizes: dict) -> dict:
    """{pid: PSS kB} -> PSS in GB and the number of processes per label, largest first."""
    out: dict = {}
    for p, kb in sizes.items():
        if kb:
            name = label(p)
            gb, n = out.get(name, (0.0, 0))
            out[name] = (gb + kb / 1024 ** 2, n + 1)
    return {k: {"pss_gb": round(gb, 2), "processes": n}
            for k, (gb, n) in sorted(out.items(), key=lambda kv: -kv[1][0])}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--every", type=float, default=2.0, help="seconds between samples")
    ap.add_argument("--out", default="", help="also write the figures to this JSON file")
    ap.add_argument("--pid", type=int, default=0, help="watch this running process's tree instead of a command")
    ap.add_argument("command", nargs=argparse.REMAINDER, help="the command, after --")
    a = ap.parse_args()
    cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
    if not cmd and not a.pid:
        raise SystemExit("give the command to run after --, or --pid PID")
    if cmd and a.pid:
        raise SystemExit("give either a command or --pid, not both")
    t0 = time.time()
    if a.pid:
        if not alive(a.pid):
            raise SystemExit(f"--pid {a.pid}: no such process")
        root, proc = a.pid, None
        running = lambda: alive(root)  # noqa: E731
        cmd = cmdline(root)
    else:
        proc = subprocess.Popen(cmd)
        root = proc.pid
        running = lambda: proc.poll() is None  # noqa: E731
    peak, peak_at, split = 0, 0.0, {}
    figures = lambda: {"command": " ".join(cmd), "returncode": proc.returncode if proc else None,  # noqa: E731
                       "wall_s": round(time.time() - t0, 1), "peak_pss_gb": round(peak / 1024 ** 2, 2),
                       "peak_at_s": round(peak_at, 1), "peak_by_process": split}
    while running():
        sizes = {p: pss_kb(p) for p in tree(root)}
        kb = sum(sizes.values())
        if kb > peak:
            peak, peak_at, split = kb, time.time() - t0, by_process(sizes)
            if a.out:   # so far: a run killed before its end still leaves its figures
                open(a.out, "w").write(json.dumps(figures(), indent=1) + "\n")
        time.sleep(a.every)
    res = figures()
    print(json.dumps(res), flush=True)
    if a.out:
        open(a.out, "w").write(json.dumps(res, indent=1) + "\n")
    sys.exit(proc.returncode if proc else 0)


if __name__ == "__main__":
    main()
