"""policy.py: the loss math against hand arithmetic, the WebRL prompt byte for byte, the tiny model,
generation log-probs == training log-probs, the critic."""
import math

import pytest
import torch

import env
import policy
from conftest import TINY_CORPUS

# Tiny models on a shared 2-core machine: OpenMP threads spinning against other processes make small
# matmuls ~40x slower than one thread does.
torch.set_num_threads(1)


# =============================================================================================
# Math


def test_advantage_hand():
    # mid-trajectory step: r_t = 0, V(s_t) = 0.4, V(s_t+1) = 0.6, success r_T = 1, lambda = 0.5
    # A = 0.5 * (0 + 0.6 - 0.4) + 0.5 * (1 - 0.4) = 0.1 + 0.3 = 0.4
    assert policy.advantage(0.4, 0.6, 0.0, 1.0) == pytest.approx(0.4)
    # last step: r_t = r_T = 1, V(s_{T+1}) = 0, V(s_T) = 0.7: A = 0.5 * 0.3 + 0.5 * 0.3 = 0.3
    assert policy.advantage(0.7, 0.0, 1.0, 1.0) == pytest.approx(0.3)
    # failure, lambda = 0.25: A = 0.25 * (0 + 0.2 - 0.5) + 0.75 * (0 - 0.5) = -0.075 - 0.375 = -0.45
    assert policy.advantage(0.5, 0.2, 0.0, 0.0, lam=0.25) == pytest.approx(-0.45)
    # elementwise on tensors
    a = policy.advantage(torch.tensor([0.4, 0.7]), torch.tensor([0.6, 0.0]), torch.tensor([0.0, 1.0]),
                         torch.tensor([1.0, 1.0]))
    assert torch.allclose(a, torch.tensor([0.4, 0.3]))


def test_critic_loss_hand():
    # logits (0, ln 3): V = softmax[1] = 3/4. Success: -ln(3/4); failure: -ln(1/4); mean of the two
    logits = torch.tensor([[0.0, math.log(3)], [0.0, math.log(3)]])
    loss = policy.critic_loss(logits, torch.tensor([1.0, 0.0]))
    assert loss.item() == pytest.approx((-math.log(0.75) - math.log(0.25)) / 2, abs=1e-6)
    # target = reward > 0: 0.5 counts as success, 0 not; two heads: sum of their losses
    zero = torch.zeros(1, 2)                                   # V = 1/2: -ln(1/2) per head
    assert policy.critic_loss((zero, zero), [0.5]).item() == pytest.approx(2 * math.log(2), abs=1e-6)
    # gradient pushes the success logit up for a successful step
    l = torch.zeros(1, 2, requires_grad=True)
    policy.critic_loss(l, [1.0]).backward()
    assert l.grad[0, 1] < 0 < l.grad[0, 0]


def test_actor_loss_hand_and_gradient_sign():
    # beta = 0.5, logp = -2, ref = -3, A = 1: (0.5 * 1 - 1)^2 = 0.25
    # beta = 0.5, logp = -1, ref = -1, A = -0.2: (0 + 0.2)^2 = 0.04; mean = 0.145
    logp = torch.tensor([-2.0, -1.0], requires_grad=True)
    loss = policy.actor_loss(logp, torch.tensor([-3.0, -1.0]), torch.tensor([1.0, -0.2]), beta=0.5)
    assert loss.item() == pytest.approx(0.145)
    loss.backward()
    # dL/dlogp_i = 2 * beta * (beta * (logp - ref) - A) / N: 2 * 0.5 * (0.5 - 1) / 2 = -0.25 (A above
    # beta * log-ratio: raise logp), 2 * 0.5 * (0 + 0.2) / 2 = +0.1 (negative A: lower logp)
    assert torch.allclose(logp.grad, torch.tensor([-0.25, 0.1]))
    # at the optimum log-ratio = A / beta the loss and its gradient vanish
    lp = torch.tensor([-1.0], requires_grad=True)
    l0 = policy.actor_loss(lp, torch.tensor([-1.5]), torch.tensor([0.5]), beta=1.0)
    l0.backward()
    assert l0.item() == pytest.approx(0.0) and lp.grad.item() == pytest.approx(0.0)
    # advantage and reference are constants: no gradient reaches them
    adv = torch.tensor([1.0], requires_grad=True)
    policy.actor_loss(torch.tensor([-1.0], requires_grad=True), torch.tensor([-1.0]), adv, 1.0).backward()
    assert adv.grad is None


