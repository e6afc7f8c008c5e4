"""report.py: what a run did, in one static HTML file: its arguments, Table 1 and learning curve, each phase's
curriculum, replay and losses, and every episode of its test evaluations and rollouts, step by step.

    python report.py runs/webrl-20261205-093000    # writes RUN/report.html (train.py rewrites it after each phase)
    python report.py runs/eval                     # an evaluate.py --out folder: its episodes
    python report.py runs/p3 --out /tmp/p3.html    # the report somewhere else (the run folder is only read)

Open the file with a double click: no server, no network, no framework; plain HTML, CSS and a little JavaScript.
Episodes are filtered by phase, kind (test evaluation or rollouts), site, template, success, the ORM's verdict and
"the ORM disagrees with the evaluator"; a click opens one step by step: the instruction, the observation (WebRL's
simplified HTML, collapsed), the model's response, the parsed action or the parse error, the URL and the step's
time, then the answer, the evaluator's score (and what it expected) and the ORM's P(YES). Runs made with
--screenshots (train.py, evaluate.py) show each test step's JPEG beside it.

Size: each phase's episodes are one JSON blob in a <script type="application/json"> element, parsed when the phase
is shown; an observation (the page text) is stored once per phase however many steps saw it, and the prompt (the
instruction, the past responses and the observation) not at all.

What it reads, all optional (what is missing or cut by a kill is named at the top of the report):
    args.json, state.json (finished phases, Table 1), metrics.jsonl, replay.jsonl, phase{k}/eval.jsonl,
    tasks_phase{k}.json, dropped_tasks_phase{k}.json, episodes/phase{k}/{eval,rollouts}/**.jsonl (+ step JPEGs);
    older runs' flat episodes/*.jsonl are matched to phases by their instruction, in the order they were played;
    an evaluate.py folder: results.jsonl and episodes/*.jsonl.
"""
from __future__ import annotations

import argparse
import base64
import html
import json
import math
import re
import sys
import time
from pathlib import Path

KIND_NAMES = {"eval": "test evaluation", "rollouts": "rollouts"}
EPISODE_FILE = re.compile(r"^task(?P<task>.*)-(?P<pool>[0-9a-f]+)-(?P<n>\d+)\.jsonl$")
TABLE_SKIP = ("model", "phase")


# =============================================================================================
# Reading a run directory, noting what is missing or broken


class Reader:
    """Reads files of one run directory; each one that is missing (when it should be there) or does not parse is
    noted in `problems`, one sentence naming the file, for the top of the report."""

    def __init__(self, root: Path):
        self.root, self.problems = Path(root), []

    def rel(self, path: Path) -> str:
        try:
            return str(Path(path).relative_to(self.root))
        except ValueError:
            return str(path)

    def json(self, path: Path, missing: str = ""):
        """The JSON in path; None when absent (noted when `missing` says what that means) or unreadable (noted)."""
        if not path.exists():
            if missing:
                self.problems.append(f"{self.rel(path)} is missing: {missing}")
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            self.problems.append(f"{self.rel(path)} is not valid JSON ({e}): cut by a kill? It is left out")
            return None

    def jsonl(self, path: Path, missing: str = "") -> list:
        """The JSON lines of path; a line that does not parse (a write cut by a kill) is noted and skipped."""
        if not path.exists():
            if missing:
                self.problems.append(f"{self.rel(path)} is missing: {missing}")
            return []
        out = []
        for i, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                self.problems.append(f"{self.rel(path)} line {i} is not valid JSON (cut by a kill?): skipped")
        return out


def phase_of(name: str, prefix: str, suffix: str = "") -> int | None:
    """The k of a name like phase{k}, tasks_phase{k}.json; None for any other name."""
    m = re.fullmatch(re.escape(prefix) + r"(\d+)" + re.escape(suffix), name)
    return int(m.group(1)) if m else None


def intent_of(steps: list) -> str | None:
    """The instruction of an episode, from its first prompt ("Task Instruction: {intent}\\n\\nRound 0...")."""
    prompt = steps[0].get("prompt", "") if steps else ""
    if not prompt.startswith("Task Instruction: "):
        return None
    return prompt[len("Task Instruction: "):].split("\n\nRound ", 1)[0]


def read_episode(reader: Reader, path: Path) -> dict:
    """One episode record file (env.Pool's JSONL: one line per step, then the end line)."""
    recs = reader.jsonl(path)
    steps = [r for r in recs if "step" in r]
    end = next((r for r in recs if "end" in r), None)
    m = EPISODE_FILE.match(path.name)
    return {"path": path, "steps": steps, "end": end, "intent": intent_of(steps),
            "task_id": steps[0].get("task_id") if steps else (end or {}).get("task_id"),
            "pool": m.group("pool") if m else "", "n": int(m.group("n")) if m else 0}


