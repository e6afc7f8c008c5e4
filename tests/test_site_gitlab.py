"""Fast HTTP-level tests of miniarena's GitLab (no browser): data, pages, bad input, writes, tasks."""
from __future__ import annotations

import http.cookiejar
import sqlite3
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from miniarena import gitlab
from miniarena.server import Arena, Server, make_handler, split_of


@pytest.fixture(scope="module")
def site():
    arena = Arena([gitlab.SITE], seed=0)
    srv = Server(("127.0.0.1", 0), make_handler(arena, gitlab.SITE))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield arena, f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def client(base, instance, login=True, follow=True):
    jar = http.cookiejar.CookieJar()
    jar.set_cookie(http.cookiejar.Cookie(0, "miniarena_instance", instance, None, False, "127.0.0.1", False, False,
                                         "/", True, False, None, False, None, None, {}))
    handlers = [urllib.request.HTTPCookieProcessor(jar)] + ([] if follow else [NoRedirect()])
    opener = urllib.request.build_opener(*handlers)

    def get(path, data=None):
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        try:
            with opener.open(base + path, body) as r:
                return r.status, r.read().decode(), r.geturl()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(), base + path

    if login:
        status, _, final = get("/login", {"username": "byteblaze", "password": "hello1234", "next": "/"})
        assert status == 200 and not final.endswith("/login")
    return get


def test_build_is_deterministic_fast_and_small():
    dumps = []
    for _ in range(2):
        db = sqlite3.connect(":memory:")
        t = time.perf_counter()
        gitlab.build(db, 0)
        assert time.perf_counter() - t < 1.0
        dumps.append("\n".join(db.iterdump()))
    assert dumps[0] == dumps[1]
    assert len(dumps[0]) < 2_000_000
    db = sqlite3.connect(":memory:")
    gitlab.build(db, 0)
    assert db.execute("SELECT COUNT(*) FROM projects").fetchone()[0] >= 32
    assert db.execute("SELECT COUNT(DISTINCT namespace) FROM projects").fetchone()[0] >= 10
    assert db.execute("SELECT COUNT(*) FROM users").fetchone()[0] >= 40
    per_project = db.execute("SELECT MIN(c), MAX(c) FROM (SELECT COUNT(*) c FROM issues GROUP BY project_id)").fetchone()
    assert 5 <= per_project[0] and per_project[1] <= 25


def test_login_required(site):
    _, base = site
    get = client(base, "t-login", login=False, follow=False)
    status, _, _ = get("/primer/design")
    assert status == 303


@pytest.mark.parametrize("path", [
    "/", "/dashboard/projects/starred", "/explore", "/explore?name=primer&sort=stars_desc", "/primer",
    "/primer/design", "/primer/design/-/issues", "/primer/design/-/issues?state=all&label_name=bug&sort=title_asc",
    "/primer/design/-/issues/1", "/primer/design/-/issues/new", "/primer/design/-/merge_requests?state=all",
    "/primer/design/-/merge_requests/1", "/primer/design/-/project_members", "/primer/design/-/activity",
    "/dashboard/todos", "/dashboard/todos?state=done", "/dashboard/issues", "/search?search=dark",
    "/search?search=primer&scope=projects", "/explore?page=2",
])
def test_pages(site, path):
    _, base = site
    status, body, final = client(base, "t-pages")(path)
    assert status == 200 and "/login?" not in final, body[:300]
    assert "Sign Out" in body or path.endswith("/activity"), body[:300]


@pytest.mark.parametrize("path,status", [
    ("/nobody", 404), ("/primer/nothing", 404), ("/primer/design/-/issues/999", 404),
    ("/primer/design/-/issues/99999999999999999999", 404), ("/primer/design/-/merge_requests/0", 404),
    ("/explore?sort=bogus", 400), ("/explore?page=abc", 400), ("/explore?page=99", 404),
    ("/primer/design/-/issues?state=weird", 400), ("/primer/design/-/issues?label_name=nolabel", 400),
    ("/explore?name=" + "x" * 300, 400), ("/dashboard/todos?state=x", 400),
])
def test_bad_input_is_4xx(site, path, status):
    _, base = site
    got, body, _ = client(base, "t-bad")(path)
    assert got == status, body[:300]


