"""evaluate.py: a policy on a task set at temperature 0 (or --temperature), printed in the paper's Table 1 layout.

    python evaluate.py                                                  # the latest run's SFT actor, miniarena's 165 test tasks
    python evaluate.py --policy runs/webrl-20250601-093000/phase3/actor --limit 30   # a spread of 30 of them
    python evaluate.py --steps --max-prompt-tokens 1024                 # step accuracy (the latest run's SFT actor)
    python evaluate.py --answer 1 --limit 40                            # no model: exit(message="1") at once
    python evaluate.py --policy runs/webrl-20250601-093000/phase3/actor --limit 60 --resume   # grow it (or after a kill)
    python evaluate.py --policy runs/webrl-20250601-093000/phase3/actor --limit 30 --screenshots && python report.py runs/eval
    python evaluate.py --policy runs/webrl-20250601-093000/phase0/actor --split train --limit 32 --temperature 0.5   # as rollouts play
    python evaluate.py --like runs/webrl-20250601-093000/phase1/actor --limit 96 --resume --out runs/eval_p1   # grow a phase's evaluation
    # the real WebArena-Lite (sites running, their variables set: SHOPPING=http://host:7770 ...)
    python evaluate.py --policy THUDM/webrl-llama-3.1-8b --tasks webarena_lite.json --judge-url http://host/v1

Success rate per site (Reddit, Gitlab, CMS, Map, OSS) and their average over tasks, as in the paper's
Table 1 (WebArena-Lite: 165 tasks); its last row says over how many tasks each column was computed. A --tasks
config that cannot be handled is skipped, named (task id and field) and counted, and the others run;
`python env.py --check FILE` lists such configs beforehand. Every episode is written as JSONL under --out/episodes (prompt,
html, response, url, action, error, timings, score: what WebRL's data pipeline reads), and one line per
task to --out/results.jsonl. --screenshots adds a small JPEG of each step's page beside the records (never
part of the model's input); `python report.py OUT` shows the episodes step by step in report.html.

fuzzy_match tasks (WebArena's LLM-judged answers) need a judge: --judge-url/--judge-model/--judge-key,
or WEBRL_JUDGE_URL/MODEL/KEY; without one, such a task fails with a clear error before it runs.

--answer TEXT (not in the paper) plays no model: every episode ends at its first step with exit(message=TEXT),
scored by the task's own evaluator. It measures what a constant guess earns on the task set (miniarena's count
questions, "How many ...", often have a small answer), the floor a learned policy's success is read against.

--temperature T > 0 (not in the paper's evaluation, which is greedy) samples each response as train.py's rollouts
do; with --split train (miniarena's training split) it measures the reward the rollouts of a phase can expect
from this policy at that temperature.

--like RUN/phaseK/actor (or a run directory) evaluates as that train.py run did: --max-steps, --max-new-tokens,
--max-prompt-tokens and --seed left at their defaults here are read from RUN/args.json (train.py plays 15 steps of
48 tokens on 1,024-token prompts, not WebRL's 30 / 128 / 16,384), and an empty --policy is the checkpoint. With
--resume and an --out that has no results.jsonl yet, the phase's own evaluation (RUN/phaseK/eval.jsonl, played
greedily with these settings) is its start, so --limit 96 after the run's 48 test tasks plays only the 48 new ones.

--steps (miniarena only; not in the paper) measures where whole-task success is lost: miniarena's oracle plays
each task, and at each of its steps the policy, given the oracle's prompt (teacher-forced), answers greedily;
per action kind, the share of steps where its action equals the oracle's (kind, element and argument) is
printed and written to --out/steps.md, each step's oracle and policy responses to --out/steps.jsonl. A task
of six steps at 50% per step succeeds about 0.5^6 = 2% of the time.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

import dist
import env
import policy
import pretrained
import rundir
import train


@dataclass
class EvalArgs:
    policy: str = ""
    """HF directory or hub name of the actor (a train.py checkpoint, THUDM/webrl-llama-3.1-8b, ...), or 'smollm2'
    (the pretrained default before any training, pretrained.py); empty: the SFT actor (phase0/actor) of the
    latest run train.py named under runs/"""
    tasks: str = ""
    """a WebArena config file (one config or a list); empty: miniarena's --split on a local miniarena"""
    split: str = "test"
    """without --tasks: miniarena's 'test' split (the paper's evaluation) or its 'train' split (what rollouts play)"""
    limit: int = 0
    """evaluate at most this many tasks, spread evenly over sites and templates (0: all)"""
    out: str = "runs/eval"
    """where results.jsonl, table.md and the episode records go"""
    seed: int = 0
    """miniarena's data seed (its splits) and the sampling seed of --temperature"""
    slots: int = 8
    """episodes in flight in the browser pool (one generation batch)"""
    max_steps: int = 30
    """actions per episode (WebRL's runs: 30)"""
    temperature: float = 0.0
    """0: greedy (the paper's evaluation); above 0: sampled, as train.py's rollouts (seeded by --seed)"""
    max_new_tokens: int = 128
    """tokens per response"""
    max_prompt_tokens: int = 16384
    """prompts are cut beyond this (the page text goes first); tiny checkpoints were trained with 1024"""
    precision: str = "auto"
    """the actor's weights: 'bf16', 'fp32', or 'auto': bf16 on a GPU or a CPU with AMX or AVX-512 BF16, else fp32,
    as train.py generates its rollouts and evaluations (--precision there). On the AMX machine the default run's
    phase-3 actor took 16.2 min for its 80 test tasks in fp32 against 10.6 min in bf16 inside train.py"""
    judge_url: str = ""
    """OpenAI-compatible endpoint for fuzzy_match (else WEBRL_JUDGE_URL)"""
    judge_model: str = "gpt-4-1106-preview"
    """the judge's model name"""
    judge_key: str = ""
    """the judge's API key (else WEBRL_JUDGE_KEY)"""
    steps: bool = False
    """instead of episodes, teacher-forced step accuracy on miniarena's oracle demonstrations (see above)"""
    answer: str = ""
    """no policy: answer this at every task's first step, exit(message=ANSWER) (see above); empty: the policy plays"""
    screenshots: bool = False
    """store a small JPEG (half-size viewport) of every step's page beside its episode record, for report.py;
    never part of the model's input"""
    like: str = ""
    """a train.py checkpoint (RUN/phaseK/actor) or run directory: take its settings, and the checkpoint as
    --policy (see above)"""
    resume: bool = False
    """play only the tasks that --out/results.jsonl does not hold yet: after a killed evaluation (each task's
    line is written as it ends), or to grow one (--limit 96 holds --limit 48's tasks). The policy, task set and
    limits must be the ones it was made with"""


