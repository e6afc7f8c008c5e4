"""rundir.py: a run directory and what is written into it: its name (runs/webrl-YYYYmmdd-HHMMSS), the resume
point (state.json), checkpoints (phase{k}/actor, critic), the test evaluation's records, Table 1 (the paper's
per-site success rates), the learning curve, the console's per-phase summary and the run report (report.py).

train.py's phase loop writes through these; evaluate.py and bench/paper_table.py read the same formats. Nothing here
trains or plays: plain files, atomic where a killed run could leave half a file.
"""
import json
import math
import os
import re
import shutil
import sys
import time
from pathlib import Path

import dist
import env

SITE_COLUMNS = [("reddit", "Reddit"), ("gitlab", "Gitlab"), ("shopping_admin", "CMS"), ("map", "Map"), ("shopping", "OSS")]
RUNS = Path("runs")
RUN_NAME = re.compile(r"webrl-(\d{8}-\d{6})(?:-(\d+))?")   # new_run_dir's names


def new_run_dir(root: Path = RUNS, now: float | None = None) -> Path:
    """A directory for a new run: root/webrl-YYYYmmdd-HHMMSS (local time), with -2, -3, ... when another run
    started in the same second. So a second `make train` starts a second run beside the first."""
    base = "webrl-" + time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    path, k = root / base, 1
    while path.exists():
        k += 1
        path = root / f"{base}-{k}"
    return path


def named_runs(root: Path = RUNS) -> list[Path]:
    """The run directories under root that new_run_dir named, oldest first."""
    found = [(m.group(1), int(m.group(2) or 1), p) for p in root.glob("webrl-*")
             if p.is_dir() and (m := RUN_NAME.fullmatch(p.name))]
    return [p for *_, p in sorted(found)]


def unfinished(run: Path) -> bool:
    """Whether `run` holds a run (its args.json) that has not finished every phase it was last started for."""
    try:
        args = json.loads((run / "args.json").read_text())
    except (OSError, ValueError):
        return False
    state = run / "state.json"
    finished = json.loads(state.read_text())["finished"] if state.exists() else -1
    return finished < (0 if args.get("algo") == "sft" else args["phases"])


def pick_run_dir(run_dir: str, resume: bool, root: Path = RUNS) -> Path:
    """This invocation's run directory. --run-dir given: that one, refused when it already holds a run and
    this is no --resume (a run is never overwritten); empty or missing, it starts there, --resume or not (so
    `make train`, which always resumes runs/make-train, starts it the first time). None given: a new directory
    (new_run_dir), or with --resume the latest unfinished run that new_run_dir named."""
    if run_dir:
        run = Path(run_dir)
        if run.exists() and any(run.iterdir()) and not resume:
            raise SystemExit(f"{run} already holds a run: pass --resume to continue it or choose another --run-dir")
        return run
    if not resume:
        return new_run_dir(root)
    todo = [r for r in named_runs(root) if unfinished(r)]
    if not todo:
        raise SystemExit(f"--resume: no unfinished run under {root}/ (webrl-*) to continue; name one with --run-dir")
    return todo[-1]


# What a row of Table 1 means: the same test tasks, played under the same limits. A --resume that changes one
# of these keeps the earlier rows as they were measured, so the table then mixes two evaluations.
EVAL_ARGS = ("seed", "test_tasks", "eval_tasks", "max_steps", "max_prompt_tokens", "max_new_tokens")


def eval_changes(old: dict, new: dict) -> list[str]:
    """The evaluation settings a --resume changes against the run's args.json, as 'name old -> new'."""
    return [f"{k} {old[k]!r} -> {new[k]!r}" for k in EVAL_ARGS if k in old and k in new and old[k] != new[k]]


def save_json_atomic(path: Path, data) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def save_jsonl_atomic(path: Path, rows) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    os.replace(tmp, path)


def save_checkpoint(run: Path, phase: int, model, tok, critic=None) -> Path:
    """phase{k}/actor (+ critic) as HF directories, written beside and renamed into place."""
    final, tmp = run / f"phase{phase}", run / f"phase{phase}.tmp"
    if dist.info().is_main:
        shutil.rmtree(tmp, ignore_errors=True)
    dist.save_pretrained(model, tok, tmp / "actor")       # gathered from the shards, rank 0 writes
    if critic is not None:
        dist.save_pretrained(critic, tok, tmp / "critic")
    if dist.info().is_main:
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
    dist.barrier()
    return final


def save_eval(path: Path, results: list, tasks: list) -> None:
    """One line per evaluated task: its intent, what the policy answered, how the episode ended, the score
    (the steps themselves are in the pool's episode records); rank 0 writes. The whole evaluation replaces the
    lines its tasks left as they ended (partial_line), which are then removed."""
    if dist.info().is_main:
        save_jsonl_atomic(path, [eval_line(r, t) for r, t in zip(results, tasks)])
        for partial in path.parent.glob("eval.partial*.jsonl"):
            partial.unlink()


