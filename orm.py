"""orm.py: WebRL's outcome reward model (ORM), a causal-LM judge that reads a finished episode and says YES or NO.

Paper: Qi et al., "WebRL", arXiv 2411.02337, section 4 (outcome-supervised reward model) and Table 3;
WEBRL_FACTS.md section 3.

  * Prompt  `orm_prompt`: byte-exact with the public code, `THUDM/WebRL` `scripts/process_data.py`: the system
            prompt and user message of `build_rm_data` (its `rm_format`), in the literal Llama-3 chat string of
            `add_overall_reward`. That string is also what LLaMA-Factory's `llama3` template (which trained the
            released ORM, `LLaMA-Factory/examples/train_full/llama3_full_orm_web.yaml`) builds: no "Cutting
            Knowledge Date" lines, which only the Llama-3.1 Jinja template adds.
  * Score   P(YES) = softmax over the next-token logits of "YES" and "NO" at the last prompt position; success
            when P(YES) >= 0.5 (`p_yes`, `ORM.score`, `ORM.judge`). Any HF causal LM whose tokenizer has "YES"
            and "NO" as single tokens works, a THUDM/webrl-orm-llama-3.1-8b checkpoint unchanged included.
  * Data    `build_dataset`: miniarena episodes labelled by the tasks' own evaluators: the oracle, the oracle
            perturbed (wrong final answer, exit too early, a random click inserted), and optionally a policy
            checkpoint at temperature 1. The train split gives training data, the test split held-out data.
  * Train   `train_orm`: a plain AdamW loop, cross-entropy over the two logits [YES, NO] at the last position.
  * Eval    `evaluate` / `metrics`: accuracy, precision and recall of YES, reliability bins and expected
            calibration error, beside two baselines (always-majority; success iff the agent called exit).

Usage:
    python orm.py data                       # label rollouts -> runs/orm/{train,test}.jsonl (cached)
    python orm.py train                      # (data if missing), train the tiny judge -> runs/orm/model, eval
    python orm.py eval --orm runs/orm/model  # the Table 3 layout on the held-out rollouts
    python orm.py train --base smollm2 --max-tokens 768 --epochs 3 --lr 3e-4 --bf16   # the judge on the actor's base
    python orm.py --help

Simplified, on purpose:
  * The loss is the two-way cross-entropy over the [YES, NO] logits; THUDM ran LLaMA-Factory's full-vocabulary
    SFT on "YES<|eot_id|>" / "NO<|eot_id|>" (lr 5e-6, 4 epochs, cosine, warmup 0.1).
  * A page too long for `max_tokens` is cut to the widest piece that fits (then the oldest history lines go):
    the piece around the first occurrence of the episode's final answer when the page holds it (find-in-page),
    else the page's start. The public code cuts the token ids at 16384 from the right, which drops the assistant
    header; 16384 tokens hold any miniarena episode (at most 9,481 characters of page and history in the ORM
    data), so THUDM's judge sees them whole. Measured with the tiny judge at 512 tokens on the same data: 76.7%
    held out when the cut kept the page's start, where the answer of a right exit was visible in 5 of 35
    episodes; 88.9% with the find-in-page cut. Unlike the actor's prompt (policy.encode_prompt), the judge's
    page is not compacted first (70.6% when it was).
  * The data are miniarena rollouts, not the paper's 12,200 labelled WebArena rollouts (never released), and the
    default judge is a tiny model from scratch, not Llama-3.1-8B: it learns the trajectory's shape (early exit,
    missing steps, stray clicks) and, given the part of the page around the answer, whether the answer is
    there. An answer that is on the page but wrong (another item of the same list) can still fool it: 3 of the 8
    such held-out episodes did. On the actor's pretrained base (`--base smollm2`, top 10 of 30 layers trained,
    768 tokens, 3 epochs, lr 3e-4; "YES" is "Y" + "ES" in SmolLM2's tokenizer, and its first token is read) the same
    held-out episodes give 93.3% against the tiny judge's 88.9% (13 episodes right only for it, 5 only for the
    tiny one: sign test p = 0.096), for 45 minutes of training against 3 on 2 cores (results/orm_s33).
"""
from __future__ import annotations

import json
import math
import os
import random
import re
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from transformers import AutoModelForCausalLM

import dist
import env
import frozen
import policy
import pretrained