def test_actor_loss_official_hand():
    # step 1: A = 0.3 -> a = 1, n = 4, logp = -2.0, ref = -2.4: p_ref = exp(-0.6) = 0.549 < 0.8, beta 1
    # step 2: A = -0.2 -> a = -0.6, dropped (only a > 0 is kept)
    # step 3: A = 0.0 -> a = 1 (A >= 0) and kept; n = 6, logp = -0.5, ref = -0.6: p_ref = exp(-0.1)
    #         = 0.905 >= 0.8, beta 5
    # N = 4 + 6 = 10 tokens kept; rho1 = 0.4 / 10 = 0.04 (cap |1 / 0.04| = 25: beta 1 stays)
    #                             rho3 = 0.1 / 10 = 0.01 (cap 100: beta 5 stays)
    # SmoothL1(x, 1) = 0.5 (x - 1)^2 when |x - 1| < 1:
    #   step 1: 0.5 * 0.96^2 / 1 = 0.4608; step 3: 0.5 * (1 - 0.05)^2 / 5 = 0.45125 / 5 = 0.09025
    # mean over all 3 steps (the dropped one counts 0) = 0.55105 / 3
    logp = torch.tensor([-2.0, -1.0, -0.5], requires_grad=True)
    loss, info = policy.actor_loss_official(logp, torch.tensor([-2.4, -1.0, -0.6]),
                                            torch.tensor([0.3, -0.2, 0.0]), torch.tensor([4, 2, 6]),
                                            return_info=True)
    assert loss.item() == pytest.approx(0.55105 / 3, abs=1e-6)
    # the dropped step 2 has beta 5 too (a < 0 and p_ref = exp(-1 / 2) = 0.61 < 0.9): mean (1 + 5 + 5) / 3
    assert info["mask"] == 2 and info["beta"] == pytest.approx(11 / 3)
    loss.backward()
    # kept steps are pushed up; d/dlogp1 = (0.04 - 1) / 10 / 3 = -0.032, step 3: (0.05 - 1) / 10 / 3
    assert torch.allclose(logp.grad, torch.tensor([-0.032, 0.0, -0.95 / 30]), atol=1e-6)


def test_actor_loss_official_beta_cap():
    # one step, n = 1, A = 1, ref = -0.22 (p_ref = 0.8025 >= 0.8: beta 5), logp = 0: rho = 0.22,
    # cap |1 / 0.22| = 4.545 < 5, so beta * rho = 1 = a: loss 0 and no push
    logp = torch.tensor([0.0], requires_grad=True)
    loss = policy.actor_loss_official(logp, torch.tensor([-0.22]), torch.tensor([0.7]), torch.tensor([1]))
    loss.backward()
    assert loss.item() == pytest.approx(0.0, abs=1e-7) and logp.grad.abs().item() < 1e-6
    # nothing kept (all A < 0): loss 0, no division by zero
    lp = torch.tensor([-1.0, -2.0], requires_grad=True)
    l2 = policy.actor_loss_official(lp, torch.tensor([-1.0, -1.0]), torch.tensor([-0.5, -0.1]),
                                    torch.tensor([3, 3]))
    assert l2.item() == 0.0 and torch.isfinite(l2)


def test_official_advantage_and_returns():
    # G_t with gamma 0.9 and r = 1 on each of 3 steps: 1 + 0.9 + 0.81, 1 + 0.9, 1
    assert policy.mc_returns([1, 1, 1]) == pytest.approx([2.71, 1.9, 1.0])
    # clamp(V' - V - 0.05 + r + G): 0.6 - 0.5 - 0.05 + 0 + 0 = 0.05; success clamps at 1
    assert policy.advantage_official(0.5, 0.6, 0.0, 0.0).item() == pytest.approx(0.05)
    assert policy.advantage_official(0.5, 0.6, 1.0, 2.71).item() == 1.0


