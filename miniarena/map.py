"""miniarena.map: a small OpenStreetMap, modelled on WebArena's map site (the OSM website with
Nominatim search and OSRM routing behind it).

The world is four fictional towns (Millbrook, Port Ellery, Ashford, Cedar Hollow) about 28 km apart,
plus two airports between them: 129 places of 14 types with addresses, postcodes and coordinates,
and a connected road graph (streets, paths, country roads, motorways) whose edges carry a length
and a speed per mode (car, bike, foot; 0 = not allowed).

Pages (OSM's paths; every page has the OSM sidebar: a search form, or the directions form on
/directions, above ``#sidebar_content``):
  /                         welcome text, links to the towns
  /search?query=...         Nominatim-like search: words match name, type, town, street; a query
                            "<type> near <place or town>" lists that type by distance; 10 per page
  /node/<id>                a place: type, address, town, postcode, coordinates; a "Get directions"
                            menu (JS ``data-menu``) and a "Nearby features" panel (JS ``data-async``)
  /query?node=<id>          the panel's fragment: the five closest places
  /nearby?node=<id>&type=&radius=   places of a type within a radius, by straight-line distance
  /directions?from=&to=&mode=car|bike|foot   fastest route by Dijkstra over the road graph:
                            distance (km, 1 decimal), time ("1h 05min"), the places passed through
  /help, /about             static pages

Tables: cities(name, lat, lon), places(id, name, type, housenumber, street, city, postcode, lat,
lon), edges(a, b, highway, length_km, car_kmh, bike_kmh, foot_kmh).

Templates 500-514: postcode, address, coordinates, type of a place; driving distance; travel time
by mode; nearest place of a type; count of a type within a radius; "<type> near <place>" search
(url_match); directions by mode (url_match + program_html); a place's page (url_match +
program_html); closest feature (JS panel); postcode of the nearest type; addresses of a type within
a radius; and, test only, the travel time from a place to the nearest place of a type.
Split rule: a task's places all belong to its split (``split_of("place", name)``); place types,
radii and travel modes are a closed vocabulary shared by both splits.
"""
from __future__ import annotations

import heapq
import html
import math
import random
import re
import sqlite3

from .oracle import OracleError, click, exit_, note, searching, selecting, typing
from .server import HttpError, Redirect, Response, Site, document, esc, pager, split_of, url
from .tasks import Template

# ----------------------------------------------------------------------------------------------
# the world

PLURAL = {
    "restaurant": "restaurants", "cafe": "cafes", "hotel": "hotels", "museum": "museums",
    "park": "parks", "hospital": "hospitals", "library": "libraries", "university": "universities",
    "pharmacy": "pharmacies", "supermarket": "supermarkets", "school": "schools",
    "cinema": "cinemas", "station": "stations", "airport": "airports",
}
TYPES = list(PLURAL)

# name, centre lat/lon, half-width of the town square in km, postcode prefix,
# east-west streets (by latitude band), north-south streets (by longitude band), share of pooled places
CITIES = [
    ("Millbrook", 41.3000, -78.7000, 3.0, "168",
     ["Front Street", "Church Street", "Market Street", "Mill Road", "Franklin Avenue", "Highland Avenue"],
     ["Maple Avenue", "Oak Street", "Cedar Lane", "Union Street", "Bridge Street", "Walnut Street"], 0.36),
    ("Port Ellery", 41.4100, -78.4000, 2.6, "169",
     ["Harbor Road", "Water Street", "Anchor Way", "Beacon Street", "Lighthouse Road"],
     ["Dock Street", "Pier Avenue", "Sailor Lane", "Mariner Avenue", "Wharf Street"], 0.26),
    ("Ashford", 41.1200, -78.4600, 2.3, "167",
     ["High Street", "Station Road", "King Street", "Queen Street", "Elm Grove"],
     ["Ashford Avenue", "Willow Lane", "Chestnut Street", "Park Road"], 0.22),
    ("Cedar Hollow", 41.1500, -78.9800, 2.0, "166",
     ["Hollow Road", "Pine Street", "Ridge Road", "Creek Lane"],
     ["Birch Avenue", "Spruce Street", "Valley Road", "Fern Lane"], 0.16),
]
CITY_NAMES = [c[0] for c in CITIES]

# places with a fixed town: (name, type, town)
FIXED = [(f"{c} Central Station", "station", c) for c in CITY_NAMES] + \
        [(f"{c} General Hospital", "hospital", c) for c in CITY_NAMES] + \
        [(f"{c} Public Library", "library", c) for c in CITY_NAMES] + [
    ("Millbrook Museum of Art", "museum", "Millbrook"),
    ("Port Ellery Maritime Museum", "museum", "Port Ellery"),
    ("Ashford History Center", "museum", "Ashford"),
    ("Cedar Hollow Heritage Museum", "museum", "Cedar Hollow"),
    ("Millbrook University", "university", "Millbrook"),
    ("St. Brendan University", "university", "Millbrook"),
    ("Ashford Institute of Technology", "university", "Ashford"),
    ("Port Ellery College", "university", "Port Ellery"),
    ("Cedar Hollow Community College", "university", "Cedar Hollow"),
]