# THUDM/WebRL scripts/process_data.py, build_rm_data(): `system`, byte for byte (the curly apostrophes of
# "user’s" and "agent’s execution" beside the straight one of "agent's action history" are the original's).
SYSTEM_PROMPT = ("You are an expert in evaluating the performance of a website navigation agent. The agent is "
                 "designed to help a human user navigate the website to complete a task. Given the user\u2019s "
                 "intent, the agent's action history, and the final state of the screen, your goal is to decide "
                 "whether the agent\u2019s execution is successful or not. You must respond with YES or NO.")
PERTURBATIONS = ("wrong_answer", "truncate", "random_click")


# =============================================================================================
# The prompt and the score


def orm_user_message(intent: str, responses: list, html: str) -> str:
    """The user message of `rm_format` (build_rm_data): intent, one history line per step (the response with
    its newlines replaced by "; ", stripped), a blank line, then the last page's simplified html."""
    if not isinstance(intent, str) or not isinstance(html, str):
        raise ValueError(f"intent and html must be strings, got {type(intent).__name__} and {type(html).__name__}")
    if not isinstance(responses, (list, tuple)) or not all(isinstance(r, str) for r in responses):
        raise ValueError(f"responses must be a list of strings (one per step), got {responses!r:.80}")
    history = "".join("; ".join(r.split("\n")).strip() + "\n" for r in responses)
    return ("The User Intent:\n" + intent.strip() + "\n\n" + "Action History:\n" + history
            + "\n" + "The Current Screenshot:\n" + html.strip())


def orm_prompt(intent: str, responses: list, html: str) -> str:
    """The whole judge input, as `add_overall_reward` (THUDM/WebRL scripts/process_data.py) writes it. The
    header tokens are literal text: encode it with add_special_tokens=False (it carries its own BOS)."""
    return ("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n" + SYSTEM_PROMPT + "<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\n" + orm_user_message(intent, responses, html)
            + "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")


def yes_no_ids(tok) -> tuple[int, int]:
    """The ids of the first token of "YES" and of "NO": the judge's answer is read from the next-token logits of
    these two at the last prompt position. Llama-3's tokenizer has both words as single tokens (THUDM's judge
    answers exactly them); SmolLM2's splits "YES" into "Y" + "ES", and its first token alone still tells the
    two answers apart, which is all P(YES) needs."""
    out = []
    for word in ("YES", "NO"):
        ids = tok.encode(word, add_special_tokens=False)
        if not ids or (tok.unk_token_id is not None and ids[0] == tok.unk_token_id):
            raise ValueError(f"tokenizer {type(tok).__name__} cannot express {word!r} (it gives {ids}): the ORM "
                             "reads the next-token logits of the first tokens of 'YES' and 'NO'.")
        out.append(ids[0])
    if out[0] == out[1]:
        raise ValueError(f"tokenizer {type(tok).__name__} starts 'YES' and 'NO' with the same token {out[0]}: "
                         "the judge's first answer token could not tell them apart")
    return out[0], out[1]


def p_yes(logits_yes_no):
    """P(YES) = exp(l_YES) / (exp(l_YES) + exp(l_NO)) from logits [..., 2] ordered [YES, NO]."""
    x = torch.as_tensor(logits_yes_no, dtype=torch.float32)
    if x.ndim == 0 or x.shape[-1] != 2:
        raise ValueError(f"p_yes needs logits of shape [..., 2] (YES, NO), got shape {tuple(x.shape)}")
    return torch.softmax(x, dim=-1)[..., 0]


def claimed_answer(responses: list) -> str:
    """The final answer of an episode that ended with exit(message=...), else '' (no exit, or an unparsable one)."""
    try:
        action = env.parse_action(responses[-1]) if responses else None
    except ValueError:
        return ""
    return (action.argument or "").strip() if action is not None and action.kind == "exit" else ""


def find_answer(responses: list, html: str) -> tuple[str, int]:
    """(the claimed final answer, where it first occurs in html, case-insensitive; -1: no answer or not there)."""
    answer = claimed_answer(responses)
    return answer, (html.lower().find(answer.lower()) if answer else -1)