def step_kind(action: env.Action) -> str:
    """The row of a step in the step-accuracy table: the action's kind; exit split by whether it answers."""
    return action.kind if action.kind != "exit" else ("exit (answer)" if action.argument else "exit (no answer)")


def compare(want: str, got: str) -> tuple[env.Action, bool, bool]:
    """The oracle's action, whether the response's action has its kind, and whether it is the same action
    (kind, element and argument). An unparsable response is wrong."""
    o = env.parse_action(want)
    try:
        a = env.parse_action(got)
    except ValueError:
        a = None
    same_kind = a is not None and a.kind == o.kind
    return o, same_kind, same_kind and (a.element, a.argument or "") == (o.element, o.argument or "")


def step_accuracy(oracle_responses: list, responses: list) -> dict:
    """Per kind of the oracle's action (and 'all'): n, the share of responses with the same kind of action,
    and the share whose action is the oracle's (compare)."""
    if len(oracle_responses) != len(responses):
        raise ValueError(f"need one response per oracle step: {len(oracle_responses)} steps, {len(responses)} responses")
    rows: dict = {}
    for want, got in zip(oracle_responses, responses):
        o, same_kind, exact = compare(want, got)
        for key in (step_kind(o), "all"):
            r = rows.setdefault(key, [0, 0, 0])
            r[0], r[1], r[2] = r[0] + 1, r[1] + same_kind, r[2] + exact
    return {k: {"n": n, "kind": kind / n, "exact": exact / n}
            for k, (n, kind, exact) in sorted(rows.items(), key=lambda kv: (kv[0] == "all", kv[0]))}