# pooled names: (type, how many to use, candidates); each gets a town drawn by the towns' shares
POOLS = [
    ("restaurant", 26, ["The Golden Spoon", "Blue Heron Bistro", "Casa Lupita", "Luigi's Trattoria",
                        "Saffron House", "The Copper Kettle", "Harvest Table", "Lotus Garden", "Smokehouse 55",
                        "El Farolito", "The Rusty Anchor", "Olive & Vine", "Pho Saigon", "Maple Grill",
                        "Bella Napoli", "Tandoor Palace", "The Hungry Fox", "Sakura Sushi", "Brick Oven Pizzeria",
                        "Riverside Diner", "The Silver Fork", "Little Seoul", "Bayou Kitchen", "Athena Taverna",
                        "The Red Lantern", "Prairie Steakhouse", "Cedar & Salt", "Mango Tree", "Fig & Thistle"]),
    ("cafe", 18, ["Morning Ritual", "Bean & Leaf", "The Daily Grind", "Perch Coffee", "Steam & Crema",
                  "Cup of Joy", "Roast Republic", "Cafe Lumiere", "The Reading Nook", "Drip Drop",
                  "Honeycomb Coffee", "Velvet Espresso", "Kettle & Crumb", "Brewed Awakening", "Cloud Nine Coffee",
                  "Second Cup Corner", "Sunrise Beans", "Hilltop Roasters", "Paper Moon Cafe"]),
    ("hotel", 13, ["The Grand Regent Hotel", "Harborview Inn", "Maple Leaf Motel", "The Ellery Hotel",
                   "Riverside Suites", "Hillcrest Lodge", "The Station House Hotel", "Pinewood Inn",
                   "Comfort Stay Inn", "The Wren Hotel", "Parkside Plaza Hotel", "Old Mill Inn", "Summit Hotel",
                   "Ivy Court Hotel"]),
    ("museum", 4, ["Museum of Natural Science", "Railroad Heritage Museum", "Children's Discovery Museum",
                   "Glassworks Museum", "Aviation Heritage Museum"]),
    ("park", 12, ["Riverside Park", "Oak Hollow Park", "Founders Green", "Lakeview Park", "Cedar Grove Park",
                  "Willow Creek Park", "Memorial Park", "Heritage Square", "Pine Ridge Park", "Sunset Meadows",
                  "Fox Run Park", "Bluebell Gardens", "Quarry Pond Park"]),
    ("hospital", 2, ["St. Anne's Hospital", "Mercy Medical Center", "Valley Children's Hospital"]),
    ("library", 2, ["Eastside Branch Library", "Westgate Library", "Northfield Reading Room"]),
    ("pharmacy", 8, ["CarePlus Pharmacy", "Main Street Pharmacy", "HealthWay Drugs", "Green Cross Pharmacy",
                     "QuickMeds", "Family Pharmacy", "Corner Drugstore", "MediMart", "Wellspring Apothecary"]),
    ("supermarket", 8, ["FreshMart", "Green Basket", "ValueFoods", "Harvest Market", "Corner Grocer",
                        "Sunny Foods", "Daily Greens Market", "Parkway Supermarket", "Orchard Fresh"]),
    ("school", 8, ["Lincoln Elementary School", "Jefferson High School", "Oakwood Middle School",
                   "Riverside Academy", "Hillside Elementary", "Northgate High School", "St. Mary's School",
                   "Maple Leaf Montessori", "Brookside Prep"]),
    ("cinema", 5, ["Starlight Cinema", "The Majestic Theater", "Cineplex 8", "Odeon Picture House",
                   "Drive-In 66", "Silver Screen"]),
]

# road classes: speed in km/h for car, bike, foot (0: not allowed on this road)
ROADS = {
    "motorway": (100, 0, 0),
    "secondary": (60, 18, 5),
    "primary": (50, 16, 5),
    "residential": (30, 15, 5),
    "path": (0, 12, 5),
}
MODES = {"car": "Car", "bike": "Bicycle", "foot": "Foot"}
MODE_COL = {"car": 0, "bike": 1, "foot": 2}
RADII = ["0.5", "1", "2", "5", "10", "20", "50"]
KM_PER_DEG_LAT = 111.0


def haversine(lat1, lon1, lat2, lon2) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(a))


def fmt_km(d: float) -> str:
    return f"{d:.1f} km"


def fmt_time(hours: float) -> str:
    minutes = max(1, round(hours * 60))
    return f"{minutes // 60}h {minutes % 60:02d}min"


def fmt_coord(x: float) -> str:
    return f"{x:.4f}"


