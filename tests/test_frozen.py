"""frozen.py: the frozen lower layers' output computed once and shared gives the full forward's numbers, for the
actor's log-probs and gradients and for the critic's values; nothing is shared when nothing is frozen."""
import pytest
import torch

import dist
import frozen
import learn
import policy
from conftest import TINY_CORPUS

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return policy.build_tiny(tmp_path_factory.mktemp("tiny"), TINY_CORPUS, vocab_size=400, hidden=64, layers=4,
                             heads=4, seed=0)


def items(tok):
    html = '<a id="1">Orders</a><input id="2" placeholder="Search"/>'
    prompts = [policy.encode_prompt(tok, policy.build_prompt(i, [], html))[0]
               for i in ("Show me the orders of Emma Lopez", "Search phones", "How many orders?")]
    actions = [policy.encode_action(tok, a) for a in ('do(action="Click", element="1")',
                                                       'do(action="Search", argument="phones", element="2")',
                                                       'exit(message="3")')]
    return prompts, actions


def test_nothing_frozen_nothing_shared(tiny):
    model, _ = policy.load_actor(tiny)
    assert frozen.n_frozen(model) == 0
    dist.freeze_lower(model, 0)
    assert frozen.n_frozen(model) == 0
    dist.freeze_lower(model, 1)
    assert frozen.n_frozen(model) == 3
    with pytest.raises(ValueError, match="no frozen lower layers"):
        policy.lower_states(policy.load_actor(tiny)[0], [[1, 2, 3]], 0)


def test_actor_logprobs_and_gradients_match_the_full_forward(tiny):
    model, tok = policy.load_actor(tiny)
    dist.freeze_lower(model, 2)
    assert frozen.n_frozen(model) == 2
    prompts, actions = items(tok)
    states = policy.lower_states(model, [p + a for p, a in zip(prompts, actions)], tok.pad_token_id, batch_size=2)
    assert [h.shape[0] for h in states] == [len(p) + len(a) for p, a in zip(prompts, actions)]
    # batched in length order inside, returned in the caller's order: each state is its own sequence's
    for (p, a), h in zip(zip(prompts, actions), states):
        assert torch.allclose(h, policy.lower_states(model, [p + a], tok.pad_token_id)[0], atol=1e-5)
        # its own memory, not a view of its batch's tensor (which would live as long as any step kept its states)
        assert h._base is None and h.untyped_storage().nbytes() == h.numel() * h.element_size()

    def run(st):
        model.zero_grad(set_to_none=True)
        lps = policy.action_logprobs(model, prompts, actions, batch_size=2, grad=True, pad_id=tok.pad_token_id,
                                     states=st)   # batches of 2 in length order: states follow their steps
        torch.stack([lp.sum() for lp in lps]).sum().backward()
        return [lp.detach() for lp in lps], {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}

    full, g_full = run(None)
    shared, g_shared = run(states)
    for a, b in zip(full, shared):
        assert torch.allclose(a, b, atol=1e-5)
    assert g_full.keys() == g_shared.keys() and len(g_full) > 0
    for n in g_full:
        assert torch.allclose(g_full[n], g_shared[n], atol=1e-5, rtol=1e-4), n


def test_train_critic_values_come_back_in_step_order(tiny):
    # learn.critic_values runs its batches in prompt-length order (little padding); each value is its step's
    import train
    model, tok = policy.load_actor(tiny)
    critic = policy.Critic.from_actor(model)
    prompts, _ = items(tok)
    assert [len(p) for p in prompts] != sorted(len(p) for p in prompts)
    v = learn.critic_values(critic, [{"prompt_ids": p} for p in prompts], train.Args(micro_batch=2, precision="fp32"),
                            tok.pad_token_id)
    with torch.no_grad():
        alone = [critic.value(*policy.pad_batch([p], tok.pad_token_id, "left")[:2])[0] for p in prompts]
    assert torch.allclose(v, torch.stack(alone), atol=1e-5)