def play_order(episodes: list) -> list:
    """Episodes in the order they were played: by pool (a pool's first file's time), then the pool's counter."""
    first: dict = {}
    for e in episodes:
        t = e["path"].stat().st_mtime if e["path"].exists() else 0.0
        first[e["pool"]] = min(first.get(e["pool"], t), t)
    return sorted(episodes, key=lambda e: (first[e["pool"]], e["pool"], e["n"], str(e["path"])))


def match(lines: list, episodes: list, by_index: bool = False) -> tuple[list, list]:
    """Pair task lines with episode records: the episodes of one instruction, in the order they were played, go
    to the lines of that instruction in turn. by_index (one phase's folder of one process): an episode without
    steps (its start page failed) goes to the line its record's task_id numbers. An episode cut by a kill (no end
    line) comes after the whole ones of its instruction: a line is written only when its episode ends, so after
    `evaluate.py --resume` the replayed episode is the line's. Returns (an episode or None per line, the episodes
    left over)."""
    queues: dict = {}
    for e in sorted(play_order(episodes), key=lambda e: e.get("end") is None):    # stable: play order within
        queues.setdefault(e["intent"], []).append(e)
    paired = [queues[l.get("intent")].pop(0) if queues.get(l.get("intent")) else None for l in lines]
    left = [e for q in queues.values() for e in q]
    if by_index:
        for i, e in enumerate(paired):
            hit = next((x for x in left if x["intent"] is None and x["task_id"] == i), None) if e is None else None
            if hit is not None:
                paired[i] = hit
                left.remove(hit)
    return paired, left


# =============================================================================================
# What the page shows: one entry per episode, observations and screenshots stored once per phase


def expected(ev: dict | None) -> str:
    """What a task's evaluators check, in one line: reference answers, URL, page contents."""
    if not ev:
        return "no evaluator: only the ORM judges this task"
    out = [f"answer {k}: {json.dumps(v, ensure_ascii=False)}" for k, v in (ev.get("reference_answers") or {}).items()]
    if ev.get("reference_url"):
        out.append(f"URL {ev['reference_url']}" + (f" ({ev['url_note']})" if ev.get("url_note") else ""))
    for p in ev.get("program_html") or []:
        out.append(f"page {p.get('url')}: {json.dumps(p.get('required_contents'), ensure_ascii=False)}")
    return "; ".join(out) or "evaluators: " + ", ".join(ev.get("eval_types") or [])


class PhaseBlob:
    """One phase's episodes as the page reads them, with each distinct observation and screenshot stored once."""

    def __init__(self, reader: Reader):
        self.reader = reader
        self.episodes: list = []
        self.observations: list = []
        self.screenshots: list = []
        self._obs: dict = {}
        self._shots: dict = {}

    def observation(self, text: str) -> int:
        if text not in self._obs:
            self._obs[text] = len(self.observations)
            self.observations.append(text)
        return self._obs[text]

    def screenshot(self, path: Path) -> int | None:
        if not path.is_file():
            return None
        data = base64.b64encode(path.read_bytes()).decode()
        if data not in self._shots:
            self._shots[data] = len(self.screenshots)
            self.screenshots.append("data:image/jpeg;base64," + data)
        return self._shots[data]

    def step(self, rec: dict, folder: Path) -> dict:
        shot = self.screenshot(folder / rec["screenshot"]) if rec.get("screenshot") else None
        note = rec.get("screenshot_error") or (f"screenshot {rec['screenshot']} is missing"
                                               if rec.get("screenshot") and shot is None else None)
        return {"obs": self.observation(rec.get("html") or ""), "response": rec.get("response"), "action": rec.get("action"),
                "error": rec.get("error"), "url": rec.get("url"), "ms": rec.get("ms"), "shot": shot, "shot_note": note}

    def add(self, kind: str, line: dict | None, ep: dict | None, config: dict | None) -> None:
        """One episode: its task line (eval.jsonl / tasks_phase{k}.json / results.jsonl; None when missing), its
        record (None when missing) and its task config (for the template and what the evaluator expects)."""
        line, config = line or {}, config or {}
        end = (ep or {}).get("end") or {}
        notes = []
        if ep is None:
            notes.append("no episode record was found for this task")
        elif ep["end"] is None:
            notes.append(f"{self.reader.rel(ep['path'])} has no end line: the episode was cut (a killed run?)")
        if not line:
            notes.append("no task line for this episode: its phase did not record its tasks (cut by a kill?)")
        score = line.get("score", end.get("score"))
        if ep is not None and ep["end"] is not None and line and end.get("score") != line.get("score"):
            notes.append(f"the record's score {end.get('score')} differs from the task line's {line.get('score')}")
        cur = config.get("curriculum") or {}
        self.episodes.append({
            "kind": kind, "task_id": line.get("task_id", config.get("task_id")),
            "site": line.get("site") or (config.get("sites") or ["?"])[0],
            "template": line.get("template") or config.get("intent_template") or "",
            "intent": line.get("intent") or config.get("intent") or (ep or {}).get("intent") or "?",
            "origin": cur.get("seed_intent"), "critic": cur.get("start_value"),
            "score": score, "reward": line.get("reward"), "orm_p": line.get("orm_p"),
            "end": end.get("end", line.get("end")), "answer": end.get("answer", line.get("answer")),
            "eval": end.get("eval"), "eval_error": end.get("eval_error", line.get("eval_error")),
            "expected": expected(config.get("eval")) if config else "",
            "file": self.reader.rel(ep["path"]) if ep else None, "notes": notes,
            "steps": [self.step(s, ep["path"].parent) for s in ep["steps"]] if ep else []})

    def data(self) -> dict:
        """The blob; the test evaluation's episodes first, then the rollouts, each in task order."""
        return {"episodes": sorted(self.episodes, key=lambda e: e["kind"] != "eval"),
                "observations": self.observations, "screenshots": self.screenshots}