def encode(tok, traj: dict, max_tokens: int = 4096) -> tuple[list, bool]:
    """Token ids of a trajectory's ORM prompt, and whether it was cut to fit `max_tokens`. A page too long to fit
    is cut to the widest piece that fits (by bisection): around the first occurrence of the claimed final answer
    when the page holds it (find-in-page: a judge that cannot see the answer cannot check it), else its start.
    If even that is too long, the oldest history lines go; the intent stays."""
    for key in ("intent", "responses", "html"):
        if key not in traj:
            raise ValueError(f"a trajectory needs 'intent', 'responses' and 'html'; {key!r} is missing "
                             f"(keys: {sorted(traj)})")
    intent, responses, html = traj["intent"], traj["responses"], traj["html"]
    ids_of = lambda r, h: tok(orm_prompt(intent, r, h), add_special_tokens=False)["input_ids"]  # noqa: E731
    ids = ids_of(responses, html)                  # (orm_prompt checks the types)
    if len(ids) <= max_tokens:
        return ids, False
    responses, html = list(responses), html.strip()
    answer, at = find_answer(responses, html)
    # piece(w): the page's first w characters, or w characters either side of the answer
    piece = (lambda w: html[:w]) if at < 0 else (lambda w: html[max(0, at - w):at + len(answer) + w])
    lo, hi = 0, len(html)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if len(ids_of(responses, piece(mid))) <= max_tokens else (lo, mid - 1)
    html = piece(lo)
    ids = ids_of(responses, html)
    while len(ids) > max_tokens and len(responses) > 1:
        responses = responses[1:]
        ids = ids_of(responses, html)
    if len(ids) > max_tokens:
        raise ValueError(f"max_tokens={max_tokens} cannot hold the ORM prompt of {intent[:60]!r} even "
                         "without its page and older history")
    return ids, True


def yes_no_logits(model, seqs: list, pad_id: int, ids_yes_no: tuple, states=None) -> torch.Tensor:
    """[B, 2] next-token logits of (YES, NO) after each prompt; prompts left-padded, positions from the mask.
    states: the frozen lower layers' output of each prompt (policy.lower_states): only the trained top layers
    run, on it (frozen.py), with the same numbers as the full forward."""
    device = next(model.parameters()).device
    x, mask, pos = policy.pad_batch(seqs, pad_id, "left", device)
    if states is not None:
        h = frozen.pad_states(states, [len(q) for q in seqs], "left").to(device)
        top = frozen.upper(model, frozen.n_frozen(model))(inputs_embeds=h, attention_mask=mask, position_ids=pos,
                                                          use_cache=False).last_hidden_state
        logits = model.get_output_embeddings()(top[:, -1])
    else:
        kw = {"logits_to_keep": 1} if policy._accepts_logits_to_keep(model) else {}
        logits = model(input_ids=x, attention_mask=mask, position_ids=pos, use_cache=False, **kw).logits[:, -1]
    return logits[:, list(ids_yes_no)].float()


class ORM:
    """A judge: any HF causal LM + tokenizer. `score` gives P(YES) per trajectory, `judge` P(YES) >= 0.5.
    A trajectory is a dict with intent, responses (one string per step) and html (the last page)."""

    def __init__(self, model, tok, max_tokens: int = 4096, batch_size: int = 4):
        self.model, self.tok, self.max_tokens, self.batch_size = model, tok, max_tokens, batch_size
        self.ids = yes_no_ids(tok)
        self.pad_id = next(v for v in (tok.pad_token_id, tok.eos_token_id, 0) if v is not None)

    @classmethod
    def load(cls, path, dtype=torch.float32, device="cpu", **kw) -> "ORM":
        """An HF directory (one `train_orm` wrote) or a hub name (THUDM/webrl-orm-llama-3.1-8b)."""
        p, tok = policy.hf_tokenizer(path, "ORM")
        model = AutoModelForCausalLM.from_pretrained(p, **policy.dtype_kwarg(dtype)).to(device).eval()
        return cls(model, tok, **kw)

    @torch.no_grad()
    def score(self, trajectories: list) -> list[float]:
        """P(YES) per trajectory, in batches of similar length."""
        seqs = [encode(self.tok, t, self.max_tokens)[0] for t in trajectories]
        out = [0.0] * len(seqs)
        self.model.eval()
        for idx in policy.length_batches([len(q) for q in seqs], self.batch_size):
            probs = p_yes(yes_no_logits(self.model, [seqs[i] for i in idx], self.pad_id, self.ids))
            for i, q in zip(idx, probs.tolist()):
                out[i] = q
        return out

    def judge(self, trajectories: list, threshold: float = 0.5) -> list[bool]:
        return [q >= threshold for q in self.score(trajectories)]


# =============================================================================================
# Labelled rollouts


def trajectory(result: dict, config: dict) -> dict:
    """An `env.play` result + its task config -> the ORM's input: as `rm_format`, html is the page of the last
    step (for an episode ended by exit(), the final page)."""
    steps = result["steps"]
    return {"intent": config["intent"], "responses": [s["response"] for s in steps],
            "html": steps[-1]["html"] if steps else ""}