def format_steps(acc: dict) -> str:
    lines = ["| oracle action | steps | same kind (%) | exact (%) |", "|---|---|---|---|"]
    return "\n".join(lines + [f"| {k} | {r['n']} | {100 * r['kind']:.1f} | {100 * r['exact']:.1f} |" for k, r in acc.items()])


def load_policy(a: EvalArgs):
    """The actor and its tokenizer, on the GPU when there is one, in --precision."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.bfloat16 if dist.use_bf16(a.precision, device) else torch.float32
    return policy.load_actor(pretrained.resolve(a.policy), dtype=dtype, device=device)


def demonstration_steps(a: EvalArgs) -> dict:
    """Step accuracy of the policy on the oracle's demonstrations of miniarena's --split (EvalArgs.steps)."""
    from miniarena import MiniArena, oracle
    from miniarena.tasks import build
    if a.tasks:
        raise SystemExit("--steps needs miniarena's oracle: it cannot be combined with --tasks")
    configs = build(a.split, a.seed)
    configs = rundir.spread(configs, a.limit) if a.limit else configs
    arena = MiniArena(seed=a.seed).start()
    try:
        results = oracle.run(configs, slots=a.slots, arena=arena)
    finally:
        arena.stop()
    steps = [{**s, "intent": c["intent"]} for c, r in zip(configs, results) if r["score"] == 1.0 for s in r["steps"]]
    model, tok = load_policy(a)
    t0 = time.time()
    gens = policy.generate(model, tok, [s["prompt"] for s in steps], max_new_tokens=a.max_new_tokens, temperature=0.0,
                           max_prompt_tokens=a.max_prompt_tokens, batch_size=a.slots)
    acc = step_accuracy([s["response"] for s in steps], [g.text for g in gens])
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    table = format_steps(acc)
    (out / "steps.md").write_text(table + "\n")
    with open(out / "steps.jsonl", "w") as f:   # each step, to read where the policy goes wrong
        for s, g in zip(steps, gens):
            f.write(json.dumps({"intent": s["intent"], "step": s["step"],
                                "oracle": s["response"], "response": g.text,
                                "exact": compare(s["response"], g.text)[2]}) + "\n")
    print(f"{len(steps)} oracle steps of {sum(r['score'] == 1.0 for r in results)} tasks, "
          f"{time.time() - t0:.0f} s\n\n{table}")
    return acc


RESUME_SAME = ("policy", "tasks", "split", "temperature", "seed", "max_steps", "max_new_tokens", "max_prompt_tokens", "answer",
               "precision")


def earlier_lines(out: Path, a: EvalArgs) -> dict:
    """--resume: the lines of out/results.jsonl by task id, after checking that out/args.json was made with
    the same policy, task set and limits. A line cut off by a kill is dropped (its task is played again)."""
    path = out / "results.jsonl"
    if not path.exists():
        return {}
    before = json.loads((out / "args.json").read_text()) if (out / "args.json").exists() else {}
    # a setting that an older args.json lacks had its default then
    was = {k: before.get(k, getattr(EvalArgs, k)) for k in RESUME_SAME}
    differ = [f"{k}={was[k]!r} there, {getattr(a, k)!r} now" for k in RESUME_SAME if was[k] != getattr(a, k)]
    if differ and not (out / "args.json").exists():   # e.g. a train.py phase's eval.jsonl copied in, to grow it
        raise SystemExit(f"--resume: {out} has results.jsonl but no args.json, so its settings are read as the "
                         f"defaults, and they differ ({'; '.join(differ)}): write the args.json it was made with "
                         "(e.g. another evaluation's, edited) or pass another --out")
    if differ:
        raise SystemExit(f"--resume: {out} was evaluated with other settings ({'; '.join(differ)}); pass another --out")
    lines = {}
    for n, text in enumerate(path.read_text().splitlines(), 1):
        try:
            line = json.loads(text)
            lines[line["task_id"]] = line
        except (json.JSONDecodeError, KeyError, TypeError):
            print(f"--resume: {path} line {n} is incomplete (a killed write?): its task is played again", flush=True)
    return lines


LIKE = ("max_steps", "max_new_tokens", "max_prompt_tokens", "seed", "precision")


def like_run(a: EvalArgs) -> Path | None:
    """--like: the settings of the train.py run that holds a.like (its args.json, here or in a folder above),
    for each of LIKE that the command line did not name (a.given; for an EvalArgs built in code: that a leaves at
    its default), and a.like as the policy if it is a checkpoint and a names none.
    Returns the checkpoint's phase evaluation (phaseK/eval.jsonl) when --resume can start from it, else None."""
    path = Path(a.like)
    run = next((p for p in (path, *path.parents) if (p / "args.json").exists()), None)
    if not path.exists() or run is None:
        raise SystemExit(f"--like {a.like}: {'not found' if not path.exists() else 'no args.json in it or above it'} "
                         "(pass a train.py run directory or its RUN/phaseK/actor)")
    made = json.loads((run / "args.json").read_text())
    made.setdefault("precision", "fp32")   # train.py runs from before --precision computed in fp32
    if "eval_tasks" not in made or any(k not in made for k in LIKE):
        raise SystemExit(f"--like {a.like}: {run / 'args.json'} is not a train.py run's (it lacks eval_tasks or one of {LIKE})")
    given = getattr(a, "given", None)   # the flags of evaluate.py's command line; unknown for an EvalArgs built in code
    for k in LIKE:
        if (k not in given) if given is not None else getattr(a, k) == getattr(EvalArgs, k):
            setattr(a, k, made[k])
    checkpoint = (path / "config.json").exists()
    if checkpoint and not a.policy:
        a.policy = str(path)
    phase_eval = path.parent / "eval.jsonl"
    same = (checkpoint and Path(a.policy) == path and not a.answer and not a.tasks and a.split == "test"
            and a.temperature == 0 and all(getattr(a, k) == made[k] for k in LIKE))
    return phase_eval if same and phase_eval.exists() else None