def partial_line(index: int, result: dict, task: dict) -> dict:
    """The line a test task leaves in phaseK/eval.partial*.jsonl as its episode ends (train.evaluate_test): its
    place in the test set, its eval_line and the actions of its steps (what names_copied reads)."""
    return {"index": index, **eval_line(result, task), "actions": [s.get("action") for s in result["steps"]]}


def partial_eval(folder: Path, tasks: list) -> dict:
    """The test tasks whose episodes a killed evaluation finished: index in `tasks` -> a result as play_policy's
    (score, end, answer, eval_error, the steps' actions), from folder/eval.partial*.jsonl (one file per rank).
    A line cut by the kill, or one for another task set (its task there is not this one), is left out: played again."""
    kept = {}
    for path in sorted(folder.glob("eval.partial*.jsonl")):
        for n, text in enumerate(path.read_text().splitlines(), 1):
            try:
                line = json.loads(text)
                i = line["index"]
                if not (0 <= i < len(tasks) and tasks[i]["task_id"] == line["task_id"] and tasks[i]["intent"] == line["intent"]):
                    raise ValueError("another task set's")
                kept[i] = {k: line[k] for k in ("score", "end", "answer", "eval_error")}
                kept[i]["steps"] = [{"action": a} for a in line["actions"]]
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
                print(f"{path} line {n} is left out ({type(e).__name__}: {e}): its task is played again", flush=True)
    return kept


def eval_line(result: dict, task: dict) -> dict:
    """save_eval's line for one task's episode result."""
    return {"task_id": task["task_id"], "site": task["sites"][0], "intent": task["intent"], "score": result["score"],
            "end": result["end"], "answer": result["answer"], "eval_error": result["eval_error"],
            "steps": len(result["steps"]), "template": task.get("intent_template")}


def spread(tasks: list, n: int) -> list:
    """n tasks taken round robin over sites, evenly over each site's list (its templates)."""
    if n >= len(tasks):
        return tasks
    by_site: dict = {}
    for t in tasks:
        by_site.setdefault(t["sites"][0], []).append(t)
    picked, i = [], 0
    while len(picked) < n:
        for site, ts in by_site.items():
            k = i * len(ts) // max(1, -(-n // len(by_site)))
            if len(picked) < n and k < len(ts) and ts[k] not in picked:
                picked.append(ts[k])
        i += 1
    return sorted(picked, key=lambda t: t["task_id"])


def task_file(path: str) -> tuple[list[dict], list[str]]:
    """The configs of a WebArena task file that can be handled (env.read_tasks), and one message per config that
    cannot, each printed as it is skipped (naming task id and field): one bad config never sinks a benchmark."""
    f = env.read_tasks(path, resolve=False)
    if dist.info().is_main:
        for message in f.skipped:
            print(f"skipped: {message}", file=sys.stderr, flush=True)
    return [t.config for t in f.tasks], f.skipped


def success_table(results: list, tasks: list) -> dict:
    """Success rate (%) per site and their average, the paper's Table 1 columns."""
    per = {s: [] for s, _ in SITE_COLUMNS}
    for r, t in zip(results, tasks):
        per.setdefault(t["sites"][0], []).append(r["score"] == 1.0)
    row = {name: (100.0 * sum(v) / len(v) if v else float("nan")) for (s, name), v in ((c, per[c[0]]) for c in SITE_COLUMNS)}
    done = [x for v in per.values() for x in v]
    row["Avg"] = 100.0 * sum(done) / max(1, len(done))
    return row


def read_eval(path) -> list[dict]:
    """The per-task lines of a test evaluation: an evaluate.py --out directory (results.jsonl), a train.py phase
    directory (eval.jsonl), or such a file. A line that is not a task's JSON record is a ValueError naming it."""
    path = Path(path)
    if path.is_dir():
        found = [path / n for n in ("results.jsonl", "eval.jsonl") if (path / n).exists()]
        if not found:
            raise FileNotFoundError(f"{path}: no results.jsonl (evaluate.py --out) or eval.jsonl (train.py phaseK/) in it")
        path = found[0]
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such evaluation file or directory")
    lines = []
    for n, text in enumerate(path.read_text().splitlines(), 1):
        try:
            line = json.loads(text)
            lines.append({"task_id": line["task_id"], "site": line["site"], "score": line["score"]})
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise ValueError(f"{path} line {n}: not a task's evaluation record ({type(e).__name__}: {e})") from None
    return lines


def sign_test_p(gained: int, lost: int) -> float:
    """Exact two-sided sign test (McNemar's exact test) on the tasks that changed between two evaluations of the
    same tasks: the chance of a split at least this uneven if a change were as likely to be a gain as a loss."""
    n, k = gained + lost, min(gained, lost)
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n) if n else 1.0


