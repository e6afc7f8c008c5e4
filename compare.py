"""compare.py: two evaluations of the same test tasks, paired task by task (not in the paper).

    python compare.py runs/q2/phase0 runs/q2/phase1     # a run's SFT against its phase 1 (train.py's eval.jsonl)
    python compare.py runs/eval_a runs/eval_b           # two evaluate.py --out directories (results.jsonl)
    python compare.py runs/webrl-20250601-093000        # every phase of a run against the phase before

On miniarena's 48-165 test tasks a change of a few points of success is a handful of tasks, and the paper's
Table 1 (success per site) does not say whether it is more than noise. Paired on the tasks both evaluations
hold, per site and on average: the successes before and after, the tasks gained and lost, and the exact
two-sided sign test on gained vs lost (McNemar's exact test; rundir.sign_test_p). Tasks only one evaluation
holds (a different --limit / --eval-tasks) are counted and left out.
"""
import sys
from pathlib import Path

import rundir


def compare(before: str, after: str) -> dict:
    """Print and return rundir.paired(before, after)."""
    try:
        pair = rundir.paired(rundir.read_eval(before), rundir.read_eval(after))
    except (OSError, ValueError) as e:
        raise SystemExit(str(e)) from None
    avg = pair["Avg"]
    if not avg["tasks"]:
        raise SystemExit(f"{before} and {after} share no task: they evaluated different task sets")
    print(f"{before} -> {after}: {avg['before']} -> {avg['after']} of {avg['tasks']} shared tasks, "
          f"{avg['gained']} gained, {avg['lost']} lost (sign test p = {avg['p']:.3f})")
    if pair["only_before"] or pair["only_after"]:
        print(f"left out: {pair['only_before']} tasks only in {before}, {pair['only_after']} only in {after}")
    print(rundir.format_paired(pair) + "\n")
    return pair


def run_phases(run: Path) -> list[Path]:
    """A train.py run's phase directories that hold a test evaluation, in phase order."""
    phases = sorted((p for p in run.glob("phase*") if p.name[5:].isdigit() and (p / "eval.jsonl").exists()),
                    key=lambda p: int(p.name[5:]))
    if len(phases) < 2:
        raise SystemExit(f"{run}: fewer than two phases with an eval.jsonl ({[p.name for p in phases]}): nothing to compare")
    return phases


def main(argv: list[str]) -> list[dict]:
    if len(argv) == 1:
        phases = run_phases(Path(argv[0]))
        return [compare(str(a), str(b)) for a, b in zip(phases, phases[1:])]
    if len(argv) == 2:
        return [compare(argv[0], argv[1])]
    raise SystemExit(__doc__.split("\n\n")[1].rstrip() + "\n\nusage: python compare.py BEFORE AFTER | python compare.py RUN")


if __name__ == "__main__":
    main(sys.argv[1:])