def build(db: sqlite3.Connection, seed: int) -> None:
    rng = random.Random(f"map:{seed}")
    db.executescript("""
        CREATE TABLE cities (name TEXT PRIMARY KEY, lat REAL, lon REAL);
        CREATE TABLE places (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, type TEXT NOT NULL,
            housenumber TEXT, street TEXT, city TEXT, postcode TEXT, lat REAL, lon REAL);
        CREATE TABLE edges (a INTEGER, b INTEGER, highway TEXT, length_km REAL,
            car_kmh REAL, bike_kmh REAL, foot_kmh REAL, PRIMARY KEY (a, b));
    """)
    city = {c[0]: c for c in CITIES}
    for name, lat, lon, *_ in CITIES:
        db.execute("INSERT INTO cities VALUES (?,?,?)", (name, lat, lon))

    # which places exist, and in which town
    specs = list(FIXED)
    for typ, n, names in POOLS:
        for name in rng.sample(names, n):
            town = rng.choices(CITY_NAMES, weights=[c[7] for c in CITIES])[0]
            specs.append((name, typ, town))

    # positions in km from the town centre, spread out so neighbours are 250 m apart or more
    placed = {c: [] for c in CITY_NAMES}
    rows = []
    used_ids, used_addr = set(), set()
    for name, typ, town in specs:
        _, clat, clon, half, pc, ew, ns, _ = city[town]
        spread = 0.4 if typ == "station" else half
        for _ in range(5000):
            x, y = rng.uniform(-spread, spread), rng.uniform(-spread, spread)
            if all(math.hypot(x - px, y - py) >= 0.25 for px, py in placed[town]):
                break
        placed[town].append((x, y))
        # a street by position: east-west streets by latitude band, north-south ones by longitude band
        if rng.random() < 0.5:
            street = ew[min(len(ew) - 1, int((y + half) / (2 * half) * len(ew)))]
            along = x
        else:
            street = ns[min(len(ns) - 1, int((x + half) / (2 * half) * len(ns)))]
            along = y
        number = 2 * int((along + half) * 60) + rng.choice((1, 2))
        while (number, street) in used_addr:
            number += 2
        used_addr.add((number, street))
        postcode = f"{pc}{1 + (x >= 0) * 2 + (y >= 0):02d}"
        rows.append([name, typ, str(number), street, town, postcode, clat + y / KM_PER_DEG_LAT,
                     clon + x / (111.32 * math.cos(math.radians(clat)))])
    # the airports lie outside the towns, on Airport Road
    for name, anchor, dx, dy in (("Millbrook Regional Airport", "Millbrook", -6.5, -5.0),
                                 ("Tri-County International Airport", "Ashford", 9.0, 13.0)):
        _, clat, clon, _, pc, *_ = city[anchor]
        rows.append([name, "airport", "1", "Airport Road", anchor, f"{pc}09", clat + dy / KM_PER_DEG_LAT,
                     clon + dx / (111.32 * math.cos(math.radians(clat)))])
    for r in rows:
        r[6], r[7] = round(r[6], 4), round(r[7], 4)
        pid = rng.randint(10**8, 10**10)
        while pid in used_ids:
            pid += 1
        used_ids.add(pid)
        db.execute("INSERT INTO places VALUES (?,?,?,?,?,?,?,?,?)", [pid] + r)

    # the road graph
    places = db.execute("SELECT id, type, city, lat, lon FROM places ORDER BY rowid").fetchall()
    n = len(places)
    dist = [[haversine(p[3], p[4], q[3], q[4]) for q in places] for p in places]
    edges: dict = {}

    def add(i, j, highway, factor):
        key = (min(i, j), max(i, j))
        if key not in edges and i != j:
            edges[key] = (highway, round(dist[i][j] * factor, 3))

    for i, p in enumerate(places):   # town streets: each place to its three nearest neighbours
        if p[1] == "airport":
            continue
        near = sorted((j for j in range(n) if j != i and places[j][2] == p[2] and places[j][1] != "airport"),
                      key=lambda j: dist[i][j])[:3]
        for j in near:
            parkish = "park" in (p[1], places[j][1])
            r = rng.random()
            cls = "path" if r < (0.5 if parkish else 0.1) else "primary" if r < 0.4 else "residential"
            add(i, j, cls, rng.uniform(1.05, 1.35))
    hub = {places[i][2]: i for i in range(n) if places[i][1] == "station"}
    idx_of_town = {t: [i for i in range(n) if places[i][2] == t and places[i][1] != "airport"] for t in CITY_NAMES}
    ring = [(0, 1), (1, 2), (2, 3), (3, 0)]
    for a, b in ring + [(0, 2)]:     # motorways between the stations, country roads between the towns
        ta, tb = CITY_NAMES[a], CITY_NAMES[b]
        add(hub[ta], hub[tb], "motorway", 1.1)
        if (a, b) in ring:
            i, j = min(((i, j) for i in idx_of_town[ta] for j in idx_of_town[tb]), key=lambda ij: dist[ij[0]][ij[1]])
            add(i, j, "secondary", 1.3)
    for i in range(n):
        if places[i][1] == "airport":
            near = sorted((j for j in range(n) if places[j][1] != "airport"), key=lambda j: dist[i][j])
            for j in near[:2]:
                add(i, j, "secondary", 1.2)
            add(i, min(hub.values(), key=lambda j: dist[i][j]), "motorway", 1.1)

    # every mode must reach every place: join components by their closest pair with a street
    for col in range(3):
        while True:
            comp = list(range(n))

            def find(x):
                while comp[x] != x:
                    comp[x] = comp[comp[x]]
                    x = comp[x]
                return x
            for (i, j), (hw, _) in edges.items():
                if ROADS[hw][col]:
                    comp[find(i)] = find(j)
            roots = {find(i) for i in range(n)}
            if len(roots) == 1:
                break
            first = find(0)
            # pairs already joined by a road closed to this mode (a motorway for bikes, a path for cars) cannot
            # take a street too (one edge per pair): without this the loop re-picked such a pair forever (seed 1)
            i, j = min(((i, j) for i in range(n) if find(i) == first for j in range(n)
                        if find(j) != first and (min(i, j), max(i, j)) not in edges),
                       key=lambda ij: dist[ij[0]][ij[1]])
            add(i, j, "residential", 1.2)
    for (i, j), (hw, length) in sorted(edges.items()):
        db.execute("INSERT INTO edges VALUES (?,?,?,?,?,?,?)", (places[i][0], places[j][0], hw, length, *ROADS[hw]))


# ----------------------------------------------------------------------------------------------
# queries shared by pages and task templates

COLS = "id, name, type, housenumber, street, city, postcode, lat, lon"


def rows(db, sql: str, args=()) -> list:
    """Query with name-addressable rows, without changing the connection's own row factory."""
    cur = db.cursor()
    cur.row_factory = sqlite3.Row
    return cur.execute(sql, args).fetchall()


def all_places(db) -> list:
    return rows(db, f"SELECT {COLS} FROM places ORDER BY name")


def straight(p, q) -> float:
    return haversine(p["lat"], p["lon"], q["lat"], q["lon"])


def by_distance(db, anchor, typ: str | None = None) -> list:
    """Other places (of a type), closest first: [(km, row)]. `anchor` has lat/lon."""
    out = [(haversine(anchor["lat"], anchor["lon"], p["lat"], p["lon"]), p) for p in all_places(db)
           if (typ is None or p["type"] == typ) and p["id"] != anchor["id"]]
    return sorted(out, key=lambda t: (t[0], t[1]["name"]))


def shortest(db, src: int, mode: str) -> tuple[dict, dict, dict]:
    """Dijkstra from src minimising travel time for the mode (OSRM's 'fastest route').

    Returns (hours, km, prev) by node id; km is the length of the fastest route, not the shortest.
    """
    col = MODE_COL[mode]
    adj: dict = {}
    for a, b, length, *speeds in db.execute("SELECT a, b, length_km, car_kmh, bike_kmh, foot_kmh FROM edges"):
        if speeds[col]:
            adj.setdefault(a, []).append((b, length, speeds[col]))
            adj.setdefault(b, []).append((a, length, speeds[col]))
    hours, km, prev = {src: 0.0}, {src: 0.0}, {}
    heap = [(0.0, 0.0, src)]
    while heap:
        t, d, u = heapq.heappop(heap)
        if t > hours[u]:
            continue
        for v, length, speed in adj.get(u, ()):
            nt = t + length / speed
            if nt < hours.get(v, math.inf) - 1e-12:
                hours[v], km[v], prev[v] = nt, d + length, u
                heapq.heappush(heap, (nt, d + length, v))
    return hours, km, prev


def route(db, a: int, b: int, mode: str):
    """(km, hours, [node ids]) of the fastest route from a to b, or None if unreachable."""
    hours, km, prev = shortest(db, a, mode)
    if b not in hours:
        return None
    path = [b]
    while path[-1] != a:
        path.append(prev[path[-1]])
    return km[b], hours[b], path[::-1]


def resolve(db, text: str):
    """A typed place name -> (row or None, candidate rows). Case-insensitive exact name, else a
    unique name containing the text."""
    t = text.strip().lower()
    if not t:
        return None, []
    exact = rows(db, f"SELECT {COLS} FROM places WHERE lower(name) = ?", (t,))
    if exact:
        return exact[0], exact
    cands = rows(db, f"SELECT {COLS} FROM places WHERE instr(lower(name), ?) > 0 ORDER BY name", (t,))
    return (cands[0] if len(cands) == 1 else None), cands