def wrong_answer(answer: str, others: list, rng: random.Random) -> str:
    """A plausible wrong answer: a number shifted, else another answer of the same template, else 'N/A'."""
    a = answer.strip()
    if re.fullmatch(r"-?\d+", a):
        return str(int(a) + rng.choice([-3, -2, -1, 1, 2, 3]))
    if re.fullmatch(r"-?\d+\.\d+", a):
        return f"{float(a) + rng.choice([-1.5, -1, 1, 2.5]):.{len(a.split('.')[1])}f}"
    pool = sorted({o.strip() for o in others if o.strip() and o.strip().lower() != a.lower()})
    return rng.choice(pool) if pool else ("N/A" if a.lower() != "n/a" else "0")


def with_answer(response: str, true: str, new: str) -> str:
    """An exit response with its answer `true` replaced by `new`, in its notes too (the last line is the exit)."""
    from miniarena import oracle
    lines = response.split("\n")
    return "\n".join([ln.replace(true, new) if true else ln for ln in lines[:-1]] + [oracle.exit_(new)])


def answer_variants(results: list, configs: list, split: str, k: int, rng: random.Random) -> list[dict]:
    """Up to `k` wrong answers per successful oracle episode (`results` of env.play) of a task judged by
    string_match alone (no LLM judge), without replaying it: exit() changes no page, so the episode with another
    final answer is an episode of its own, and the task's evaluator scores it from the answer alone
    (label = score > 0.5, as every label)."""
    ok = [(r, c) for r, c in zip(results, configs) if r["steps"] and r["end"] == "exit" and r["score"] > 0.5
          and c["eval"]["eval_types"] == ["string_match"] and "fuzzy_match" not in c["eval"]["reference_answers"]]
    by_template: dict = {}
    for r, c in ok:
        by_template.setdefault(c.get("intent_template_id"), []).append(r["answer"] or "")
    out = []
    for r, c in ok:
        true, seen = r["answer"] or "", {(r["answer"] or "").strip().lower()}
        ex = _examples([r], [c], ["answer_variant"], split)[0]
        for _ in range(3 * k):
            if len(seen) > k:
                break
            new = wrong_answer(true, by_template[c.get("intent_template_id")], rng)
            if new.strip().lower() in seen:
                continue
            seen.add(new.strip().lower())
            score = env.string_match(c["eval"], new, c["intent"])
            out.append({**ex, "responses": ex["responses"][:-1] + [with_answer(ex["responses"][-1], true, new)],
                        "label": int(score > 0.5), "score": score})
    return out


def _oracle_policy(plans: list, seed: int):
    """env.play policy: each job's oracle, perturbed by its plan {kind, step, answer} (None: the plain oracle)."""
    from miniarena import oracle
    from miniarena.tasks import template_of
    gens: dict = {}

    def act(batch):
        out = []
        for _, task, obs, past in batch:
            j, plan, view = task.task_id, plans[task.task_id] or {}, oracle.Obs(obs.html, obs.url)
            kind, at = plan.get("kind"), plan.get("step")
            ids = re.findall(r'\bid="(\d+)"', obs.html)
            if kind == "truncate" and len(past) == at:
                out.append(oracle.exit_(""))
                continue
            if kind == "random_click" and len(past) == at and ids:
                out.append(oracle.described(oracle.click(random.Random(f"{seed}:{j}").choice(ids)), view))
                continue
            try:
                if j not in gens:
                    gens[j] = template_of(task.config).oracle(task.config)
                    next(gens[j])
                a = gens[j].send(view)
            except (StopIteration, oracle.OracleError):
                a = oracle.exit_("")
            if kind == "wrong_answer" and re.search(r"^exit\(", a, re.M):   # the answer in notes changes too
                a = with_answer(a, env.parse_action(a).argument, plan["answer"])
            out.append(oracle.described(a, view))
        return out
    return act


def _examples(results: list, configs: list, sources: list, split: str) -> list[dict]:
    return [{**trajectory(r, c), "label": int(r["score"] > 0.5), "score": r["score"], "exited": r["end"] == "exit",
             "source": s, "task_id": c["task_id"], "site": c["sites"][0], "split": split}
            for r, c, s in zip(results, configs, sources) if r["steps"]]


