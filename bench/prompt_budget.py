"""bench/prompt_budget.py: what a tighter prompt budget (train.py --max-prompt-tokens) would cost the actor.

Every step the actor trains on or plays is a WebRL prompt cut to the budget (policy.encode_prompt: the page is
compacted first, then loses its end), and on a CPU the prompt is nearly all of a step's compute: ~1,000 prompt
tokens for ~20 action tokens. A smaller budget is cheaper in proportion, but only while the page still shows
what the step acts on. On the oracle's demonstrations (a run's demos.json, or miniarena's oracle on --tasks
training tasks), for each budget this prints the mean prompt tokens (the compute a step costs), the share of
prompts cut, and the share of steps whose target is still in the prompt the model reads: the element id of a
Click / Type / Search / Select / Hover, or the answer of an exit(message=...) where the uncut page holds it.

    python bench/prompt_budget.py --demos runs/q2/demos.json --budgets 512,640,768,896,1024
    python bench/prompt_budget.py --tasks 80                  # no run needed: miniarena's oracle plays 80 tasks

Tokenization only (no model forward): a minute or two on one core for a few thousand steps.
"""
from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import env      # noqa: E402
import policy   # noqa: E402


def target(response: str, prompt: str) -> re.Pattern | None:
    """What the step acts on, as it must appear in the prompt: 'id="N"' for an element, the answer as page text
    (not inside an attribute, not part of a longer word or number) for an exit whose answer the uncut prompt
    holds; None when there is nothing to look for (no element, no answer, or one the page does not show)."""
    try:
        a = env.parse_action(response)
    except ValueError:
        return None
    if a.kind != "exit":
        return re.compile(re.escape(f'id="{a.element}"')) if a.element else None
    answer = re.compile(rf'(?<![\w"]){re.escape(a.argument)}(?![\w"])') if a.argument else None
    return answer if answer and answer.search(prompt) else None


def measure(tok, steps: list, budgets: list) -> list[dict]:
    rows = []
    targets = [target(s["response"], s["prompt"]) for s in steps]
    for n in budgets:
        toks, cut, seen, looked = [], 0, 0, 0
        for s, t in zip(steps, targets):
            ids, was_cut = policy.encode_prompt(tok, s["prompt"], n)
            toks.append(len(ids))
            cut += was_cut
            if t is not None:
                looked += 1
                # compact_html may write the element differently; the id attribute itself survives it
                seen += t.search(tok.decode(ids)) is not None
        rows.append({"budget": n, "mean_tokens": statistics.mean(toks), "cut": 100.0 * cut / len(steps),
                     "target_kept": 100.0 * seen / max(1, looked), "targets": looked})
    return rows


def oracle_steps(n_tasks: int, seed: int) -> list[dict]:
    """The oracle's steps (prompt, response) on n training tasks, played in miniarena as train.py demonstrates."""
    import tempfile
    from miniarena import MiniArena
    from miniarena.tasks import build
    import train
    tasks = random.Random(seed).sample(build("train", seed), n_tasks)
    with MiniArena(seed=seed) as arena, tempfile.TemporaryDirectory() as tmp:
        return train.demonstrations(arena, tasks, train.Args(), Path(tmp) / "demos.json")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--demos", default="", help="a run's demos.json (train.py writes it in phase 0)")
    ap.add_argument("--tasks", type=int, default=80, help="without --demos: the oracle plays this many training tasks")
    ap.add_argument("--steps", type=int, default=0, help="measure a random sample of this many steps (0: all)")
    ap.add_argument("--budgets", default="512,640,768,896,1024,1536")
    ap.add_argument("--policy", default="smollm2", help="whose tokenizer counts the tokens")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    import pretrained
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(pretrained.resolve(a.policy))
    steps = json.loads(Path(a.demos).read_text()) if a.demos else oracle_steps(a.tasks, a.seed)
    if a.steps and a.steps < len(steps):
        steps = random.Random(a.seed).sample(steps, a.steps)
    full = [len(tok(s["prompt"])["input_ids"]) for s in steps]
    print(f"{len(steps)} oracle steps ({a.demos or f'{a.tasks} training tasks'}); uncut prompt: median "
          f"{statistics.median(full):.0f} tokens, mean {statistics.mean(full):.0f}\n")
    print("| budget | mean prompt tokens | prompts cut (%) | target kept (%) | steps with a target |")
    print("|---|---|---|---|---|")
    for r in measure(tok, steps, [int(x) for x in a.budgets.split(",")]):
        print(f"| {r['budget']} | {r['mean_tokens']:.0f} | {r['cut']:.1f} | {r['target_kept']:.1f} | {r['targets']} |")


if __name__ == "__main__":
    main()