def paired(before: list, after: list) -> dict:
    """Two evaluations (read_eval's lines) paired on the tasks both hold, per Table 1 column and 'Avg': tasks,
    successes before and after, tasks gained and lost, and sign_test_p; plus how many tasks only one of them holds.
    On 50-100 tasks a change of a few points is often a handful of tasks: the pairing says whether it is noise."""
    a = {x["task_id"]: x for x in before}
    b = {x["task_id"]: x for x in after}
    shared = [t for t in a if t in b]
    out = {}
    for site, name in SITE_COLUMNS + [(None, "Avg")]:
        ids = [t for t in shared if site is None or a[t]["site"] == site]
        won = [(a[t]["score"] == 1.0, b[t]["score"] == 1.0) for t in ids]
        gained, lost = sum(y and not x for x, y in won), sum(x and not y for x, y in won)
        out[name] = {"tasks": len(ids), "before": sum(x for x, _ in won), "after": sum(y for _, y in won),
                     "gained": gained, "lost": lost, "p": sign_test_p(gained, lost)}
    out["only_before"], out["only_after"] = len(a) - len(shared), len(b) - len(shared)
    return out


def format_paired(pair: dict) -> str:
    """paired() as a table: one row per site with tasks, then the average."""
    lines = ["| | tasks | before | after | gained | lost | sign test p |", "|---|---|---|---|---|---|---|"]
    for _, name in SITE_COLUMNS + [(None, "Avg")]:
        r = pair[name]
        if r["tasks"]:
            lines.append(f"| {name} | {r['tasks']} | {r['before']} | {r['after']} | {r['gained']} | {r['lost']} | {r['p']:.3f} |")
    return "\n".join(lines)


def names_copied(results: list, tasks: list) -> float:
    """% of episodes in which an action's argument or the final answer contains one of the task's
    instantiation values (those with 3+ letters, any case): whether the actor follows its instruction at all,
    a signal that moves long before whole tasks succeed."""
    hits = []
    for r, t in zip(results, tasks):
        values = [str(v).lower() for v in (t.get("instantiation_dict") or {}).values() if re.search("[A-Za-z]{3}", str(v))]
        said = " ".join([env.parse_action(s["action"]).argument or "" for s in r["steps"] if s.get("action")]
                        + [r.get("answer") or ""]).lower()
        if values:
            hits.append(any(v in said for v in values))
    return 100.0 * sum(hits) / max(1, len(hits))


def task_counts(tasks: list) -> dict:
    """How many tasks each Table 1 column is computed over (success_table's grouping: a task's first site)."""
    first = [t["sites"][0] for t in tasks]
    return {**{name: first.count(s) for s, name in SITE_COLUMNS}, "Avg": len(tasks)}