# =============================================================================================
# The run


def test_configs(reader: Reader, args: dict | None) -> dict:
    """task_id -> config of the run's test tasks, for the templates and expected answers its eval.jsonl lines do not
    hold: the --test-tasks (evaluate.py: --tasks) file, or miniarena's test split rebuilt from the run's seed."""
    if args is None:
        return {}
    path = args.get("test_tasks", args.get("tasks", ""))
    try:
        if path:
            import env
            configs = env.load_configs(path)
        else:
            from miniarena.tasks import build
            configs = build("test", int(args.get("seed", 0)))
    except Exception as e:
        reader.problems.append(f"the test tasks ({path or 'miniarena test split'}) could not be read, so their templates "
                               f"and expected answers are not shown: {type(e).__name__}: {e}")
        return {}
    return {c.get("task_id"): c for c in configs}


def episode_files(folder: Path) -> list:
    return sorted(p for p in folder.rglob("*.jsonl") if EPISODE_FILE.match(p.name)) if folder.is_dir() else []


def replay_counts(reader: Reader, path: Path) -> dict:
    """phase -> [trajectories, steps] in the replay buffer (phase 0: the SFT demonstrations)."""
    out: dict = {}
    for traj in reader.jsonl(path):
        c = out.setdefault(traj.get("phase"), [0, 0])
        c[0], c[1] = c[0] + 1, c[1] + len(traj.get("steps") or [])
    return out


def table_row(lines: list, model: str, phase: int) -> dict:
    """A Table 1 row computed from an eval.jsonl (for a phase state.json does not hold)."""
    names = {"reddit": "Reddit", "gitlab": "Gitlab", "shopping_admin": "CMS", "map": "Map", "shopping": "OSS"}
    row: dict = {"model": model, "phase": phase}
    for site, name in names.items():
        v = [l.get("score") == 1.0 for l in lines if l.get("site") == site]
        row[name] = 100.0 * sum(v) / len(v) if v else float("nan")
    row["Avg"] = 100.0 * sum(l.get("score") == 1.0 for l in lines) / max(1, len(lines))
    return row


def load(run: Path) -> dict:
    """Everything the report shows, read from a run directory (train.py) or an evaluation folder (evaluate.py)."""
    run = Path(run)
    if not run.is_dir():
        raise FileNotFoundError(f"report: {run} is not a directory (a train.py --run-dir or an evaluate.py --out)")
    r = Reader(run)
    is_eval = (run / "results.jsonl").exists() and not (run / "state.json").exists() and not (run / "phase0").exists()
    args = r.json(run / "args.json", "" if is_eval else "the run's arguments are unknown")
    state = None if is_eval else r.json(run / "state.json", "no phase has finished (the run is in phase 0, or was killed there)")
    metrics = {m.get("phase"): m for m in r.jsonl(run / "metrics.jsonl")}
    configs = test_configs(r, args)

    phases: set = set()
    if not is_eval:
        phases |= {row.get("phase") for row in (state or {}).get("rows", [])} | set(metrics)
        for p in run.iterdir():
            phases.add(phase_of(p.name, "phase") if p.is_dir() else phase_of(p.name, "tasks_phase", ".json"))
        if (run / "episodes").is_dir():
            phases |= {phase_of(p.name, "phase") for p in (run / "episodes").iterdir() if p.is_dir()}
    phases = sorted(p for p in phases if isinstance(p, int)) or [0]
    finished = (state or {}).get("finished", -1)
    rows = list((state or {}).get("rows", []))

    blobs = {p: PhaseBlob(r) for p in phases}
    tasks: dict = {}
    lines: dict = {}
    for p in phases:
        if is_eval:
            lines[(p, "eval")] = r.jsonl(run / "results.jsonl", "the evaluation did not finish")
            continue
        late = p > finished
        last = f"the last finished phase is {finished}" if finished >= 0 else "no phase finished"
        lines[(p, "eval")] = r.jsonl(run / f"phase{p}" / "eval.jsonl",
                                     f"phase {p} has not finished ({last}), its test evaluation is not recorded"
                                     if late else "its test evaluation is not recorded")
        if p > 0:
            kept = r.json(run / f"tasks_phase{p}.json", f"phase {p}'s tasks and rewards are not recorded" +
                          (" (the phase has not finished its rollouts)" if late else "")) or []
            dropped = r.json(run / f"dropped_tasks_phase{p}.json") or []
            tasks[p] = {"kept": kept, "dropped": dropped}
            lines[(p, "rollouts")] = [{**t, "site": (t.get("sites") or ["?"])[0]} for t in kept]
        if not any(row.get("phase") == p for row in rows) and lines[(p, "eval")]:
            rows.append({**table_row(lines[(p, "eval")], f"phase {p} (from phase{p}/eval.jsonl)", p), "_computed": True})
    rows.sort(key=lambda row: row.get("phase", 0))

    others = add_episodes(r, run / "episodes", phases, lines, configs, blobs)
    if not any(blobs[p].episodes for p in phases):
        r.problems.append("no episode records were found (episodes/ is missing or empty)")

    return {"run": str(run), "name": run.resolve().name, "is_eval": is_eval, "args": args, "finished": finished,
            "rows": rows, "metrics": metrics, "tasks": tasks, "replay": replay_counts(r, run / "replay.jsonl"),
            "phases": phases, "blobs": {p: b.data() for p, b in blobs.items()}, "others": others,
            "problems": r.problems}