def build_dataset(arena, tasks: list, policy_model=None, tok=None, split: str = "train", seed: int = 0,
                  slots: int = 8, max_steps: int = 30, perturb=PERTURBATIONS, pool=None,
                  max_new_tokens: int = 48, max_prompt_tokens: int = 1024, variants: int = 0) -> list[dict]:
    """Labelled trajectories of `tasks` (WebArena configs of miniarena): the oracle's episode of each task, then
    one episode per perturbation in `perturb` (wrong_answer: string_match tasks only; truncate: exit("") at a
    random step before the oracle's last; random_click: a click on a random element id inserted at a random
    step), then, with `policy_model` + `tok`, one temperature-1 episode of the policy, and `variants` wrong answers
    per oracle answer (`answer_variants`). Every label is the task's evaluator score of the episode
    (label = score > 0.5, as build_rm_data)."""
    unknown = set(perturb) - set(PERTURBATIONS)
    if unknown:
        raise ValueError(f"unknown perturbations {sorted(unknown)}; choose from {PERTURBATIONS}")
    own = pool is None
    pool = pool or env.Pool(slots, arena=arena, limits=env.Limits(max_steps=max_steps))
    rng = random.Random(f"orm:{split}:{seed}")
    try:
        jobs = [dict(t, task_id=i) for i, t in enumerate(tasks)]
        base = env.play(pool, jobs, _oracle_policy([None] * len(jobs), seed))
        out = _examples(base, tasks, ["oracle"] * len(tasks), split) + answer_variants(
            base, tasks, split, variants, random.Random(f"orm:{split}:{seed}:variants"))
        answers: dict = {}
        for r, t in zip(base, tasks):
            answers.setdefault(t.get("intent_template_id"), []).append(r["answer"] or "")
        plans, configs = [], []
        for r, t in zip(base, tasks):
            n = len(r["steps"])
            for kind in perturb:
                if kind == "wrong_answer" and "string_match" in t["eval"]["eval_types"] and r["end"] == "exit":
                    plans.append({"kind": kind, "answer": wrong_answer(r["answer"] or "",
                                                                       answers[t.get("intent_template_id")], rng)})
                elif kind != "wrong_answer" and n >= 2:      # truncate, random_click: at a step before the last
                    plans.append({"kind": kind, "step": rng.randrange(n - 1)})
                else:
                    continue
                configs.append(t)
        jobs = [dict(t, task_id=i) for i, t in enumerate(configs)]
        res = env.play(pool, jobs, _oracle_policy(plans, seed))
        out += _examples(res, configs, [p["kind"] for p in plans], split)
        if policy_model is not None:
            import train
            cfg = SimpleNamespace(max_new_tokens=max_new_tokens, max_prompt_tokens=max_prompt_tokens)
            res = train.play_policy(pool, policy_model, tok, tasks, cfg, 1.0, seed, f"orm {split} policy")
            out += _examples(res, tasks, ["policy"] * len(tasks), split)
    finally:
        if own:
            pool.close()
    return out


# =============================================================================================
# Training


