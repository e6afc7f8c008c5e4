"""shopping_admin: a small Magento 2 admin panel, modelled on WebArena's CMS site (``__SHOPPING_ADMIN__``).

Served under the prefix ``/admin`` (so SHOPPING_ADMIN=http://127.0.0.1:PORT/admin, as in WebArena); every
page needs the admin login (``admin`` / ``admin1234``).

Pages (paths as in Magento):
  /admin/ , /admin/dashboard/                 lifetime sales, average order, last orders, a bestsellers
                                              panel filled by JavaScript after load (data-async)
  left menu                                   Sales, Catalog, Customers, Marketing, Reports: fly-out
                                              submenus opened by a JS click (data-menu)
  /admin/catalog/product/                     product grid: keyword search, Filters panel (price range,
                                              quantity range, status), 10 rows a page
  /admin/catalog/product/new/                 new product form
  /admin/catalog/product/edit/id/N/           product form (status, name, SKU, price, quantity; Save)
  /admin/sales/order/                         order grid: keyword search, Filters (status, purchase date
                                              range, bill-to name), active-filter bar, pagination
  /admin/sales/order/view/order_id/N/         order view: account info, items, totals, comments history;
                                              Cancel / Hold / Unhold buttons, comment form
  /admin/customer/index/                      customer grid: keyword search, group filter, pagination
  /admin/customer/index/edit/id/N/            customer view + account form + the customer's orders
  /admin/review/product/ , .../pending/       review grid (all / pending), Filters (status)
  /admin/review/product/edit/id/N/            review form: status select, Save Review, Delete Review
  /admin/reports/report_sales/bestsellers/    bestseller report: Period (Day/Month/Year), From, To,
                                              Show Report; top 5 products per interval

Grids and the report canonicalise their query string (empty fields dropped, dates as MM/DD/YYYY) with a
redirect, so a filtered grid has one URL whatever the agent typed: url_match tasks can name it.

Tables: products, customers, orders (+ order_items, order_comments), reviews. Data comes from
``random.Random(f"shopping_admin:{seed}")``: ~200 products (Luma demo names, apparel variants such as
"Hawkeye Yoga Short-32-Blue"), 70 customers, 600 orders over 2022-2023 in five statuses, ~110 reviews.

Templates 200-217 (see TEMPLATES at the end): bestsellers of a period, a customer's order count, an
order's totals, a customer's email/phone, review counts, filtered order grid (url_match), order counts
by status and month, product counts by price range, product price/status/stock edits, new product,
cancel an order, comment on an order, approve a review, change a customer's phone; test_only:
reprice the best seller of a period, cancel a customer's latest pending order.
"""
from __future__ import annotations

import datetime as dt
import random
import re
import urllib.parse

from .oracle import OracleError, click, exit_, note, scroll_down, searching, selecting, typing
from .server import HttpError, Redirect, Response, Site, document, esc, pager, split_of, table, url
from .tasks import Template

PREFIX = "/admin"
PH = "__SHOPPING_ADMIN__"
PER_PAGE = 10

STATUS_LABEL = {"pending": "Pending", "processing": "Processing", "complete": "Complete",
                "canceled": "Canceled", "holded": "On Hold"}          # 'holded' is Magento's own code
PRODUCT_STATUS = {1: "Enabled", 2: "Disabled"}
REVIEW_STATUS = {1: "Approved", 2: "Pending", 3: "Not Approved"}      # Approved before Not Approved:
GROUPS = ("General", "Wholesale", "Retailer")                         # option matching is by substring
FIRST_DAY, LAST_DAY = dt.date(2022, 1, 1), dt.date(2023, 12, 31)


# ----------------------------------------------------------------------------------------------
# data

BAGS = ["Joust Duffle Bag", "Strive Shoulder Pack", "Crown Summit Backpack", "Wayfarer Messenger Bag",
        "Rival Field Messenger", "Fusion Backpack", "Impulse Duffle", "Voyage Yoga Bag", "Compete Track Tote",
        "Savvy Shoulder Tote", "Endeavor Daytrip Backpack", "Driven Backpack", "Overnight Duffle",
        "Push It Messenger Bag"]
GEAR = ["Affirm Water Bottle", "Dual Handle Cardio Ball", "Zing Jump Rope", "Pursuit Lumaflex Tone Band",
        "Go-Get'r Pushup Grips", "Quest Lumaflex Band", "Sprite Foam Yoga Brick", "Sprite Foam Roller",
        "Harmony Lumaflex Strength Band Kit", "Sprite Stasis Ball 55 cm", "Sprite Stasis Ball 65 cm",
        "Sprite Stasis Ball 75 cm", "Sprite Yoga Strap 6 foot", "Sprite Yoga Strap 8 foot"]
WATCHES = ["Aim Analog Watch", "Endurance Watch", "Summit Watch", "Cruise Dual Analog Watch",
           "Dash Digital Watch", "Luma Analog Watch", "Bolo Sport Watch", "Clamber Watch"]
TOPS = [("Radiant Tee", "WS12"), ("Breathe-Easy Tank", "WT09"), ("Stellar Solar Jacket", "WJ01"),
        ("Josie Yoga Jacket", "WJ02"), ("Argus All-Weather Tank", "MT07"), ("Aero Daily Fitness Tee", "MS01"),
        ("Cassius Sparring Tank", "MT08"), ("Sparta Gym Tank", "MT09"), ("Mars HeatTech Pullover", "MJ10"),
        ("Frankie Sweatshirt", "MH04"), ("Hero Hoodie", "MH07"), ("Marco Lightweight Active Hoodie", "MH13"),
        ("Ajax Full-Zip Sweatshirt", "MH12"), ("Montana Wind Jacket", "MJ03"),
        ("Proteus Fitness Jackshirt", "MJ12"), ("Lando Gym Jacket", "MJ08"),
        ("Orion Two-Tone Fitted Jacket", "MJ07"), ("Juno Jacket", "WJ06"), ("Nadia Elements Shell", "WJ07"),
        ("Olivia 1/4 Zip Light Jacket", "WJ12"), ("Inez Full Zip Jacket", "WJ10"), ("Jade Yoga Jacket", "WJ11"),
        ("Layla Tee", "WS04"), ("Tiberius Gym Tank", "MT03"), ("Atomic Endurance Running Tee", "MS07"),
        ("Deion Long-Sleeve EverCool Tee", "MS04"), ("Strike Endurance Tee", "MS10"), ("Zoe Tank", "WT06"),
        ("Bella Tank", "WT01"), ("Gabrielle Micro Sleeve Top", "WS06"), ("Daphne Full-Zip Hoodie", "WH09"),
        ("Helena Hooded Fleece", "WH10"), ("Circe Hooded Ice Fleece", "WH11"), ("Selene Yoga Hoodie", "WH05"),
        ("Chaz Kangeroo Hoodie", "MH01"), ("Teton Pullover Hoodie", "MH02"),
        ("Grayson Crewneck Sweatshirt", "MH11")]
MEN_BOTTOMS = [("Hawkeye Yoga Short", "MSH07"), ("Troy Yoga Short", "MSH09"), ("Sol Active Short", "MSH06"),
               ("Meteor Workout Short", "MSH03"), ("Apollo Running Short", "MSH01"), ("Lono Yoga Short", "MSH10"),
               ("Kratos Gym Pant", "MP09"), ("Cronus Yoga Pant", "MP04"), ("Geo Insulated Jogging Pant", "MP05"),
               ("Aether Gym Pant", "MP11")]
WOMEN_BOTTOMS = [("Erika Running Short", "WSH12"), ("Ana Running Short", "WSH10"),
                 ("Fiona Fitness Short", "WSH08"), ("Mimi All-Purpose Short", "WSH04"),
                 ("Gwen Drawstring Bike Short", "WSH03"), ("Karmen Yoga Pant", "WP01"),
                 ("Ida Workout Parachute Pant", "WP08"), ("Sahara Leggings", "WP10"), ("Cora Parachute Pant", "WP04")]
COLORS = ["Black", "Blue", "Gray", "Green", "Orange", "Purple", "Red", "White", "Yellow"]

FIRST = ["Emma", "Olivia", "Sophia", "Ava", "Isabella", "Mia", "Amelia", "Harper", "Grace", "Chloe", "Lily",
         "Natalie", "Samantha", "Julia", "Sarah", "Jennifer", "Katie", "Lucy", "Veronica", "Rachel", "Megan",
         "Nora", "Hannah", "Zoe", "Alex", "John", "Michael", "Daniel", "Matt", "Brian", "Jason", "Ethan",
         "Noah", "Adam", "Ryan", "Kevin", "David", "James", "Robert", "Oscar", "Victor", "Henry", "Lucas",
         "Owen", "Caleb", "Dylan", "Tyler", "Marcus", "Gabriel", "Priya", "Wei", "Fatima", "Diego", "Yuki"]
LAST = ["Lopez", "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Martinez",
        "Nguyen", "Kim", "Wong", "Patel", "Baker", "Young", "Jackson", "White", "Harris", "Martin", "Thompson",
        "Moore", "Clark", "Lewis", "Walker", "Hall", "Allen", "Wright", "Scott", "Green", "Adams", "Nelson",
        "Carter", "Mitchell", "Roberts", "Turner", "Phillips", "Campbell", "Parker", "Evans", "Edwards",
        "Collins", "Stewart", "Morris", "Rogers", "Reed", "Cook", "Morgan", "Bell", "Murphy", "Costello"]
CITIES = [("Boston", "Massachusetts", "617", "02108"), ("New York", "New York", "212", "10001"),
          ("Austin", "Texas", "512", "73301"), ("Seattle", "Washington", "206", "98101"),
          ("Chicago", "Illinois", "312", "60601"), ("Denver", "Colorado", "303", "80202"),
          ("Miami", "Florida", "305", "33101"), ("Phoenix", "Arizona", "602", "85001"),
          ("Portland", "Oregon", "503", "97201"), ("Atlanta", "Georgia", "404", "30301"),
          ("San Diego", "California", "619", "92101"), ("Nashville", "Tennessee", "615", "37201"),
          ("Columbus", "Ohio", "614", "43004"), ("Philadelphia", "Pennsylvania", "215", "19019"),
          ("Minneapolis", "Minnesota", "612", "55401")]
