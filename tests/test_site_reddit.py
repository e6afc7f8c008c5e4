"""Fast HTTP-level tests of the reddit site (miniarena/reddit.py): data, pages, forms, bad input, templates."""
import re
import sqlite3
import threading
import urllib.error
import urllib.parse
import urllib.request

import pytest

from miniarena import reddit as R
from miniarena.server import INSTANCE_COOKIE, Arena, Server, make_handler, split_of


@pytest.fixture(scope="module")
def site():
    arena = Arena([R.SITE], seed=0)
    srv = Server(("127.0.0.1", 0), make_handler(arena, R.SITE))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield arena, f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module")
def db():
    d = sqlite3.connect(":memory:")
    R.build(d, 0)
    return d


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k):
        return None


def call(site, path, form=None, login=True, instance="t", follow=False):
    arena, base = site
    cookies = [f"{INSTANCE_COOKIE}={instance}"]
    if login:
        cookies.append(f"reddit_session={arena.sign('reddit', R.ME)}")
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    req = urllib.request.Request(base + path, data=data, headers={"Cookie": "; ".join(cookies)})
    opener = urllib.request.build_opener() if follow else urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(req) as r:
            return r.status, r.read().decode(), r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), e.headers


def a_post(db, forum="books"):
    sid, title = db.execute("SELECT id, title FROM submissions WHERE forum = ? AND user != ? ORDER BY id LIMIT 1",
                            (forum, R.ME)).fetchone()
    return sid, title, R.post_path(forum, sid, title)


def test_data_is_deterministic_and_sized(db):
    other = sqlite3.connect(":memory:")
    R.build(other, 0)
    assert list(db.iterdump()) == list(other.iterdump())
    assert db.execute("SELECT count(*) FROM forums").fetchone()[0] >= 10
    per_forum = [n for (n,) in db.execute("SELECT count(*) FROM submissions GROUP BY forum")]
    assert min(per_forum) >= 22
    assert db.execute("SELECT count(DISTINCT title) FROM submissions").fetchone()[0] == sum(per_forum)
    assert db.execute("SELECT min(created) >= '2022', max(created) < '2024' FROM submissions").fetchone() == (1, 1)
    # the top post of every forum is unambiguous
    dup = db.execute("SELECT forum, score FROM submissions GROUP BY forum, score HAVING count(*) > 1").fetchall()
    assert dup == []


def test_pages_render(site, db):
    sid, title, path = a_post(db)
    for p in ["/", "/new", "/top", "/forums", "/forums?sort=subscribers&p=2", "/f/books", "/f/books/top?p=2",
              path, "/user/" + R.ME, f"/user/{R.ME}/comments", f"/user/{R.ME}/submissions", "/search?q=dune",
              "/submit", "/submit/books", f"/user/{R.ME}/edit_biography", f"/user/{R.ME}/moderates"]:
        status, body, _ = call(site, p)
        assert status == 200, (p, body[:300])
    status, body, _ = call(site, "/f/books")
    assert "id='sidebar'" in body and "subscribe-button" in body and "data-menu='sort-menu'" in body


@pytest.mark.parametrize("path,code", [
    ("/f/nope", 404), ("/f/books/99999999999999999999", 404), ("/f/books?p=abc", 400), ("/f/books?p=999", 404),
    ("/forums?sort=bogus", 400), ("/user/nobody", 404), ("/f/books/1/x/comment/99999999", 404),
    ("/search?q=" + "x" * 300, 400), ("/f/books/subscribe", 405), ("/nowhere", 404),
])
def test_bad_input_is_4xx(site, path, code):
    assert call(site, path)[0] == code


def test_wrong_forum_for_post_is_404_and_slug_redirects(site, db):
    sid, title, path = a_post(db)
    assert call(site, f"/f/movies/{sid}")[0] in (404,)  # post is in books
    status, _, headers = call(site, f"/f/books/{sid}/wrong-slug")
    assert status == 301 and headers["Location"] == path
    status, _, headers = call(site, "/f/BOOKS/top")
    assert status == 301 and headers["Location"] == "/f/books/top"
    status, _, headers = call(site, f"/user/{R.ME.lower()}/comments")
    assert status == 301 and headers["Location"] == f"/user/{R.ME}/comments"


def test_garbage_never_500(site, db):
    sid, title, path = a_post(db)
    junk = ["", "x" * 6000, "-1", "99999999999999999999", "%00", "<script>", "1e5", "null"]
    forms = [("/submit", ["forum", "title", "body"]), (f"/sv/{sid}", ["choice", "next"]),
             (f"/f/books/{sid}/comment", ["comment", "parent", "next"]), ("/f/books/subscribe", ["next"]),
             (f"/user/{R.ME}/edit_biography", ["biography"])]
    for p, fields in forms:
        for j in junk:
            status = call(site, p, {f: j for f in fields}, instance="junk")[0]
            assert status < 500, (p, j[:20], status)
    for j in junk:
        q = urllib.parse.quote(j)
        for p in [f"/search?q={q}", f"/forums?p={q}", f"/f/books?p={q}", f"/user/{R.ME}/submissions?p={q}",
                  f"/f/{q}", f"/user/{q}", f"/f/books/{q}"]:
            assert call(site, p, instance="junk")[0] < 500, p