def type_of_word(word: str) -> str | None:
    w = word.strip().lower()
    for t, pl in PLURAL.items():
        if w in (t, pl):
            return t
    return None


# ----------------------------------------------------------------------------------------------
# pages

def search_form(req) -> str:
    q = req.query.get("query", "") if req is not None and req.path == "/search" else ""
    return ("<form id='search_form' action='/search' method='get'>"
            f"<input type='text' name='query' placeholder='Search' value='{esc(q)}'>"
            "<input type='submit' value='Go'> "
            "<a href='/directions' title='Find directions between two points'>Directions</a></form>")


def page(req, title: str, content: str, top: str | None = None) -> str:
    header = ("<header><a class='brand' href='/'>OpenStreetMap</a>"
              "<nav><a href='/help'>Help</a><a href='/about'>About</a></nav></header>")
    body = ("<style>ul.results{list-style:none;padding-left:4px}</style>"
            f"<div id='sidebar'>{top if top is not None else search_form(req)}"
            f"<div id='sidebar_content'>{content}</div></div>")
    return document(f"{title} | OpenStreetMap", header, body)


def chrome(req, title: str, body: str) -> str:
    return page(req, title, body)


def get_place(req, pid: int):
    found = rows(req.db, f"SELECT {COLS} FROM places WHERE id = ?", (pid,))
    if not found:
        raise HttpError(404, f"no node with id {pid}")
    return found[0]


def place_link(p) -> str:
    return f"<a href='/node/{p['id']}'>{esc(p['name'])}</a>"


def addr(p) -> str:
    return f"{p['housenumber']} {p['street']}"


def home(req):
    towns = " ".join(f"<a href='{esc(url('/search', query=c))}'>{esc(c)}</a>" for c in CITY_NAMES)
    return page(req, "OpenStreetMap", (
        "<h2>Welcome to OpenStreetMap!</h2>"
        "<p>OpenStreetMap is a map of the world, created by people like you and free to use under an open license.</p>"
        f"<p>Towns on this map: {towns}</p>"))


def help_page(req):
    return page(req, "Help", (
        "<h2>Help</h2><p>Search: type a name, a type or a town (e.g. <i>museum Ashford</i>). "
        "Type <i>hotels near Millbrook University</i> to list places of a type by distance.</p>"
        "<p>Directions: enter two places, pick Car, Bicycle or Foot, press Go. Routes are the fastest ones.</p>"
        "<p>On a place's page, <i>Nearby places</i> lists places within a radius (straight-line distance).</p>"))


def about_page(req):
    n = req.db.execute("SELECT COUNT(*) FROM places").fetchone()[0]
    e = req.db.execute("SELECT COUNT(*) FROM edges").fetchone()[0]
    return page(req, "About", f"<h2>About</h2><p>This map holds {n} places in {len(CITY_NAMES)} towns and {e} road segments.</p>")


def search_page(req):
    query = req.arg("query").strip()
    if not query:
        raise HttpError(400, "enter a name, a type or a town to search for")
    db = req.db
    anchor_note = ""
    m = re.match(r"^(.*?)\s+near\s+(.+)$", query, re.I)
    if m:
        what, where = m.group(1).strip(), m.group(2).strip()
        anchor, cands = resolve(db, where)
        town = db.execute("SELECT name, lat, lon FROM cities WHERE lower(name) = ?", (where.lower(),)).fetchone()
        if town and not (anchor and anchor["name"].lower() == where.lower()):   # a town unless a place has that very name
            anchor = {"id": None, "name": town[0], "lat": town[1], "lon": town[2]}
        if anchor is None:
            if not cands:
                return Response(page(req, "Search", f"<h2>Search Results</h2><p class='error'>No place called "
                                                    f"&quot;{esc(where)}&quot; was found.</p>"), 404)
            links = "".join(f"<li><a href='{esc(url('/search', query=what + ' near ' + c['name']))}'>"
                            f"{esc(what)} near {esc(c['name'])}</a></li>" for c in cands[:10])
            return page(req, "Search", f"<h2>Search Results</h2><p>&quot;{esc(where)}&quot; matches several "
                                       f"places. Did you mean:</p><ul>{links}</ul>")
        typ = type_of_word(what)
        if typ:
            canonical = f"{PLURAL[typ]} near {anchor['name']}"
            if query != canonical:   # "Hotel near millbrook univ" -> "hotels near Millbrook University"
                raise Redirect(url("/search", query=canonical))
        words = [] if typ else what.lower().split()
        found = [(d, p) for d, p in by_distance(db, anchor, typ) if matches(p, words)]
        anchor_note = f": {esc(what)} near {esc(anchor['name'])}"
    else:
        words = query.lower().split()
        exact = query.lower()
        found = [(None, p) for p in all_places(db) if matches(p, words)]
        found.sort(key=lambda t: (t[1]["name"].lower() != exact, not t[1]["name"].lower().startswith(exact),
                                  t[1]["name"]))
    if not found:
        return page(req, "Search", f"<h2>Search Results</h2><p>No results found for &quot;{esc(query)}&quot;.</p>")
    offset, pages = pager(req, len(found), 10)
    items = "".join(
        f"<li>{n}. {place_link(p)} <span>{esc(p['type'])}, {esc(addr(p))}, {esc(p['city'])}"
        + (f" &middot; {d:.2f} km" if d is not None else "") + "</span></li>"
        for n, (d, p) in enumerate(found[offset:offset + 10], offset + 1))
    return page(req, "Search", f"<h2>Search Results{anchor_note}</h2><ul class='results'>{items}</ul>{pages}")


def matches(p, words) -> bool:
    """Every word occurs in the name, town, street or postcode, or names the place's type."""
    hay = f"{p['name']} {p['city']} {p['street']} {p['postcode']}".lower()
    return all(w in hay or type_of_word(w) == p["type"] for w in words)