def test_critic_values_match_and_need_the_same_lower_layers(tiny):
    model, tok = policy.load_actor(tiny)
    critic = policy.Critic.from_actor(model)
    dist.freeze_lower(model, 2)
    dist.freeze_lower(critic, 2)
    assert frozen.same_lower(model, critic)
    prompts, actions = items(tok)
    states = policy.lower_states(model, [p + a for p, a in zip(prompts, actions)], tok.pad_token_id)
    x, mask, _ = policy.pad_batch(prompts, tok.pad_token_id, "left")
    h = frozen.pad_states(states, [len(p) for p in prompts], "left")
    with torch.no_grad():
        assert torch.allclose(critic.value(x, mask), critic.value(x, mask, h), atol=1e-5)
    with torch.no_grad():
        critic.trunk.layers[0].mlp.up_proj.weight.add_(0.1)      # another lower layer: nothing to share
    assert not frozen.same_lower(model, critic)


def test_replay_scorer_keeps_each_scored_steps_states(tiny, tmp_path):
    # step 4 scores the buffer through the shared lower layers; the replayed copies keep their states (step 5
    # does not run their lower layers again), the buffer's own steps are left without them
    import train
    from replay import ReplayBuffer, score_steps
    model, tok = policy.load_actor(tiny)
    dist.freeze_lower(model, 2)
    prompts, actions = items(tok)
    buf = ReplayBuffer(tmp_path / "r.jsonl")
    buf.add_trajectory([{"prompt": "p", "response": "r", "prompt_ids": p, "action_ids": a, "step": i}
                        for i, (p, a) in enumerate(zip(prompts, actions))], reward=1, phase=1)
    args = train.Args(micro_batch=2, precision="fp32")
    full = score_steps(model, tok, buf.steps, batch_size=2)
    got, counts = buf.select(learn.replay_scorer(model, tok, args), n_fresh=10, low=0.0, high=1.0)
    learn.drop_states(buf.steps)
    assert counts == {"scored": 3, "kept": 3, "sampled": 3}
    for s in got:
        i = s["step"]
        assert s["confidence"] == pytest.approx(float(full[i].exp()), rel=1e-4)
        assert torch.allclose(s["h"], policy.lower_states(model, [prompts[i] + actions[i]], tok.pad_token_id)[0],
                              atol=1e-5)
    assert all("h" not in s for s in buf.steps)
    before = [s["h"] for s in got]
    learn.attach_states(model, got, args, tok.pad_token_id)      # nothing to recompute
    assert all(s["h"] is h for s, h in zip(got, before))


def test_the_critic_holds_the_actors_frozen_modules_once(tiny):
    model, tok = policy.load_actor(tiny)
    critic = policy.Critic.from_actor(model)
    dist.freeze_lower(model, 2)
    dist.freeze_lower(critic, 2)
    prompts, _ = items(tok)
    x, mask, _ = policy.pad_batch(prompts, tok.pad_token_id, "left")
    with torch.no_grad():
        before = critic.value(x, mask)
    own = {p.data_ptr() for p in critic.parameters()}
    assert frozen.share_lower(critic, model)
    assert critic.trunk.embed_tokens is model.model.embed_tokens
    assert [critic.trunk.layers[i] is model.model.layers[i] for i in range(4)] == [True, True, False, False]
    actor_ptrs = {p.data_ptr() for p in model.parameters()}
    shared = {p.data_ptr() for p in critic.parameters()} & actor_ptrs
    assert len(shared) == len(list(frozen.lower(model, 2).parameters())) and not own & actor_ptrs
    with torch.no_grad():
        assert torch.equal(critic.value(x, mask), before)      # the same numbers from the actor's copy
    # a critic whose lower layers differ keeps its own
    other = policy.Critic.from_actor(model)
    dist.freeze_lower(other, 2)
    with torch.no_grad():
        other.trunk.layers[1].mlp.up_proj.weight.add_(0.1)
    assert not frozen.share_lower(other, model)
    assert other.trunk.layers[1] is not model.model.layers[1]
