"""The env pool on fixture pages: observation format, settling, actions, limits, safety and faults."""
import json
import os
import signal
import time

import pytest

import env
from conftest import page_task


@pytest.fixture(scope="module")
def pool(pages_url, tmp_path_factory):
    limits = env.Limits(step_timeout_s=8, nav_timeout_s=3)
    p = env.Pool(2, urls={"SHOPPING": pages_url}, limits=limits, record_dir=str(tmp_path_factory.mktemp("records")))
    yield p
    p.close()


def reset1(pool, base, path, **kw):
    return pool.reset([page_task(base, path, **kw)])[0]


def step1(pool, action):
    obs, dones, infos = pool.step([action, None])
    return obs[0], dones[0], infos[0]


EXPECTED_BASIC = (
    '<html data-bbox="0,0,1280,2241"> <body data-bbox="8,8,1264,2225"> <header data-bbox="8,8,1264,18"> '
    '<a id="0" data-text="Home" data-bbox="8,8,39,17"> Home </a> <span data-text="Welcome to,shop" data-bbox="51,8,80,17"> '
    'Welcome to <b data-text="Test" data-bbox="131,8,28,17"> Test </b> </span> </header> <main data-bbox="8,47,1264,2185"> '
    '<h1 data-text="Products" data-bbox="8,47,1264,37"> Products </h1> <form data-bbox="8,106,1264,21"> '
    '<input id="1" type="text" placeholder="Search here" data-bbox="8,106,177,21"> </input> '
    '<select id="2" data-value="b" data-text="Name" data-bbox="189,107,58,19"> <option value="a" data-text="Price"> Price </option> '
    '<option value="b" data-text="Name" data-status="selected"> Name </option> </select> '
    '<button id="3" type="submit" data-text="Go" data-bbox="251,106,34,21"> Go </button> </form> '
    '<p data-text="Plain & simple text" data-bbox="8,143,1264,18"> Plain & simple text </p> '
    '<label data-text="Remember" data-bbox="8,179,94,17"> <input id="4" type="checkbox" data-value="on" data-bbox="12,180,13,13" '
    'data-status="checked"> </input> </label> <div id="5" data-text="Clickable div" data-bbox="8,197,1264,18"> Clickable div </div> '
    '</main> </body> </html>')


def test_observation_of_a_fixed_page(pool, pages_url):
    obs = reset1(pool, pages_url, "/basic.html")
    assert obs.html == EXPECTED_BASIC
    # what the format promises, independent of layout details
    assert "Hidden link" not in obs.html            # display:none is not shown
    assert "Far below" not in obs.html              # below the viewport: scroll to see it
    assert obs.url == pages_url + "/basic.html"


def test_scrolling_brings_elements_into_view_with_ids(pool, pages_url):
    reset1(pool, pages_url, "/basic.html")
    for _ in range(4):
        obs, done, info = step1(pool, 'do(action="Scroll Down")')
    assert '<a id="0" data-text="Far below"' in obs.html
    obs, done, info = step1(pool, 'do(action="Scroll Up")')
    assert "Far below" not in obs.html


def test_type_select_and_search_change_the_page(pool, pages_url):
    reset1(pool, pages_url, "/basic.html")
    obs, _, info = step1(pool, 'do(action="Type", argument="red shoes", element="1")')
    assert info["error"] is None and 'data-value="red shoes"' in obs.html
    obs, _, info = step1(pool, 'do(action="Select Dropdown Option", argument="price", element="2")')
    assert 'data-value="a" data-text="Price"' in obs.html
    obs, _, info = step1(pool, 'do(action="Search", argument="blue hat", element="1")')
    assert obs.url.endswith("/basic.html?q=blue+hat&sort=a")


def test_observation_waits_for_a_change_200ms_after_a_click(pool, pages_url):
    reset1(pool, pages_url, "/delayed.html")
    t = time.perf_counter()
    obs, _, info = step1(pool, 'do(action="Click", element="0")')
    assert "Loaded after delay" in obs.html
    assert time.perf_counter() - t >= 0.2