def node_page(req, pid):
    p = get_place(req, int(pid))
    menu = f"dirmenu-{p['id']}"
    body = (
        f"<h2>Node: {esc(p['name'])} ({p['id']})</h2>"
        f"<div>Type: {esc(p['type'])}</div><div>Address: {esc(addr(p))}</div>"
        f"<div>City: {esc(p['city'])}</div><div>Postcode: {esc(p['postcode'])}</div>"
        f"<div>Location: {fmt_coord(p['lat'])}, {fmt_coord(p['lon'])}</div>"
        f"<p><a href='/nearby?node={p['id']}'>Nearby places</a> "
        f"<span class='menu'><button type='button' data-menu='{menu}'>Get directions</button>"
        f"<span class='menu-items' id='{menu}'>"
        f"<a href='{esc(url('/directions', **{'from': p['name']}))}'>Directions from here</a>"
        f"<a href='{esc(url('/directions', to=p['name']))}'>Directions to here</a></span></span></p>"
        f"<h3>Nearby features</h3><div id='query_results' data-async='/query?node={p['id']}'>Loading...</div>")
    return page(req, p["name"], body)


def query_fragment(req):
    """The 'Nearby features' panel of a place page, fetched by script after the page loads."""
    nid = req.int_arg("node", hi=10**12)
    p = get_place(req, nid)
    items = "".join(f"<li>{place_link(q)} <span>{esc(q['type'])} &middot; {d:.2f} km</span></li>"
                    for d, q in by_distance(req.db, p)[:5])
    return f"<ol>{items}</ol>"


def nearby_page(req):
    nid = req.int_arg("node", hi=10**12)
    p = get_place(req, nid)
    typ = req.choice_arg("type", set(TYPES) | {""}, "")
    radius = req.choice_arg("radius", set(RADII), "5")
    type_opts = "<option value=''>All types</option>" + "".join(
        f"<option value='{t}'{' selected' if t == typ else ''}>{t}</option>" for t in TYPES)
    radius_opts = "".join(f"<option value='{r}'{' selected' if r == radius else ''}>{r} km</option>" for r in RADII)
    form = (f"<form action='/nearby' method='get'><input type='hidden' name='node' value='{p['id']}'>"
            f"<select name='type' title='Place type'>{type_opts}</select>"
            f"<select name='radius' title='Radius'>{radius_opts}</select><button type='submit'>Show</button></form>")
    found = [(d, q) for d, q in by_distance(req.db, p, typ or None) if d <= float(radius)]
    head = f"<h2>Places near {place_link(p)}</h2>{form}"
    if not found:
        return page(req, "Nearby", f"{head}<p>No {esc(PLURAL[typ] if typ else 'places')} within {radius} km.</p>")
    offset, pages = pager(req, len(found), 10)
    items = "".join(f"<li>{n}. {place_link(q)} <span>{esc(q['type'])}, {esc(addr(q))} &middot; {d:.2f} km</span></li>"
                    for n, (d, q) in enumerate(found[offset:offset + 10], offset + 1))
    return page(req, "Nearby", f"{head}<p class='muted'>Straight-line distance, closest first.</p>"
                               f"<ul class='results'>{items}</ul>{pages}")


def directions_form(frm: str, to: str, mode: str) -> str:
    opts = "".join(f"<option value='{m}'{' selected' if m == mode else ''}>{label}</option>"
                   for m, label in MODES.items())
    rev = url("/directions", **{"from": to, "to": frm, "mode": mode}) if frm and to else "/directions"
    return ("<form id='directions_form' action='/directions' method='get'>"
            f"<input type='text' name='from' placeholder='From' value='{esc(frm)}'>"
            f"<input type='text' name='to' placeholder='To' value='{esc(to)}'>"
            f"<select name='mode' title='Mode'>{opts}</select><input type='submit' value='Go'> "
            f"<a href='{esc(rev)}'>Reverse</a> <a href='/'>Close</a></form>")


def directions_page(req):
    frm, to = req.arg("from").strip(), req.arg("to").strip()
    mode = req.choice_arg("mode", set(MODES), "car")
    top = directions_form(frm, to, mode)
    if not frm or not to:
        return page(req, "Directions", "<h2>Directions</h2><p>Enter a start and a destination.</p>", top)
    db = req.db
    problems, ends = [], []
    for label, text in (("from", frm), ("to", to)):
        row, cands = resolve(db, text)
        ends.append(row)
        if row is None and not cands:
            problems.append(f"<p class='error'>No place called &quot;{esc(text)}&quot; was found.</p>")
        elif row is None:
            links = "".join(
                f"<li><a href='{esc(url('/directions', **dict({'from': frm, 'to': to, 'mode': mode}, **{label: c['name']})))}'>"
                f"{esc(c['name'])}</a></li>" for c in cands[:10])
            problems.append(f"<p>&quot;{esc(text)}&quot; matches several places. Did you mean:</p><ul>{links}</ul>")
    if problems:
        return Response(page(req, "Directions", "<h2>Directions</h2>" + "".join(problems), top), 404)
    a, b = ends
    if a["id"] == b["id"]:
        raise HttpError(400, "the start and the destination are the same place")
    if (a["name"], b["name"]) != (frm, to) or "mode" not in req.query:
        # canonical URL: full names and an explicit mode, like OSM rewriting the route parameter
        raise Redirect(url("/directions", **{"from": a["name"], "to": b["name"], "mode": mode}))
    r = route(db, a["id"], b["id"], mode)
    if r is None:
        return Response(page(req, "Directions", "<h2>Directions</h2><p class='error'>No route found.</p>", top), 404)
    km, hours, path = r
    names = dict(db.execute("SELECT id, name FROM places"))
    body = (f"<h2>Directions</h2><p>{MODES[mode]} route from {place_link(a)} to {place_link(b)}</p>"
            f"<div>Distance: {fmt_km(km)}</div><div>Time: {fmt_time(hours)}</div>"
            f"<p class='route'>Via: {' &rarr; '.join(esc(names[i]) for i in path)}</p>")
    return page(req, "Directions", body, top)


ROUTES = [
    ("GET", r"/", home),
    ("GET", r"/help", help_page),
    ("GET", r"/about", about_page),
    ("GET", r"/search", search_page),
    ("GET", r"/node/(\d{1,12})", node_page),
    ("GET", r"/query", query_fragment),
    ("GET", r"/nearby", nearby_page),
    ("GET", r"/directions", directions_page),
]

SITE = Site(name="map", env_var="MAP", title="OpenStreetMap", build=build, routes=ROUTES, chrome=chrome,
            users={}, prefix="", login_required=False, login=False)