def write_args(out: Path, a: EvalArgs) -> None:
    """out/args.json: what --resume checks and report.py reads the task set from; the judge's API key stays out."""
    (out / "args.json").write_text(json.dumps({k: v for k, v in asdict(a).items() if k != "judge_key"}, indent=1) + "\n")


def latest_sft_actor() -> str:
    """--policy's default: phase0/actor of the latest run train.py named under runs/ (rundir.named_runs)."""
    actors = [r / "phase0" / "actor" for r in rundir.named_runs() if (r / "phase0" / "actor").is_dir()]
    if not actors:
        raise SystemExit(f"no --policy given and no run under {rundir.RUNS}/ has a phase0/actor yet: "
                         "pass --policy DIR (or smollm2)")
    return str(actors[-1])


def main(a: EvalArgs) -> dict:
    phase_eval = like_run(a) if a.like else None
    if not a.policy and not a.answer:
        a.policy = latest_sft_actor()
    if a.split not in ("train", "test"):
        raise SystemExit(f"--split must be 'train' or 'test', got {a.split!r}")
    if not 0 <= a.temperature <= 2:
        raise SystemExit(f"--temperature must be in [0, 2], got {a.temperature}")
    if a.precision not in ("auto", "bf16", "fp32"):
        raise SystemExit(f"--precision must be auto, bf16 or fp32, got {a.precision!r}")
    if a.steps:
        return demonstration_steps(a)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    if a.resume and phase_eval is not None and not (out / "results.jsonl").exists():
        # the phase's own evaluation, played by this checkpoint with these settings: its lines are kept, not replayed
        write_args(out, a)
        shutil.copyfile(phase_eval, out / "results.jsonl")   # whole lines: intent, end, answer too (report.py)
        print(f"--like: starting from {phase_eval}", flush=True)
    skipped = []   # configs of --tasks that cannot be handled: named as they are skipped, counted below
    if a.tasks:
        configs, skipped = rundir.task_file(a.tasks)
    else:
        from miniarena.tasks import build
        configs = build(a.split, a.seed)
    if a.limit:
        configs = rundir.spread(configs, a.limit)
    kept = earlier_lines(out, a) if a.resume else {}
    outside = set(kept) - {c["task_id"] for c in configs}
    if outside:
        raise SystemExit(f"--resume: {out / 'results.jsonl'} holds {len(outside)} "
                         f"tasks outside this task set (was --limit larger?); pass another --out")
    model, tok = load_policy(a) if not a.answer else (None, None)
    judge = env.Judge(a.judge_url, a.judge_model, a.judge_key or os.environ.get("WEBRL_JUDGE_KEY", "")) if a.judge_url else None
    arena = None
    if not a.tasks:
        from miniarena import MiniArena
        arena = MiniArena(seed=a.seed).start()
    todo = [c for c in configs if c["task_id"] not in kept]
    write_args(out, a)
    if kept:
        print(f"resuming: {len(kept)} of {len(configs)} tasks already in {out / 'results.jsonl'}; playing {len(todo)}", flush=True)
    lines = dict(kept)
    t0 = time.time()
    rundir.save_jsonl_atomic(out / "results.jsonl", kept.values())
    with open(out / "results.jsonl", "a") as f:   # each task's line as its episode ends: a killed run keeps them
        def done(r, task):
            lines[task["task_id"]] = rundir.eval_line(r, task)
            f.write(json.dumps(lines[task["task_id"]]) + "\n")
            f.flush()

        pool = env.Pool(a.slots, arena=arena, limits=env.Limits(max_steps=a.max_steps), record_dir=str(out / "episodes"),
                        judge=judge, screenshots=a.screenshots)
        try:
            if a.answer:
                guess = str(env.Action("exit", argument=a.answer))
                by_id = {c["task_id"]: c for c in todo}
                env.play(pool, todo, lambda batch: [guess] * len(batch), on_done=lambda r: done(r, by_id[r["task_id"]]))
            else:
                train.play_policy(pool, model, tok, todo, a, a.temperature, a.seed, "evaluate", on_done=done)
        finally:
            pool.close()
            if arena is not None:
                arena.stop()
    ordered = [lines[c["task_id"]] for c in configs]
    rundir.save_jsonl_atomic(out / "results.jsonl", ordered)   # in task order
    name = f"answer {json.dumps(a.answer)}" if a.answer else Path(a.policy).name if Path(a.policy).exists() else a.policy
    name += f" (T={a.temperature:g})" if a.temperature else ""
    row = {"model": name, **rundir.success_table(ordered, configs)}
    table = rundir.format_table([row], configs)
    (out / "table.md").write_text(table + "\n")
    skips = f", {len(skipped)} skipped (their configs cannot be handled: named above)" if skipped else ""
    print(f"{len(configs)} tasks in {time.time() - t0:.0f} s{skips}; episodes in {out / 'episodes'}\n\n{table}")
    return row


if __name__ == "__main__":
    cli_args = train.cli(EvalArgs, doc=__doc__)
    cli_args.given = train.flags_given()   # --like keeps these even at evaluate.py's defaults (e.g. --max-new-tokens 128)
    main(cli_args)