# =============================================================================================
# Prompt (WEBRL_FACTS section 2), written out by hand

def test_prompt_round0():
    want = ("Task Instruction: Show me my orders\n\n"
            "Round 0\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n<a id=\"1\">Orders</a>\n\n"
            "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n")
    assert policy.build_prompt("Show me my orders", [], '<a id="1">Orders</a>') == want


def test_prompt_round1_and_2():
    r0 = '# Element: the Orders link\ndo(action="Click", element="1")'
    r1 = 'do(action="Scroll Down")'
    want1 = ("Task Instruction: Show me my orders\n\n"
             "Round 0\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\nShow me my orders\n\n"
             "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
             "# Element: the Orders link\ndo(action=\"Click\", element=\"1\")\n\n"
             "Round 1\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\nPAGE1\n\n"
             "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n")
    assert policy.build_prompt("Show me my orders", [r0], "PAGE1") == want1
    want2 = ("Task Instruction: Show me my orders\n\n"
             "Round 0\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\nShow me my orders\n\n"
             "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n"
             "# Element: the Orders link\ndo(action=\"Click\", element=\"1\")\n\n"
             "Round 1\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n** Simplified html **\n\n"
             "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\ndo(action=\"Scroll Down\")\n\n"
             "Round 2\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\nPAGE2\n\n"
             "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n")
    assert policy.build_prompt("Show me my orders", [r0, r1], "PAGE2") == want2


def test_prompt_cut_at_16384_minus_512():
    history = ("Round 0\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\nI\n\n"
               "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\nR\n\n")
    assert len(history) == 122          # 9 + 51 + 3 + 56 + 3: count it again if the format changes
    budget = 16384 - 512 - 122          # characters left for the page: 15750
    head = "Task Instruction: I\n\n"
    tail = lambda page: (f"Round 1\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n{page}\n\n"
                         "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n")
    page = "ab" * 10000
    assert policy.build_prompt("I", ["R"], page) == head + history + tail(page[:budget])
    exact = "x" * budget                # exactly at the limit: not cut
    assert policy.build_prompt("I", ["R"], exact) == head + history + tail(exact)


# =============================================================================================
# The tiny model



@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = policy.build_tiny(tmp_path_factory.mktemp("tiny"), TINY_CORPUS, vocab_size=400, hidden=64, layers=2,
                          heads=4, seed=0)
    model, tok = policy.load_actor(d)
    return d, model, tok