def format_table(rows: list, tasks: list | None = None) -> str:
    """Table 1's layout: success (%) per site and their average, one row per model; with the evaluated `tasks`,
    a last row says over how many tasks each column was computed."""
    cols = [name for _, name in SITE_COLUMNS] + ["Avg"]
    lines = ["| model | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for r in rows:
        lines.append(f"| {r['model']} | " + " | ".join("-" if math.isnan(r[c]) else f"{r[c]:.1f}" for c in cols) + " |")
    if tasks is not None:
        n = task_counts(tasks)
        lines.append("| tasks (n) | " + " | ".join(str(n[c]) for c in cols) + " |")
    return "\n".join(lines)


def duration(seconds: float) -> str:
    """A time span as a person reads it: 1h 02m, 12m 03s, 45s."""
    s = round(seconds)
    return f"{s // 3600}h {s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m {s % 60:02d}s" if s >= 60 else f"{s}s"


def phase_summary(row: dict, prev: dict | None, m: dict, metrics_path: Path, pair: dict | None = None) -> str:
    """A finished phase as the console shows it: a few aligned lines read at a glance (test success and its change,
    with `pair`, paired()'s 'Avg' against the phase before, the tasks gained and lost; rollout reward, ORM agreement,
    tasks, replay, losses, KL, time); a line the phase has no numbers for is left out. The full record is the phase's
    line in metrics.jsonl."""
    def has(*keys):
        return all(m.get(k) is not None for k in keys)

    def loss(name):   # the mean over the first tenth of the updates -> over the last (first_last)
        first, last = m.get(f"{name}_loss_first"), m.get(f"{name}_loss_last")
        return None if first is None else f"{first:.4f} -> {last:.4f}"

    if prev and pair and pair["tasks"]:   # on the tasks both played (a --resume may have changed --eval-tasks)
        change = (f"  ({100 * (pair['after'] - pair['before']) / pair['tasks']:+.1f} vs phase {prev['phase']} on the same "
                  f"{pair['tasks']} tasks: {pair['gained']} gained, {pair['lost']} lost, sign test p = {pair['p']:.2f})")
    else:
        change = f"  ({row['Avg'] - prev['Avg']:+.1f} vs phase {prev['phase']})" if prev else ""
    truth = f"  (the evaluators: {m['rollout_success']:.1f}%)" if has("rollout_success") else ""
    tasks = [f"{m[k]} {what}" for k, what in (("tasks_generated", "generated"), ("tasks_kept_by_critic", "kept by the critic"),
                                               ("tasks_from_train_split", "from the training split")) if has(k)]
    lines = [
        ("test success", f"{row['Avg']:.1f}%{change}"),
        ("demonstrations", f"{m['demos']} steps of {m['sft_tasks']} tasks" if has("demos", "sft_tasks") else None),
        ("ORM trained on", f"{m['orm_examples']} labelled episodes" if has("orm_examples") else None),
        ("rollout reward", f"{m['rollout_reward']:.1f}% of {m['tasks']} tasks{truth}" if has("rollout_reward", "tasks") else None),
        ("ORM agreement", f"{100 * m['orm_agreement']:.1f}% with the evaluators" if has("orm_agreement") else None),
        ("tasks", ", ".join(tasks)),
        ("replay", f"{m['replay_kept']} of {m['replay_scored']} old steps kept, {m['replay_sampled']} replayed, "
                   f"{m['fresh_steps']} fresh" if has("replay_kept", "replay_scored", "replay_sampled", "fresh_steps") else None),
        ("pretrain loss", loss("pretrain")),
        ("SFT loss", loss("sft")),
        ("critic loss", loss("critic")),
        ("actor loss", loss("actor")),
        ("KL to ref", f"{m['kl_to_ref']:.4f}" if has("kl_to_ref") else None),
        ("time", duration(m["seconds"])),
        ("peak memory", peak_stage(m.get("peak_rss_gb"))),
        ("full record", f"{metrics_path} (line of phase {row['phase']})"),
    ]
    lines = [(k, v) for k, v in lines if v]
    width = max(len(k) for k, _ in lines)
    return "\n".join([f"phase {row['phase']} done"] + [f"  {k:<{width}}  {v}" for k, v in lines])


def peak_stage(peaks: dict | None) -> str | None:
    """'7.8 GB in actor (train.py's process; eval 5.0, rollouts 4.2)': the largest of dist.StagePeaks' stages first."""
    if not peaks:
        return None
    top = sorted(peaks.items(), key=lambda kv: -kv[1])
    rest = ", ".join(f"{k} {v:.1f}" for k, v in top[1:])
    return f"{top[0][1]:.1f} GB in {top[0][0]} (train.py's process{'; ' + rest if rest else ''})"


def plot_curve(run: Path, rows: list) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(5, 3.2))
    xs = [r["phase"] for r in rows]
    for _, name in SITE_COLUMNS:
        ax.plot(xs, [r[name] for r in rows], marker=".", alpha=0.5, label=name)
    ax.plot(xs, [r["Avg"] for r in rows], marker="o", color="black", label="Avg")
    ax.set_xlabel("phase (0 = SFT)")
    ax.set_ylabel("test success (%)")
    ax.legend(fontsize=7, ncol=3)
    fig.tight_layout()
    fig.savefig(run / "curve.png", dpi=120)
    plt.close(fig)


def refresh_report(run: Path) -> None:
    """RUN/report.html (report.py), rewritten at the end of every phase; a report that fails to build is a
    warning, never the end of the run."""
    try:
        import report
        report.write(run, run / "report.html")
    except Exception as e:
        print(f"warning: {run / 'report.html'} not refreshed: {type(e).__name__}: {e}", file=sys.stderr, flush=True)


def finish_phase(run: Path, state: dict, rows: list, row: dict, metrics: dict, metrics_path: Path) -> None:
    """Record a finished phase: metrics line, table, state (the resume point), learning curve."""
    rows.append(row)
    state["finished"], state["rows"] = row["phase"], rows
    if not dist.info().is_main:
        return
    with open(metrics_path, "a") as f:
        f.write(json.dumps(metrics) + "\n")
    (run / "table.md").write_text(format_table(rows) + "\n")
    save_json_atomic(run / "state.json", state)
    pair = None   # the change in tasks, paired on the ones both phases played (compare.py shows it per site)
    if row["phase"] > 0:
        try:
            pair = paired(*(read_eval(run / f"phase{k}" / "eval.jsonl") for k in (row["phase"] - 1, row["phase"])))["Avg"]
        except (OSError, ValueError):   # an earlier phase's evaluation file is missing or torn: the rates only
            pass
    print(phase_summary(row, rows[-2] if len(rows) > 1 else None, metrics, metrics_path, pair), flush=True)
    plot_curve(run, rows)
    refresh_report(run)