def test_bad_posts(site):
    _, base = site
    get = client(base, "t-badpost")
    assert get("/primer/design/-/issues", {"title": ""})[0] == 400
    assert get("/primer/design/-/issues", {"title": "x" * 300})[0] == 400
    assert get("/primer/design/-/issues", {"title": "ok", "label": "nolabel"})[0] == 400
    assert get("/primer/design/-/issues", {"title": "ok", "assignee": "not-a-member"})[0] == 400
    assert get("/primer/design/-/project_members", {"username": "ghost", "access_level": "Developer"})[0] == 404
    assert get("/primer/design/-/project_members", {"username": "vinta", "access_level": "King"})[0] == 400
    assert get("/primer/design/-/issues/1/notes", {"note": ""})[0] == 400
    assert get("/dashboard/todos/999999/mark_as_done", {})[0] == 404
    assert get("/primer/design/-/star")[0] == 405


def test_writes(site):
    arena, base = site
    arena.reset("t-write")
    get = client(base, "t-write")
    db = arena.instances["t-write"]["gitlab"]
    stars = db.execute("SELECT stars FROM projects WHERE namespace='jekyll' AND path='minima'").fetchone()[0]
    get("/jekyll/minima/-/star", {})
    _, body, _ = get("/jekyll/minima")
    assert f"<span id='star-count'>{stars + 1}</span>" in body and ">Unstar<" in body
    # create an issue, comment, close it
    status, body, final = get("/jekyll/minima/-/issues", {"title": "Add a security policy", "label": "bug"})
    assert status == 200 and "Add a security policy" in body and final.rsplit("/", 1)[1].isdigit()
    iid = final.rsplit("/", 1)[1]
    _, body, _ = get(f"/jekyll/minima/-/issues/{iid}/notes", {"note": "Looks good to me"})
    assert "Looks good to me" in body
    _, body, _ = get(f"/jekyll/minima/-/issues/{iid}/close", {})
    assert "id='issue-state' class='issue-state state-closed'>Closed<" in body
    assert get(f"/jekyll/minima/-/issues/{iid}/close", {})[0] == 400
    # invite
    member = {r[0] for r in db.execute("SELECT username FROM members m JOIN projects p ON p.id=m.project_id "
                                       "WHERE p.path='minima'")}
    newcomer = next(u for u, _ in gitlab.USERS if u not in member)
    _, body, _ = get("/jekyll/minima/-/project_members", {"username": newcomer, "access_level": "Reporter"})
    assert f"@{newcomer} · Reporter" in body
    assert get("/jekyll/minima/-/project_members", {"username": newcomer, "access_level": "Guest"})[0] == 400
    # the reset restores everything
    arena.reset("t-write")
    assert db.execute("SELECT stars FROM projects WHERE path='minima'").fetchone()[0] == stars


def test_templates_have_instances_in_their_split():
    db = sqlite3.connect(":memory:")
    gitlab.build(db, 0)
    ids = [t.id for t in gitlab.TEMPLATES]
    assert len(ids) >= 10 and len(set(ids)) == len(ids) and all(400 <= i <= 499 for i in ids)
    assert any(t.test_only for t in gitlab.TEMPLATES)
    projects = {f"{p['namespace']}/{p['path']}" for p in gitlab.project_rows(db)}
    by_path = {p.split("/")[1]: p for p in projects}
    for t in gitlab.TEMPLATES:
        for split in ("train", "test"):
            items = t.instances(db, split)
            if split == "test" or not t.test_only:
                assert items, (t.id, split)
            for spec in items:
                t.intent(spec["values"])
                v = spec["values"]
                if "project" in v:
                    assert split_of("project", by_path[v["project"]]) == split
                if "username" in v:
                    assert split_of("user", v["username"]) == split
                assert spec["start_url"] == "__GITLAB__"
