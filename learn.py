"""learn.py: the gradient updates of WebRL (Qi et al. 2024, arXiv 2411.02337, section 4), as plain PyTorch loops.

  sft             phase 0: behaviour cloning on the oracle demonstrations, -mean log pi(a|s) over action tokens
                  (saving its progress every --sft-save-every minutes, so a killed SFT goes on from there)
  train_critic    step 5: V(s, I) = P(success), binary cross-entropy of both heads against the final reward
  attach_advantages   A(s_t, a_t) = lam (r_t + V(s_{t+1}) - V(s_t)) + (1 - lam)(r_T - V(s_t))  (section 4)
  ref_logprobs    log pi_ref(a|s) of every action, with the actor as it is at the phase start
  train_actor     step 6: eq. 6, L = E[(beta log(pi/pi_ref) - A)^2] (or a baseline's weighted BC, actor_objective)
  attach_states   the frozen lower layers' output of each step, computed once and shared by all of the above

The loss math (eq. 6, the advantage, the critic's BCE, the baselines' weights) lives in policy.py as small pure
functions; this file runs them over minibatches. train.py composes these functions into the phase loop; `args`
is its train.Args. Nothing here runs on its own: `python train.py` runs them; tests/test_train.py, test_frozen.py
and test_pretrained.py test them.
"""
from __future__ import annotations

import contextlib
import math
import os
import random
import sys
import time
from pathlib import Path

import torch

import dist
import frozen
import policy
from replay import score_steps


def encode_steps(tok, steps: list, args) -> None:
    """Each step's prompt (cut to --max-prompt-tokens, policy.encode_prompt) and action as token ids, where not
    already there (a rollout's steps carry the ids they were generated with)."""
    for s in steps:
        if s.get("prompt_ids") is None:
            s["prompt_ids"] = policy.encode_prompt(tok, s["prompt"], args.max_prompt_tokens)[0]
        if s.get("action_ids") is None:
            s["action_ids"] = policy.encode_action(tok, s["response"])


def autocast(args):
    """bf16 autocast where --precision picks it (fp32 master weights), else a no-op."""
    return torch.autocast(dist.info().device.type, dtype=torch.bfloat16, enabled=args.bf16)


@contextlib.contextmanager
def compiled(model, args, part: str):
    """Inside the block each decoder layer of `model` runs under torch.compile(dynamic=True) when --compile names
    `part` ('sft': the SFT; 'all': the SFT and the phases' critic and actor updates; 'none': never) (inductor
    fuses the elementwise work around the matmuls: RMSNorm's dtype copies, rotary, SiLU * up), after it eagerly
    again, so that the copies made later (the generation copy, a critic from the actor) are plain modules. Single
    process only: FSDP2 with compiled layers is not tested here."""
    on = args.compile == "all" or args.compile == part == "sft"
    layers = [m for _, m in dist.decoder_layers(model)] if on and dist.info().world == 1 else []
    for m in layers:
        m.compile(dynamic=True)
    try:
        yield
    finally:
        for m in layers:
            m._compiled_call_impl = None   # what nn.Module.compile set: the module's own forward again


def adamw(params, lr: float) -> torch.optim.AdamW:
    """AdamW without weight decay. Fused (one kernel over all tensors) in one process: on CPU the default
    per-tensor loops cost ~5x more per step, a fifth of a tiny model's update (bench/train_step.py).
    FSDP2's sharded DTensor parameters keep the default implementation."""
    return torch.optim.AdamW([p for p in params if p.requires_grad], lr=lr, weight_decay=0.0, fused=dist.info().world == 1)


def minibatches(items: list, size: int, rng: random.Random):
    idx = list(range(len(items)))
    rng.shuffle(idx)
    for i in range(0, len(idx), size):
        yield [items[j] for j in idx[i:i + size]]


