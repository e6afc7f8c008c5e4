"""Fast HTTP-level tests of the shopping site (no browser): data, pages, writes, bad input, tasks."""
import re
import sqlite3
import threading
import urllib.error
import urllib.parse
import urllib.request

import pytest

from miniarena import shopping
from miniarena.server import Arena, Server, make_handler, split_of

USER, PASSWORD = "emma.lopez@gmail.com", "Password.123"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@pytest.fixture(scope="module")
def site():
    arena = Arena([shopping.SITE], seed=0)
    srv = Server(("127.0.0.1", 0), make_handler(arena, shopping.SITE))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield arena, f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def client(site, instance, login=True):
    """A tiny HTTP client: instance cookie, and the signed session cookie when logged in."""
    arena, base = site
    cookie = f"miniarena_instance={instance}"
    if login:
        cookie += f"; shopping_session={arena.sign('shopping', USER)}"
    opener = urllib.request.build_opener()
    opener.addheaders = [("Cookie", cookie)]

    def call(path, data=None):
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        try:
            with opener.open(base + path, body, timeout=10) as r:
                return r.status, r.geturl(), r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, path, e.read().decode()

    return call


def test_login_sets_session(site):
    _, base = site
    opener = urllib.request.build_opener(NoRedirect)
    body = urllib.parse.urlencode({"username": USER, "password": PASSWORD, "next": "/"}).encode()
    try:
        opener.open(base + "/login", body, timeout=10)
        raise AssertionError("expected a redirect")
    except urllib.error.HTTPError as e:
        assert e.code == 303 and "shopping_session=" in e.headers.get("Set-Cookie", "")


def db():
    conn = sqlite3.connect(":memory:")
    shopping.build(conn, 0)
    return conn


def test_build_is_deterministic_and_sized():
    a, b = db(), db()
    assert list(a.iterdump()) == list(b.iterdump())
    assert a.execute("SELECT COUNT(*) FROM products").fetchone()[0] >= 220
    assert a.execute("SELECT COUNT(*) FROM orders").fetchone()[0] >= 40
    assert {r[0] for r in a.execute("SELECT DISTINCT status FROM orders")} == set(shopping.STATUSES)
    assert all(re.fullmatch(r"B0[A-Z0-9]{8}", r[0]) for r in a.execute("SELECT sku FROM products"))
    assert sum(len(line) for line in a.iterdump()) < 2_000_000


def test_public_pages(site):
    call = client(site, "t-public", login=False)
    assert "Beauty &amp; Personal Care" in call("/")[2]
    status, _, page = call("/beauty-personal-care.html?product_list_order=price_asc&p=2")
    assert status == 200 and "Items 13-24 of 24" in page
    assert "Items 1-8 of 8" in call("/beauty-personal-care/skin-care.html")[2]
    assert call("/catalogsearch/result/?q=shampoo")[0] == 200
    slug = db().execute("SELECT slug FROM products WHERE id=1").fetchone()[0]
    page = call(f"/{slug}.html")[2]
    assert "Add to Cart" in page and "Only registered users" in page
    assert "Sign In" in call("/checkout/cart/")[2]   # redirected to the login page


@pytest.mark.parametrize("path,status", [
    ("/catalogsearch/result/?q=", 400), ("/catalogsearch/result/?q=x&product_list_order=bogus", 400),
    ("/beauty-personal-care.html?price=abc", 400), ("/beauty-personal-care.html?p=99", 404),
    ("/beauty-personal-care.html?p=-1", 400), ("/no-such-thing.html", 404), ("/a/b.html", 404),
    ("/sales/order/view/order_id/999999999/", 404), ("/sales/order/history/?p=x", 400), ("/nope", 404),
])
def test_bad_input_is_4xx(site, path, status):
    assert client(site, "t-bad")(path)[0] == status


def test_bad_posts_are_4xx(site):
    call = client(site, "t-badpost")
    assert call("/checkout/cart/add/", {"product": "abc", "qty": "1"})[0] == 400
    assert call("/checkout/cart/add/", {"product": "1", "qty": "1000"})[0] == 400
    assert call("/checkout/cart/add/", {"product": "99999", "qty": "1"})[0] == 404
    assert call("/review/product/post/id/1/", {"rating": "9", "nickname": "a", "title": "b", "detail": "c"})[0] == 400
    assert call("/review/product/post/id/1/", {"rating": "5", "nickname": "a", "title": "", "detail": "c"})[0] == 400
    assert call("/checkout/cart/updatePost/", {"remove": "123456"})[0] == 400
    assert call("/checkout/placeorder/", {"firstname": "x"})[0] == 400
    assert call("/", {"a": "b"})[0] == 405


