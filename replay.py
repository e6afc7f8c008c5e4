"""replay.py: WebRL's experience replay buffer with the actor-confidence filter.

Paper section 6 (WEBRL_FACTS.md section 6; public code `THUDM/WebRL` `scripts/process_data.py`,
`replay_data`):

  * Only successful trajectories are stored (ORM score > 0), step by step, tagged with their phase.
    Phase 1 replays the SFT demonstrations (`add_demonstrations`, phase 0).
  * Each phase, the *current* actor scores every buffered step; the confidence of a step is
        c = exp(mean_k log pi(a_k | s, a_<k))      (the inverse of the action's perplexity)
    and steps with c in (0.5, 0.95] are kept: too familiar steps (c > 0.95) teach nothing, too
    unfamiliar ones (c <= 0.5) are far from the current policy (paper Table 2).
  * At most ratio x (number of fresh steps) of them are sampled (ratio 2) and mixed with the phase's
    own data for the critic and actor updates.
  * Simplified here (`max_scored`): when the buffer is large, a random sample of it is scored instead
    of every step. Scoring is a full forward pass per step; with the SFT demonstrations in the buffer
    (1,500 steps for 240 tasks) it cost more than the actor update it feeds. A uniform sample keeps the
    same band fractions in expectation, and the cost then follows the phase's size, not the buffer's.

Storage: one JSON line per trajectory, appended and fsync'ed, so a restart loses at most a trajectory
being written (a torn last line is skipped on load). Each step is a dict with
    prompt, prompt_ids, action_ids, response, phase, task_id, reward, step
(`prompt_ids` / `action_ids` may be missing for text-only demonstrations; `select` encodes them).
Other JSON-serialisable keys of a step (e.g. `next_prompt`, `done` for the critic) are kept as given.

Usage:
    buf = ReplayBuffer("runs/x/replay.jsonl")
    buf.add_demonstrations(sft_steps)                     # phase 0
    buf.add_trajectory(steps, reward=1.0, phase=1)        # ignored unless reward > 0
    replayed, counts = buf.select((model, tok), n_fresh=len(fresh), before_phase=2, seed=2)
"""
from __future__ import annotations

import json
import math
import os
import random
from pathlib import Path

import torch

import policy

STEP_KEYS = ("prompt", "prompt_ids", "action_ids", "response", "phase", "task_id", "reward", "step")


def confidence_filter(mean_logp, low: float = 0.5, high: float = 0.95) -> torch.Tensor:
    """Bool mask of steps whose confidence exp(mean log-prob) lies in (low, high] (paper section 6).

    Compared in log space, log(low) < mean_logp <= log(high), in float64: the same test without
    exp's rounding at the edges, so a step of confidence exactly 0.95 is kept and 0.5 is not. low = 0 is no
    lower bound (log 0 = -inf: the bands (0, 1] and (0, 0.5] of the paper's Table 2)."""
    x = torch.as_tensor(mean_logp, dtype=torch.float64)
    return (x > (math.log(low) if low > 0 else -math.inf)) & (x <= math.log(high))