def train_orm(examples: list, out_dir, base: str = "tiny", epochs: int = 8, lr: float = 1e-3,
              batch_size: int = 8, max_tokens: int = 512, bf16: bool = False, seed: int = 0,
              hidden: int = 128, layers: int = 2, device: str = "cpu", train_layers: int = 0,
              log=print) -> Path:
    """Fine-tune a judge on labelled trajectories; save it (model + tokenizer) to `out_dir`, loadable by ORM.load.

    base='tiny' builds `policy.build_tiny` on the examples' ORM prompts, with "YES" / "NO" answers in the corpus
    so that both are single tokens; else `base` is an HF directory or 'smollm2' (pretrained.resolve). Loss:
    cross-entropy over the logits [YES, NO] at the last prompt position; AdamW, cosine schedule with 10% warmup,
    grad-norm clip 1. train_layers=k > 0 trains only the top k decoder layers and the final norm (as train.py's
    --train-layers; the embeddings stay, and with them a tied LM head): the lower layers' output of each example
    is then computed once (frozen.py) and every epoch runs the top k layers on it."""
    labels = [int(ex["label"]) for ex in examples]
    if len(set(labels)) < 2:
        raise ValueError(f"training the ORM needs both YES and NO examples, got {len(examples)} examples "
                         f"with labels {sorted(set(labels))}")
    out_dir = Path(out_dir)
    torch.manual_seed(seed)
    if base == "tiny":
        texts = [orm_prompt(ex["intent"], ex["responses"], ex["html"]) + ("YES" if ex["label"] else "NO")
                 for ex in examples] + ["YES\nNO\n" * 100]
        base = policy.build_tiny(out_dir, texts, hidden=hidden, layers=layers, heads=max(1, hidden // 64),
                                 seed=seed)
    orm = ORM.load(pretrained.resolve(base), device=device, max_tokens=max_tokens)
    model, tok = orm.model, orm.tok
    dist.freeze_lower(model, train_layers)
    seqs = [encode(tok, ex, max_tokens)[0] for ex in examples]
    states = None
    if frozen.n_frozen(model):
        t0 = time.time()
        with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=bf16):
            states = policy.lower_states(model, seqs, orm.pad_id)
        log(f"orm: the {frozen.n_frozen(model)} frozen layers' output of {len(seqs)} examples "
            f"({time.time() - t0:.0f}s)")
    target = torch.tensor([0 if y else 1 for y in labels])          # class index in (YES, NO)
    opt = torch.optim.AdamW([q for q in model.parameters() if q.requires_grad], lr=lr, weight_decay=0.0)
    rng = random.Random(seed)
    total, u, t0, epoch_loss = epochs * math.ceil(len(seqs) / batch_size), 0, time.time(), []
    model.train()
    for epoch in range(epochs):
        idx = list(range(len(seqs)))
        rng.shuffle(idx)
        losses = []
        for c in range(0, len(idx), batch_size):
            b = idx[c:c + batch_size]
            for g in opt.param_groups:
                g["lr"] = policy.cosine_lr(u, total, lr)
            with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=bf16):
                logits = yes_no_logits(model, [seqs[i] for i in b], orm.pad_id, orm.ids,
                                       None if states is None else [states[i] for i in b])
            loss = F.cross_entropy(logits, target[b].to(logits.device))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            losses.append(loss.item())
            u += 1
        epoch_loss.append(sum(losses) / len(losses))
        log(f"orm epoch {epoch + 1}/{epochs}: loss {epoch_loss[-1]:.4f} ({time.time() - t0:.0f}s)")
    model.eval()
    model.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    (out_dir / "train_log.json").write_text(json.dumps({
        "examples": len(seqs), "yes": sum(labels), "epochs": epochs, "updates": u, "epoch_loss": epoch_loss,
        "seconds": time.time() - t0, "tokens": sum(map(len, seqs))}, indent=1))
    return out_dir


# =============================================================================================
# Evaluation: the paper's Table 3 (accuracy) + precision, recall and calibration


def binary_metrics(probs: list, labels: list, bins: int = 10) -> dict:
    """Accuracy, precision and recall of YES (P >= 0.5), reliability bins of P(YES) and the expected
    calibration error ECE = sum_b n_b / N * |mean P(YES) in b - observed success rate in b|."""
    if len(probs) != len(labels) or not probs:
        raise ValueError(f"need as many probabilities as labels, at least one: got {len(probs)} and {len(labels)}")
    p, y = [float(q) for q in probs], [int(v) for v in labels]
    pred = [q >= 0.5 for q in p]
    tp = sum(a and b for a, b in zip(pred, y))
    fp, fn = sum(pred) - tp, sum(y) - tp
    rel = []
    for b in range(bins):
        idx = [i for i, q in enumerate(p) if min(int(q * bins), bins - 1) == b]
        if idx:
            rel.append({"bin": (b / bins, (b + 1) / bins), "n": len(idx), "p_yes": sum(p[i] for i in idx) / len(idx),
                        "success": sum(y[i] for i in idx) / len(idx)})
    return {"n": len(p), "accuracy": sum(a == bool(b) for a, b in zip(pred, y)) / len(p),
            "precision": tp / (tp + fp) if tp + fp else float("nan"),
            "recall": tp / (tp + fn) if tp + fn else float("nan"),
            "ece": sum(r["n"] / len(p) * abs(r["p_yes"] - r["success"]) for r in rel), "reliability": rel}


def metrics(probs: list, labels: list, exited: list | None = None, bins: int = 10,
            answer_on_page: list | None = None) -> dict:
    """The judge's metrics beside the baselines: always the majority label of these examples (ties: YES),
    success iff the agent called exit, and success iff it exited with an answer found on its last page (P = 1
    or 0; the find-in-page rule alone, the one `encode` uses to choose what part of a long page to show)."""
    major = float(2 * sum(int(v) for v in labels) >= len(labels))
    rows = {"ORM": binary_metrics(probs, labels, bins),
            "always-majority": binary_metrics([major] * len(labels), labels, bins)}
    if exited is not None:
        rows["exit called"] = binary_metrics([float(bool(e)) for e in exited], labels, bins)
    if answer_on_page is not None:
        rows["answer on page"] = binary_metrics([float(bool(a)) for a in answer_on_page], labels, bins)
    return rows