# ----------------------------------------------------------------------------------------------
# task templates

START = "__MAP__"
MODE_VERB = {"car": "drive", "bike": "bike", "foot": "walk"}
MODE_ADJ = {"car": "driving", "bike": "cycling", "foot": "walking"}


def _split_places(db, split):
    return [p for p in all_places(db) if split_of("place", p["name"]) == split]


def _sample(items, k, tag, split):
    rng = random.Random(f"map-template:{tag}:{split}")
    return rng.sample(items, min(k, len(items)))


def _spec(values, ev, oracle, start=START):
    return {"values": values, "start_url": start, "eval": ev, "oracle": oracle, "require_login": False}


def _string(kind, value):
    return {"eval_types": ["string_match"], "reference_answers": {kind: value}}


def _pairs(db, split, k, tag, modes=("car",)):
    """k (start, end, mode) triples, modes in turn. Walks stay inside a town and rides under 30 km:
    a 26-hour walk between towns is no task anyone asks a map."""
    ps = _split_places(db, split)
    rng = random.Random(f"map-template:{tag}:{split}")
    out = []
    for i in range(k * 20):
        if len(out) == k:
            break
        mode = modes[len(out) % len(modes)]
        a, b = rng.sample(ps, 2)
        if (mode == "foot" and a["city"] != b["city"]) or (mode == "bike" and straight(a, b) > 30):
            continue
        if (a["id"], b["id"]) not in {(x["id"], y["id"]) for x, y, _ in out}:
            out.append((a, b, mode))
    return out


def _unique_nearest(db, p, typ, gap=0.05):
    """The nearest place of a type when it is clearly the nearest (display ties would be ambiguous)."""
    near = by_distance(db, p, typ)
    if not near or (len(near) > 1 and near[1][0] - near[0][0] < gap):
        return None
    return near[0]


def _radius_safe(near, radius, margin=0.02):
    return all(abs(d - radius) >= margin for d, _ in near)


# -- oracle helpers ------------------------------------------------------------------------------