def test_writes_need_login(site, db):
    sid, title, path = a_post(db)
    for p, form in [(f"/sv/{sid}", {"choice": "1"}), ("/f/books/subscribe", {}), ("/submit", {"forum": "books", "title": "x"}),
                    (f"/f/books/{sid}/comment", {"comment": "hi"}), (f"/user/{R.ME}/edit_biography", {"biography": "x"})]:
        status, _, headers = call(site, p, form, login=False)
        assert status == 303 and headers["Location"].startswith("/login"), p
    assert call(site, "/submit", login=False)[0] == 303


def test_vote_toggles_and_counts(site, db):
    sid, title, path = a_post(db, "movies")
    score = db.execute("SELECT score FROM submissions WHERE id = ?", (sid,)).fetchone()[0]
    inst = "vote"
    status, _, headers = call(site, f"/sv/{sid}", {"choice": "1", "next": path}, instance=inst)
    assert status == 303 and headers["Location"] == path
    body = call(site, path, instance=inst)[1]
    assert "vote vote--user-upvoted" in body and f"{score + 1} point" in body
    call(site, f"/sv/{sid}", {"choice": "0"}, instance=inst)
    body = call(site, path, instance=inst)[1]
    assert "vote--user-upvoted" not in body and f"{score} point" in body
    assert call(site, f"/sv/{sid}", {"choice": "5"}, instance=inst)[0] == 400
    assert call(site, f"/sv/{sid}", {"choice": "x"}, instance=inst)[0] == 400


def test_comment_subscribe_submit_bio(site, db):
    inst = "write"
    sid, title, path = a_post(db, "science")
    status, _, headers = call(site, f"/f/science/{sid}/comment", {"comment": "Hello there"}, instance=inst)
    assert status == 303 and headers["Location"].startswith(path + "#comment-")
    body = call(site, path, instance=inst)[1]
    assert f"data-author='{R.ME}'" in body and "Hello there" in body
    assert call(site, f"/f/science/{sid}/comment", {"comment": ""}, instance=inst)[0] == 400
    assert call(site, f"/f/science/{sid}/comment", {"comment": "x", "parent": "99999999"}, instance=inst)[0] == 404

    call(site, "/f/science/subscribe", {"next": "/f/science"}, instance=inst)
    assert ">Unsubscribe</button>" in call(site, "/f/science", instance=inst)[1]
    assert "f/science" in call(site, "/", instance=inst)[1].split("id='sidebar'")[1]

    status, _, headers = call(site, "/submit", {"forum": "science", "title": "A brand new post", "body": "b"}, instance=inst)
    assert status == 303 and headers["Location"].startswith("/f/science/")
    newest = call(site, "/f/science/new", instance=inst)[1]
    assert re.search(r"class='submission__title'[^>]*>A brand new post<", newest)
    assert call(site, "/submit", {"forum": "", "title": "x"}, instance=inst)[0] == 400
    assert call(site, "/submit", {"forum": "nope", "title": "x"}, instance=inst)[0] == 404

    call(site, f"/user/{R.ME}/edit_biography", {"biography": "Seeking SDE positions"}, instance=inst)
    assert "<div class='user-bio__biography'>Seeking SDE positions</div>" in call(site, f"/user/{R.ME}", instance=inst)[1]
    other = db.execute("SELECT name FROM users WHERE name != ? LIMIT 1", (R.ME,)).fetchone()[0]
    assert call(site, f"/user/{other}/edit_biography", instance=inst)[0] == 403
    # other instances are untouched
    assert "Seeking SDE positions" not in call(site, f"/user/{R.ME}", instance="pristine")[1]


def test_templates(db):
    ids = [t.id for t in R.TEMPLATES]
    assert len(ids) >= 10 and len(set(ids)) == len(ids) and all(300 <= i <= 399 for i in ids)
    assert any(t.test_only for t in R.TEMPLATES)
    kinds = set()
    for t in R.TEMPLATES:
        train, test = t.instances(db, "train"), t.instances(db, "test")
        assert len(test) >= 6, t.id
        assert t.test_only or len(train) >= 25, t.id
        if t.test_only:
            assert train == []
        for split, items in (("train", train), ("test", test)):
            for spec in items:
                t.intent(spec["values"])
                kinds.update(spec["eval"]["eval_types"])
                v = spec["values"]
                if "forum" in v:
                    assert split_of("forum", v["forum"]) == split
                if "user" in v:
                    assert split_of("user", v["user"]) == split
    assert kinds == {"string_match", "url_match", "program_html"}
