"""Shared fixtures: a loopback server for the fixture pages, a running miniarena, the shared reference data."""
import functools
import http.server
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PAGES = ROOT / "tests" / "pages"
SHARED = ROOT.parent / "shared" / "reference"

# text a tiny tokenizer + model are built from in the tests (policy.build_tiny)
TINY_CORPUS = [
    "Task Instruction: Show me the orders of customer Emma Lopez",
    '<html><body><a id="1" data-bbox="0,0,10,10" data-text="Orders">Orders</a><input id="2" '
    'type="text" placeholder="Search"/><button id="3">Go</button></body></html>',
    '# Element: the search box\ndo(action="Search", argument="phones", element="2")',
    'do(action="Click", element="1")', 'exit(message="3 orders")', "do(action=\"Scroll Down\")",
] * 20


@pytest.fixture(scope="session")
def train():
    """miniarena's train split (1,100 WebArena configs)."""
    from miniarena.tasks import build
    return build("train")


@pytest.fixture(scope="session")
def test_split():
    """miniarena's test split (165 WebArena configs)."""
    from miniarena.tasks import build
    return build("test")


class _Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path.split("?")[0] == "/hang":   # a page that never finishes loading (bounded: 20 s)
            time.sleep(20)
            self.send_error(504)
            return
        if self.path.split("?")[0] == "/slow-body":   # the headers at once, the body 400 ms later
            body = b"<b>Body that came late</b>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.flush()
            time.sleep(0.4)
            self.wfile.write(body)
            return
        if self.path.startswith("/error500"):
            body = b"<html><body><h1>Internal Server Error</h1><a href='/basic.html'>Home</a></body></html>"
            self.send_response(500)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        return super().do_GET()


@pytest.fixture(scope="session")
def pages_url():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(PAGES)))
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """One `train.py --smoke --screenshots` run for the whole session (test_train checks the loop, test_report
    the report of it): (run directory, the finished process with its stdout and stderr). Read it, never change it."""
    import subprocess
    run = tmp_path_factory.mktemp("smoke") / "smoke"
    t = time.time()
    r = subprocess.run([sys.executable, str(ROOT / "train.py"), "--smoke", "--screenshots", "--run-dir", str(run),
                        "--sft-save-every", "1e-6"],   # the SFT's progress is saved after every update
                       cwd=ROOT, capture_output=True, text=True, timeout=900)
    print(f"smoke run: {time.time() - t:.0f}s")
    return run, r


@pytest.fixture(scope="session")
def arena():
    from miniarena import MiniArena
    with MiniArena(seed=0) as a:
        yield a


def page_task(base: str, path: str, eval_: dict | None = None, task_id=0) -> dict:
    """A task config whose start page is one of the fixture pages (site var SHOPPING = the fixture server)."""
    return {"task_id": task_id, "intent": "fixture", "sites": ["shopping"], "start_url": "__SHOPPING__" + path,
            "require_login": False, "eval": eval_ or {"eval_types": ["url_match"], "reference_url": "__SHOPPING__/nowhere"}}