def test_cart_review_and_order_flow(site):
    arena, base = site
    arena.reset("t-flow")
    call = client(site, "t-flow")
    conn = db()
    pid, name, slug, sku = conn.execute("SELECT id, name, slug, sku FROM products WHERE id NOT IN "
                                        "(SELECT product_id FROM cart_items) LIMIT 1").fetchone()
    status, final, page = call("/checkout/cart/add/", {"product": pid, "qty": 3})
    assert final.endswith(f"added={pid}") and f"data-sku='{sku}' data-qty='3'" in page
    assert name.replace("&", "&amp;") in call("/checkout/cart/mini/")[2]
    # remove the two items that were in the cart at the start
    for item in re.findall(r"name='remove' value='(\d+)'", page)[:2]:
        page = call("/checkout/cart/updatePost/", {"remove": item})[2]
    assert page.count("data-sku=") == 1
    next_id = conn.execute("SELECT MAX(id) + 1 FROM orders").fetchone()[0]
    form = dict(firstname="Emma", lastname="Lopez", street="1 Main St", city="San Mateo", region="California",
                postcode="94010", telephone="555")
    status, final, page = call("/checkout/placeorder/", form)
    assert f"order_id={next_id}" in final and shopping.order_number(next_id) in page
    page = call(f"/sales/order/view/order_id/{next_id}/")[2]
    assert f"data-sku='{sku}' data-qty='3'" in page and "Pending" in page
    assert "You have no items" in call("/checkout/cart/")[2]
    status, final, page = call(f"/review/product/post/id/{pid}/", {"rating": "4", "nickname": "Emma",
                                                                  "title": "Test title", "detail": "Test text"})
    first = re.search(r"<li class='review'>(.*?)</li>", page).group(1)
    assert "Test title" in first and "4/5 stars" in first
    assert "Test title" in call("/review/customer/")[2]
    arena.reset("t-flow")
    assert "Test title" not in call(f"/{slug}.html")[2]


def test_history_pages(site):
    call = client(site, "t-hist")
    page = call("/sales/order/history/")[2]
    assert page.count("View Order") == shopping.ORDERS_PER_PAGE and "Page 1 of 6" in page
    assert "Page 6 of 6" in call("/sales/order/history/?p=6")[2]


def test_templates_split_and_counts():
    conn = db()
    ids = [t.id for t in shopping.TEMPLATES]
    assert len(ids) >= 10 and all(100 <= i <= 199 for i in ids) and len(set(ids)) == len(ids)
    assert any(t.test_only for t in shopping.TEMPLATES)
    kinds = {"product": "product", "category": "category", "month": "month", "date": "order_date",
             "keyword": "keyword", "number": "order_number"}
    for t in shopping.TEMPLATES:
        for split in ("train", "test"):
            items = t.instances(conn, split)
            if split == "test" or not t.test_only:
                assert len(items) >= 5, (t.id, split, len(items))
            for spec in items:
                t.intent(spec["values"])
                assert spec["start_url"] == "__SHOPPING__"
                for k, v in spec["values"].items():
                    if k in kinds:
                        assert split_of(kinds[k], str(v)) == split, (t.id, k, v)
                ev = spec["eval"]
                if "string_match" in ev["eval_types"]:
                    ra = ev["reference_answers"]
                    assert all(str(x).strip() for x in ra.get("must_include", [ra.get("exact_match")]))


def test_write_tasks_do_not_hold_at_the_start():
    """An agent that does nothing must score 0: checked on the pristine data for the write templates."""
    conn = db()
    cart = {(sku, qty) for sku, qty in conn.execute(
        "SELECT p.sku, c.qty FROM cart_items c JOIN products p ON p.id=c.product_id")}
    next_id = conn.execute("SELECT MAX(id) + 1 FROM orders").fetchone()[0]
    for t in shopping.TEMPLATES:
        for split in ("train", "test"):
            for spec in t.instances(conn, split):
                for target in spec["eval"].get("program_html", []):
                    must = target["required_contents"].get("must_include", [])
                    if "shopping-cart-table" in target["locator"]:
                        sku, qty = must[0].strip("|").split(":")
                        assert (sku, int(qty)) not in cart
                    elif "customer-reviews" in target["locator"]:
                        slug = target["url"].split("/")[-1][:-5]
                        newest = conn.execute("SELECT r.title FROM reviews r JOIN products p ON p.id=r.product_id "
                                              "WHERE p.slug=? ORDER BY created DESC, r.id DESC", (slug,)).fetchone()
                        assert newest is None or newest[0] != must[0]
                    else:
                        assert target["url"].endswith(f"/order_id/{next_id}/")