def add_episodes(r: Reader, folder: Path, phases: list, lines: dict, configs: dict, blobs: dict) -> dict:
    """Each phase's episode records, paired with its task lines, into its blob. A phase with records in
    episodes/phase{k}/{eval,rollouts}/ is read from there; the records directly in episodes/ (older runs, an
    evaluation) are matched to the other phases by instruction, in the order they were played. Returns the
    count of records not shown (the phase-0 ORM's, the curriculum's start pages), by where they are."""
    others: dict = {}
    in_folders = [p for p in phases if episode_files(folder / f"phase{p}")]
    for p in in_folders:
        for kind in ("eval", "rollouts"):
            eps = [read_episode(r, f) for f in episode_files(folder / f"phase{p}" / kind)]
            paired, left = match(lines.get((p, kind), []), eps, by_index=True)
            for l, e in zip(lines.get((p, kind), []), paired):
                blobs[p].add(kind, l, e, config_for(kind, l, configs))
            for e in play_order(left):   # records without a task line: the phase was cut before it wrote them
                blobs[p].add(kind, None, e, None)
        for f in sorted((folder / f"phase{p}").iterdir()):
            if f.name not in ("eval", "rollouts") and episode_files(f):
                others[f"in episodes/phase{p}/{f.name}/"] = len(episode_files(f))
    flat = [read_episode(r, f) for f in episode_files(folder) if phase_of(f.relative_to(folder).parts[0], "phase") is None]
    order = [(p, kind) for p in phases if p not in in_folders for kind in (("rollouts", "eval") if p > 0 else ("eval",))]
    flat_lines = [(key, l) for key in order for l in lines.get(key, [])]
    paired, left = match([l for _, l in flat_lines], flat)
    for ((p, kind), l), e in zip(flat_lines, paired):
        blobs[p].add(kind, l, e, config_for(kind, l, configs))
    if left:
        others["in episodes/ not matched to a task of any phase (e.g. the phase-0 ORM's labelled episodes)"] = len(left)
    return others


def config_for(kind: str, line: dict, test: dict) -> dict | None:
    """The task config of a line: a rollout's line is its config; a test line's comes from the test tasks."""
    return line if kind == "rollouts" else test.get(line.get("task_id"))


# =============================================================================================
# HTML


def esc(x) -> str:
    return html.escape("" if x is None else str(x))


def fmt(v) -> str:
    if isinstance(v, float):
        return "-" if math.isnan(v) else f"{v:.4g}"
    if isinstance(v, (dict, list)):
        return json.dumps(v, ensure_ascii=False)
    return "-" if v is None else str(v)


def percent(v) -> str:
    return f"{v:.1f}" if isinstance(v, (int, float)) and not math.isnan(v) else "-"