def answer_on_page(traj: dict) -> bool:
    """Whether the episode ended with exit(message=A), A non-empty and found (case-insensitive) on the last page."""
    return find_answer(traj["responses"], traj["html"])[1] >= 0


def evaluate(orm: ORM, examples: list) -> dict:
    """Score labelled examples with the judge: metrics (see `metrics`), accuracy per source, the P(YES)s."""
    probs = orm.score(examples)
    out = metrics(probs, [ex["label"] for ex in examples], [ex.get("exited", False) for ex in examples],
                  answer_on_page=[answer_on_page(ex) for ex in examples])
    by = {}
    for q, ex in zip(probs, examples):
        by.setdefault(ex.get("source", "?"), []).append((q >= 0.5) == bool(ex["label"]))
    out["by_source"] = {s: {"n": len(v), "accuracy": sum(v) / len(v)} for s, v in sorted(by.items())}
    out["probs"] = probs
    return out


def format_table(res: dict) -> str:
    pct = lambda v: "-" if v != v else f"{100 * v:.1f}"  # noqa: E731  (nan -> "-")
    lines = ["| judge | accuracy (%) | precision YES (%) | recall YES (%) | ECE |", "|---|---|---|---|---|"]
    for name in ("ORM", "always-majority", "exit called", "answer on page"):
        if name in res:
            r = res[name]
            lines.append(f"| {name} | {pct(r['accuracy'])} | {pct(r['precision'])} | {pct(r['recall'])} | "
                         f"{r['ece']:.3f} |")
    lines.append("(paper Table 3: ORM 80.8 on its test set, 79.4 on rollouts; GPT-4 71.9 / 71.2)")
    lines += ["", "| P(YES) bin | n | mean P(YES) | observed success |", "|---|---|---|---|"]
    lines += [f"| {r['bin'][0]:.1f}-{r['bin'][1]:.1f} | {r['n']} | {r['p_yes']:.3f} | {r['success']:.3f} |"
              for r in res["ORM"]["reliability"]]
    if "by_source" in res:
        lines += ["", "| source | n | accuracy (%) |", "|---|---|---|"]
        lines += [f"| {s} | {v['n']} | {pct(v['accuracy'])} |" for s, v in res["by_source"].items()]
    return "\n".join(lines)


# =============================================================================================
# Command line


@dataclass
class Args:
    run_dir: str = "runs/orm"
    """where the labelled data (train.jsonl, test.jsonl), the judge (model/) and the eval table go"""
    seed: int = 0
    """seed of miniarena's data, task sampling, perturbations, model init"""
    train_tasks: int = 250
    """training-split tasks whose rollouts make the training data"""
    test_tasks: int = 50
    """test-split tasks whose rollouts make the held-out data"""
    perturb: str = ",".join(PERTURBATIONS)
    """perturbed oracle episodes per task (comma-separated, from: wrong_answer, truncate, random_click)"""
    answer_variants: int = 0
    """wrong answers per oracle answer added to the training data, scored without replay (orm.answer_variants).
    Measured with 3: the tiny judge caught 97% of wrong answers but passed only 40% of right ones (70.0%)"""
    policy: str = ""
    """a policy checkpoint (HF directory, or 'smollm2') that also plays every task at temperature 1"""
    slots: int = 8
    """episodes in flight in the browser pool"""
    max_steps: int = 30
    """actions per episode"""
    base: str = "tiny"
    """judge to fine-tune: 'tiny' builds a small model on the training prompts; else an HF directory or 'smollm2'
    (the actor's pretrained base, as the paper's ORM shares the actor's Llama-3.1-8B)"""
    train_layers: int = 10
    """decoder layers trained from the top, with a pretrained base (train.py's --train-layers); 0: all. The tiny
    judge's 2 layers always all train"""
    orm: str = ""
    """the judge `eval` scores (default: RUN_DIR/model)"""
    epochs: int = 8
    """epochs over the training data (the paper: 4). With --base smollm2 measured: 3 (93.3% held out; 2: 88.9%)"""
    lr: float = 1e-3
    """peak learning rate, cosine with 10% warmup (the paper: 5e-6 for Llama-3.1-8B); the tiny judge's default. With
    --base smollm2 (top 10 layers) measured: 3e-4 (results/orm_s33)"""
    batch_size: int = 8
    """examples per update (the paper: 128)"""
    max_tokens: int = 512
    """judge input budget in tokens; a longer page is cut to the piece around the final answer, else its start
    (the paper: 16384)"""
    hidden: int = 128
    """width of the tiny judge"""
    layers: int = 2
    """depth of the tiny judge"""
    bf16: bool = False
    """bf16 autocast for training and evaluation (fp32 master weights)"""
    threads: int = 0
    """torch threads; 0: all cores but one, left to the browsers of the data build (the tiny judge's small matrices
    run faster on 1 thread than on 2 of a busy machine), and all cores for a pretrained base's training"""