def test_build_tiny_is_an_ordinary_hf_directory(tiny, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    d, model, _ = tiny
    tok = AutoTokenizer.from_pretrained(d)
    m = AutoModelForCausalLM.from_pretrained(d)
    assert m.config.max_position_embeddings == 8192 and m.config.vocab_size == len(tok)
    ids = {t: tok.encode(t, add_special_tokens=False) for t in policy.HEADER_TOKENS}
    assert all(len(v) == 1 for v in ids.values()) and len({v[0] for v in ids.values()}) == 4
    assert tok.pad_token_id is not None and tok.eos_token == "<|eot_id|>"
    policy.check_tokenizer(tok)
    # the WebRL prompt: BOS first, header tokens as single ids, decodes back to the same text
    prompt = policy.build_prompt("Show me the orders", ['do(action="Click", element="1")'], "<html/>")
    enc = tok(prompt)["input_ids"]
    assert enc[0] == tok.bos_token_id and enc.count(ids["<|start_header_id|>"][0]) == 4
    assert tok.decode(enc[1:]) == prompt
    # same weights as the loaded actor; deterministic: a second build gives the same files
    assert all(torch.equal(a, b) for a, b in zip(m.state_dict().values(), model.state_dict().values()))
    d2 = policy.build_tiny(tmp_path / "again", TINY_CORPUS, vocab_size=400, hidden=64, layers=2, heads=4, seed=0)
    for f in ("tokenizer.json", "model.safetensors"):
        assert (d / f).read_bytes() == (d2 / f).read_bytes()


def test_check_tokenizer_rejects_a_tokenizer_without_header_tokens():
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.train_from_iterator(TINY_CORPUS, trainers.BpeTrainer(vocab_size=300, show_progress=False,
                            initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    gpt2_like = PreTrainedTokenizerFast(tokenizer_object=bpe)
    with pytest.raises(ValueError, match="<\\|eot_id\\|>"):
        policy.check_tokenizer(gpt2_like)


def test_load_actor_wrong_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a directory"):
        policy.load_actor(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="config.json"):
        policy.load_actor(tmp_path)


# =============================================================================================
# Generation and training log-probs

PROMPTS = [
    policy.build_prompt("Show me the orders", [], '<a id="1">Orders</a>'),
    policy.build_prompt("Search for phones", ['do(action="Click", element="1")', "do(action=\"Wait\")"],
                        '<html><body><input id="2" type="text"/><button id="3">Go</button></body></html>'),
    policy.build_prompt("x", [], ""),
]


@pytest.mark.parametrize("temperature,top_p", [(0.0, 1.0), (1.0, 1.0), (1.0, 0.8)])
def test_generation_logp_equals_training_logp(tiny, temperature, top_p):
    _, model, tok = tiny
    gens = policy.generate(model, tok, PROMPTS, max_new_tokens=10, temperature=temperature, top_p=top_p,
                           seed=1)
    assert len({len(g.prompt_ids) for g in gens}) == 3          # really different lengths: left padding
    lps = policy.action_logprobs(model, [g.prompt_ids for g in gens], [g.action_ids for g in gens],
                                 batch_size=3)
    for prompt, g, lp in zip(PROMPTS, gens, lps):
        assert g.prompt_ids == tok(prompt)["input_ids"]
        assert len(g.action_ids) == len(g.logp) == lp.numel() > 0
        assert torch.allclose(torch.tensor(g.logp), lp, atol=1e-4)
        assert g.logp_sum == pytest.approx(sum(g.logp)) and g.logp_mean == pytest.approx(g.logp_sum / len(g.logp))
    # the same prompt alone gives the same tokens at temperature 0 (padding does not leak)
    if temperature == 0:
        alone = policy.generate(model, tok, PROMPTS[2:], max_new_tokens=10, temperature=0)[0]
        assert alone.action_ids == gens[2].action_ids


def test_sampling_is_seeded(tiny):
    _, model, tok = tiny
    a = policy.generate(model, tok, PROMPTS, max_new_tokens=6, seed=7)
    b = policy.generate(model, tok, PROMPTS, max_new_tokens=6, seed=7)
    assert [g.action_ids for g in a] == [g.action_ids for g in b]


def test_stop_at_eot_per_sequence_and_truncation(tiny):
    _, model, tok = tiny
    eot = tok.convert_tokens_to_ids("<|eot_id|>")
    calls = []

    def force_eot(module, inp, out):
        # row 0 says <|eot_id|> from its 3rd token on; row 1 never does
        calls.append(1)
        if len(calls) >= 3:
            out = out.clone()
            out[0, :, eot] += 1e4
        return out

    h = model.lm_head.register_forward_hook(force_eot)
    try:
        g = policy.generate(model, tok, PROMPTS[:2], max_new_tokens=8, temperature=0)
    finally:
        h.remove()
    assert g[0].stopped and len(g[0].action_ids) == 3 and g[0].action_ids[-1] == eot
    assert g[0].text == tok.decode(g[0].action_ids[:2], skip_special_tokens=True)
    assert not g[1].stopped and len(g[1].action_ids) == 8
    # prompts longer than max_prompt_tokens are cut (the page first, see test_encode_prompt_cut) and say so
    full, short = tok(PROMPTS[1])["input_ids"], tok(PROMPTS[2])["input_ids"]
    n = len(full) - 3
    t = policy.generate(model, tok, PROMPTS[1:3], max_new_tokens=2, temperature=0, max_prompt_tokens=n)
    assert t[0].prompt_truncated and t[0].prompt_ids == policy.encode_prompt(tok, PROMPTS[1], n)[0]
    assert len(t[0].prompt_ids) == n
    assert not t[1].prompt_truncated and t[1].prompt_ids == short


def test_encode_prompt_cut(tiny):
    """Too long prompts lose the end of the current page (as WebRL's character cut does), keeping the task
    instruction, the history and the assistant header; a long history loses its oldest rounds."""
    _, _, tok = tiny
    page = "".join(f'<a id="{i}">link number {i}</a>' for i in range(200))
    past = [f'do(action="Click", element="{i}")' for i in range(40)]
    for hist in ([], past[:2], past):
        prompt = policy.build_prompt("Find the cheapest phone", hist, page)
        ids = tok(prompt)["input_ids"]
        for n in (len(ids), len(ids) // 2, 300):
            cut, was_cut = policy.encode_prompt(tok, prompt, n)
            assert len(cut) == min(n, len(ids)) and was_cut == (n < len(ids))
            text = tok.decode(cut)
            assert text.startswith("<|begin_of_text|>Task Instruction: Find the cheapest phone")
            assert text.endswith("<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n")
            assert '<a id="0">link number 0</a>' in text          # the top of the page stays
            if was_cut:
                assert "link number 199" not in text              # its end went first
            if hist and n >= len(ids) // 2:
                assert hist[-1] in text                           # the latest round stays
    # no WebRL structure: the left part goes, BOS stays
    ids = tok("x " * 50)["input_ids"]
    assert policy.encode_prompt(tok, "x " * 50, 10)[0] == [ids[0]] + ids[-9:]


PAGE = ('<html data-bbox="0,0,1280,475"> <body data-bbox="0,0,1280,475"> <a id="0" data-text="One Stop Market" '
        'data-bbox="16,8,143,25"> One Stop Market </a> <input id="1" type="text" placeholder="Search" '
        'data-bbox="282,10,177,21"> </input> <li data-text="4/5 stars" data-bbox="56,408,1208,20"> <b '
        'data-text="Good value" data-bbox="56,409,76,16"> Good value </b> </li> <p data-text="He said "hi"" '
        'data-bbox="1,2,3,4"> He said "hi" </p> </body> </html>')


def test_compact_html_keeps_every_element_and_text():
    """Layout boxes go, and data-text only where the same text follows the tag; ids, attributes and every
    text stay (the li's direct text lives only in its data-text, a quoted text is left alone)."""
    assert env.compact_html(PAGE) == (
        '<html> <body> <a id="0"> One Stop Market </a> <input id="1" type="text" placeholder="Search"> </input> '
        '<li data-text="4/5 stars"> <b> Good value </b> </li> <p data-text="He said "hi""> He said "hi" </p> '
        '</body> </html>')
    assert env.compact_html(env.compact_html(PAGE)) == env.compact_html(PAGE)
    prompt = policy.build_prompt("Find the board", ['do(action="Click", element="0")'], PAGE)
    assert policy.compact_prompt(prompt) == policy.build_prompt("Find the board", ['do(action="Click", element="0")'],
                                                                env.compact_html(PAGE))
    assert policy.compact_prompt("no WebRL structure") == "no WebRL structure"


def test_encode_prompt_compacts_a_page_before_cutting_it(tiny):
    _, _, tok = tiny
    page = "".join(f'<a id="{i}" data-text="link {i}" data-bbox="{i},{2 * i},100,20"> link {i} </a> ' for i in range(60))
    prompt = policy.build_prompt("Open link 59", [], page)
    full, compact = len(tok(prompt)["input_ids"]), len(tok(policy.compact_prompt(prompt))["input_ids"])
    assert compact < full // 2
    assert policy.encode_prompt(tok, prompt, full) == (tok(prompt)["input_ids"], False)     # fits: untouched
    ids, cut = policy.encode_prompt(tok, prompt, compact)
    assert cut and tok.decode(ids) == "<|begin_of_text|>" + policy.compact_prompt(prompt)
    assert '<a id="59"> link 59 </a>' in tok.decode(ids)                  # the whole page, no element lost
    ids, cut = policy.encode_prompt(tok, prompt, compact - 20)            # still too long: then its end goes
    assert cut and len(ids) == compact - 20 and 'id="59"' not in tok.decode(ids) and "data-bbox" not in tok.decode(ids)


def test_length_batches_hand():
    assert policy.length_batches([5, 1, 4, 2, 3], 2) == [[0, 2], [4, 3], [1]]   # longest first
    assert policy.length_batches([], 8) == []
    assert policy.length_batches([1, 3, 3], 8) == [[1, 2, 0]]     # ties keep the caller's order


def test_action_logprobs_batching_and_grad(tiny):
    _, model, tok = tiny
    ps = [tok(p)["input_ids"] for p in PROMPTS]
    acts = [policy.encode_action(tok, r) for r in ['do(action="Click", element="1")', "exit(message=\"3\")",
                                                    "x"]]
    one = [policy.action_logprobs(model, [p], [a])[0] for p, a in zip(ps, acts)]
    batched = policy.action_logprobs(model, ps, acts, batch_size=3, grad=True)
    assert all(torch.allclose(x, y, atol=1e-4) for x, y in zip(one, batched))
    lengths = [len(p) + len(a) for p, a in zip(ps, acts)]
    assert lengths != sorted(lengths)   # so batches of 2 run in another order than the caller's...
    pairs = policy.action_logprobs(model, ps, acts, batch_size=2)
    assert all(x.shape == y.shape and torch.allclose(x, y, atol=1e-4) for x, y in zip(one, pairs))   # ...and come back in it
    assert acts[0][-1] == tok.convert_tokens_to_ids("<|eot_id|>")
    assert batched[0].requires_grad and not one[0].requires_grad
    loss = policy.actor_loss(policy.logp_sums(batched), policy.logp_sums(one).detach(),
                             torch.tensor([1.0, -1.0, 0.0]), beta=1.0)
    loss.backward()
    assert model.lm_head.weight.grad is not None and model.lm_head.weight.grad.abs().sum() > 0
    model.zero_grad(set_to_none=True)
    assert torch.allclose(policy.logp_means(one), torch.stack([x.mean() for x in one]))


def test_token_logprobs_match_action_logprobs_and_batching(tiny):
    _, model, tok = tiny
    ps = [tok(p)["input_ids"] for p in PROMPTS]
    acts = [policy.encode_action(tok, r) for r in ['do(action="Click", element="1")', "exit(message=\"3\")", "x"]]
    seqs = [p + a for p, a in zip(ps, acts)]
    whole = policy.token_logprobs(model, seqs, tok.pad_token_id)
    assert [len(w) for w in whole] == [len(s) - 1 for s in seqs]
    # the action's tail of the whole-text log-probs is the action log-probs of the same ids
    for w, a, lp in zip(whole, acts, policy.action_logprobs(model, ps, acts)):
        assert torch.allclose(w[-len(a):], lp, atol=1e-4)
    # right padding changes nothing: each sequence alone gives the same numbers
    for w, s in zip(whole, seqs):
        assert torch.allclose(policy.token_logprobs(model, [s], tok.pad_token_id)[0], w, atol=1e-4)
    g = policy.token_logprobs(model, seqs[:1], tok.pad_token_id, grad=True)[0]
    assert g.requires_grad and not whole[0].requires_grad


# =============================================================================================
# Critic


def test_critic_values_padding_and_round_trip(tiny, tmp_path):
    d, model, tok = tiny
    critic = policy.Critic.from_actor(d)                    # from the directory: AutoModel, no LM head
    assert not hasattr(critic.trunk, "lm_head")
    ids = [tok(p)["input_ids"] for p in PROMPTS]
    x, m, _ = policy.pad_batch(ids, tok.pad_token_id, "left")
    v1, v2 = critic.values(x, m)
    assert v1.shape == (3,) and ((v1 > 0) & (v1 < 1)).all() and not torch.allclose(v1, v2)
    assert torch.equal(critic.value(x, m), torch.minimum(v1, v2))
    # the value of a prompt does not depend on the padding around it
    alone = critic.values(*policy.pad_batch(ids[2:], tok.pad_token_id)[:2])[0]
    xr, mr, _ = policy.pad_batch(ids, tok.pad_token_id, "right")
    assert torch.allclose(alone, v1[2:], atol=1e-5) and torch.allclose(critic.values(xr, mr)[0], v1, atol=1e-5)
    assert torch.allclose(critic.score_prompts(tok, PROMPTS), critic.value(x, m), atol=1e-5)
    critic.save(tmp_path / "critic")
    again = policy.Critic.load(tmp_path / "critic")
    assert torch.equal(torch.stack(again.values(x, m)), torch.stack((v1, v2)))
    # from an in-memory actor: same trunk weights, independent copy
    c2 = policy.Critic.from_actor(model)
    assert torch.equal(c2.trunk.embed_tokens.weight, model.model.embed_tokens.weight)
    assert c2.trunk.embed_tokens.weight.data_ptr() != model.model.embed_tokens.weight.data_ptr()
    with pytest.raises(FileNotFoundError):
        policy.Critic.load(d)
    # one critic step on the 2-head loss lowers it
    opt = torch.optim.SGD(critic.parameters(), lr=0.1)
    y = torch.tensor([1.0, 0.0, 1.0])
    l0 = policy.critic_loss(critic(x, m), y)
    l0.backward()
    opt.step()
    assert policy.critic_loss(critic(x, m), y).item() < l0.item()


def test_baseline_weights_and_weighted_nll_hand():
    # AWR: exp(A / 0.5) for A = 0, 0.5, -0.5, 3 -> 1, e, 1/e, min(e^6, 20) = 20
    w = policy.awr_weights(torch.tensor([0.0, 0.5, -0.5, 3.0]), temperature=0.5)
    assert torch.allclose(w, torch.tensor([1.0, math.e, 1 / math.e, 20.0]))
    # DigiRL: 1[A > 0]; A = 0 is dropped
    assert policy.digirl_weights([0.2, 0.0, -0.1]).tolist() == [1.0, 0.0, 0.0]
    # weighted NLL: -mean[w * logp / n] = -(1 * -2 / 4 + 0.5 * -3 / 1) / 2 = (0.5 + 1.5) / 2 = 1.0
    logp = torch.tensor([-2.0, -3.0], requires_grad=True)
    loss = policy.weighted_nll(logp, [4, 1], [1.0, 0.5])
    assert loss.item() == pytest.approx(1.0)
    loss.backward()   # dL/dlogp_i = -w_i / (n_i N): every weighted action is pushed up
    assert torch.allclose(logp.grad, torch.tensor([-1 / 8, -0.25]))
    # weight 0 contributes nothing
    lp = torch.tensor([-1.0, -5.0], requires_grad=True)
    policy.weighted_nll(lp, [1, 1], [1.0, 0.0]).backward()
    assert lp.grad[1].item() == 0.0


def test_pg_loss_hand_and_gradient_sign():
    # -mean[A * logp] = -(0.5 * -2 + -1 * -1) / 2 = 0: gradient -A / N pushes A > 0 up, A < 0 down
    logp = torch.tensor([-2.0, -1.0], requires_grad=True)
    loss = policy.pg_loss(logp, torch.tensor([0.5, -1.0]))
    assert loss.item() == pytest.approx(0.0)
    loss.backward()
    assert torch.allclose(logp.grad, torch.tensor([-0.25, 0.5]))


def test_filtered_bc_keeps_the_top_fraction_and_no_failure():
    # 10 trajectories, 30% = 3: four successes tie at 1, three of them are kept
    r = [0, 1, 0, 1, 0, 1, 0, 0, 1, 0]
    keep = policy.filtered_bc_keep(r, 0.3, seed=0)
    assert len(keep) == 3 and all(r[i] == 1 for i in keep) and keep == sorted(keep)
    assert policy.filtered_bc_keep(r, 0.3, seed=0) == keep                      # seeded ties
    # one success among 10: only it (the top 30% would include failures otherwise)
    assert policy.filtered_bc_keep([0] * 9 + [1], 0.3) == [9]
    assert policy.filtered_bc_keep([0.0] * 5, 0.3) == []
    # graded rewards: the highest first
    assert policy.filtered_bc_keep([0.2, 0.9, 0.5, 0.7], 0.5) == [1, 3]