STREETS = ["Maple", "Oak", "Cedar", "Pine", "Elm", "Washington", "Lake", "Hill", "Park", "Main", "Sunset"]
DOMAINS = ["gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "icloud.com"]
NICKNAMES = ["Jay", "Maxine", "Tobias", "Rosa", "Quinn", "Bettina", "Carlo", "Dolores", "Everett", "Frida",
             "Gus", "Hazel", "Ingrid", "Jonah", "Kendra", "Lars", "Mabel", "Nico", "Opal", "Percy", "Renata",
             "Silas", "Tamsin", "Ulric", "Vera", "Wendell", "Ximena", "Yosef", "Zelda", "Abigail", "Boris",
             "Cleo", "Dmitri", "Elsa", "Felix", "Gianna", "Hugo", "Iris", "Jasper", "Kira"]
REVIEW_TEXT = [("Great quality", "Well made and exactly as pictured."), ("Love it!", "I use it every day."),
               ("Runs small", "Order one size up."), ("Perfect for yoga", "Comfortable during long sessions."),
               ("Not worth the price", "Started to wear out after a month."), ("Good value", "Does the job."),
               ("Disappointed", "The color was different from the photo."), ("Super comfy", "Soft and light."),
               ("Solid purchase", "Sturdy and practical."), ("Would buy again", "Fast shipping, nice fit.")]
COMMENTS = ["Customer asked for gift wrapping", "Address verified by phone", "Ship with the next pickup",
            "Customer requested an invoice copy", "Leave the parcel at the front desk",
            "Replacement item promised", "Delivery delayed by the carrier", "Refund approved by support"]
NEW_ADJ = ["Nova", "Atlas", "Vista", "Orbit", "Zephyr", "Summit", "Echo", "Ridge", "Pulse", "Tempo"]
NEW_NOUN = ["Trail Jacket", "Gym Tote", "Running Cap", "Yoga Mat", "Training Vest", "Hiking Sock",
            "Sport Bottle", "Fleece Beanie"]


def rows(db, sql, args=()):
    """Query results as dicts (the core's connections use plain tuples)."""
    cur = db.execute(sql, args)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def money(cents: int) -> str:
    return f"${cents / 100:.2f}"   # no thousands separator, so answers have one spelling


def amount(cents: int) -> str:
    return f"{cents / 100:.2f}"


def build(db, seed: int) -> None:
    rng = random.Random(f"shopping_admin:{seed}")
    db.executescript("""
    CREATE TABLE products(id INTEGER PRIMARY KEY, name TEXT, sku TEXT UNIQUE, price INT, qty INT, status INT,
                          category TEXT, weight REAL);
    CREATE TABLE customers(id INTEGER PRIMARY KEY, firstname TEXT, lastname TEXT, email TEXT, grp TEXT, phone TEXT,
                           street TEXT, city TEXT, state TEXT, zip TEXT, created TEXT);
    CREATE TABLE orders(id INTEGER PRIMARY KEY, customer_id INT, billing_name TEXT, email TEXT, created TEXT,
                        status TEXT, subtotal INT, shipping INT, grand_total INT);
    CREATE TABLE order_items(id INTEGER PRIMARY KEY, order_id INT, product_id INT, name TEXT, sku TEXT, price INT, qty INT);
    CREATE TABLE order_comments(id INTEGER PRIMARY KEY, order_id INT, created TEXT, status TEXT, comment TEXT);
    CREATE TABLE reviews(id INTEGER PRIMARY KEY, product_id INT, nickname TEXT, title TEXT, detail TEXT, rating INT,
                         status INT, created TEXT);
    CREATE INDEX oi_order ON order_items(order_id); CREATE INDEX o_cust ON orders(customer_id);
    """)
    # -- products: simple products plus three size/colour variants of every apparel style
    products = []   # (name, sku, price_cents, category)
    for names, code, cat, lo, hi in ((BAGS, "24-MB", "Bags", 30, 100), (GEAR, "24-UG", "Fitness Equipment", 7, 65),
                                     (WATCHES, "24-MG", "Watches", 40, 110)):
        for i, name in enumerate(names, 1):
            products.append((name, f"{code}{i:02d}", rng.randrange(lo, hi) * 100 + rng.choice([0, 0, 50, 99]), cat))
    for styles, sizes, cat, lo, hi in ((TOPS, ["XS", "S", "M", "L", "XL"], "Tops", 22, 76),
                                       (MEN_BOTTOMS, ["32", "33", "34", "36"], "Bottoms", 28, 80),
                                       (WOMEN_BOTTOMS, ["28", "29"], "Bottoms", 28, 80)):
        for base, code in styles:
            price = rng.randrange(lo, hi) * 100 + rng.choice([0, 0, 0, 50])
            combos = rng.sample([(s, c) for s in sizes for c in COLORS], 3)
            for size, color in sorted(combos):
                products.append((f"{base}-{size}-{color}", f"{code}-{size}-{color}", price, cat))
    rng.shuffle(products)
    for name, sku, price, cat in products:
        qty = 0 if rng.random() < 0.08 else rng.randrange(1, 200)
        status = 2 if rng.random() < 0.1 else 1
        db.execute("INSERT INTO products(name,sku,price,qty,status,category,weight) VALUES(?,?,?,?,?,?,?)",
                   (name, sku, price, qty, status, cat, round(rng.uniform(0.2, 3.0), 1)))
    n_products = len(products)
    # popularity: a few products sell much more than the rest (Zipf-like), so bestseller lists are meaningful
    pop = list(range(1, n_products + 1))
    rng.shuffle(pop)
    weights = [1.0 / (r ** 1.0) for r in pop]

    # -- customers: unique full names, none a substring of another (keyword searches find exactly one)
    names = [("Emma", "Lopez")]
    while len(names) < 70:
        cand = (rng.choice(FIRST), rng.choice(LAST))
        full = " ".join(cand).lower()
        if any(full in " ".join(n).lower() or " ".join(n).lower() in full for n in names):
            continue
        names.append(cand)
    for i, (first, last) in enumerate(names):
        city, state, area, zipc = rng.choice(CITIES)
        email = "emma.lopez@gmail.com" if i == 0 else f"{first}.{last}@{rng.choice(DOMAINS)}".lower()
        grp = rng.choices(GROUPS, [70, 15, 15])[0]
        phone = f"{area}-{rng.randrange(200, 1000)}-{rng.randrange(1000, 10000)}"
        street = f"{rng.randrange(10, 999)} {rng.choice(STREETS)} {rng.choice(['St', 'Ave', 'Rd', 'Blvd'])}"
        created = FIRST_DAY - dt.timedelta(days=rng.randrange(1, 700))
        db.execute("INSERT INTO customers(firstname,lastname,email,grp,phone,street,city,state,zip,created) "
                   "VALUES(?,?,?,?,?,?,?,?,?,?)", (first, last, email, grp, phone, street, city, state, zipc,
                                                  created.isoformat()))
    cust_weights = [rng.uniform(0.3, 3.0) for _ in names]

    # -- orders, numbered in date order like Magento's increment ids
    prices = dict(db.execute("SELECT id, price FROM products"))
    info = {r[0]: r[1:] for r in db.execute("SELECT id, name, sku FROM products")}
    stamps = sorted(dt.datetime.combine(FIRST_DAY, dt.time()) + dt.timedelta(
        days=rng.randrange((LAST_DAY - FIRST_DAY).days + 1), seconds=rng.randrange(86400)) for _ in range(720))
    for stamp in stamps:
        cid = rng.choices(range(1, len(names) + 1), cust_weights)[0]
        first, last, email = db.execute("SELECT firstname, lastname, email FROM customers WHERE id=?", (cid,)).fetchone()
        status = rng.choices(list(STATUS_LABEL), [15, 10, 55, 12, 8])[0]
        k = rng.choices([1, 2, 3, 4], [40, 30, 20, 10])[0]
        items = set()
        while len(items) < k:
            items.add(rng.choices(range(1, n_products + 1), weights)[0])
        lines = [(pid, rng.choices([1, 2, 3], [70, 20, 10])[0]) for pid in sorted(items)]
        subtotal = sum(prices[p] * q for p, q in lines)
        shipping = 500 * sum(q for _, q in lines)   # Magento's flat rate: $5 per item
        cur = db.execute("INSERT INTO orders(customer_id,billing_name,email,created,status,subtotal,shipping,grand_total) "
                         "VALUES(?,?,?,?,?,?,?,?)", (cid, f"{first} {last}", email, stamp.isoformat(" "), status,
                                                     subtotal, shipping, subtotal + shipping))
        for pid, q in lines:
            db.execute("INSERT INTO order_items(order_id,product_id,name,sku,price,qty) VALUES(?,?,?,?,?,?)",
                       (cur.lastrowid, pid, *info[pid], prices[pid], q))

    # -- reviews, concentrated on popular products
    for _ in range(170):
        pid = rng.choices(range(1, n_products + 1), [w ** 0.5 for w in weights])[0]
        title, detail = rng.choice(REVIEW_TEXT)
        status = rng.choices([1, 2, 3], [50, 40, 10])[0]
        day = FIRST_DAY + dt.timedelta(days=rng.randrange(730))
        db.execute("INSERT INTO reviews(product_id,nickname,title,detail,rating,status,created) VALUES(?,?,?,?,?,?,?)",
                   (pid, rng.choice(NICKNAMES), title, detail, rng.choices([1, 2, 3, 4, 5], [5, 8, 15, 35, 37])[0],
                    status, day.isoformat()))


# ----------------------------------------------------------------------------------------------
# page chrome: Magento's dark left menu with fly-out submenus

ADMIN_CSS = """
body{display:flex;min-height:100vh}aside.side{width:104px;flex:none;background:#373330;position:relative}
aside.side a{display:block;color:#eee;padding:9px 10px;text-decoration:none;margin:0}
aside.side .brand{color:#f60;font-weight:bold;padding:10px}aside.side .who{margin-top:14px;color:#aaa}
aside.side .sub{display:none;position:absolute;left:104px;top:0;width:200px;min-height:100%;background:#4a4542;z-index:9}
aside.side .sub strong{display:block;color:#fff;padding:10px}main{flex:1;min-width:0;padding:10px 24px}
h1{font-size:24px;margin:6px 0 10px}.bar{margin:6px 0}.data-grid{width:100%}.panel{display:none;border:1px solid #ccc;padding:6px;margin:6px 0}
.admin__data-grid-filters-current{background:#f8f8f8;border:1px solid #ddd;padding:4px 8px;margin:6px 0}
.field{margin:6px 0}.field label{display:inline-block;min-width:140px}section{margin:10px 0}h2{font-size:17px;margin:10px 0 4px}
"""
# one fly-out at a time: hide the others when a menu title is clicked (the core script toggles the target)
MENU_JS = ("<script>document.addEventListener('click',function(e){var b=e.target.closest('aside [data-menu]');"
           "if(!b)return;document.querySelectorAll('aside .sub').forEach(function(m){"
           "if(m.id!==b.getAttribute('data-menu'))m.style.display='none';});});</script>")
MENUS = [("Sales", [("Orders", "/sales/order/")]),
         ("Catalog", [("Products", "/catalog/product/")]),
         ("Customers", [("All Customers", "/customer/index/")]),
         ("Marketing", [("All Reviews", "/review/product/"), ("Pending Reviews", "/review/product/pending/")]),
         ("Reports", [("Bestsellers", "/reports/report_sales/bestsellers/")])]


def chrome(req, title, body) -> str:
    user = req.user if req is not None else None
    parts = [f"<style>{ADMIN_CSS}</style><aside class='side'><div class='brand'>Magento Admin</div>"]
    if user:
        parts.append(f"<a href='{PREFIX}/dashboard/'>Dashboard</a>")
        for menu, items in MENUS:
            mid = "menu-" + menu.lower()
            links = "".join(f"<a href='{PREFIX}{path}'>{esc(text)}</a>" for text, path in items)
            parts.append(f"<a href='#{mid}' data-menu='{mid}'>{esc(menu)}</a>"
                         f"<div class='sub' id='{mid}'><strong>{esc(menu)}</strong>{links}</div>")
        parts.append(f"<a href='{PREFIX}/logout' class='who'>Sign Out</a>")
    else:
        parts.append(f"<a href='{PREFIX}/login'>Sign In</a>")
    parts.append("</aside>" + MENU_JS)
    return document(f"{title} / Magento Admin", "".join(parts), body)


def page(req, title, body, h1=None) -> str:
    return chrome(req, title, f"<h1>{esc(h1 or title)}</h1>{body}")


# ----------------------------------------------------------------------------------------------
# query-string helpers shared by the grids

def parse_date(raw: str, name: str) -> dt.date:
    s = raw.strip()
    m = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", s)
    iso = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", s)
    try:
        if m:
            return dt.date(int(m[3]), int(m[1]), int(m[2]))
        if iso:
            return dt.date(int(iso[1]), int(iso[2]), int(iso[3]))
    except ValueError:
        pass
    raise HttpError(400, f"'{name}' must be a date like 01/31/2023, got {s[:30]!r}")


def fmt_date(d: dt.date) -> str:
    return d.strftime("%m/%d/%Y")


def parse_money(raw: str, name: str) -> int:
    s = raw.strip().lstrip("$").replace(",", "")
    if not re.fullmatch(r"\d{1,6}(\.\d{1,2})?", s):
        raise HttpError(400, f"'{name}' must be an amount like 25.00, got {raw[:30]!r}")
    return round(float(s) * 100)


def parse_int(raw: str, name: str) -> int:
    s = raw.strip()
    if not re.fullmatch(r"\d{1,7}", s):
        raise HttpError(400, f"'{name}' must be a whole number, got {raw[:30]!r}")
    return int(s)


def canonical(req, spec: dict) -> dict:
    """Normalise the grid's query (spec: name -> normaliser); redirect when the URL is not canonical.

    Empty fields (a submitted filter form sends them all) are dropped and dates become MM/DD/YYYY, so a
    filtered grid always ends on the same URL.
    """
    out = {}
    for name, norm in spec.items():
        raw = req.arg(name, max_len=100)
        if raw.strip():
            out[name] = norm(raw, name)
    p = req.arg("p", max_len=12)
    if p not in ("", "1"):
        out["p"] = p
    if out != req.query:
        raise Redirect(url(PREFIX + req.path, **out))
    return out


def keyword(raw, name):
    return raw.strip()


def chips(items) -> str:
    """Magento's active-filter bar (the class WebArena's locators use)."""
    if not items:
        return ""
    inner = " ".join(f"<span>{esc(k)}: {esc(v)}</span>" for k, v in items)
    return f"<div class='admin__data-grid-filters-current'>Active filters: {inner} <a href='?'>Clear all</a></div>"


def grid_top(req, q, filters=True) -> str:
    """The keyword box (a GET form: Enter submits it) and the button opening the Filters panel."""
    toggle = " <a href='#filters' data-menu='filters'>Filters</a>" if filters else ""
    return (f"<form class='bar' method='get' action='{PREFIX}{req.path}'>"
            "<input name='search' type='text' title='Search by keyword' placeholder='Search by keyword' "
            f"value='{esc(q.get('search', ''))}' size='30'><button type='submit'>Search</button>{toggle}</form>")


def filter_panel(req, q, fields: str) -> str:
    keep = f"<input type='hidden' name='search' value='{esc(q['search'])}'>" if q.get("search") else ""
    return (f"<div class='panel' id='filters'><form method='get' action='{PREFIX}{req.path}'>{keep}{fields}"
            f"<button type='submit'>Apply Filters</button></form></div>")


def text_input(name, title, value="", size=12) -> str:
    return (f"<label>{esc(title)} <input name='{name}' type='text' title='{esc(title)}' value='{esc(value)}' "
            f"size='{size}'></label> ")


def select_input(name, title, options, current, any_label=None) -> str:
    opts = [("", any_label)] if any_label else []
    opts += list(options)
    html = "".join(f"<option value='{esc(v)}'{' selected' if str(v) == str(current) else ''}>{esc(t)}</option>"
                   for v, t in opts)
    return f"<label>{esc(title)} <select name='{name}' title='{esc(title)}'>{html}</select></label> "


def found(total) -> str:
    return f"<div class='bar'>{total} records found</div>"


def no_rows(text="We couldn't find any records.") -> str:
    return f"<p class='muted'>{text}</p>"


def grid(headers, body_rows) -> str:
    return table(headers, body_rows).replace("<table>", "<table class='data-grid'>", 1)


# ----------------------------------------------------------------------------------------------
# dashboard

def dashboard(req):
    db = req.db
    total, n = db.execute("SELECT COALESCE(SUM(grand_total),0), COUNT(*) FROM orders WHERE status!='canceled'").fetchone()
    last = rows(db, "SELECT billing_name, grand_total FROM orders ORDER BY created DESC, id DESC LIMIT 5")
    body = (f"<section><div>Lifetime Sales: {money(total)}</div><div>Average Order: {money(total // max(n, 1))}</div></section>"
            "<h2>Last Orders</h2>" + grid(["Customer", "Total"], [[esc(r["billing_name"]), money(r["grand_total"])]
                                                                   for r in last])
            # Magento's dashboard tabs: the Bestsellers tab opens on a click, its grid is fetched after load
            + f"<h2><a href='#tab-bestsellers' data-menu='tab-bestsellers'>Show Bestsellers</a></h2>"
              f"<div id='tab-bestsellers' style='display:none' data-async='{PREFIX}/dashboard/bestsellers/'>Loading...</div>")
    return page(req, "Dashboard", body)


def dashboard_bestsellers(req):
    top = rows(req.db, "SELECT p.name, p.price, SUM(oi.qty) q FROM order_items oi JOIN orders o ON o.id=oi.order_id "
                       "JOIN products p ON p.id=oi.product_id WHERE o.status!='canceled' GROUP BY p.id "
                       "ORDER BY q DESC, p.name LIMIT 5")
    return Response(grid(["Product", "Quantity"], [[esc(r["name"]), r["q"]] for r in top]))


# ----------------------------------------------------------------------------------------------
# catalog

def product_grid(req):
    q = canonical(req, {"search": keyword, "status": lambda v, n: str(req.choice_arg(n, {"1", "2"}, "1")),
                        "price_from": lambda v, n: amount(parse_money(v, n)),
                        "price_to": lambda v, n: amount(parse_money(v, n)),
                        "qty_from": lambda v, n: str(parse_int(v, n)), "qty_to": lambda v, n: str(parse_int(v, n))})
    where, args, active = ["1=1"], [], []
    if q.get("search"):
        where.append("(instr(lower(name), lower(?)) OR instr(lower(sku), lower(?)))")
        args += [q["search"]] * 2
        active.append(("Keyword", q["search"]))
    if q.get("status"):
        where.append("status=?")
        args.append(int(q["status"]))
        active.append(("Status", PRODUCT_STATUS[int(q["status"])]))
    for lo, hi, col, label, conv in (("price_from", "price_to", "price", "Price", lambda s: parse_money(s, "price")),
                                     ("qty_from", "qty_to", "qty", "Quantity", int)):
        if q.get(lo):
            where.append(f"{col}>=?")
            args.append(conv(q[lo]))
        if q.get(hi):
            where.append(f"{col}<=?")
            args.append(conv(q[hi]))
        if q.get(lo) or q.get(hi):
            active.append((label, f"{q.get(lo, '')} - {q.get(hi, '')}"))
    cond = " AND ".join(where)
    total = req.db.execute(f"SELECT COUNT(*) FROM products WHERE {cond}", args).fetchone()[0]
    offset, pages = pager(req, total, PER_PAGE)
    items = rows(req.db, f"SELECT * FROM products WHERE {cond} ORDER BY id LIMIT ? OFFSET ?", args + [PER_PAGE, offset])
    fields = (text_input("price_from", "Price from", q.get("price_from", ""), 6)
              + text_input("price_to", "Price to", q.get("price_to", ""), 6)
              + text_input("qty_from", "Quantity from", q.get("qty_from", ""), 5)
              + text_input("qty_to", "Quantity to", q.get("qty_to", ""), 5)
              + select_input("status", "Status", PRODUCT_STATUS.items(), q.get("status", ""), "Any"))
    body = (f"<div class='bar'><a href='{PREFIX}/catalog/product/new/'>Add Product</a></div>"
            + grid_top(req, q) + filter_panel(req, q, fields) + chips(active) + found(total)
            + (grid(["ID", "Name", "SKU", "Price", "Quantity", "Status"],
                    [[r["id"], f"<a href='{PREFIX}/catalog/product/edit/id/{r['id']}/'>{esc(r['name'])}</a>",
                      esc(r["sku"]), money(r["price"]), r["qty"], PRODUCT_STATUS[r["status"]]] for r in items])
               if items else no_rows()) + pages)
    return page(req, "Products", body)


def product_form(req, p: dict, action: str, heading: str, saved: bool) -> str:
    flash = "<div class='flash'>You saved the product.</div>" if saved else ""
    status = select_input("product[status]", "Enable Product", PRODUCT_STATUS.items(), p.get("status", 1))
    body = (f"{flash}<form id='product_form' method='post' action='{PREFIX}{action}'>"
            f"<div class='bar'><a href='{PREFIX}/catalog/product/'>Back</a> <button type='submit'>Save</button></div>"
            f"<div class='field'>{status}</div>"
            f"<div class='field'>{text_input('product[name]', 'Product Name', p.get('name', ''), 40)}</div>"
            f"<div class='field'>{text_input('product[sku]', 'SKU', p.get('sku', ''), 30)}</div>"
            f"<div class='field'>{text_input('product[price]', 'Price', amount(p['price']) if 'price' in p else '', 10)}</div>"
            f"<div class='field'>{text_input('product[qty]', 'Quantity', p.get('qty', ''), 10)}</div>"
            f"<div class='field'><label>Stock Status</label> "
            f"{'In Stock' if p.get('qty', 0) else 'Out of Stock' if 'qty' in p else ''}</div></form>")
    return page(req, heading, body)


def product_edit(req, pid):
    p = rows(req.db, "SELECT * FROM products WHERE id=?", (int(pid),))
    if not p:
        raise HttpError(404, f"no product with id {pid}")
    return product_form(req, p[0], f"/catalog/product/save/id/{pid}/", p[0]["name"], req.arg("saved") == "1")


def product_new(req):
    return product_form(req, {"status": 1}, "/catalog/product/save/", "New Product", False)


def product_save(req, pid=None):
    if pid is not None:
        req.one("SELECT id FROM products WHERE id=?", (int(pid),), "product")
    status = int(req.choice_arg("product[status]", {"1", "2"}, "1"))
    name, sku = req.field("product[name]", 255), req.field("product[sku]", 64)
    price = parse_money(req.field("product[price]", 20), "Price")
    qty = parse_int(req.field("product[qty]", 20), "Quantity")
    clash = req.db.execute("SELECT id FROM products WHERE lower(sku)=lower(?) AND id!=?", (sku, int(pid or 0))).fetchone()
    if clash:
        raise HttpError(400, f"the SKU {sku!r} is already used by product {clash[0]}")
    if pid is None:
        pid = req.db.execute("INSERT INTO products(name,sku,price,qty,status,category,weight) VALUES(?,?,?,?,?,?,1.0)",
                             (name, sku, price, qty, status, "Default")).lastrowid
    else:
        req.db.execute("UPDATE products SET name=?, sku=?, price=?, qty=?, status=? WHERE id=?",
                       (name, sku, price, qty, status, int(pid)))
    raise Redirect(f"{PREFIX}/catalog/product/edit/id/{pid}/?saved=1")


# ----------------------------------------------------------------------------------------------
# sales

def order_filters(req, q):
    where, args, active = ["1=1"], [], []
    if q.get("search"):
        s = q["search"]
        cond = "instr(lower(billing_name), lower(?)) OR instr(lower(email), lower(?))"
        args += [s, s]
        if s.lstrip("#").isdigit():   # an order number, with or without the zero padding
            cond += " OR id=?"
            args.append(int(s.lstrip("#")))
        where.append(f"({cond})")
        active.append(("Keyword", s))
    if q.get("status"):
        where.append("status=?")
        args.append(q["status"])
        active.append(("Status", STATUS_LABEL[q["status"]]))
    if q.get("from"):
        where.append("date(created)>=?")
        args.append(parse_date(q["from"], "from").isoformat())
    if q.get("to"):
        where.append("date(created)<=?")
        args.append(parse_date(q["to"], "to").isoformat())
    if q.get("from") or q.get("to"):
        active.append(("Purchase Date", f"{q.get('from', '')} - {q.get('to', '')}"))
    if q.get("name"):
        where.append("instr(lower(billing_name), lower(?))")
        args.append(q["name"])
        active.append(("Bill-to Name", q["name"]))
    return " AND ".join(where), args, active


def order_grid(req):
    q = canonical(req, {"search": keyword, "status": lambda v, n: req.choice_arg(n, set(STATUS_LABEL), ""),
                        "from": lambda v, n: fmt_date(parse_date(v, n)), "to": lambda v, n: fmt_date(parse_date(v, n)),
                        "name": keyword})
    cond, args, active = order_filters(req, q)
    total = req.db.execute(f"SELECT COUNT(*) FROM orders WHERE {cond}", args).fetchone()[0]
    offset, pages = pager(req, total, PER_PAGE)
    items = rows(req.db, f"SELECT * FROM orders WHERE {cond} ORDER BY created DESC, id DESC LIMIT ? OFFSET ?",
                 args + [PER_PAGE, offset])
    fields = (select_input("status", "Status", STATUS_LABEL.items(), q.get("status", ""), "Any")
              + text_input("from", "Purchase Date from", q.get("from", ""), 10)
              + text_input("to", "Purchase Date to", q.get("to", ""), 10)
              + text_input("name", "Bill-to Name", q.get("name", ""), 16))
    body = (grid_top(req, q) + filter_panel(req, q, fields) + chips(active) + found(total)
            + (grid(["ID", "Purchase Date", "Bill-to Name", "Grand Total", "Status"],
                    [[f"<a href='{PREFIX}/sales/order/view/order_id/{r['id']}/'>{r['id']:09d}</a>", short_date(r["created"]),
                      esc(r["billing_name"]), money(r["grand_total"]), STATUS_LABEL[r["status"]]] for r in items])
               if items else no_rows()) + pages)
    return page(req, "Orders", body)


def short_date(stamp: str) -> str:
    d = dt.datetime.fromisoformat(stamp)
    return f"{d:%b} {d.day}, {d.year}"


def long_date(stamp: str) -> str:
    d = dt.datetime.fromisoformat(stamp)
    return f"{short_date(stamp)} {d.hour % 12 or 12}:{d:%M} {'AM' if d.hour < 12 else 'PM'}"


def order_view(req, oid):
    o = rows(req.db, "SELECT o.*, c.grp, c.city, c.state FROM orders o JOIN customers c ON c.id=o.customer_id "
                     "WHERE o.id=?", (int(oid),))
    if not o:
        raise HttpError(404, f"no order with id {oid}")
    o = o[0]
    items = rows(req.db, "SELECT * FROM order_items WHERE order_id=? ORDER BY id", (o["id"],))
    comments = rows(req.db, "SELECT * FROM order_comments WHERE order_id=? ORDER BY id DESC", (o["id"],))
    base = f"{PREFIX}/sales/order"

    def button(action, text):
        return (f"<form class='inline' method='post' action='{base}/{action}/order_id/{o['id']}/'>"
                f"<button type='submit'>{text}</button></form> ")
    buttons = f"<a href='{base}/'>Back</a> "
    if o["status"] in ("pending", "processing"):
        buttons += button("cancel", "Cancel") + button("hold", "Hold")
    if o["status"] == "holded":
        buttons += button("unhold", "Unhold")
    flash = {"canceled": "You canceled the order.", "held": "You put the order on hold.",
             "released": "You released the order from holding status.",
             "commented": "You added a comment."}.get(req.arg("msg"), "")
    history = "".join(f"<li>{short_date(c['created'])} | {STATUS_LABEL[c['status']]}: {esc(c['comment'])}</li>"
                      for c in comments) or "<li class='muted'>No comments yet.</li>"
    body = (f"{'<div class=flash>' + flash + '</div>' if flash else ''}<div class='bar'>{buttons}</div>"
            f"<section><div>Order Date: {long_date(o['created'])}</div><div>Order Status: <span id='order_status'>"
            f"{STATUS_LABEL[o['status']]}</span></div><div>Customer: <a href='{PREFIX}/customer/index/edit/id/"
            f"{o['customer_id']}/'>{esc(o['billing_name'])}</a></div><div>{esc(o['email'])} | Group: {esc(o['grp'])} | "
            f"{esc(o['city'])}, {esc(o['state'])}</div></section>"
            "<h2>Items Ordered</h2>"
            + grid(["Product", "SKU", "Price", "Qty", "Subtotal"],
                   [[esc(i["name"]), esc(i["sku"]), money(i["price"]), i["qty"], money(i["price"] * i["qty"])] for i in items])
            + f"<h2>Order Totals</h2><table id='order_totals'><tr><td>Subtotal</td><td>{money(o['subtotal'])}</td></tr>"
            f"<tr><td>Shipping &amp; Handling</td><td>{money(o['shipping'])}</td></tr>"
            f"<tr><td><b>Grand Total</b></td><td><b>{money(o['grand_total'])}</b></td></tr></table>"
            f"<h2>Notes for this Order</h2><form method='post' action='{base}/addComment/order_id/{o['id']}/'>"
            "<textarea name='comment' title='Comment' rows='2' cols='50'></textarea> "
            f"<button type='submit'>Submit Comment</button></form><ul id='order_history'>{history}</ul>")
    return page(req, f"# {o['id']:09d}", body)


def order_action(req, action, oid):
    o = req.one("SELECT id, status FROM orders WHERE id=?", (int(oid),), "order")
    now = "2023-12-31 23:59:00"   # the data's "today": never the wall clock, so pages stay deterministic
    if action == "addComment":
        text = req.field("comment", 500)
        req.db.execute("INSERT INTO order_comments(order_id,created,status,comment) VALUES(?,?,?,?)",
                       (o[0], now, o[1], text))
        raise Redirect(f"{PREFIX}/sales/order/view/order_id/{o[0]}/?msg=commented")
    allowed = {"cancel": ({"pending", "processing"}, "canceled", "Order canceled.", "canceled"),
               "hold": ({"pending", "processing"}, "holded", "Order put on hold.", "held"),
               "unhold": ({"holded"}, "processing", "Order released from hold.", "released")}
    sources, target, comment, msg = allowed[action]
    if o[1] not in sources:
        raise HttpError(409, f"an order with status {STATUS_LABEL[o[1]]} cannot be changed with '{action}'")
    req.db.execute("UPDATE orders SET status=? WHERE id=?", (target, o[0]))
    req.db.execute("INSERT INTO order_comments(order_id,created,status,comment) VALUES(?,?,?,?)",
                   (o[0], now, target, comment))
    raise Redirect(f"{PREFIX}/sales/order/view/order_id/{o[0]}/?msg={msg}")


# ----------------------------------------------------------------------------------------------
# customers

def customer_grid(req):
    q = canonical(req, {"search": keyword, "group": lambda v, n: req.choice_arg(n, set(GROUPS), "")})
    where, args, active = ["1=1"], [], []
    if q.get("search"):
        where.append("(instr(lower(firstname || ' ' || lastname), lower(?)) OR instr(lower(email), lower(?)) "
                     "OR instr(phone, ?))")
        args += [q["search"]] * 3
        active.append(("Keyword", q["search"]))
    if q.get("group"):
        where.append("grp=?")
        args.append(q["group"])
        active.append(("Group", q["group"]))
    cond = " AND ".join(where)
    total = req.db.execute(f"SELECT COUNT(*) FROM customers WHERE {cond}", args).fetchone()[0]
    offset, pages = pager(req, total, PER_PAGE)
    items = rows(req.db, f"SELECT * FROM customers WHERE {cond} ORDER BY id LIMIT ? OFFSET ?", args + [PER_PAGE, offset])
    fields = select_input("group", "Group", [(g, g) for g in GROUPS], q.get("group", ""), "Any")
    body = (grid_top(req, q) + filter_panel(req, q, fields) + chips(active) + found(total)
            + (grid(["ID", "Name", "Email", "Group", "Phone", "State"],
                    [[r["id"], f"<a href='{PREFIX}/customer/index/edit/id/{r['id']}/'>{esc(r['firstname'])} "
                               f"{esc(r['lastname'])}</a>", esc(r["email"]), esc(r["grp"]), esc(r["phone"]),
                      esc(r["state"])] for r in items]) if items else no_rows()) + pages)
    return page(req, "Customers", body)


def customer_edit(req, cid):
    c = rows(req.db, "SELECT * FROM customers WHERE id=?", (int(cid),))
    if not c:
        raise HttpError(404, f"no customer with id {cid}")
    c = c[0]
    orders = rows(req.db, "SELECT * FROM orders WHERE customer_id=? ORDER BY created DESC, id DESC", (c["id"],))
    flash = "<div class='flash'>You saved the customer.</div>" if req.arg("saved") == "1" else ""
    group = select_input("customer[group]", "Group", [(g, g) for g in GROUPS], c["grp"])
    body = (f"{flash}<form method='post' action='{PREFIX}/customer/index/save/id/{c['id']}/'>"
            f"<div class='bar'><a href='{PREFIX}/customer/index/'>Back</a> <button type='submit'>Save Customer</button></div>"
            f"<section>{esc(c['street'])}, {esc(c['city'])}, {esc(c['state'])} {esc(c['zip'])} | "
            f"Account Created: {short_date(c['created'] + ' 00:00:00')}</section>"
            f"<div class='field'>{text_input('customer[firstname]', 'First Name', c['firstname'], 20)}"
            f"{text_input('customer[lastname]', 'Last Name', c['lastname'], 20)}</div>"
            f"<div class='field'>{text_input('customer[email]', 'Email', c['email'], 30)}</div>"
            f"<div class='field'>{text_input('customer[telephone]', 'Phone Number', c['phone'], 16)}{group}</div></form>"
            f"<h2>Orders ({len(orders)})</h2>"
            + (grid(["Order", "Purchase Date", "Grand Total", "Status"],
                    [[f"<a href='{PREFIX}/sales/order/view/order_id/{o['id']}/'>{o['id']:09d}</a>", short_date(o["created"]),
                      money(o["grand_total"]), STATUS_LABEL[o["status"]]] for o in orders]) if orders else no_rows()))
    return page(req, f"{c['firstname']} {c['lastname']}", body)


def customer_save(req, cid):
    req.one("SELECT id FROM customers WHERE id=?", (int(cid),), "customer")
    first, last = req.field("customer[firstname]", 60), req.field("customer[lastname]", 60)
    email = req.field("customer[email]", 120)
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
        raise HttpError(400, f"'Email' must be an email address, got {email[:40]!r}")
    phone = req.field("customer[telephone]", 30)
    grp = req.choice_arg("customer[group]", set(GROUPS), "General")
    req.db.execute("UPDATE customers SET firstname=?, lastname=?, email=?, phone=?, grp=? WHERE id=?",
                   (first, last, email, phone, grp, int(cid)))
    raise Redirect(f"{PREFIX}/customer/index/edit/id/{cid}/?saved=1")


# ----------------------------------------------------------------------------------------------
# reviews

def review_grid(req, pending=False):
    spec = {"search": keyword}
    if not pending:
        spec["status"] = lambda v, n: str(req.choice_arg(n, {"1", "2", "3"}, ""))
    q = canonical(req, spec)
    where, args, active = ["1=1"], [], []
    if q.get("search"):
        where.append("(instr(lower(r.title), lower(?)) OR instr(lower(r.nickname), lower(?)) "
                     "OR instr(lower(p.name), lower(?)))")
        args += [q["search"]] * 3
        active.append(("Keyword", q["search"]))
    status = "2" if pending else q.get("status")
    if status:
        where.append("r.status=?")
        args.append(int(status))
        if not pending:
            active.append(("Status", REVIEW_STATUS[int(status)]))
    cond = " AND ".join(where)
    frm = "FROM reviews r JOIN products p ON p.id=r.product_id"
    total = req.db.execute(f"SELECT COUNT(*) {frm} WHERE {cond}", args).fetchone()[0]
    offset, pages = pager(req, total, PER_PAGE)
    items = rows(req.db, f"SELECT r.*, p.name product {frm} WHERE {cond} ORDER BY r.created DESC, r.id DESC "
                         "LIMIT ? OFFSET ?", args + [PER_PAGE, offset])
    panel = "" if pending else filter_panel(
        req, q, select_input("status", "Status", REVIEW_STATUS.items(), q.get("status", ""), "Any"))
    body = (grid_top(req, q, filters=not pending) + panel + chips(active) + found(total)
            + (grid(["ID", "Created", "Status", "Title", "Nickname", "Product"],
                    [[r["id"], short_date(r["created"] + " 00:00:00"), REVIEW_STATUS[r["status"]],
                      f"<a href='{PREFIX}/review/product/edit/id/{r['id']}/'>{esc(r['title'])}</a>", esc(r["nickname"]),
                      esc(r["product"])] for r in items]) if items else no_rows()) + pages)
    return page(req, "Pending Reviews" if pending else "Reviews", body)


def review_edit(req, rid):
    r = rows(req.db, "SELECT r.*, p.name product FROM reviews r JOIN products p ON p.id=r.product_id WHERE r.id=?",
             (int(rid),))
    if not r:
        raise HttpError(404, f"no review with id {rid}")
    r = r[0]
    flash = "<div class='flash'>You saved the review.</div>" if req.arg("saved") == "1" else ""
    body = (f"{flash}<div class='bar'><a href='{PREFIX}/review/product/'>Back</a> "
            f"<form class='inline' method='post' action='{PREFIX}/review/product/delete/id/{r['id']}/'>"
            "<button type='submit'>Delete Review</button></form> "
            "<button type='submit' form='review_form'>Save Review</button></div>"
            f"<form id='review_form' method='post' action='{PREFIX}/review/product/save/id/{r['id']}/'>"
            f"<section>Product: {esc(r['product'])} | Rating: {r['rating']} of 5 | "
            f"Posted: {short_date(r['created'] + ' 00:00:00')}</section>"
            f"<div class='field'>{select_input('status_id', 'Status', REVIEW_STATUS.items(), r['status'])}</div>"
            f"<div class='field'>{text_input('nickname', 'Nickname', r['nickname'], 20)}</div>"
            f"<div class='field'>{text_input('title', 'Summary of Review', r['title'], 40)}</div>"
            f"<div class='field'><label>Review <textarea name='detail' title='Review' rows='2' cols='50'>"
            f"{esc(r['detail'])}</textarea></label></div></form>")
    return page(req, "Edit Review", body)


def review_save(req, rid):
    req.one("SELECT id FROM reviews WHERE id=?", (int(rid),), "review")
    status = int(req.choice_arg("status_id", {"1", "2", "3"}, "2"))
    nick, title, detail = req.field("nickname", 60), req.field("title", 120), req.field("detail", 2000)
    req.db.execute("UPDATE reviews SET status=?, nickname=?, title=?, detail=? WHERE id=?",
                   (status, nick, title, detail, int(rid)))
    raise Redirect(f"{PREFIX}/review/product/edit/id/{rid}/?saved=1")


def review_delete(req, rid):
    req.one("SELECT id FROM reviews WHERE id=?", (int(rid),), "review")
    req.db.execute("DELETE FROM reviews WHERE id=?", (int(rid),))
    raise Redirect(f"{PREFIX}/review/product/")


# ----------------------------------------------------------------------------------------------
# reports

PERIODS = {"day": "Day", "month": "Month", "year": "Year"}
MAX_INTERVALS = 31


def intervals(period: str, start: dt.date, end: dt.date):
    """(label, first day, last day) of each period touching [start, end], clipped to it."""
    out, d = [], start
    while d <= end:
        if period == "day":
            last, label = d, f"{d:%b} {d.day}, {d.year}"
        elif period == "month":
            nxt = dt.date(d.year + (d.month == 12), d.month % 12 + 1, 1)
            last, label = nxt - dt.timedelta(days=1), f"{d:%b %Y}"
        else:
            last, label = dt.date(d.year, 12, 31), str(d.year)
        out.append((label, d, min(last, end)))
        d = last + dt.timedelta(days=1)
        if len(out) > MAX_INTERVALS:
            raise HttpError(400, f"the report would have more than {MAX_INTERVALS} intervals: choose a shorter "
                                 "range or a longer period")
    return out


def bestsellers(db, start: dt.date, end: dt.date, limit=5):
    """Products by quantity ordered in [start, end] (canceled orders excluded, as in Magento's aggregation)."""
    return rows(db, "SELECT p.id, p.name, p.price, SUM(oi.qty) q FROM order_items oi JOIN orders o ON o.id=oi.order_id "
                    "JOIN products p ON p.id=oi.product_id WHERE o.status!='canceled' AND date(o.created) BETWEEN ? AND ? "
                    "GROUP BY p.id ORDER BY q DESC, p.name LIMIT ?", (start.isoformat(), end.isoformat(), limit))


def bestseller_report(req):
    q = canonical(req, {"period": lambda v, n: req.choice_arg(n, set(PERIODS), "day"),
                        "from": lambda v, n: fmt_date(parse_date(v, n)), "to": lambda v, n: fmt_date(parse_date(v, n))})
    form = (f"<form class='bar' method='get' action='{PREFIX}{req.path}'>"
            + select_input("period", "Period", PERIODS.items(), q.get("period", "day"))
            + text_input("from", "From", q.get("from", ""), 10) + text_input("to", "To", q.get("to", ""), 10)
            + "<button type='submit'>Show Report</button></form>")
    if not (q.get("from") and q.get("to")):
        result = no_rows("Choose a period and the From and To dates, then click Show Report.")
    else:
        start, end = parse_date(q["from"], "from"), parse_date(q["to"], "to")
        if start > end:
            raise HttpError(400, "'From' must not be after 'To'")
        body_rows = []
        for label, a, b in intervals(q.get("period", "day"), start, end):
            for r in bestsellers(req.db, a, b):
                body_rows.append([label, esc(r["name"]), money(r["price"]), r["q"]])
        result = grid(["Interval", "Product", "Price", "Order Quantity"], body_rows) if body_rows else no_rows()
    return page(req, "Bestsellers Report", form + result)


ROUTES = [
    ("GET", r"/", dashboard),
    ("GET", r"/dashboard/?", dashboard),
    ("GET", r"/dashboard/bestsellers/", dashboard_bestsellers),
    ("GET", r"/catalog/product/?", product_grid),
    ("GET", r"/catalog/product/new/", product_new),
    ("GET", r"/catalog/product/edit/id/(\d{1,9})/?", product_edit),
    ("POST", r"/catalog/product/save/", product_save),
    ("POST", r"/catalog/product/save/id/(\d{1,9})/?", product_save),
    ("GET", r"/sales/order/?", order_grid),
    ("GET", r"/sales/order/view/order_id/(\d{1,9})/?", order_view),
    ("POST", r"/sales/order/(cancel|hold|unhold|addComment)/order_id/(\d{1,9})/?", order_action),
    ("GET", r"/customer/index/?", customer_grid),
    ("GET", r"/customer/index/edit/id/(\d{1,9})/?", customer_edit),
    ("POST", r"/customer/index/save/id/(\d{1,9})/?", customer_save),
    ("GET", r"/review/product/?", review_grid),
    ("GET", r"/review/product/pending/?", lambda req: review_grid(req, pending=True)),
    ("GET", r"/review/product/edit/id/(\d{1,9})/?", review_edit),
    ("POST", r"/review/product/save/id/(\d{1,9})/?", review_save),
    ("POST", r"/review/product/delete/id/(\d{1,9})/?", review_delete),
    ("GET", r"/reports/report_sales/bestsellers/?", bestseller_report),
]

SITE = Site(name="shopping_admin", env_var="SHOPPING_ADMIN", title="Magento Admin", build=build, routes=ROUTES,
            chrome=chrome, users={"admin": "admin1234"}, prefix=PREFIX, login_required=True, login=True)


# ----------------------------------------------------------------------------------------------
# oracle helpers

def open_menu(obs, menu, item):
    """Left menu: click the section title (JS fly-out), then the page link inside it."""
    obs = yield from click(obs, text=menu, tag="a")
    obs = yield from click(obs, text=item, tag="a")
    return obs


def see(obs, text, max_scrolls=6):
    """Scroll until `text` is in the observation (the oracle reads it there); OracleError otherwise."""
    for _ in range(max_scrolls + 1):
        if text.lower() in obs.html.lower():
            return obs
        before = obs.html
        obs = yield scroll_down()
        if obs.html == before:
            break
    raise OracleError(f"{text!r} never appeared on {obs.url}")


def grid_search(obs, text):
    return (yield from searching(obs, text, title="Search by keyword", tag="input"))


def answer(obs, shown, reply, what):
    """Check the page shows `shown`, then exit with `reply`, noting what was read."""
    obs = yield from see(obs, shown)
    yield note(f"{what}: {shown}", exit_(reply))


def finish():
    yield exit_("done")


# ----------------------------------------------------------------------------------------------
# task helpers

def months():
    return [dt.date(y, m, 1) for y in (2022, 2023) for m in range(1, 13)]


def month_end(d: dt.date) -> dt.date:
    return dt.date(d.year + (d.month == 12), d.month % 12 + 1, 1) - dt.timedelta(days=1)


def periods():
    """(label, period select value, first day, last day): the months, years and quarters of the data."""
    out = [(f"{d:%b %Y}", "month", d, month_end(d)) for d in months()]
    out += [(str(y), "year", dt.date(y, 1, 1), dt.date(y, 12, 31)) for y in (2022, 2023)]
    # quarters: one "Year" interval clipped to the quarter's dates (Magento has no quarter period)
    out += [(f"Q{q} {y}", "year", dt.date(y, 3 * q - 2, 1), month_end(dt.date(y, 3 * q, 1)))
            for y in (2022, 2023) for q in (1, 2, 3, 4)]
    return out


def vrng(*parts) -> random.Random:
    """A per-instance rng: values derived from the entity, so instances do not depend on list order."""
    return random.Random(":".join(str(p) for p in parts))


def new_price(rng, old_cents):
    while True:
        cents = rng.randrange(10, 150) * 100 + rng.choice([0, 0, 50, 99])
        if cents != old_cents:
            return cents


def product_url(pid):
    return f"{PH}/catalog/product/edit/id/{pid}/"


def inp(name):
    return f"document.querySelector('[name=\"{name}\"]').value"


def html_check(url_, locator, **required):
    return {"url": url_, "locator": locator, "required_contents": required}


def task(values, ev, oracle, start=PH):
    return {"values": values, "start_url": start, "eval": ev, "oracle": oracle}


def string_eval(kind, ref, raw=None):
    ev = {"eval_types": ["string_match"], "reference_answers": {kind: ref}}
    ev["reference_answer_raw_annotation"] = raw if raw is not None else (", ".join(ref) if isinstance(ref, list) else ref)
    return ev


def html_eval(*checks):
    return {"eval_types": ["program_html"], "program_html": list(checks)}


# ----------------------------------------------------------------------------------------------
# 200: top-N best sellers of a period (the report with its period filter)

def t200_instances(db, split):
    out = []
    for label, period, a, b in periods():
        if split_of("period", label) != split:
            continue
        ranked = bestsellers(db, a, b, limit=50)
        for n in (1, 2, 3, 4, 5):
            # the boundary must be clear: a tie between rank n and n+1 would make the answer ambiguous
            if len(ranked) > n and ranked[n - 1]["q"] > ranked[n]["q"]:
                names = [r["name"] for r in ranked[:n]]
                out.append(task({"n": n, "period": label}, string_eval("must_include", names),
                                {"period": PERIODS[period], "from": fmt_date(a), "to": fmt_date(b), "answer": names}))
    return out


def report_steps(obs, o):
    obs = yield from open_menu(obs, "Reports", "Bestsellers")
    obs = yield from selecting(obs, o["period"], text="Period", tag="select")
    obs = yield from typing(obs, o["from"], title="From", tag="input")
    obs = yield from typing(obs, o["to"], title="To", tag="input")
    obs = yield from click(obs, text="Show Report", tag="button")
    return obs


def t200_solve(task_):
    o = task_["miniarena"]["oracle"]
    obs = yield
    obs = yield from report_steps(obs, o)
    yield from answer(obs, o["answer"][-1], ", ".join(o["answer"]), "the report's top rows are")


# 201: how many orders a customer placed (order grid keyword search, "N records found")

def t201_instances(db, split):
    out = []
    for cid, name, n in db.execute("SELECT c.id, c.firstname || ' ' || c.lastname, COUNT(o.id) FROM customers c "
                                   "JOIN orders o ON o.customer_id=c.id GROUP BY c.id"):
        if split_of("customer", name) == split:
            out.append(task({"customer": name}, string_eval("exact_match", str(n)), {"name": name, "answer": n}))
    return out


def t201_solve(task_):
    o = task_["miniarena"]["oracle"]
    obs = yield
    obs = yield from open_menu(obs, "Sales", "Orders")
    obs = yield from grid_search(obs, o["name"])
    yield from answer(obs, f"{o['answer']} records found", str(o["answer"]), "the grid says")


# 202: a total of an order (grid for the grand total, order view for subtotal / shipping)

FIELDS_202 = {"grand total": "grand_total", "subtotal": "subtotal", "shipping and handling amount": "shipping"}


def t202_instances(db, split):
    out = []
    for o in rows(db, "SELECT * FROM orders"):
        if split_of("order", str(o["id"])) != split:
            continue
        field = list(FIELDS_202)[o["id"] % 3]
        value = amount(o[FIELDS_202[field]])
        out.append(task({"field": field, "order": o["id"]}, string_eval("must_include", [value], "$" + value),
                        {"order": o["id"], "field": field, "answer": "$" + value}))
    return out


def t202_solve(task_):
    o = task_["miniarena"]["oracle"]
    obs = yield
    obs = yield from open_menu(obs, "Sales", "Orders")
    obs = yield from grid_search(obs, str(o["order"]))
    if o["field"] != "grand total":
        obs = yield from click(obs, text=f"{o['order']:09d}", tag="a")
    yield from answer(obs, o["answer"], o["answer"], f"the {o['field']} shown is")


# 203: a customer's email address or phone number (customer grid search)

def t203_instances(db, split):
    out = []
    for c in rows(db, "SELECT * FROM customers"):
        name = f"{c['firstname']} {c['lastname']}"
        if split_of("customer", name) != split:
            continue
        for field, col in (("email address", "email"), ("phone number", "phone")):
            out.append(task({"field": field, "customer": name}, string_eval("exact_match", c[col]),
                            {"name": name, "answer": c[col]}))
    return out


def t203_solve(task_):
    o = task_["miniarena"]["oracle"]
    obs = yield
    obs = yield from open_menu(obs, "Customers", "All Customers")
    obs = yield from grid_search(obs, o["name"])
    yield from answer(obs, o["answer"], o["answer"], "the customer's row shows")


# 204: how many reviews of a status a product has (review grid: search + status filter)

def t204_instances(db, split):
    out = []
    names = [r[0] for r in db.execute("SELECT name FROM products")]
    for pid, name in db.execute("SELECT DISTINCT p.id, p.name FROM reviews r JOIN products p ON p.id=r.product_id"):
        if split_of("product", name) != split:
            continue
        if sum(name.lower() in other.lower() for other in names) > 1:   # the keyword must find one product
            continue
        for code, label in ((2, "pending"), (1, "approved")):
            n = db.execute("SELECT COUNT(*) FROM reviews WHERE product_id=? AND status=?", (pid, code)).fetchone()[0]
            out.append(task({"status": label, "product": name}, string_eval("exact_match", str(n)),
                            {"product": name, "status": REVIEW_STATUS[code], "answer": n}))
    return out


def t204_solve(task_):
    o = task_["miniarena"]["oracle"]
    obs = yield
    obs = yield from open_menu(obs, "Marketing", "All Reviews")
    obs = yield from grid_search(obs, o["product"])
    obs = yield from click(obs, text="Filters", tag="a")
    obs = yield from selecting(obs, o["status"], text="Status", tag="select")
    obs = yield from click(obs, text="Apply Filters", tag="button")
    yield from answer(obs, f"{o['answer']} records found", str(o["answer"]), "the grid says")


# 205: show the orders of a status placed in a month (url_match + the active-filter bar)

def order_filter_values(db, split, min_count=1):
    for d in months():
        a, b = d, month_end(d)
        for code, label in STATUS_LABEL.items():
            if split_of("period", f"{d:%b %Y}") != split:   # the month is the entity, as in template 200
                continue
            n = db.execute("SELECT COUNT(*) FROM orders WHERE status=? AND date(created) BETWEEN ? AND ?",
                           (code, a.isoformat(), b.isoformat())).fetchone()[0]
            if n >= min_count:
                yield code, label, d, a, b, n


def t205_instances(db, split):
    out = []
    for code, label, d, a, b, n in order_filter_values(db, split):
        ref = f"{PH}/sales/order/?" + urllib.parse.urlencode({"status": code, "from": fmt_date(a), "to": fmt_date(b)},
                                                             safe="/")
        ev = {"eval_types": ["url_match", "program_html"], "reference_url": ref,
              "program_html": [html_check("last", "document.querySelector('div.admin__data-grid-filters-current').outerText",
                                          must_include=[label, fmt_date(a)])]}
        out.append(task({"status": label.lower(), "month": f"{d:%B %Y}"}, ev,
                        {"status": label, "from": fmt_date(a), "to": fmt_date(b)}))
    return out


def order_filter_steps(obs, o):
    obs = yield from open_menu(obs, "Sales", "Orders")
    obs = yield from click(obs, text="Filters", tag="a")
    obs = yield from selecting(obs, o["status"], text="Status", tag="select")
    obs = yield from typing(obs, o["from"], title="Purchase Date from", tag="input")
    obs = yield from typing(obs, o["to"], title="Purchase Date to", tag="input")
    obs = yield from click(obs, text="Apply Filters", tag="button")
    return obs


def t205_solve(task_):
    o = task_["miniarena"]["oracle"]
    obs = yield
    obs = yield from order_filter_steps(obs, o)
    obs = yield from see(obs, "Active filters")
    yield from finish()


# 206: change a product's price; 207: disable a product; 208: set a product's quantity

def product_edit_steps(obs, name):
    obs = yield from open_menu(obs, "Catalog", "Products")
    obs = yield from grid_search(obs, name)
    obs = yield from click(obs, text=name, tag="a")
    return obs


def unique_products(db, split):
    names = [r[0] for r in db.execute("SELECT name FROM products")]
    for p in rows(db, "SELECT * FROM products"):
        if split_of("product", p["name"]) == split and sum(p["name"].lower() in n.lower() for n in names) == 1:
            yield p


def t206_instances(db, split):
    out = []
    for p in unique_products(db, split):
        price = amount(new_price(vrng("t206", p["name"]), p["price"]))
        out.append(task({"product": p["name"], "price": price},
                        html_eval(html_check(product_url(p["id"]), inp("product[price]"), exact_match=price)),
                        {"product": p["name"], "price": price}))
    return out


def t206_solve(task_):
    o = task_["miniarena"]["oracle"]
    obs = yield
    obs = yield from product_edit_steps(obs, o["product"])
    obs = yield from typing(obs, o["price"], title="Price", tag="input")
    obs = yield from click(obs, text="Save", tag="button")
    obs = yield from see(obs, "You saved the product")
    yield from finish()


def t207_instances(db, split):
    return [task({"product": p["name"]}, html_eval(html_check(product_url(p["id"]), inp("product[status]"), exact_match="2")),
                 {"product": p["name"]}) for p in unique_products(db, split) if p["status"] == 1]


def t207_solve(task_):
    o = task_["miniarena"]["oracle"]
    obs = yield
    obs = yield from product_edit_steps(obs, o["product"])
    obs = yield from selecting(obs, "Disabled", text="Enable Product", tag="select")
    obs = yield from click(obs, text="Save", tag="button")
    obs = yield from see(obs, "You saved the product")
    yield from finish()


def t208_instances(db, split):
    out = []
    for p in unique_products(db, split):
        rng = vrng("t208", p["name"])
        qty = rng.choice([q for q in range(0, 300, 5) if q != p["qty"]])
        out.append(task({"product": p["name"], "qty": qty},
                        html_eval(html_check(product_url(p["id"]), inp("product[qty]"), exact_match=str(qty))),
                        {"product": p["name"], "qty": str(qty)}))
    return out


def t208_solve(task_):
    o = task_["miniarena"]["oracle"]
    obs = yield
    obs = yield from product_edit_steps(obs, o["product"])
    obs = yield from typing(obs, o["qty"], title="Quantity", tag="input")
    obs = yield from click(obs, text="Save", tag="button")
    obs = yield from see(obs, "You saved the product")
    yield from finish()


# 209: cancel an order

def order_url(oid):
    return f"{PH}/sales/order/view/order_id/{oid}/"


STATUS_LOCATOR = "document.querySelector('#order_status').outerText"


def open_order_steps(obs, oid):
    obs = yield from open_menu(obs, "Sales", "Orders")
    obs = yield from grid_search(obs, str(oid))
    obs = yield from click(obs, text=f"{oid:09d}", tag="a")
    return obs


def t209_instances(db, split):
    return [task({"order": oid}, html_eval(html_check(order_url(oid), STATUS_LOCATOR, exact_match="Canceled")),
                 {"order": oid})
            for (oid,) in db.execute("SELECT id FROM orders WHERE status IN ('pending','processing')")
            if split_of("order", str(oid)) == split]


def t209_solve(task_):
    o = task_["miniarena"]["oracle"]
    obs = yield
    obs = yield from open_order_steps(obs, o["order"])
    obs = yield from click(obs, text="Cancel", tag="button")
    obs = yield from see(obs, "You canceled the order")
    yield from finish()


# 210: approve a pending review

def t210_instances(db, split):
    out = []
    pending = rows(db, "SELECT r.id, r.nickname, p.name product FROM reviews r JOIN products p ON p.id=r.product_id "
                       "WHERE r.status=2")
    for r in pending:
        same = [x for x in pending if x["nickname"] == r["nickname"] and x["product"] == r["product"]]
        if len(same) > 1 or split_of("review", f"{r['nickname']} on {r['product']}") != split:
            continue
        out.append(task({"nickname": r["nickname"], "product": r["product"]},
                        html_eval(html_check(f"{PH}/review/product/edit/id/{r['id']}/", inp("status_id"), exact_match="1")),
                        {"nickname": r["nickname"], "product": r["product"], "id": r["id"]}))
    return out


def row_link(obs, *texts, max_scrolls=6):
    """Click the link inside the first grid row whose text holds all `texts` (titles repeat across rows)."""
    for _ in range(max_scrolls + 1):
        current = None
        for el in obs.elements:
            if el.tag == "tr":
                current = el if all(t.lower() in el.text.lower() for t in texts) else None
            elif current is not None and el.tag == "a" and el.id is not None:
                return (yield click(el.id))
        before = obs.html
        obs = yield scroll_down()
        if obs.html == before:
            break
    raise OracleError(f"no grid row with {texts} on {obs.url}")


def t210_solve(task_):
    o = task_["miniarena"]["oracle"]
    obs = yield
    obs = yield from open_menu(obs, "Marketing", "Pending Reviews")
    obs = yield from grid_search(obs, o["nickname"])
    obs = yield from row_link(obs, o["nickname"], o["product"])
    obs = yield from selecting(obs, "Approved", text="Status", tag="select")
    obs = yield from click(obs, text="Save Review", tag="button")
    obs = yield from see(obs, "You saved the review")
    yield from finish()


# 211 (test_only): reprice the best seller of a period: report, then catalog edit

def t211_instances(db, split):
    out = []
    for label, period, a, b in periods():
        if split_of("period", label) != split:
            continue
        ranked = bestsellers(db, a, b, limit=2)
        if len(ranked) < 2 or ranked[0]["q"] == ranked[1]["q"]:
            continue
        top = ranked[0]
        rng = vrng("t211", label)
        for _ in range(2):   # two prices a period: the test split has only a handful of periods
            price = amount(new_price(rng, top["price"]))
            out.append(task({"period": label, "price": price},
                            html_eval(html_check(product_url(top["id"]), inp("product[price]"), exact_match=price)),
                            {"period": PERIODS[period], "from": fmt_date(a), "to": fmt_date(b), "product": top["name"],
                             "price": price}))
    return out


def t211_solve(task_):
    o = task_["miniarena"]["oracle"]
    obs = yield
    obs = yield from report_steps(obs, o)
    obs = yield from see(obs, o["product"])
    obs = yield from open_menu(obs, "Catalog", "Products")
    obs = yield from grid_search(obs, o["product"])
    obs = yield from click(obs, text=o["product"], tag="a")
    obs = yield from typing(obs, o["price"], title="Price", tag="input")
    obs = yield from click(obs, text="Save", tag="button")
    obs = yield from see(obs, "You saved the product")
    yield note(f"the best seller was {o['product']}; its price is now {o['price']}", exit_("done"))


# 212: change a customer's phone number (customer form)

def t212_instances(db, split):
    out = []
    for c in rows(db, "SELECT * FROM customers"):
        name = f"{c['firstname']} {c['lastname']}"
        if split_of("customer", name) != split:
            continue
        rng = vrng("t212", name)
        phone = c["phone"]
        while phone == c["phone"]:
            phone = f"{c['phone'][:3]}-{rng.randrange(200, 1000)}-{rng.randrange(1000, 10000)}"
        out.append(task({"customer": name, "phone": phone},
                        html_eval(html_check(f"{PH}/customer/index/edit/id/{c['id']}/", inp("customer[telephone]"),
                                             exact_match=phone)), {"name": name, "phone": phone}))
    return out


def t212_solve(task_):
    o = task_["miniarena"]["oracle"]
    obs = yield
    obs = yield from open_menu(obs, "Customers", "All Customers")
    obs = yield from grid_search(obs, o["name"])
    obs = yield from click(obs, text=o["name"], tag="a")
    obs = yield from typing(obs, o["phone"], title="Phone Number", tag="input")
    obs = yield from click(obs, text="Save Customer", tag="button")
    obs = yield from see(obs, "You saved the customer")
    yield from finish()


# 213: how many orders of a status were placed in a month (order grid filters, "N records found")

def t213_instances(db, split):
    return [task({"status": label.lower(), "month": f"{d:%B %Y}"}, string_eval("exact_match", str(n)),
                 {"status": label, "from": fmt_date(a), "to": fmt_date(b), "answer": n})
            for code, label, d, a, b, n in order_filter_values(db, split)]


def t213_solve(task_):
    o = task_["miniarena"]["oracle"]
    obs = yield
    obs = yield from order_filter_steps(obs, o)
    yield from answer(obs, f"{o['answer']} records found", str(o["answer"]), "the filtered grid says")


# 214: how many enabled/disabled products are priced in a range (product grid filters)

def t214_instances(db, split):
    out = []
    for lo in range(10, 100, 5):
        for width in (10, 20, 30):
            hi = lo + width
            if split_of("price_range", f"{lo}-{hi}") != split:
                continue
            for code, label in PRODUCT_STATUS.items():
                n = db.execute("SELECT COUNT(*) FROM products WHERE status=? AND price BETWEEN ? AND ?",
                               (code, lo * 100, hi * 100)).fetchone()[0]
                if n:
                    out.append(task({"status": label.lower(), "low": lo, "high": hi},
                                    string_eval("exact_match", str(n)),
                                    {"status": label, "low": str(lo), "high": str(hi), "answer": n}))
    return out


def t214_solve(task_):
    o = task_["miniarena"]["oracle"]
    obs = yield
    obs = yield from open_menu(obs, "Catalog", "Products")
    obs = yield from click(obs, text="Filters", tag="a")
    obs = yield from typing(obs, o["low"], title="Price from", tag="input")
    obs = yield from typing(obs, o["high"], title="Price to", tag="input")
    obs = yield from selecting(obs, o["status"], text="Status", tag="select")
    obs = yield from click(obs, text="Apply Filters", tag="button")
    yield from answer(obs, f"{o['answer']} records found", str(o["answer"]), "the filtered grid says")


# 215: create a product (new product form), checked in the grid searched by its SKU

def t215_instances(db, split):
    out = []
    taken = {r[0].lower() for r in db.execute("SELECT name FROM products")}
    for i, adj in enumerate(NEW_ADJ):
        for j, noun in enumerate(NEW_NOUN):
            name = f"{adj} {noun}"
            if name.lower() in taken or split_of("new_product", name) != split:
                continue
            rng = vrng("t215", name)
            sku = f"NP{i}{j}-{rng.randrange(100, 1000)}"
            price, qty = amount(new_price(rng, 0)), str(rng.randrange(5, 200))
            check = html_check(f"{PH}/catalog/product/?search={sku}",
                               "document.querySelector('table.data-grid tbody').outerText",
                               must_include=[name, sku, "$" + price])
            out.append(task({"name": name, "sku": sku, "price": price, "qty": qty}, html_eval(check),
                            {"name": name, "sku": sku, "price": price, "qty": qty}))
    return out


def t215_solve(task_):
    o = task_["miniarena"]["oracle"]
    obs = yield
    obs = yield from open_menu(obs, "Catalog", "Products")
    obs = yield from click(obs, text="Add Product", tag="a")
    obs = yield from typing(obs, o["name"], title="Product Name", tag="input")
    obs = yield from typing(obs, o["sku"], title="SKU", tag="input")
    obs = yield from typing(obs, o["price"], title="Price", tag="input")
    obs = yield from typing(obs, o["qty"], title="Quantity", tag="input")
    obs = yield from click(obs, text="Save", tag="button")
    obs = yield from see(obs, "You saved the product")
    yield from finish()


# 216: comment on an order (order view form, checked in the comments history)

def t216_instances(db, split):
    out = []
    for (oid,) in db.execute("SELECT id FROM orders"):
        if split_of("order", str(oid)) != split:
            continue
        comment = vrng("t216", oid).choice(COMMENTS)
        check = html_check(order_url(oid), "document.querySelector('#order_history').outerText", must_include=[comment])
        out.append(task({"comment": comment, "order": oid}, html_eval(check), {"order": oid, "comment": comment}))
    return out


def t216_solve(task_):
    o = task_["miniarena"]["oracle"]
    obs = yield
    obs = yield from open_order_steps(obs, o["order"])
    obs = yield from typing(obs, o["comment"], title="Comment", tag="textarea")
    obs = yield from click(obs, text="Submit Comment", tag="button")
    obs = yield from see(obs, "You added a comment")
    yield from finish()


# 217 (test_only): cancel a customer's most recent pending order (search + status filter + order view)

def t217_instances(db, split):
    out = []
    for c in rows(db, "SELECT id, firstname || ' ' || lastname name FROM customers"):
        if split_of("customer", c["name"]) != split:
            continue
        latest = db.execute("SELECT id FROM orders WHERE customer_id=? AND status='pending' "
                            "ORDER BY created DESC, id DESC LIMIT 1", (c["id"],)).fetchone()
        if latest:
            out.append(task({"customer": c["name"]},
                            html_eval(html_check(order_url(latest[0]), STATUS_LOCATOR, exact_match="Canceled")),
                            {"name": c["name"], "order": latest[0]}))
    return out


def t217_solve(task_):
    o = task_["miniarena"]["oracle"]
    obs = yield
    obs = yield from open_menu(obs, "Sales", "Orders")
    obs = yield from grid_search(obs, o["name"])
    obs = yield from click(obs, text="Filters", tag="a")
    obs = yield from selecting(obs, "Pending", text="Status", tag="select")
    obs = yield from click(obs, text="Apply Filters", tag="button")
    obs = yield from click(obs, text=f"{o['order']:09d}", tag="a")   # the grid lists the newest first
    obs = yield from click(obs, text="Cancel", tag="button")
    obs = yield from see(obs, "You canceled the order")
    yield from finish()


def T(id_, intent, inst, solve, skills, steps, test_only=False):
    return Template(id=id_, site="shopping_admin", intent_template=intent, instances=inst, oracle=solve,
                    test_only=test_only, skills=skills, min_steps=steps)


TEMPLATES = [
    T(200, "What are the top-{{n}} best-selling product in {{period}}", t200_instances, t200_solve,
      "menu, report period/date filters, read a table", 7),
    T(201, "How many orders has {{customer}} placed?", t201_instances, t201_solve, "menu, grid search, read count", 4),
    T(202, "What is the {{field}} of order #{{order}}?", t202_instances, t202_solve, "menu, grid search, order view", 4),
    T(203, "What is the {{field}} of the customer {{customer}}?", t203_instances, t203_solve, "menu, grid search", 4),
    T(204, "How many {{status}} reviews does {{product}} have?", t204_instances, t204_solve,
      "menu, grid search, filter panel, select, read count", 7),
    T(205, "Show me the {{status}} orders placed in {{month}}", t205_instances, t205_solve,
      "menu, filter panel: select + date range (url_match)", 8),
    T(206, "Change the price of {{product}} to ${{price}}", t206_instances, t206_solve, "grid search, edit form", 7),
    T(207, "Disable the product {{product}}", t207_instances, t207_solve, "grid search, edit form select", 7),
    T(208, "Set the stock quantity of {{product}} to {{qty}}", t208_instances, t208_solve, "grid search, edit form", 7),
    T(209, "Cancel order #{{order}}", t209_instances, t209_solve, "grid search, order view action", 6),
    T(210, "Approve the pending review by {{nickname}} on {{product}}", t210_instances, t210_solve,
      "menu, grid search, pick the row, edit form select", 7),
    T(211, "Change the price of the best-selling product of {{period}} to ${{price}}", t211_instances, t211_solve,
      "report filters then catalog edit (composition of 200 and 206)", 13, test_only=True),
    T(212, "Update the phone number of customer {{customer}} to {{phone}}", t212_instances, t212_solve,
      "grid search, customer form", 7),
    T(213, "How many {{status}} orders were placed in {{month}}?", t213_instances, t213_solve,
      "filter panel: select + date range, read count", 8),
    T(214, "How many {{status}} products are priced between ${{low}} and ${{high}}?", t214_instances, t214_solve,
      "filter panel: range inputs + select, read count", 8),
    T(215, "Add a new product named {{name}} with SKU {{sku}}, price ${{price}} and quantity {{qty}}",
      t215_instances, t215_solve, "create through a form", 9),
    T(216, "Add the comment \"{{comment}}\" to order #{{order}}", t216_instances, t216_solve,
      "grid search, order view comment form", 7),
    T(217, "Cancel the most recent pending order of {{customer}}", t217_instances, t217_solve,
      "grid search + status filter + order action (composition of 201, 205 and 209)", 9, test_only=True),
]
