"""bench/prompt_budget.py: what a step acts on, found by hand, and kept or cut by the budget."""
import sys

from transformers import AutoTokenizer

import env
import pretrained
from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import prompt_budget  # noqa: E402

PAGE = "<html> <body> " + " ".join(f'<a id="{i}" data-text="Product number {i} of many"> Product number {i} of many </a>'
                                   for i in range(100)) + " <p> Total: 42.50 </p> </body> </html>"


def test_target_is_the_element_or_an_answer_the_page_shows():
    prompt = env.build_prompt("What is the total?", [], PAGE)
    assert prompt_budget.target('# Element: the last product\ndo(action="Click", element="99")', prompt).pattern == 'id="99"'
    assert prompt_budget.target('exit(message="42.50")', prompt).search("the Total: 42.50 here")
    assert prompt_budget.target('exit(message="17")', prompt).search("Product number 17 of many")
    assert prompt_budget.target('exit(message="2.5")', prompt) is None       # only inside 42.50 on the page
    assert prompt_budget.target('exit(message="250")', prompt) is None       # a count the page does not print (id="25" is no match)
    assert prompt_budget.target('exit(message="")', prompt) is None
    assert prompt_budget.target("I think I would click", prompt) is None      # unparsable: nothing to look for


def test_a_small_budget_cuts_the_target_at_the_page_end():
    tok = AutoTokenizer.from_pretrained(pretrained.smollm2_dir())
    prompt = env.build_prompt("Open the last product", [], PAGE)
    steps = [{"prompt": prompt, "response": 'do(action="Click", element="99")'},
             {"prompt": prompt, "response": 'do(action="Click", element="0")'}]
    small, big = prompt_budget.measure(tok, steps, [256, 8192])
    assert small["cut"] == 100.0 and small["mean_tokens"] <= 256 and small["target_kept"] == 50.0   # id 0 stays, 99 goes
    assert big["cut"] == 0.0 and big["target_kept"] == 100.0 and big["targets"] == 2
