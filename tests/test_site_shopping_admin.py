"""Fast HTTP-level tests of the Magento admin site (miniarena/shopping_admin.py): data, pages, bad input,
writes, templates. The oracles themselves run through env.py (`python -m miniarena oracle --site shopping_admin`)."""
import http.cookiejar
import re
import sqlite3
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from miniarena import shopping_admin as A
from miniarena.server import Arena, Server, make_handler, split_of


@pytest.fixture(scope="module")
def base():
    arena = Arena([A.SITE], seed=0)
    srv = Server(("127.0.0.1", 0), make_handler(arena, A.SITE))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/admin"
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module")
def db():
    d = sqlite3.connect(":memory:")
    A.build(d, 0)
    return d


class Client:
    """A browser-like client: a cookie jar, and its own miniarena instance (its own copy of the data)."""

    def __init__(self, base, instance="default"):
        self.base = base
        jar = http.cookiejar.CookieJar()
        jar.set_cookie(http.cookiejar.Cookie(0, "miniarena_instance", instance, None, False, "127.0.0.1", True, False,
                                             "/", True, False, None, False, None, None, {}))
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))

    def open(self, path, data=None):
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        try:
            with self.opener.open(self.base + path, data=body) as r:
                return r.status, r.geturl(), r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.geturl(), e.read().decode()


@pytest.fixture(scope="module")
def admin(base):
    c = Client(base)
    status, final, _ = c.open("/login", {"username": "admin", "password": "admin1234", "next": "/admin/"})
    assert status == 200 and final.endswith("/admin/")
    return c


def test_data_is_deterministic_small_and_fast(db):
    t = time.perf_counter()
    other = sqlite3.connect(":memory:")
    A.build(other, 0)
    assert time.perf_counter() - t < 1.0
    assert list(db.iterdump()) == list(other.iterdump())
    count = lambda table: db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
    assert count("products") >= 150 and count("customers") >= 60 and count("orders") >= 150 and count("reviews") >= 40
    assert {r[0] for r in db.execute("SELECT status FROM orders")} == set(A.STATUS_LABEL)
    assert {r[0][:4] for r in db.execute("SELECT created FROM orders")} == {"2022", "2023"}
    assert db.execute("SELECT COUNT(*) FROM reviews WHERE status=2").fetchone()[0] > 0
    assert sum(len(line) for line in db.iterdump()) < 2_000_000


def test_login_is_required(base):
    status, final, body = Client(base).open("/sales/order/")
    assert status == 200 and "/admin/login" in final and "Sign In" in body
    status, final, body = Client(base).open("/login", {"username": "admin", "password": "nope"})
    assert "Invalid username or password" in body


@pytest.mark.parametrize("path,text", [
    ("/", "Lifetime Sales"), ("/dashboard/", "Last Orders"), ("/dashboard/bestsellers/", "Quantity"),
    ("/catalog/product/", "records found"), ("/catalog/product/edit/id/1/", "product[price]"),
    ("/catalog/product/new/", "New Product"), ("/sales/order/", "Page 1 of"),
    ("/sales/order/view/order_id/1/", "order_status"), ("/customer/index/", "All Customers"),
    ("/customer/index/edit/id/1/", "customer[telephone]"), ("/review/product/", "Nickname"),
    ("/review/product/pending/", "Pending Reviews"), ("/review/product/edit/id/1/", "status_id"),
    ("/reports/report_sales/bestsellers/", "Show Report"),
])
def test_pages(admin, path, text):
    status, _, body = admin.open(path)
    assert status == 200 and text in body


@pytest.mark.parametrize("path,status", [
    ("/catalog/product/?p=999", 404), ("/catalog/product/?p=x", 400), ("/catalog/product/edit/id/99999/", 404),
    ("/catalog/product/?price_from=cheap", 400), ("/catalog/product/?qty_to=-3", 400),
    ("/sales/order/?status=lost", 400), ("/sales/order/?from=02/30/2023", 400), ("/sales/order/view/order_id/0/", 404),
    ("/customer/index/?group=Gold", 400), ("/customer/index/edit/id/123456789/", 404),
    ("/review/product/?status=7", 400), ("/reports/report_sales/bestsellers/?period=week&from=1/1/2023&to=1/2/2023", 400),
    ("/reports/report_sales/bestsellers/?period=day&from=01/01/2022&to=12/31/2023", 400),
    ("/reports/report_sales/bestsellers/?period=month&from=02/01/2023&to=01/01/2023", 400),
    ("/sales/order/?search=" + "x" * 500, 400), ("/no/such/page", 404), ("/catalog/product/edit/id/abc/", 404),
])
def test_bad_input_is_a_4xx_with_a_reason(admin, path, status):
    got, _, body = admin.open(path)
    assert got == status and "class='error'" in body


def test_bad_posts(admin):
    cases = [("/catalog/product/save/id/1/", {"product[status]": "1", "product[name]": "x", "product[sku]": "y",
                                              "product[price]": "ten", "product[qty]": "1"}, 400),
             ("/catalog/product/save/id/1/", {"product[status]": "1"}, 400),
             ("/sales/order/addComment/order_id/1/", {"comment": " "}, 400),
             ("/customer/index/save/id/1/", {"customer[firstname]": "a", "customer[lastname]": "b",
                                             "customer[email]": "not-an-email", "customer[telephone]": "1"}, 400),
             ("/review/product/save/id/1/", {"status_id": "5", "nickname": "a", "title": "b", "detail": "c"}, 400),
             ("/review/product/delete/id/999999/", {}, 404), ("/sales/order/view/order_id/1/", {}, 405)]
    for path, data, status in cases:
        assert admin.open(path, data)[0] == status, path