def _norm(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip().lower()


def _expect(obs, *texts):
    """Fail loudly when the page does not show what the oracle is about to report."""
    shown = _norm(html.unescape(obs.html))   # texts and attributes such as data-text
    for t in texts:
        if _norm(t) not in shown:
            raise OracleError(f"expected {t!r} on {obs.url}")


def _open_place(obs, name):
    obs = yield from searching(obs, name, tag="input", placeholder="Search")
    obs = yield from click(obs, text=name, tag="a")
    _expect(obs, f"Node: {name}")
    return obs


def _directions(obs, frm, to, mode):
    obs = yield from click(obs, text="Directions", tag="a")
    obs = yield from typing(obs, frm, tag="input", placeholder="From")
    obs = yield from typing(obs, to, tag="input", placeholder="To")
    if mode != "car":
        obs = yield from selecting(obs, MODES[mode], tag="select", title="Mode")
    obs = yield from click(obs, text="Go", tag="input")
    return obs


def _nearby(obs, place, typ, radius=None):
    obs = yield from _open_place(obs, place)
    obs = yield from click(obs, text="Nearby places", tag="a")
    obs = yield from selecting(obs, typ, tag="select", title="Place type")
    if radius is not None:
        obs = yield from selecting(obs, f"{radius} km", tag="select", title="Radius")
    obs = yield from click(obs, text="Show", tag="button")
    return obs


def _read_place_answer(task):
    """Oracle for the templates answered on the place page itself."""
    o = task["miniarena"]["oracle"]
    obs = yield
    obs = yield from _open_place(obs, o["place"])
    _expect(obs, o["shown"])
    yield note(f"The page shows {o['shown']}.", exit_(o["answer"]))


# -- 500-503: read a place page -----------------------------------------------------------------

def inst_postcode(db, split):
    return [_spec({"place": p["name"]}, _string("exact_match", p["postcode"]),
                  {"place": p["name"], "shown": f"Postcode: {p['postcode']}", "answer": p["postcode"]})
            for p in _split_places(db, split)]


def inst_address(db, split):
    return [_spec({"place": p["name"]}, _string("must_include", [addr(p), p["city"], p["postcode"]]),
                  {"place": p["name"], "shown": f"Address: {addr(p)}",
                   "answer": f"{addr(p)}, {p['city']}, {p['postcode']}"})
            for p in _split_places(db, split)]


def inst_coords(db, split):
    out = []
    for p in _split_places(db, split):
        lat, lon = fmt_coord(p["lat"]), fmt_coord(p["lon"])
        out.append(_spec({"place": p["name"]}, _string("must_include", [lat, lon]),
                         {"place": p["name"], "shown": f"Location: {lat}, {lon}", "answer": f"{lat}, {lon}"}))
    return out


def inst_type(db, split):
    # names that give the type away ("... Hospital") would need no lookup
    return [_spec({"place": p["name"]}, _string("exact_match", p["type"]),
                  {"place": p["name"], "shown": f"Type: {p['type']}", "answer": p["type"]})
            for p in _split_places(db, split)
            if p["type"] not in p["name"].lower() and PLURAL[p["type"]] not in p["name"].lower()]


# -- 504, 505, 509: directions ------------------------------------------------------------------

def inst_drive_distance(db, split):
    out = []
    for a, b, _ in _pairs(db, split, 150, "distance"):
        km, hours, _ = route(db, a["id"], b["id"], "car")
        out.append(_spec({"start": a["name"], "end": b["name"]}, _string("must_include", [f"{km:.1f}"]),
                         {"from": a["name"], "to": b["name"], "mode": "car", "answer": fmt_km(km),
                          "shown": f"Distance: {fmt_km(km)}"}))
    return out


def inst_travel_time(db, split):
    out = []
    for a, b, mode in _pairs(db, split, 150, "time", ("car", "bike", "foot")):
        km, hours, _ = route(db, a["id"], b["id"], mode)
        out.append(_spec({"verb": MODE_VERB[mode], "start": a["name"], "end": b["name"]},
                         _string("must_include", [fmt_time(hours)]),
                         {"from": a["name"], "to": b["name"], "mode": mode, "answer": fmt_time(hours),
                          "shown": f"Time: {fmt_time(hours)}"}))
    return out


def solve_directions_answer(task):
    o = task["miniarena"]["oracle"]
    obs = yield
    obs = yield from _directions(obs, o["from"], o["to"], o["mode"])
    _expect(obs, o["shown"])
    yield note(f"The route shows {o['shown']}.", exit_(o["answer"]))


def inst_show_directions(db, split):
    out = []
    for a, b, mode in _pairs(db, split, 150, "show", ("foot", "car", "bike")):
        km, hours, _ = route(db, a["id"], b["id"], mode)
        ref = url("__MAP__/directions", **{"from": a["name"], "to": b["name"], "mode": mode})
        ev = {"eval_types": ["url_match", "program_html"], "reference_url": ref,
              "program_html": [{"url": "last", "locator": "document.querySelector('#sidebar_content').outerText",
                                "required_contents": {"must_include": [f"Distance: {fmt_km(km)}",
                                                                       f"Time: {fmt_time(hours)}"]}}]}
        out.append(_spec({"mode": MODE_ADJ[mode], "start": a["name"], "end": b["name"]}, ev,
                         {"from": a["name"], "to": b["name"], "mode": mode, "shown": f"Distance: {fmt_km(km)}"}))
    return out


def solve_show_directions(task):
    """Through the place page's JS menu: Get directions -> Directions from here."""
    o = task["miniarena"]["oracle"]
    obs = yield
    obs = yield from _open_place(obs, o["from"])
    obs = yield from click(obs, text="Get directions", tag="button")
    obs = yield from click(obs, text="Directions from here", tag="a")
    obs = yield from typing(obs, o["to"], tag="input", placeholder="To")
    if o["mode"] != "car":
        obs = yield from selecting(obs, MODES[o["mode"]], tag="select", title="Mode")
    obs = yield from click(obs, text="Go", tag="input")
    _expect(obs, o["shown"])
    yield exit_("")


# -- 506, 508: "<type> near <place>" searches ---------------------------------------------------

NEAREST_TYPES = [t for t in TYPES if t != "airport"]


def inst_nearest(db, split):
    out = []
    for p in _split_places(db, split):
        for t in _sample(NEAREST_TYPES, 3, f"nearest:{p['name']}", split):
            hit = _unique_nearest(db, p, t)
            if hit:
                out.append(_spec({"type": t, "place": p["name"]}, _string("must_include", [hit[1]["name"]]),
                                 {"query": f"{PLURAL[t]} near {p['name']}", "answer": hit[1]["name"]}))
    return out


def solve_nearest(task):
    o = task["miniarena"]["oracle"]
    obs = yield
    obs = yield from searching(obs, o["query"], tag="input", placeholder="Search")
    _expect(obs, o["answer"])
    yield note(f"The first result, the closest, is {o['answer']}.", exit_(o["answer"]))


def inst_search_near(db, split):
    out = []
    for p in _split_places(db, split):
        for t in _sample(TYPES, 2, f"near:{p['name']}", split):
            if p["type"] == t:
                continue
            q = f"{PLURAL[t]} near {p['name']}"
            out.append(_spec({"types": PLURAL[t], "place": p["name"]},
                             {"eval_types": ["url_match"], "reference_url": url("__MAP__/search", query=q)},
                             {"query": q}))
    return out


def solve_search_near(task):
    o = task["miniarena"]["oracle"]
    obs = yield
    obs = yield from searching(obs, o["query"], tag="input", placeholder="Search")
    _expect(obs, f"Search Results: {o['query']}")
    yield exit_("")


# -- 507, 512, 513: the nearby page -------------------------------------------------------------

def inst_count_within(db, split):
    out = []
    for p in _split_places(db, split):
        for t in _sample(NEAREST_TYPES, 4, f"count:{p['name']}", split):
            near = by_distance(db, p, t)
            for r in _sample(["1", "2", "5", "10"], 4, f"count:{p['name']}:{t}", split):
                n = sum(d <= float(r) for d, _ in near)
                if 1 <= n <= 25 and _radius_safe(near, float(r)):
                    out.append(_spec({"types": PLURAL[t], "radius": f"{r} km", "place": p["name"]},
                                     _string("must_include", [str(n)]),
                                     {"place": p["name"], "type": t, "radius": r, "answer": str(n)}))
                    break
    return out


def solve_count_within(task):
    o = task["miniarena"]["oracle"]
    obs = yield
    obs = yield from _nearby(obs, o["place"], o["type"], o["radius"])
    while obs.exists(text="Next", tag="a"):   # rows are numbered across pages: the last number is the count
        obs = yield from click(obs, text="Next", tag="a")
    numbers = [int(m.group(1)) for el in obs.find_all(tag="li", interactive=False)
               for m in [re.match(r"(\d+)\.", el.text)] if m]
    if not numbers or max(numbers) != int(o["answer"]):
        raise OracleError(f"the last row is {max(numbers, default=None)}, expected {o['answer']} on {obs.url}")
    yield note(f"The list of {PLURAL[o['type']]} within {o['radius']} km ends at number {o['answer']}.",
               exit_(o["answer"]))


def inst_nearest_postcode(db, split):
    out = []
    for p in _split_places(db, split):
        for t in _sample(NEAREST_TYPES, 2, f"npost:{p['name']}", split):
            hit = _unique_nearest(db, p, t)
            if hit:
                q = hit[1]
                out.append(_spec({"type": t, "place": p["name"]}, _string("exact_match", q["postcode"]),
                                 {"place": p["name"], "type": t, "target": q["name"], "answer": q["postcode"]}))
    return out


def solve_nearest_postcode(task):
    o = task["miniarena"]["oracle"]
    obs = yield
    obs = yield from _nearby(obs, o["place"], o["type"])
    if not obs.exists(text=o["target"], tag="a"):   # default radius 5 km may be too small
        obs = yield from selecting(obs, "50 km", tag="select", title="Radius")
        obs = yield from click(obs, text="Show", tag="button")
    obs = yield from click(obs, text=o["target"], tag="a")
    _expect(obs, f"Postcode: {o['answer']}")
    yield note(f"{o['target']} has postcode {o['answer']}.", exit_(o["answer"]))


def inst_addresses_within(db, split):
    out = []
    for p in _split_places(db, split):
        for t in _sample(NEAREST_TYPES, 5, f"addr:{p['name']}", split):
            near = by_distance(db, p, t)
            for r in ("1", "2", "5"):
                inside = [q for d, q in near if d <= float(r)]
                if 1 <= len(inside) <= 3 and _radius_safe(near, float(r)):
                    out.append(_spec({"types": PLURAL[t], "radius": f"{r} km", "place": p["name"]},
                                     _string("must_include", [addr(q) for q in inside]),
                                     {"place": p["name"], "type": t, "radius": r,
                                      "answer": "; ".join(addr(q) for q in inside)}))
                    break
    return out


def solve_addresses_within(task):
    o = task["miniarena"]["oracle"]
    obs = yield
    obs = yield from _nearby(obs, o["place"], o["type"], o["radius"])
    _expect(obs, *o["answer"].split("; "))
    yield note(f"The list shows these addresses: {o['answer']}.", exit_(o["answer"]))


# -- 510, 511: the place page and its JS panel ---------------------------------------------------

def inst_place_page(db, split):
    out = []
    for p in _split_places(db, split):
        ev = {"eval_types": ["url_match", "program_html"], "reference_url": f"__MAP__/node/{p['id']}",
              "program_html": [{"url": "last", "locator": "document.querySelector('#sidebar_content').outerText",
                                "required_contents": {"must_include": [f"Node: {p['name']}"]}}]}
        out.append(_spec({"place": p["name"]}, ev, {"place": p["name"]}))
    return out


def solve_place_page(task):
    obs = yield
    obs = yield from _open_place(obs, task["miniarena"]["oracle"]["place"])
    yield exit_("")


def inst_closest_feature(db, split):
    out = []
    for p in _split_places(db, split):
        hit = _unique_nearest(db, p, None, gap=0.03)
        if hit:
            out.append(_spec({"place": p["name"]}, _string("must_include", [hit[1]["name"]]),
                             {"place": p["name"], "shown": hit[1]["name"], "answer": hit[1]["name"]}))
    return out


# -- 514 (test only): nearest place of a type, then the travel time to it ------------------------

def inst_time_to_nearest(db, split):
    out = []
    for p in _split_places(db, split):
        for t in ("hospital", "pharmacy", "supermarket", "library", "park", "cafe"):
            hit = _unique_nearest(db, p, t)
            if not hit:
                continue
            mode = ("car", "foot", "bike")[len(out) % 3]
            hours, km, _ = shortest(db, p["id"], mode)
            # "nearest" must not depend on reading it as crow-flies or by road
            times = sorted((hours[q["id"]], q["name"]) for _, q in by_distance(db, p, t))
            if times[0][1] != hit[1]["name"] or (len(times) > 1 and times[1][0] - times[0][0] < 2 / 60):
                continue
            out.append(_spec({"verb": MODE_VERB[mode], "place": p["name"], "type": t},
                             _string("must_include", [fmt_time(times[0][0])]),
                             {"place": p["name"], "type": t, "target": hit[1]["name"], "mode": mode,
                              "answer": fmt_time(times[0][0])}))
    return out


def solve_time_to_nearest(task):
    o = task["miniarena"]["oracle"]
    obs = yield
    obs = yield from searching(obs, f"{PLURAL[o['type']]} near {o['place']}", tag="input", placeholder="Search")
    obs = yield from click(obs, text=o["target"], tag="a")
    obs = yield from click(obs, text="Get directions", tag="button")
    obs = yield from click(obs, text="Directions to here", tag="a")
    obs = yield from typing(obs, o["place"], tag="input", placeholder="From")
    if o["mode"] != "car":
        obs = yield from selecting(obs, MODES[o["mode"]], tag="select", title="Mode")
    obs = yield from click(obs, text="Go", tag="input")
    _expect(obs, f"Time: {o['answer']}")
    yield note(f"The route to {o['target']} takes {o['answer']}.", exit_(o["answer"]))


def _t(id, intent, inst, solve, steps, skills, test_only=False):
    return Template(id=id, site="map", intent_template=intent, instances=inst, oracle=solve,
                    test_only=test_only, skills=skills, min_steps=steps)


TEMPLATES = [
    _t(500, "What is the postcode of {{place}}?", inst_postcode, _read_place_answer, 3, "search, open result, read"),
    _t(501, "What is the full address of {{place}}?", inst_address, _read_place_answer, 3,
       "search, open result, read"),
    _t(502, "What are the coordinates (latitude, longitude) of {{place}}?", inst_coords, _read_place_answer, 3,
       "search, open result, read"),
    _t(503, "What type of place is {{place}}?", inst_type, _read_place_answer, 3, "search, open result, read"),
    _t(504, "What is the driving distance from {{start}} to {{end}} in km?", inst_drive_distance,
       solve_directions_answer, 5, "directions form, read distance"),
    _t(505, "How long does it take to {{verb}} from {{start}} to {{end}}?", inst_travel_time,
       solve_directions_answer, 6, "directions form, mode dropdown, read time"),
    _t(506, "What is the nearest {{type}} to {{place}}?", inst_nearest, solve_nearest, 2,
       "'<type> near <place>' search, read first result"),
    _t(507, "How many {{types}} are within {{radius}} of {{place}}?", inst_count_within, solve_count_within, 7,
       "open place, nearby page, two dropdowns, paginate, count"),
    _t(508, "Search the map for {{types}} near {{place}}", inst_search_near, solve_search_near, 2,
       "'<type> near <place>' search (url_match)"),
    _t(509, "Show me the {{mode}} directions from {{start}} to {{end}}", inst_show_directions,
       solve_show_directions, 8, "open place, JS menu, directions form, mode dropdown (url_match + program_html)"),
    _t(510, "Pull up the description page of {{place}} on the map", inst_place_page, solve_place_page, 3,
       "search, open result (url_match + program_html)"),
    _t(511, "What is the closest mapped feature to {{place}}?", inst_closest_feature, _read_place_answer, 3,
       "open place, read the JS 'Nearby features' panel"),
    _t(512, "What is the postcode of the nearest {{type}} to {{place}}?", inst_nearest_postcode,
       solve_nearest_postcode, 7, "open place, nearby page, filter, open result, read"),
    _t(513, "List the street addresses of all {{types}} within {{radius}} of {{place}}", inst_addresses_within,
       solve_addresses_within, 7, "open place, nearby page, two dropdowns, read list"),
    _t(514, "How long does it take to {{verb}} from {{place}} to the nearest {{type}}?", inst_time_to_nearest,
       solve_time_to_nearest, 9, "near search + JS menu 'Directions to here' + directions form", test_only=True),
]