def test_waits_for_fetch_after_load_and_js_menus(pool, pages_url):
    obs = reset1(pool, pages_url, "/async.html")
    assert "Panel filled by fetch" in obs.html and "Loading..." not in obs.html
    assert "Menu item one" not in obs.html
    obs, _, _ = step1(pool, 'do(action="Click", element="0")')
    assert '<a id="1" data-text="Menu item one"' in obs.html


def test_waits_for_a_fetched_body_that_comes_after_its_headers(pool, pages_url):
    # fetch() settles with the headers; the panel fills only when the body has been read (400 ms later here, as
    # on a busy machine): observed before, a miniarena Gitlab page said "Loading activity..." in one run of a
    # phase and showed the activity in another, and the two runs' episodes parted there
    obs = reset1(pool, pages_url, "/async_slow_body.html")
    assert "Body that came late" in obs.html and "Loading..." not in obs.html


def test_impossible_actions_leave_the_page_and_are_recorded(pool, pages_url):
    before = reset1(pool, pages_url, "/basic.html")
    for action, msg in [('do(action="Click", element="99")', "not on the page"),
                        ('do(action="Type", argument="x", element="0")', "not a text field"),
                        ('do(action="Select Dropdown Option", argument="x", element="1")', "not a dropdown"),
                        ('do(action="Select Dropdown Option", argument="Colour", element="2")', "no option"),
                        ('do(action="Switch Tab", argument="3")', "no tab 3")]:
        obs, done, info = step1(pool, action)
        assert msg in info["error"] and obs.html == before.html
    assert done and info["end"] == "5 invalid actions"  # they count toward the limit


def test_five_unparsable_actions_end_the_episode(pool, pages_url):
    reset1(pool, pages_url, "/basic.html")
    for i in range(5):
        obs, done, info = step1(pool, "I think I should click the button")
        assert info["error"].startswith("unparsable")
    assert done and info["end"] == "5 invalid actions" and info["score"] == 0.0


def test_five_identical_actions_end_the_episode(pool, pages_url):
    reset1(pool, pages_url, "/basic.html")
    for i in range(5):
        obs, done, info = step1(pool, 'do(action="Hover", element="0")')
    assert done and "identical" in info["end"]


def test_step_limit(pages_url):
    with env.Pool(1, urls={"SHOPPING": pages_url}, limits=env.Limits(max_steps=3)) as p:
        p.reset([page_task(pages_url, "/basic.html")])
        dones = [p.step([a])[1][0] for a in ['do(action="Scroll Down")', 'do(action="Scroll Up")', 'do(action="Scroll Down")']]
    assert dones == [False, False, True]


def test_exit_is_scored_and_recorded(pool, pages_url):
    ev = {"eval_types": ["string_match", "url_match"], "reference_answers": {"must_include": ["blue"]},
          "reference_url": "__SHOPPING__/basic.html?q=blue"}
    reset1(pool, pages_url, "/basic.html", eval_=ev)
    step1(pool, '# Element: the search box\ndo(action="Search", argument="blue", element="1")')
    obs, done, info = step1(pool, 'exit(message="Blue it is")')
    assert done and info["score"] == 1.0 and info["eval"] == {"string_match": 1.0, "url_match": 1.0}
    lines = [json.loads(l) for l in pool.slots[0].record_path.read_text().splitlines()]
    assert [l.get("step") for l in lines[:2]] == [0, 1] and lines[-1]["end"] == "exit"
    first = lines[0]
    assert first["response"] == first["target"] and first["score"] == 1.0
    assert first["prompt"] == env.build_prompt("fixture", [], first["html"]) and first["html"].startswith("<html")
    assert lines[1]["prompt"].startswith("Task Instruction: fixture\n\nRound 0\n\n")