class ReplayBuffer:
    """Successful steps of all phases, persisted as JSONL (one trajectory a line).

    write=False keeps the buffer in memory only, reading the file (the ranks other than 0 of a
    torchrun job: every rank holds the same buffer, rank 0 writes it)."""

    def __init__(self, path, write: bool = True):
        self.path = Path(path)
        self.write = write
        self.steps: list[dict] = []
        self.load()

    def __len__(self):
        return len(self.steps)

    def _trajectories(self):
        """The stored trajectories; a line that does not parse (a write cut by a crash) is skipped."""
        if self.path.exists():
            with open(self.path, encoding="utf-8") as f:
                for line in f:
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError:
                        continue

    def load(self) -> "ReplayBuffer":
        """(Re)read the file."""
        self.steps = [s for traj in self._trajectories() for s in traj["steps"]]
        return self

    def _append(self, record: dict) -> None:
        if not self.write:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with open(self.path, "a", encoding="utf-8") as f:
            # a torn line from an earlier crash must not swallow this record: start on a fresh line
            if f.tell() > 0 and not self._ends_with_newline():
                line = "\n" + line
            f.write(line)
            f.flush()
            os.fsync(f.fileno())

    def _ends_with_newline(self) -> bool:
        with open(self.path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            return f.read(1) == b"\n"

    def drop_after(self, phase: int) -> int:
        """Forget the experience of phases after `phase` (a phase a killed run did not finish, which
        the resumed run plays again); rewrites the file atomically. Returns how many steps went."""
        if not self.path.exists():
            return 0
        if not self.write:
            before = len(self.steps)
            self.steps = [s for s in self.steps if s["phase"] <= phase]
            return before - len(self.steps)
        trajs = list(self._trajectories())
        kept = [json.dumps(t, ensure_ascii=False) + "\n" for t in trajs if t["phase"] <= phase]
        dropped = sum(len(t["steps"]) for t in trajs if t["phase"] > phase)
        if dropped:
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text("".join(kept), encoding="utf-8")
            os.replace(tmp, self.path)
            self.load()
        return dropped

    def add_trajectory(self, steps, reward: float, phase: int, task_id=None) -> bool:
        """Store a trajectory's steps if it succeeded (reward > 0); returns whether it was stored.
        Each step: a dict with at least `prompt` and `response` (and ideally the ids generated);
        phase, reward and task_id (unless the step has its own) are set here."""
        if not reward > 0 or not steps:
            return False
        rows = []
        for i, s in enumerate(steps):
            row = {**{k: None for k in STEP_KEYS}, **s}
            row.update(phase=phase, reward=float(reward), step=s.get("step", i),
                       task_id=s.get("task_id", task_id))
            rows.append(row)
        self._append({"phase": phase, "task_id": rows[0]["task_id"], "reward": float(reward),
                      "steps": rows})
        self.steps += rows
        return True

    def add_demonstrations(self, steps, task_id=None) -> int:
        """The SFT data as phase-0 experience (replayed in phase 1). Steps of one demonstration
        trajectory, or of many (each step may carry its own task_id). Returns how many were added."""
        self.add_trajectory(steps, reward=1.0, phase=0, task_id=task_id)
        return len(steps)

    def select(self, scorer, n_fresh: int, ratio: float = 2.0, low: float = 0.5, high: float = 0.95,
               seed: int = 0, before_phase: int | None = None, batch_size: int = 8,
               max_prompt_tokens: int = 4096, max_scored: int | None = None):
        """Replay for this phase: score every buffered step (of phases < before_phase, if given) with
        the current actor, keep confidence in (low, high], sample at most ratio * n_fresh.
        max_scored: score only a random sample of that many buffered steps when there are more
        (None: all of them, as the paper).

        scorer: a callable steps -> mean log-probs of their action tokens, or (model, tokenizer), in
        which case `policy.action_logprobs` does it in batches (text-only steps are encoded first).
        Returns (steps, counts): copies of the sampled steps with their `confidence`, and
        {"scored", "kept", "sampled"} for the metrics."""
        pool = [s for s in self.steps if before_phase is None or s["phase"] < before_phase]
        if not pool:
            return [], {"scored": 0, "kept": 0, "sampled": 0}
        if max_scored is not None and len(pool) > max_scored:
            pool = random.Random(f"score{seed}").sample(pool, max_scored)
        if isinstance(scorer, (tuple, list)):
            mean_logp = score_steps(*scorer, pool, batch_size=batch_size,
                                    max_prompt_tokens=max_prompt_tokens)
        else:
            mean_logp = torch.as_tensor(scorer(pool), dtype=torch.float64)
        keep = confidence_filter(mean_logp, low, high)
        kept = [dict(s, confidence=math.exp(float(m))) for s, m, k in zip(pool, mean_logp, keep) if k]
        n = min(len(kept), int(ratio * n_fresh))
        sampled = random.Random(seed).sample(kept, n)
        return sampled, {"scored": len(pool), "kept": len(kept), "sampled": n}


def score_steps(model, tok, steps, batch_size: int = 8, max_prompt_tokens: int = 4096, states=None):
    """Mean log-prob of each step's action tokens under `model` (float64 tensor). states: each step's frozen
    lower-layer output (policy.lower_states), so only the top layers run (learn.replay_scorer)."""
    prompts, actions = [], []
    for s in steps:
        p = s.get("prompt_ids") or policy.encode_prompt(tok, s["prompt"], max_prompt_tokens)[0]
        a = s.get("action_ids") or policy.encode_action(tok, s["response"])
        prompts.append(p)
        actions.append(a)
    was_training = model.training
    model.eval()
    try:
        lps = policy.action_logprobs(model, prompts, actions, batch_size=batch_size,
                                     pad_id=tok.pad_token_id, states=states)
    finally:
        model.train(was_training)
    return policy.logp_means(lps).double()