def table(header: list | None, rows: list, cls: str = "") -> str:
    """An HTML table of escaped cells (a cell already holding markup is passed as ('html', text)); header None: none."""
    def cell(c):
        return c[1] if isinstance(c, tuple) else esc(c)
    head = "<thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr></thead>" if header else ""
    body = "".join("<tr>" + "".join(f"<td>{cell(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}">{head}<tbody>{body}</tbody></table>'


def curve_svg(rows: list, width: int = 520, height: int = 260) -> str:
    """Test success (%) per phase, one line per site and the average in black: an inline SVG."""
    cols = [k for k in (rows[0] if rows else {}) if k not in TABLE_SKIP and not k.startswith("_")]
    if not rows or not cols:
        return "<p>No finished phase yet: no curve.</p>"
    left, right, top, bottom = 44, 110, 12, 34
    xs = [row.get("phase", i) for i, row in enumerate(rows)]
    x0, x1 = min(xs), max(max(xs), min(xs) + 1)
    def X(x):
        return left + (x - x0) / (x1 - x0) * (width - left - right)
    def Y(y):
        return top + (100 - y) / 100 * (height - top - bottom)
    out = [f'<svg class="curve" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">'
           f'<title>test success (%) per phase</title>']
    for y in (0, 25, 50, 75, 100):
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{Y(y):.1f}" y2="{Y(y):.1f}" class="grid"/>'
                   f'<text x="{left - 6}" y="{Y(y) + 4:.1f}" text-anchor="end">{y}</text>')
    for x in sorted(set(xs)):
        out.append(f'<text x="{X(x):.1f}" y="{height - bottom + 16}" text-anchor="middle">{x}</text>')
    out.append(f'<text x="{(left + width - right) / 2:.0f}" y="{height - 4}" text-anchor="middle">phase (0 = SFT)</text>')
    palette = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#46a0a0"]
    for i, c in enumerate(cols):
        color, w = ("#000", 2.5) if c == "Avg" else (palette[i % len(palette)], 1.2)
        pts = [(X(x), Y(row[c])) for x, row in zip(xs, rows) if isinstance(row.get(c), (int, float)) and not math.isnan(row[c])]
        if pts:
            out.append(f'<polyline fill="none" stroke="{color}" stroke-width="{w}" points="'
                       + " ".join(f"{a:.1f},{b:.1f}" for a, b in pts) + '"/>')
            out.extend(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="{w + 1}" fill="{color}"/>' for a, b in pts)
        ly = top + 14 * i + 6
        out.append(f'<line x1="{width - right + 10}" x2="{width - right + 28}" y1="{ly}" y2="{ly}" stroke="{color}" '
                   f'stroke-width="{w}"/><text x="{width - right + 33}" y="{ly + 4}">{esc(c)}</text>')
    return "".join(out) + "</svg>"


def finite(x):
    """x with every NaN or infinity (not JSON) made None."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: finite(v) for k, v in x.items()}
    if isinstance(x, list):
        return [finite(v) for v in x]
    return x


def script_json(data) -> str:
    """JSON safe inside a <script> element: "</" and "<!--" cannot end or confuse it."""
    text = json.dumps(finite(data), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("</", "<\\/").replace("<!--", "<\\u0021--")


METRIC_GROUPS = [
    ("tasks and curriculum", lambda k: k.startswith(("tasks", "curriculum", "sft_tasks", "demos", "orm_examples", "orm_positive"))),
    ("replay", lambda k: k.startswith(("replay", "fresh_steps"))),
    ("losses", lambda k: "loss" in k or k in ("kl_to_ref", "adv_mean", "adv_std", "value_mean")),
    ("rewards and success", lambda k: k.startswith(("rollout_", "success", "names_copied", "orm_"))),
]


def metric_tables(m: dict) -> str:
    groups: dict = {name: [] for name, _ in METRIC_GROUPS}
    groups["other"] = []
    for k, v in m.items():
        if k == "phase":
            continue
        name = next((n for n, test in METRIC_GROUPS if test(k)), "other")
        groups[name].append((k, fmt(v)))
    return '<div class="metrics">' + "".join(
        f"<div><h4>{esc(name)}</h4>{table(None, kv, 'kv')}</div>" for name, kv in groups.items() if kv) + "</div>"


def curriculum_table(t: dict) -> str:
    rows = []
    for status, configs in (("kept", t["kept"]), ("dropped", t["dropped"])):
        for c in configs:
            cur = c.get("curriculum") or {}
            rows.append([c.get("intent"), cur.get("seed_intent") or "(training split)", fmt(cur.get("start_value")),
                         cur.get("dropped", "dropped") if status == "dropped" else "kept", fmt(c.get("reward")),
                         fmt(c.get("score")), fmt(c.get("orm_p"))])
    if not rows:
        return "<p>No task list recorded.</p>"
    return table(["intent", "origin (failed task it was evolved from)", "critic V(start)", "kept or dropped", "reward",
                  "evaluator score", "ORM P(YES)"], rows, "tasks")


def phase_section(d: dict, p: int) -> str:
    m = d["metrics"].get(p)
    title = "phase 0 (SFT)" if p == 0 else f"phase {p}"
    late = "" if p <= d["finished"] else ' <span class="bad">has not finished</span>'
    parts = [f'<details class="phase" open><summary><h3>{title}{late}</h3></summary>']
    parts.append(metric_tables(m) if m else "<p>No metrics line for this phase (metrics.jsonl).</p>")
    rc = d["replay"].get(p)
    if rc:
        what = "the SFT demonstrations" if p == 0 else f"{rc[0]} successful trajectories of this phase"
        parts.append(f'<p class="replay">Replay buffer: {what}, {rc[1]} steps.</p>')
    if p in d["tasks"]:
        t = d["tasks"][p]
        parts.append(f"<details><summary>curriculum: {len(t['kept'])} tasks played, {len(t['dropped'])} dropped</summary>"
                     f"{curriculum_table(t)}</details>")
    return "".join(parts) + "</details>"


def render(d: dict) -> str:
    """The report page for load()'s data."""
    rows = d["rows"]
    cols = [k for k in (rows[0] if rows else {}) if k not in TABLE_SKIP and not k.startswith("_")]
    t1 = table(["model"] + cols, [[r.get("model")] + [percent(r.get(c)) for c in cols] for r in rows], "t1") if rows else \
        "<p>No phase finished yet.</p>"
    problems = "".join(f"<li>{esc(p)}</li>" for p in d["problems"])
    others = "".join(f"<li>{n} episode records {esc(k)}: not shown</li>" for k, n in d["others"].items())
    args = table(["argument", "value"], [[k, fmt(v)] for k, v in (d["args"] or {}).items()], "kv") if d["args"] else \
        "<p>Unknown (no args.json).</p>"
    blobs = "".join(f'<script type="application/json" id="phase-{p}">{script_json(b)}</script>\n'
                    for p, b in d["blobs"].items())
    phase_names = {p: ("evaluation" if d["is_eval"] else "phase 0 (SFT)" if p == 0 else f"phase {p}") for p in d["phases"]}
    counts = {p: len(b["episodes"]) for p, b in d["blobs"].items()}
    meta = {"phases": [{"phase": p, "name": phase_names[p], "episodes": counts[p]} for p in d["phases"]]}
    values = dict((("TITLE", esc(f"report: {d['name']}")), ("NAME", esc(d["name"])),
                     ("WHEN", esc(time.strftime("%Y-%m-%d %H:%M"))), ("RUN", esc(d["run"])),
                     ("PROBLEMS", f'<div class="problems"><h2>Missing or incomplete</h2><ul>{problems}</ul></div>'
                      if problems else ""),
                     ("ARGS", args), ("TABLE", t1), ("CURVE", curve_svg(rows)),
                     ("PHASES", "" if d["is_eval"] else "".join(phase_section(d, p) for p in d["phases"])),
                     ("OTHERS", f"<ul class='others'>{others}</ul>" if others else ""),
                     ("META", script_json(meta)), ("BLOBS", blobs), ("CSS", CSS), ("JS", JS)))
    return re.sub(r"%%([A-Z]+)%%", lambda m: values[m.group(1)], PAGE)   # one pass: no value is read as a key


def write(run, out=None) -> Path:
    """Write the report of run (to RUN/report.html unless out is given); returns its path."""
    run = Path(run)
    out = Path(out) if out else run / "report.html"
    text = render(load(run))
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    return out


def main(argv=None) -> Path:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.split("\n")[2:]))
    ap.add_argument("run", help="a train.py --run-dir or an evaluate.py --out folder (only read)")
    ap.add_argument("--out", default="", help="where to write the report (default: RUN/report.html)")
    a = ap.parse_args(argv)
    try:
        path = write(a.run, a.out or None)
    except FileNotFoundError as e:
        sys.exit(str(e))
    print(f"{path} ({path.stat().st_size / 1e6:.2f} MB)")
    return path


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>%%TITLE%%</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>%%CSS%%</style></head>
<body>
<header><h1>%%NAME%%</h1><p class="sub">WebRL run report of <code>%%RUN%%</code>, written %%WHEN%% by report.py</p></header>
%%PROBLEMS%%
<section id="summary"><h2>Test success (Table 1)</h2>
<div class="row"><div>%%TABLE%%</div><div>%%CURVE%%</div></div>
<details><summary>arguments</summary>%%ARGS%%</details>
</section>
<section id="phases">%%PHASES%%</section>
<section id="episodes"><h2>Episodes</h2>
<form id="filters" onsubmit="return false">
<label>phase <select id="f-phase"></select></label>
<label>kind <select id="f-kind"><option value="">all</option><option value="eval">test evaluation</option>
<option value="rollouts">rollouts</option></select></label>
<label>site <select id="f-site"></select></label>
<label>template <select id="f-template"></select></label>
<label>success <select id="f-success"><option value="">all</option><option value="yes">success</option>
<option value="no">failure</option><option value="none">no evaluator</option></select></label>
<label>ORM <select id="f-orm"><option value="">all</option><option value="yes">YES</option><option value="no">NO</option>
<option value="none">not judged</option></select></label>
<label><input type="checkbox" id="f-disagree"> ORM disagrees with the evaluator</label>
<span id="count"></span>
</form>
%%OTHERS%%
<table id="list"><thead><tr><th>#</th><th>kind</th><th>site</th><th>instruction</th><th>steps</th><th>end</th>
<th>score</th><th>ORM P(YES)</th></tr></thead><tbody></tbody></table>
</section>
<script type="application/json" id="meta">%%META%%</script>
%%BLOBS%%<script>%%JS%%</script>
</body></html>
"""

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:0 auto;max-width:1400px;padding:0 16px 40px;color:#222}
h1{margin:16px 0 0}h2{margin:28px 0 8px;border-bottom:1px solid #ccc}h3{display:inline;margin:0;font-size:16px}
h4{margin:6px 0 2px}.sub{color:#666;margin:2px 0}code,pre{font:12px/1.35 ui-monospace,monospace}
table{border-collapse:collapse;margin:4px 0}td,th{border:1px solid #ddd;padding:2px 6px;vertical-align:top;text-align:left}
th{background:#f4f4f4}.t1 td{text-align:right}.t1 td:first-child{text-align:left}
.kv td:first-child{color:#555}.row{display:flex;gap:24px;flex-wrap:wrap;align-items:flex-start}
.curve text{font-size:11px;fill:#333}.curve .grid{stroke:#e4e4e4}
.problems{background:#fff4e5;border:1px solid #f0a030;padding:4px 12px;margin-top:12px}.problems h2{border:0;margin:8px 0 0}
.metrics{display:flex;gap:18px;flex-wrap:wrap}.phase{margin:8px 0;padding:4px 8px;border:1px solid #e4e4e4}
.bad{color:#b00}.good{color:#070}.tasks{font-size:13px}
#filters{display:flex;gap:12px;flex-wrap:wrap;align-items:center;background:#f7f7f7;padding:6px 8px;position:sticky;top:0}
#list tr.ep{cursor:pointer}#list tr.ep:hover{background:#f0f6ff}#list tr.open{background:#e6f0ff}
.episode{padding:6px 4px}.steps{list-style:none;padding:0;margin:0}
.step{display:flex;gap:12px;border-top:1px solid #eee;padding:6px 0}.step-main{flex:1;min-width:0}
.step-head{color:#555;font-size:12px;word-break:break-all}.response{background:#f6f6f6;padding:4px;margin:4px 0;white-space:pre-wrap}
.action code{color:#035}.error code{color:#b00}.action,.error{margin:2px 0}
.obs pre{max-height:400px;overflow:auto;white-space:pre-wrap;background:#fafafa;border:1px solid #eee;padding:4px}
.shot{width:320px;height:auto;border:1px solid #ccc;align-self:flex-start}
.final{border-top:2px solid #999;padding:6px 0;display:flex;gap:16px;flex-wrap:wrap}.note{color:#a60}
"""