def micro_batches(steps: list, size: int, prompt_only: bool = False) -> list[list]:
    """One batch's steps in micro-batches of similar length (sorted by prompt + action tokens, or by prompt
    tokens for a model that reads the prompt only: the critic), so a micro-batch pads to little more than its
    own steps; the batch's gradient is the same. On the demonstrations of 120 SFT tasks 86% of the padded
    tokens are then real, 76% in random order."""
    lengths = [len(s["prompt_ids"]) + (0 if prompt_only else len(s["action_ids"])) for s in steps]
    return [[steps[i] for i in idx] for idx in policy.length_batches(lengths, size)]


def optimizer_step(opt, model, args, loss: float) -> float:
    """One update after a batch's gradients are summed: clip their norm to --grad-clip, step, clear them; the
    batch's loss averaged over ranks. The freed activations go back to the OS (dist.release_memory)."""
    torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
    opt.step()
    opt.zero_grad(set_to_none=True)
    dist.release_memory()
    return dist.all_mean(loss)


def first_last(name: str, losses: list) -> dict:
    """{name}_loss_first / _last: the mean loss over the first and the last tenth of the updates (at least
    one each). A single update's loss is too noisy to compare: an epoch's last batch holds only the
    remainder of the steps (915 demonstration steps in batches of 16 leave 3)."""
    k = max(1, len(losses) // 10)
    return {f"{name}_loss_first": sum(losses[:k]) / k if losses else None,
            f"{name}_loss_last": sum(losses[-k:]) / k if losses else None}


def sft(model, tok, steps: list, args, rng: random.Random, whole_text: bool = False,
        progress: Path | None = None) -> dict:
    """Behaviour cloning on the demonstrations: -mean log pi(a|s) over action tokens (paper: SFT phase).
    whole_text: next-token prediction over every token of prompt and action instead, for --pretrain-epochs
    (the tiny model's stand-in for pretraining).

    progress: a file where the SFT's progress is saved every --sft-save-every minutes (save_sft_progress); if it
    holds the progress of this same SFT (a killed run), the SFT goes on from there instead of from the start."""
    from tqdm import tqdm
    name, epochs = ("pretrain", args.pretrain_epochs) if whole_text else ("sft", args.sft_epochs)
    opt = adamw(model.parameters(), args.sft_lr)
    updates = epochs * math.ceil(len(steps) / args.batch_size)
    start = {"u": 0, "losses": [], "tokens": 0, "seconds": 0.0, "rng": rng.getstate()}
    if progress is not None and progress.exists():
        start = load_sft_progress(progress, model, opt, len(steps), updates) or start
        rng.setstate(start["rng"])   # the minibatches of the first start["u"] updates are drawn again, and skipped
    model.train()
    losses, u, tokens, t0, saved_at = list(start["losses"]), 0, start["tokens"], time.time(), time.time()
    released, cpu = dist.RELEASED["s"], os.times()
    bar = tqdm(total=updates, initial=start["u"], desc=name, leave=False, disable=None)
    with compiled(model, args, "sft"):
        for epoch in range(epochs):
            for batch in minibatches(steps, args.batch_size, rng):
                if u < start["u"]:
                    u += 1
                    continue
                for g in opt.param_groups:
                    g["lr"] = policy.cosine_lr(u, updates, args.sft_lr)
                n_tok = sum(len(s["action_ids"]) + (len(s["prompt_ids"]) - 1 if whole_text else 0) for s in batch)
                total = 0.0
                # this rank's share of the batch; FSDP averages gradients over ranks, hence * world
                for mb in micro_batches(dist.split(batch, even=True), args.micro_batch):
                    with autocast(args):
                        if whole_text:
                            lps = policy.token_logprobs(model, [s["prompt_ids"] + s["action_ids"] for s in mb],
                                                        tok.pad_token_id, grad=True)
                        else:
                            lps = policy.action_logprobs(model, [s["prompt_ids"] for s in mb], [s["action_ids"] for s in mb],
                                                         batch_size=len(mb), grad=True, pad_id=tok.pad_token_id,
                                                         states=states_of(mb))
                    loss = -torch.cat(lps).sum() * dist.info().world / n_tok
                    loss.backward()
                    total += loss.item()
                losses.append(optimizer_step(opt, model, args, total))
                tokens += n_tok
                u += 1
                bar.update(1)
                bar.set_postfix(loss=f"{total:.3f}")
                if progress is not None and args.sft_save_every and time.time() - saved_at >= 60 * args.sft_save_every \
                        and u < updates:
                    save_sft_progress(progress, model, opt, {"u": u, "losses": losses, "tokens": tokens, "rng": start["rng"],
                                                             "seconds": start["seconds"] + time.time() - t0,
                                                             "steps": len(steps), "updates": updates})
                    saved_at = time.time()
    bar.close()
    model.eval()
    now = os.times()
    return {**first_last(name, losses), f"{name}_updates": u, f"{name}_tokens": tokens,
            f"{name}_s": start["seconds"] + time.time() - t0,
            # where the time went since this start: CPU seconds in user and kernel space (page faults, zeroing), the
            # trims among them
            f"{name}_cpu_user_s": now.user - cpu.user, f"{name}_cpu_sys_s": now.system - cpu.system,
            f"{name}_release_s": dist.RELEASED["s"] - released}


def save_sft_progress(path: Path, model, opt, where: dict) -> None:
    """A killed SFT's way back: the trained layers' weights, the optimizer's state (Adam's moments) and where the
    SFT is (updates done, their losses, the data order's seed), in one file written beside and renamed into place.
    The frozen layers are not saved: they are the starting model's. One process only (torchrun's parameters are
    sharded: its SFT starts again after a kill)."""
    if dist.info().world > 1:
        return
    tmp = path.with_suffix(".tmp")
    torch.save({**where, "weights": {k: p.detach() for k, p in model.named_parameters() if p.requires_grad},
                "opt": opt.state_dict()}, tmp)
    os.replace(tmp, path)


def load_sft_progress(path: Path, model, opt, n_steps: int, updates: int) -> dict | None:
    """save_sft_progress's file put back into `model` and `opt`: the dict of where the SFT was, or None (with a
    warning, and the SFT starts from the beginning) if the file is another SFT's (other data or batch size)."""
    if dist.info().world > 1:
        return None
    try:
        saved = torch.load(path, weights_only=True)
    except Exception as e:   # a file cut short by the kill itself cannot be: it is renamed into place whole
        print(f"warning: {path} cannot be read ({type(e).__name__}: {e}); the SFT starts from the beginning",
              file=sys.stderr, flush=True)
        return None
    trained = {k: p for k, p in model.named_parameters() if p.requires_grad}
    if (saved["steps"], saved["updates"]) != (n_steps, updates) or set(saved["weights"]) != set(trained):
        print(f"warning: {path} holds another SFT's progress ({saved['steps']} steps in {saved['updates']} updates, "
              f"{len(saved['weights'])} trained tensors; now {n_steps}, {updates}, {len(trained)}): the SFT starts "
              "from the beginning and overwrites it", file=sys.stderr, flush=True)
        return None
    with torch.no_grad():
        for k, p in trained.items():
            p.copy_(saved["weights"][k])
    opt.load_state_dict(saved["opt"])
    print(f"SFT: going on from update {saved['u']} of {updates} ({path})", flush=True)
    return saved


def attach_states(model, steps: list, args, pad_id: int) -> None:
    """Each step's frozen lower-layer output over its prompt + action, computed once (frozen.py), as s["h"].
    Nothing is attached when there is nothing to share (--no-share-lower, torchrun, no frozen layers), nor to a
    step without action ids (a buffered next state that is only read for its value: the full forward runs)."""
    if not args.share_lower or dist.info().world > 1 or frozen.n_frozen(model) == 0:
        return
    todo = [s for s in steps if s.get("h") is None and s.get("action_ids")]
    with autocast(args):
        hs = policy.lower_states(model, [s["prompt_ids"] + s["action_ids"] for s in todo], pad_id,
                                 batch_size=args.micro_batch)
    for s, h in zip(todo, hs):
        s["h"] = h


def replay_scorer(model, tok, args):
    """Step 4's scorer for replay.select: the mean log pi(a|s) of each buffered step under the current actor.
    It runs through the shared lower layers (attach_states) and leaves each scored step its states, so the
    steps that get replayed are not run through the lower layers a second time in step 5."""
    def score(pool: list):
        encode_steps(tok, pool, args)
        attach_states(model, pool, args, tok.pad_token_id)
        with autocast(args):
            return score_steps(model, tok, pool, args.micro_batch, args.max_prompt_tokens, states_of(pool))
    return score


def drop_states(steps: list) -> None:
    for s in steps:
        s.pop("h", None)


def states_of(mb: list):
    """The micro-batch's lower-layer states for action_logprobs, or None when any step has none."""
    return [s["h"] for s in mb] if all(s.get("h") is not None for s in mb) else None


def prompt_states(mb: list, critic):
    """The micro-batch's prompt states, padded left, for the critic; None unless every step has them and the
    critic's frozen lower layers are the actor's (they came from the same SFT checkpoint)."""
    if critic is None or not getattr(critic, "shares_lower", False) or states_of(mb) is None:
        return None
    return frozen.pad_states([s["h"] for s in mb], [len(s["prompt_ids"]) for s in mb], "left").to(dist.info().device)


def critic_values(critic, steps: list, args, pad_id: int) -> torch.Tensor:
    """min(V1, V2)(s) for each step's prompt (the actor's advantage uses the pessimistic head)."""
    critic.eval()
    v = torch.zeros(len(steps))
    with torch.no_grad(), autocast(args):
        for idx in policy.length_batches([len(s["prompt_ids"]) for s in steps], args.micro_batch):
            mb = [steps[i] for i in idx]
            ids, mask, _ = policy.pad_batch([s["prompt_ids"] for s in mb], pad_id, "left", dist.info().device)
            v[idx] = critic.value(ids, mask, prompt_states(mb, critic)).float().cpu()
    return v


def train_critic(critic, steps: list, args, rng: random.Random, pad_id: int) -> dict:
    """Binary cross-entropy of both heads against the trajectory's final reward (paper section 4)."""
    opt = adamw(critic.parameters(), args.critic_lr)
    critic.train()
    losses = []
    with compiled(critic, args, "updates"):
        for _ in range(args.epochs):
            for batch in minibatches(steps, args.batch_size, rng):
                total, share = 0.0, dist.split(batch, even=True)
                for mb in micro_batches(share, args.update_micro_batch, prompt_only=True):
                    ids, mask, _ = policy.pad_batch([s["prompt_ids"] for s in mb], pad_id, "left", dist.info().device)
                    with autocast(args):
                        logits = critic(ids, mask, prompt_states(mb, critic))
                    target = torch.tensor([s["final_reward"] for s in mb], dtype=torch.float32,
                                          device=dist.info().device)
                    loss = policy.critic_loss(logits, target) * len(mb) / len(share)
                    loss.backward()
                    total += loss.item()
                losses.append(optimizer_step(opt, critic, args, total))
    critic.eval()
    return first_last("critic", losses)


def actor_objective(logp, steps: list, args):
    """The actor's loss on a micro-batch, given log pi_theta of each whole action (with grad).
    webrl: eq. 6 against pi_ref (or the public code's variant, or without KL the policy gradient);
    the baselines: behaviour cloning weighted per step (policy.weighted_nll)."""
    adv = torch.tensor([s.get("adv", 0.0) for s in steps])
    n = torch.tensor([len(s["action_ids"]) for s in steps], dtype=torch.float32)
    if args.algo == "webrl" and args.no_kl:
        return policy.pg_loss(logp, adv)
    if args.algo == "webrl":
        ref = torch.tensor([s["ref_logp"] for s in steps])
        return policy.actor_loss(logp, ref, adv, args.beta) if args.loss == "paper" else policy.actor_loss_official(logp, ref, adv, n)
    weight = {"filtered_bc": lambda: torch.ones(len(steps)),   # the steps of the kept trajectories
              "awr": lambda: policy.awr_weights(adv, args.awr_temperature),
              "digirl": lambda: policy.digirl_weights(adv)}[args.algo]()
    return policy.weighted_nll(logp, n, weight)


def train_actor(model, tok, steps: list, args, rng: random.Random) -> dict:
    """The actor's update on the phase's steps (actor_objective): for WebRL, the KL-constrained policy update
    (eq. 6) against pi_ref = the actor at the start of the phase.

    Each step carries `adv` (the critic's advantage; not for Filtered BC) and, for eq. 6, `ref_logp` (sum of
    log pi_ref over its action tokens, computed before the first update)."""
    from tqdm import tqdm
    opt = adamw(model.parameters(), args.actor_lr)
    model.train()
    losses, kls, tokens, t0 = [], [], 0, time.time()
    bar = tqdm(total=args.epochs * math.ceil(len(steps) / args.batch_size), desc="actor", leave=False, disable=None)
    with compiled(model, args, "updates"):
        for _ in range(args.epochs):
            for batch in minibatches(steps, args.batch_size, rng):
                total, share = 0.0, dist.split(batch, even=True)
                for mb in micro_batches(share, args.update_micro_batch):
                    with autocast(args):
                        lps = policy.action_logprobs(model, [s["prompt_ids"] for s in mb], [s["action_ids"] for s in mb],
                                                     batch_size=len(mb), grad=True, pad_id=tok.pad_token_id,
                                                     states=states_of(mb))
                    logp = torch.stack([lp.sum() for lp in lps])
                    loss = actor_objective(logp, mb, args) * len(mb) / len(share)
                    loss.backward()
                    total += loss.item()
                    if "ref_logp" in mb[0]:
                        kls.append((logp.detach().cpu() - torch.tensor([s["ref_logp"] for s in mb])).mean().item())
                    tokens += sum(len(s["action_ids"]) for s in mb)
                losses.append(optimizer_step(opt, model, args, total))
                bar.update(1)
                bar.set_postfix(loss=f"{losses[-1]:.3f}")
    bar.close()
    model.eval()
    return {**first_last("actor", losses), "kl_to_ref": dist.all_mean(sum(kls) / len(kls)) if kls else None,
            "actor_tokens": tokens * dist.info().world,
            "actor_tokens_per_s": tokens * dist.info().world / max(1e-9, time.time() - t0)}


def ref_logprobs(model, tok, steps: list, args) -> None:
    """log pi_ref(a|s) summed over each action's tokens, with the actor as it is at the phase start."""
    with autocast(args):
        lps = policy.action_logprobs(model, [s["prompt_ids"] for s in steps], [s["action_ids"] for s in steps],
                                     batch_size=args.micro_batch, pad_id=tok.pad_token_id, states=states_of(steps))
    for s, lp in zip(steps, lps):
        s["ref_logp"] = lp.sum().item()


def attach_advantages(critic, steps: list, next_steps: list, args, pad_id: int) -> dict:
    """A(s_t, a_t) = lam (r_t + V(s_{t+1}) - V(s_t)) + (1 - lam)(r_T - V(s_t)); r_t = r_T at the last step
    (where V(s_{t+1}) = 0), else 0: the paper's estimator without intermediate rewards."""
    # each state once: s_{t+1} is mostly a step of the same data (its own V(s_t)), so V of the union is computed
    # and looked up, not the data's values and then again their next steps' (half the critic's passes)
    states = list({id(s): s for s in steps + [n for n in next_steps if n is not None]}.values())
    at = {id(s): i for i, s in enumerate(states)}
    v_all = critic_values(critic, states, args, pad_id)
    v = v_all[[at[id(s)] for s in steps]]
    v_next = torch.stack([v_all[at[id(n)]] if n is not None else torch.tensor(0.0) for n in next_steps]) \
        if next_steps else torch.zeros(0)
    last = torch.tensor([n is None for n in next_steps], dtype=torch.float32)
    r_T = torch.tensor([s["final_reward"] for s in steps], dtype=torch.float32)
    adv = policy.advantage(v, v_next, last * r_T, r_T, args.lam)
    for s, a in zip(steps, adv.tolist()):
        s["adv"] = a
    return {"value_mean": v.mean().item() if len(v) else 0.0, "adv_mean": adv.mean().item() if len(adv) else 0.0,
            "adv_std": adv.std().item() if len(adv) > 1 else 0.0}

