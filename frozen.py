"""frozen.py: the frozen lower layers' pass, computed once per step and shared by every later use of that step.

With `train.py --train-layers k` the embeddings and the lower L - k decoder layers never change during a run:
not in the actor, not in pi_ref (the actor at the start of a phase), not in the critic (the SFT actor's trunk
+ heads, paper section 4). Their output for a step's tokens (prompt + action) is one fixed tensor h. So h is
computed once per step (`policy.lower_states`), and every later pass runs only the top k layers on it: the reference
log-probs, the critic's values and updates, the actor's updates (`policy.action_logprobs(..., states=)`,
`policy.Critic.forward(..., states=)`). The numbers are the full forward's (the same operations on the same
inputs); the work per use drops to k / L of a forward, and backward never reached the frozen layers anyway.

The views (`lower`, `upper`) share the model's modules, so they see every update of the trained layers. They
are plain single-process modules: under torchrun (FSDP2) train.py runs the full forward instead.

    h = policy.lower_states(model, [prompt_ids + action_ids], pad_id)    # [len, hidden] per sequence
    lps = policy.action_logprobs(model, [prompt_ids], [action_ids], states=h)
"""
from __future__ import annotations

import copy

import torch
import torch.nn as nn


def base_of(model: nn.Module) -> nn.Module:
    """The decoder stack (embeddings, layers, final norm): a causal LM's base model, a critic's trunk."""
    for name in ("trunk", "model"):
        sub = getattr(model, name, None)
        if isinstance(sub, nn.Module) and hasattr(sub, "layers"):
            return sub
    if hasattr(model, "layers"):
        return model
    raise ValueError(f"{type(model).__name__} has no decoder stack with .layers")


def n_frozen(model: nn.Module) -> int:
    """How many decoder layers from the bottom (and the embeddings) hold no trainable parameter: the part
    whose output can be computed once. 0 when the embeddings train or the model is sharded (FSDP2)."""
    base = base_of(model)
    if any(p.requires_grad for p in base.embed_tokens.parameters()):
        return 0
    if any(type(p).__name__ == "DTensor" for p in base.parameters()):
        return 0
    k = 0
    for layer in base.layers:
        if any(p.requires_grad for p in layer.parameters()):
            break
        k += 1
    return k if k < len(base.layers) else 0


def same_lower(a: nn.Module, b: nn.Module) -> bool:
    """Whether two models (an actor, a critic) have the same frozen embeddings and lower layers, so that one's
    lower states serve the other."""
    k = n_frozen(a)
    if k == 0 or n_frozen(b) != k:
        return False
    pa, pb = lower(a, k).state_dict(), lower(b, k).state_dict()
    return pa.keys() == pb.keys() and all(torch.equal(pa[n], pb[n]) for n in pa)


def share_lower(model: nn.Module, source: nn.Module) -> bool:
    """Where `model`'s frozen embeddings and lower layers equal `source`'s bit for bit (same_lower), make them
    `source`'s own modules and return True; else change nothing and return False. The critic, made from the SFT
    actor, then holds one copy of the frozen part with the actor, not two: for SmolLM2 in fp32 its own weights
    fall from 540 MB to its top layers and heads (~150 MB). The shared modules have no dropout (Llama: attention
    dropout 0) and no trained parameter, so the two models' train/eval modes and updates cannot reach each other
    through them."""
    if not same_lower(source, model):
        return False
    k = n_frozen(model)
    mine, theirs = base_of(model), base_of(source)
    mine.embed_tokens = theirs.embed_tokens
    for i in range(k):
        mine.layers[i] = theirs.layers[i]
    return True


def _view(base: nn.Module, layers, last_norm: bool) -> nn.Module:
    """A shallow copy of the decoder stack running only `layers` (and the final norm when last_norm); its
    modules are the original's."""
    v = copy.copy(base)
    v._modules = dict(base._modules)
    v._modules["layers"] = nn.ModuleList(layers)
    if not last_norm:
        v._modules["norm"] = nn.Identity()
    return v


def lower(model: nn.Module, k: int) -> nn.Module:
    base = base_of(model)
    return _view(base, list(base.layers)[:k], last_norm=False)


def upper(model: nn.Module, k: int) -> nn.Module:
    base = base_of(model)
    return _view(base, list(base.layers)[k:], last_norm=True)


def pad_states(states: list, lens: list, side: str = "left"):
    """[B, n, hidden] from per-sequence states, each cut to its first `lens[i]` rows (e.g. the prompt part of a
    prompt + action state), padded with zeros on `side` (the padding is masked out like pad tokens)."""
    n = max(lens)
    x = states[0].new_zeros((len(states), n, states[0].shape[-1]))
    for i, (h, m) in enumerate(zip(states, lens)):
        if side == "left":
            x[i, n - m:] = h[:m]
        else:
            x[i, :m] = h[:m]
    return x