JS = r"""
const meta = JSON.parse(document.getElementById('meta').textContent);
const blobs = {};
function phaseData(p) {   // a phase's episodes are parsed the first time the phase is shown
  if (!(p in blobs)) blobs[p] = JSON.parse(document.getElementById('phase-' + p).textContent);
  return blobs[p];
}
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) { if (k === 'text') e.textContent = v; else e.setAttribute(k, v); }
  for (const k of kids) if (k != null) e.append(k);
  return e;
}
const $ = id => document.getElementById(id);
const num = v => v == null ? '-' : (typeof v === 'number' ? String(+v.toFixed(3)) : String(v));
const success = e => e.score == null ? 'none' : (e.score === 1 ? 'yes' : 'no');
const ormVerdict = e => e.orm_p == null ? 'none' : (e.orm_p >= 0.5 ? 'yes' : 'no');
const disagrees = e => success(e) !== 'none' && ormVerdict(e) !== 'none' && success(e) !== ormVerdict(e);

function fillSelect(id, values, label) {
  const s = $(id), keep = s.value;
  s.replaceChildren(el('option', {value: '', text: 'all'}), ...values.map(v => el('option', {value: v, text: label ? label(v) : v})));
  if (values.includes(keep)) s.value = keep;
}
function onPhase() {
  const eps = phaseData($('f-phase').value).episodes;
  fillSelect('f-site', [...new Set(eps.map(e => e.site))].sort());
  fillSelect('f-template', [...new Set(eps.map(e => e.template).filter(t => t))].sort());
  render();
}
function keep(e) {
  const f = id => $(id).value;
  return (!f('f-kind') || e.kind === f('f-kind')) && (!f('f-site') || e.site === f('f-site')) &&
    (!f('f-template') || e.template === f('f-template')) && (!f('f-success') || success(e) === f('f-success')) &&
    (!f('f-orm') || ormVerdict(e) === f('f-orm')) && (!$('f-disagree').checked || disagrees(e));
}
function render() {
  const data = phaseData($('f-phase').value), body = $('list').tBodies[0];
  body.replaceChildren();
  let n = 0;
  data.episodes.forEach((e, i) => {
    if (!keep(e)) return;
    n++;
    const tr = el('tr', {class: 'ep', 'data-index': i},
      el('td', {text: i}), el('td', {text: e.kind}), el('td', {text: e.site}), el('td', {class: 'intent', text: e.intent}),
      el('td', {text: e.steps.length}), el('td', {text: e.end || '-'}),
      el('td', {class: 'score ' + (success(e) === 'yes' ? 'good' : success(e) === 'no' ? 'bad' : ''), text: num(e.score)}),
      el('td', {class: disagrees(e) ? 'bad' : '', text: num(e.orm_p)}));
    tr.addEventListener('click', () => toggle(tr, data, e));
    body.append(tr);
  });
  $('count').textContent = n + ' of ' + data.episodes.length + ' episodes';
}
function toggle(tr, data, e) {
  const next = tr.nextElementSibling;
  if (next && next.classList.contains('detail')) { next.remove(); tr.classList.remove('open'); return; }
  tr.classList.add('open');
  tr.after(el('tr', {class: 'detail'}, el('td', {colspan: 8}, episodeView(data, e))));
}
function episodeView(data, e) {
  const head = el('div', {class: 'head'},
    el('p', {class: 'instruction'}, el('b', {text: 'Instruction: '}), e.intent),
    el('p', {class: 'sub', text: [e.kind === 'eval' ? 'test task ' + num(e.task_id) : 'rollout task ' + num(e.task_id),
      e.template ? 'template: ' + e.template : null, e.origin ? 'evolved from: ' + e.origin : null,
      e.critic != null ? 'critic V(start): ' + num(e.critic) : null,
      e.file ? 'record: ' + e.file : null].filter(x => x).join(' · ')}));
  for (const n of e.notes) head.append(el('p', {class: 'note', text: n}));
  const steps = el('ol', {class: 'steps'});
  e.steps.forEach((s, k) => {
    const summary = el('summary', {text: 'observation (' + data.observations[s.obs].length + ' characters)'}), pre = el('pre');
    // the observation's text goes in when it is first opened
    summary.addEventListener('click', () => { if (!pre.textContent) pre.textContent = data.observations[s.obs]; });
    const obs = el('details', {class: 'obs'}, summary, pre);
    const main = el('div', {class: 'step-main'},
      el('div', {class: 'step-head'}, el('b', {text: 'step ' + k}), ' · ' + (s.url || '(no URL)') + ' · ' + num(s.ms) + ' ms'),
      el('pre', {class: 'response', text: s.response}),
      s.action ? el('div', {class: 'action'}, el('b', {text: 'action: '}), el('code', {text: s.action})) : null,
      s.error ? el('div', {class: 'error'}, el('b', {text: 'error: '}), el('code', {text: s.error})) : null,
      s.shot_note ? el('div', {class: 'note', text: s.shot_note}) : null, obs);
    const shot = s.shot !== null ? el('img', {class: 'shot', src: data.screenshots[s.shot], alt: 'step ' + k}) : null;
    steps.append(el('li', {class: 'step'}, main, shot));
  });
  const final = el('div', {class: 'final'},
    el('span', {class: 'end'}, el('b', {text: 'end: '}), e.end || '(none)'),
    el('span', {class: 'answer'}, el('b', {text: 'answer: '}), e.answer == null ? '-' : JSON.stringify(e.answer)),
    el('span', {class: 'final-score'}, el('b', {text: 'evaluator score: '}), num(e.score)),
    e.eval && Object.keys(e.eval).length ? el('span', {class: 'parts', text: JSON.stringify(e.eval)}) : null,
    e.eval_error ? el('span', {class: 'error', text: 'evaluator error: ' + e.eval_error}) : null,
    el('span', {class: 'orm'}, el('b', {text: 'ORM P(YES): '}), e.orm_p == null ? 'not judged' : num(e.orm_p)),
    e.reward != null ? el('span', {class: 'reward'}, el('b', {text: 'reward: '}), num(e.reward)) : null,
    e.expected ? el('span', {class: 'expected'}, el('b', {text: 'expected: '}), e.expected) : null);
  return el('div', {class: 'episode', 'data-file': e.file || ''}, head, steps, final);
}
fillSelect('f-phase', meta.phases.map(p => String(p.phase)),
  v => { const p = meta.phases.find(x => String(x.phase) === v); return p.name + ' (' + p.episodes + ')'; });
$('f-phase').querySelector('option[value=""]').remove();
const shown = meta.phases.filter(p => p.episodes > 0);
$('f-phase').value = String((shown.length ? shown[shown.length - 1] : meta.phases[meta.phases.length - 1]).phase);
$('f-phase').addEventListener('change', onPhase);
for (const id of ['f-kind', 'f-site', 'f-template', 'f-success', 'f-orm', 'f-disagree']) $(id).addEventListener('change', render);
onPhase();
"""


if __name__ == "__main__":
    main()