def test_program_html_reads_the_page(pool, pages_url):
    ev = {"eval_types": ["program_html"], "program_html": [
        {"url": "last", "locator": "document.querySelector('#out').outerText", "required_contents": {"exact_match": "Loaded after delay"}},
        {"url": "__SHOPPING__/basic.html", "locator": "document.querySelector('h1').outerText",
         "required_contents": {"must_include": ["Products |OR| Goods"]}}]}
    reset1(pool, pages_url, "/delayed.html", eval_=ev)
    step1(pool, 'do(action="Click", element="0")')
    obs, done, info = step1(pool, "exit()")
    assert info["score"] == 1.0, info


def test_off_site_and_file_links_are_blocked_and_reported(pool, pages_url):
    before = reset1(pool, pages_url, "/delayed.html")
    obs, done, info = step1(pool, 'do(action="Click", element="1")')     # http://example.com/
    assert "example.com" in info["error"] and obs.url == before.url and not done
    assert "Off site" in obs.html
    obs, done, info = step1(pool, 'do(action="Click", element="2")')     # file:///etc/passwd
    assert "file:///etc/passwd" in info["error"] and obs.url == before.url


def test_new_tabs_are_followed_and_switchable(pool, pages_url):
    reset1(pool, pages_url, "/tabs.html")
    obs, _, info = step1(pool, 'do(action="Click", element="0")')
    assert info["new_tabs"] == [1] and obs.tab == 1 and obs.url.endswith("/basic.html") and len(obs.tabs) == 2
    obs, _, info = step1(pool, 'do(action="Switch Tab", argument="0")')
    assert obs.tab == 0 and "Open basic in a new tab" in obs.html
    obs, _, info = step1(pool, 'do(action="Click", element="1")')         # window.open
    assert obs.tab == 2 and "Panel filled by fetch" in obs.html


def test_a_500_page_is_just_a_page(pool, pages_url):
    reset1(pool, pages_url, "/tabs.html")
    obs, done, info = step1(pool, 'do(action="Click", element="2")')
    assert not done and info["error"] is None and "Internal Server Error" in obs.html


def test_a_hung_page_fails_its_episode_without_stalling_the_other(pool, pages_url):
    pool.reset([page_task(pages_url, "/hang.html"), page_task(pages_url, "/basic.html")])
    t = time.perf_counter()
    obs, dones, infos = pool.step(['do(action="Click", element="0")', 'do(action="Scroll Down")'])
    took = time.perf_counter() - t
    assert dones == [True, False], infos
    assert "end" in infos[0], (infos, pool.trajectory(0))
    assert infos[0]["end"].startswith("hung") and infos[0]["score"] == 0.0
    assert took < pool.limits.step_timeout_s
    obs, dones, infos = pool.step([None, 'do(action="Scroll Up")'])    # the other episode goes on
    assert dones == [True, False] and infos[1]["error"] is None


def test_a_killed_browser_fails_the_episode_and_is_restarted(pages_url):
    with env.Pool(2, urls={"SHOPPING": pages_url}) as p:
        p.reset([page_task(pages_url, "/basic.html"), page_task(pages_url, "/delayed.html")])
        marker = f"--webrl-pool={p.uid}".encode()
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                if marker in open(f"/proc/{pid}/cmdline", "rb").read():
                    os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass
        obs, dones, infos = p.step(['do(action="Click", element="0")', 'do(action="Click", element="0")'])
        assert dones == [True, True]
        assert all(i["end"].startswith("browser crashed") and i["score"] == 0.0 for i in infos)
        obs = p.reset([page_task(pages_url, "/basic.html")])
        assert obs[0].html == EXPECTED_BASIC and p.browser_restarts == 1


def test_go_backward_and_forward(pool, pages_url):
    reset1(pool, pages_url, "/tabs.html")
    step1(pool, 'do(action="Click", element="2")')
    obs, _, _ = step1(pool, "go_backward()")
    assert obs.url.endswith("/tabs.html")
    obs, _, _ = step1(pool, "go_forward()")
    assert obs.url.endswith("/error500")