def test_filters_canonicalise_to_one_url(admin):
    status, final, body = admin.open("/sales/order/?search=&status=canceled&from=1/1/2023&to=2023-01-31&name=")
    assert status == 200
    assert final.endswith("/sales/order/?status=canceled&from=01%2F01%2F2023&to=01%2F31%2F2023")
    chips = re.search(r"admin__data-grid-filters-current'>(.*?)</div>", body).group(1)
    assert "Canceled" in chips and "01/01/2023" in chips


def test_counts_match_the_database(admin, db):
    name, n = db.execute("SELECT billing_name, COUNT(*) FROM orders GROUP BY customer_id ORDER BY 2 DESC").fetchone()
    _, _, body = admin.open("/sales/order/?" + urllib.parse.urlencode({"search": name}))
    assert f"{n} records found" in body
    _, _, body = admin.open("/catalog/product/?status=2")
    assert f"{db.execute('SELECT COUNT(*) FROM products WHERE status=2').fetchone()[0]} records found" in body


def test_order_cancel_and_comment(base, db):
    c = Client(base, "cancel-test")
    c.open("/login", {"username": "admin", "password": "admin1234"})
    oid = db.execute("SELECT id FROM orders WHERE status='pending' LIMIT 1").fetchone()[0]
    done = db.execute("SELECT id FROM orders WHERE status='complete' LIMIT 1").fetchone()[0]
    status, final, body = c.open(f"/sales/order/cancel/order_id/{oid}/", {})
    assert status == 200 and "You canceled the order" in body and "<span id='order_status'>Canceled</span>" in body
    assert c.open(f"/sales/order/cancel/order_id/{oid}/", {})[0] == 409
    assert c.open(f"/sales/order/hold/order_id/{done}/", {})[0] == 409
    status, _, body = c.open(f"/sales/order/addComment/order_id/{oid}/", {"comment": "Call the customer"})
    assert "Call the customer" in body


def test_product_save_normalises_values(base):
    c = Client(base, "save-test")
    c.open("/login", {"username": "admin", "password": "admin1234"})
    status, final, body = c.open("/catalog/product/save/id/3/", {
        "product[status]": "2", "product[name]": "Renamed Tee", "product[sku]": "RT-1", "product[price]": "$12.5",
        "product[qty]": "7"})
    assert status == 200 and final.endswith("/catalog/product/edit/id/3/?saved=1")
    assert "value='12.50'" in body and "value='7'" in body and "<option value='2' selected>" in body


def test_report_ranks_by_quantity(admin, db):
    top = A.bestsellers(db, A.dt.date(2023, 1, 1), A.dt.date(2023, 12, 31), limit=1)[0]
    _, _, body = admin.open("/reports/report_sales/bestsellers/?period=year&from=01/01/2023&to=12/31/2023")
    first = re.search(r"<tbody><tr><td>2023</td><td>([^<]*)</td>", body).group(1)
    assert first == A.esc(top["name"])


def test_templates(db):
    ids = [t.id for t in A.TEMPLATES]
    assert len(ids) >= 10 and len(set(ids)) == len(ids) and all(200 <= i < 300 for i in ids)
    assert any(t.test_only for t in A.TEMPLATES)
    kinds = set()
    for t in A.TEMPLATES:
        train, test = t.instances(db, "train"), t.instances(db, "test")
        assert len(test) >= 6, t.id
        if not t.test_only:
            assert len(train) >= 25, t.id
        for spec in train + test:
            t.intent(spec["values"])
            ev = spec["eval"]
            kinds.update(ev["eval_types"])
            refs = ev.get("reference_answers") or {}
            for v in refs.values():
                assert v and all(str(x).strip() for x in (v if isinstance(v, list) else [v]))
            assert spec["start_url"].startswith("__SHOPPING_ADMIN__")
            if "url_match" in ev["eval_types"]:
                assert not spec["start_url"].rstrip("/").endswith("/sales/order")
    assert kinds == {"string_match", "url_match", "program_html"}


def test_entity_values_respect_the_split(db):
    for t in A.TEMPLATES:
        for split in ("train", "test"):
            for spec in t.instances(db, split):
                v = spec["values"]
                if "customer" in v:
                    assert split_of("customer", v["customer"]) == split
                if "order" in v:
                    assert split_of("order", str(v["order"])) == split
                if "product" in v and "nickname" not in v:
                    assert split_of("product", v["product"]) == split
                if "period" in v:
                    assert split_of("period", v["period"]) == split


def test_write_tasks_do_not_start_solved(db):
    products = {r[0]: r[1:] for r in db.execute("SELECT name, price, qty, status FROM products")}
    for t in A.TEMPLATES:
        for spec in t.instances(db, "train") + t.instances(db, "test"):
            v = spec["values"]
            if t.id == 206:
                assert A.amount(products[v["product"]][0]) != v["price"]
            elif t.id == 208:
                assert products[v["product"]][1] != v["qty"]
            elif t.id == 207:
                assert products[v["product"]][2] == 1
            elif t.id in (209, 217):
                oid = int(re.search(r"order_id/(\d+)/", spec["eval"]["program_html"][0]["url"]).group(1))
                assert db.execute("SELECT status FROM orders WHERE id=?", (oid,)).fetchone()[0] in ("pending", "processing")
            elif t.id == 210:
                rid = spec["oracle"]["id"]
                assert db.execute("SELECT status FROM reviews WHERE id=?", (rid,)).fetchone()[0] == 2
            elif t.id == 212:
                first, last = v["customer"].split(" ", 1)
                assert db.execute("SELECT phone FROM customers WHERE firstname=? AND lastname=?",
                                  (first, last)).fetchone()[0] != v["phone"]
            elif t.id == 215:
                assert db.execute("SELECT COUNT(*) FROM products WHERE sku=?", (v["sku"],)).fetchone()[0] == 0