def parse_args(argv=None) -> tuple[str, Args]:
    """(command, Args); each Args field is a flag whose help is the field's docstring (train.cli)."""
    import train   # here, not at the top: train imports orm
    cmd, args = train.cli(Args, argv, __doc__, ("data", "train", "eval"))
    for name in ("train_tasks", "test_tasks", "slots", "max_steps", "epochs", "batch_size", "max_tokens"):
        if getattr(args, name) < 1:
            raise SystemExit(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    if args.answer_variants < 0:
        raise SystemExit(f"--answer-variants must be 0 or more, got {args.answer_variants}")
    return cmd, args


def load_jsonl(path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def data(args: Args, splits=("train", "test")) -> dict:
    """Each split's labelled examples, from RUN_DIR/{split}.jsonl, built (and cached) when missing."""
    run, out, arena = Path(args.run_dir), {}, None
    try:
        for split in splits:
            path, meta_path = run / f"{split}.jsonl", run / f"{split}.meta.json"
            meta = {"tasks": args.train_tasks if split == "train" else args.test_tasks, "seed": args.seed,
                    "perturb": args.perturb, "policy": args.policy, "max_steps": args.max_steps}
            if split == "train" and args.answer_variants:     # (held-out data never has any)
                meta["answer_variants"] = args.answer_variants
            if path.exists() and (not meta_path.exists() or json.loads(meta_path.read_text()) != meta):
                print(f"{path} was built with other options: rebuilding it", flush=True)
                path.unlink()
            if not path.exists():
                from miniarena import MiniArena
                from miniarena.tasks import build
                from rundir import spread
                arena = arena or MiniArena(seed=args.seed).start()
                tasks = spread(build(split, args.seed), meta["tasks"])
                model, tok = policy.load_actor(pretrained.resolve(args.policy)) if args.policy else (None, None)
                t0 = time.time()
                rows = build_dataset(arena, tasks, model, tok, split, args.seed, args.slots, args.max_steps,
                                     [p for p in args.perturb.split(",") if p],
                                     variants=meta.get("answer_variants", 0))
                path.parent.mkdir(parents=True, exist_ok=True)
                path.with_suffix(".tmp").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
                os.replace(path.with_suffix(".tmp"), path)
                meta_path.write_text(json.dumps(meta))
                print(f"{split}: {len(rows)} episodes, {sum(r['label'] for r in rows)} successes, "
                      f"{time.time() - t0:.0f}s -> {path}", flush=True)
            out[split] = load_jsonl(path)
    finally:
        if arena is not None:
            arena.stop()
    return out


def main(argv=None) -> dict | None:
    cmd, args = parse_args(argv)
    run = Path(args.run_dir)
    torch.set_num_threads(args.threads or max(1, (os.cpu_count() or 2) - 1))
    if cmd == "data":
        data(args)
        return None
    if cmd == "train":
        examples = data(args)
        if not args.threads and args.base != "tiny":     # the data are built: a 135M judge's matmuls take every core
            torch.set_num_threads(os.cpu_count() or 1)
        t0 = time.time()
        train_orm(examples["train"], run / "model", args.base, args.epochs, args.lr, args.batch_size,
                  args.max_tokens, args.bf16, args.seed, args.hidden, args.layers,
                  train_layers=args.train_layers if args.base != "tiny" else 0)
        print(f"trained the judge in {time.time() - t0:.0f}s -> {run / 'model'}")
        args.orm = str(run / "model")
    test = data(args, ("test",))["test"]
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):     # as the judge trained
        res = evaluate(ORM.load(args.orm or run / "model", max_tokens=args.max_tokens), test)
    table = format_table(res)
    (run / "eval.md").write_text(table + "\n")
    # each held-out episode's P(YES), to pair two judges episode by episode (which ones each gets wrong)
    (run / "eval.jsonl").write_text("".join(json.dumps({k: ex.get(k) for k in ("task_id", "site", "source", "label")}
                                                       | {"p_yes": q}) + "\n" for ex, q in zip(test, res["probs"])))
    print(table)
    return res


if __name__ == "__main__":
    main()
