"""miniarena.gitlab: a small GitLab, modelled on WebArena's GitLab (port 8023).

Pages (GitLab's own paths):
  /                                   dashboard: your projects, tabs Yours / Starred / Explore
  /dashboard/projects/starred         projects you starred
  /explore                            all projects: filter by name (or namespace), sort, 10 a page
  /dashboard/issues                   issues assigned to you (state tabs, search, pages)
  /dashboard/todos                    your To-Do List (To Do / Done tabs, "Mark as done", pages)
  /search?search=..&scope=..          the header search: projects or issues
  /<ns>                               a group or user namespace with its projects
  /<ns>/<p>                           project page: description, star button and count, commits,
                                      README, an activity panel loaded by JavaScript after load
  /<ns>/<p>/-/issues                  issues: state tabs with counts, label filter, search, sort, pages
  /<ns>/<p>/-/issues/new              new issue form (title, description, assignee, label)
  /<ns>/<p>/-/issues/<n>              issue: state, assignee ("Edit" opens the assign form), labels,
                                      comments, comment form, Close / Reopen
  /<ns>/<p>/-/merge_requests[/<n>]    merge requests (state tabs, search) and one MR with comments
  /<ns>/<p>/-/project_members         members and roles, "Invite member" form (username + role)
JavaScript widgets: the sort and label dropdowns and the assignee "Edit" are core `data-menu` toggles
(their menus are hidden until clicked, as GitLab's are); the project page's activity panel is a
`data-async` fragment. <select> dropdowns are in the forms (assignee, label, role).

Pages are kept compact for the agent's observation: list rows are a link plus one line of plain text.

byteblaze is the signed-in account; like WebArena's it may act on every project (no permission
checks), and login is required for every page.

Tables: users, namespaces, projects, stars (who starred what), members (role per project), issues,
issue_labels, merge_requests, notes (comments on issues and MRs), todos. Everything is generated from
the seed: 11 namespaces, 40 projects, 42 users, 5-25 issues and 2-10 merge requests per project.

Templates 400-416 and 450-451 (see TEMPLATES at the end): questions about open issue counts,
assignees, stars, commits, roles, MR branches and sorted namespace listings (string_match), opening a
filtered issue list (url_match), and writes checked with program_html: star a project, create an
issue, invite a member, close / comment / assign an issue, comment on an MR, mark a to-do as done.
Two test_only templates compose sorting a namespace's projects with creating an assigned issue or
with a label filter count.
"""
from __future__ import annotations

import datetime
import random
import re
import sqlite3
import urllib.parse

from .oracle import OracleError, click, exit_, note, scroll_down, searching, selecting, typing
from .server import HttpError, Redirect, Response, Site, document, esc, pager, slugify, split_of, url
from .tasks import Template

PER_PAGE = 10
NOW = "2023-07-01"           # the date stamped on everything created during an episode
ROLES = ["Guest", "Reporter", "Developer", "Maintainer", "Owner"]
LABELS = ["bug", "feature", "documentation", "help wanted", "enhancement", "question", "accessibility",
          "performance"]
NAME = r"([A-Za-z0-9][A-Za-z0-9_.-]{0,80})"   # a namespace or project path segment
IID = r"(\d{1,9})"                            # issue / MR numbers (bounded: no integer overflow)

USERS = [
    ("byteblaze", "Byte Blaze"), ("ericwbailey", "Eric Bailey"), ("kilian", "Kilian Valkhof"),
    ("roshanjossy", "Roshan Jossy"), ("abisubramanya27", "Abishek S"), ("convexegg", "Convex Egg"),
    ("vinta", "Vinta Chen"), ("mdxsmith", "Maria Smith"), ("jpetrova", "Jana Petrova"),
    ("tkeller", "Tobias Keller"), ("lwang", "Li Wang"), ("asharma", "Ananya Sharma"),
    ("dnguyen", "Duc Nguyen"), ("rgarcia", "Rosa Garcia"), ("lbyrne", "Liam Byrne"),
    ("sokafor", "Sade Okafor"), ("hmuller", "Hanna Muller"), ("pkowalski", "Piotr Kowalski"),
    ("ysato", "Yuki Sato"), ("mrossi", "Marco Rossi"), ("efischer", "Emma Fischer"),
    ("cdubois", "Claire Dubois"), ("jsilva", "Joao Silva"), ("nkim", "Nari Kim"),
    ("alopez", "Alejandro Lopez"), ("bjohnson", "Brian Johnson"), ("kpatel", "Kiran Patel"),
    ("gnovak", "Gregor Novak"), ("ilarsen", "Ingrid Larsen"), ("fhassan", "Farah Hassan"),
    ("tbrown", "Tyler Brown"), ("mivanova", "Mila Ivanova"), ("zchen", "Zoe Chen"),
    ("rmendes", "Rafael Mendes"), ("sberg", "Sofia Berg"), ("uadeyemi", "Uche Adeyemi"),
    ("wtaylor", "Will Taylor"), ("eandersson", "Erik Andersson"), ("vrao", "Vikram Rao"),
    ("hkaur", "Harleen Kaur"), ("mmartin", "Mathieu Martin"), ("aokoro", "Ada Okoro"),
]

# (path, display name, kind, [(project path, description)]); project paths are unique site-wide so
# a task can name a project by its path alone, as WebArena's intents do.
NAMESPACES = [
    ("byteblaze", "Byte Blaze", "user", [
        ("accessible-html-content-patterns", "Accessible HTML content patterns, with examples"),
        ("a11y-syntax-highlighting", "Accessible syntax highlighting color themes"),
        ("a11y-webring.club", "A webring for digital accessibility practitioners"),
        ("cloud-to-butt", "Browser extension that replaces cloud with butt"),
        ("dotfiles", "Personal shell, git and editor configuration"),
        ("empathy-prompts", "Ideas to help consider people with disabilities in design"),
        ("ericwbailey.website", "Source code for a personal website"),
        ("timeit", "A tiny command line timer for shell commands"),
        ("solarized-prism-theme", "Solarized color theme for Prism.js"),
        ("gimmiethat.space", "A landing page generator for side projects")]),
    ("a11yproject", "The A11Y Project", "group", [
        ("a11yproject.com", "A community-driven effort to make digital accessibility easier"),
        ("a11y-checklist", "A checklist for building accessible websites"),
        ("contrast-checker", "Check the color contrast of text against its background")]),
    ("primer", "Primer", "group", [
        ("design", "Primer design guidelines and documentation"),
        ("react", "React components for the Primer design system"),
        ("css", "The CSS implementation of the Primer design system"),
        ("octicons", "A scalable set of icons handcrafted for developers"),
        ("primitives", "Color, spacing and typography design tokens")]),
    ("keycloak", "Keycloak", "group", [
        ("keycloak", "Open source identity and access management"),
        ("keycloak-documentation", "Guides and reference documentation for Keycloak"),
        ("keycloak-quickstarts", "Example applications that use Keycloak"),
        ("keycloak-containers", "Container images for running Keycloak")]),
    ("openlayers", "OpenLayers", "group", [
        ("openlayers", "A high-performance library for interactive web maps"),
        ("ol-mapbox-style", "Use Mapbox style documents with OpenLayers"),
        ("ol-cesium", "Integrate a 3D globe with OpenLayers maps")]),
    ("umano", "Umano", "group", [
        ("AndroidSlidingUpPanel", "A sliding up panel layout for Android"),
        ("umano-web", "The Umano marketing website")]),
    ("sphinx-doc", "Sphinx", "group", [
        ("sphinx", "The Sphinx documentation generator"),
        ("sphinx-autobuild", "Rebuild Sphinx documentation on changes, with live reload"),
        ("alabaster", "A light, configurable Sphinx theme")]),
    ("jekyll", "Jekyll", "group", [
        ("jekyll", "A blog-aware static site generator in Ruby"),
        ("minima", "The default theme for new Jekyll sites"),
        ("jekyll-seo-tag", "Adds metadata tags for search engines and social networks"),
        ("jekyll-feed", "Generates an Atom feed of your Jekyll posts")]),
    ("kilian", "Kilian Valkhof", "user", [
        ("polypane-docs", "Documentation site for the Polypane browser"),
        ("remark-lint-a11y", "Accessibility rules for remark-lint")]),
    ("convexegg", "Convex Egg", "user", [
        ("super_awesome_robot", "Control software for a small hobby robot"),
        ("csv-toolkit", "Command line tools for cleaning CSV files")]),
    ("abisubramanya27", "Abishek S", "user", [
        ("2019-nCov", "Data and charts about the 2019 coronavirus outbreak"),
        ("computer-science-notes", "Lecture notes for computer science courses")]),
]

VERBS = ["Fix", "Add", "Improve", "Update", "Remove", "Document", "Refactor", "Support", "Investigate",
         "Clarify", "Test", "Simplify"]
OBJECTS = ["dark mode toggle", "keyboard focus styles", "color contrast checker", "search results page",
           "README installation steps", "CI pipeline cache", "broken footer links", "mobile navigation menu",
           "screen reader labels", "date picker", "login redirect", "RSS feed", "image alt text",
           "build warnings", "release notes", "contributor guide", "table sorting", "print stylesheet",
           "error messages", "config loader", "unit test coverage", "deprecated API calls", "page load time",
           "heading hierarchy", "skip link", "code block highlighting", "language switcher",
           "sitemap generation", "form validation", "docker image", "TypeScript types", "changelog format",
           "link underline styles", "cookie banner", "emoji rendering", "tooltip positioning",
           "font loading", "404 page", "license headers", "webhook handler"]
SUFFIXES = ["", " on mobile", " in Firefox", " for Windows users", " after upgrade", " in the docs",
            " in dark theme", " for RTL languages"]
DESCRIPTIONS = [
    "Steps to reproduce: open the page, use only the keyboard and watch the focus order.",
    "This came up in the last accessibility audit.",
    "Reported by a user on the forum. Needs confirmation.",
    "We should agree on an approach before anyone starts on this.",
    "Happens on the latest release; it worked in the previous one.",
    "A small change, good for a first contribution.",
    "See the discussion in the weekly sync notes.",
    "Low priority, but it keeps coming up in support requests.",
]
SEED_NOTES = ["I had the same problem.", "+1 from me", "Any update on this?", "Fixed in the latest release.",
              "See the linked merge request.", "Can we close this?", "I would like to work on this.",
              "The docs mention this briefly.", "Confirmed on my machine.", "Added to the next milestone."]
# Task texts: none of them occurs in the generated data, so a task's goal state never holds at the start.
TASK_COMMENTS = ["Good idea", "Looks good to me", "I can reproduce this", "Thanks for the report",
                 "Could you add a test?", "Working on a fix now", "This is a duplicate",
                 "Needs more information", "Let us discuss this next week", "Great catch, thank you"]
TASK_TITLES = ["Add a high contrast theme", "Broken link in the contributing guide",
               "Keyboard trap in the modal dialog", "Update the copyright year", "Missing lang attribute",
               "Support reduced motion preferences", "Typo on the about page", "Flaky end to end test",
               "Add a code of conduct", "Slow startup on older laptops", "Translate the landing page",
               "Explain the release process", "Remove unused dependencies", "Add a security policy"]

SCHEMA = """
CREATE TABLE users(username TEXT PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE namespaces(path TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL);
CREATE TABLE projects(id INTEGER PRIMARY KEY, namespace TEXT NOT NULL, path TEXT NOT NULL,
  description TEXT, readme TEXT, stars INTEGER, commits INTEGER, branches INTEGER, default_branch TEXT,
  created TEXT, updated TEXT, UNIQUE(namespace, path));
CREATE TABLE stars(project_id INTEGER, username TEXT, PRIMARY KEY(project_id, username));
CREATE TABLE members(project_id INTEGER, username TEXT, role TEXT, since TEXT, PRIMARY KEY(project_id, username));
CREATE TABLE issues(id INTEGER PRIMARY KEY, project_id INTEGER, iid INTEGER, title TEXT, description TEXT,
  state TEXT, author TEXT, assignee TEXT, created TEXT, updated TEXT, UNIQUE(project_id, iid));
CREATE TABLE issue_labels(issue_id INTEGER, label TEXT, PRIMARY KEY(issue_id, label));
CREATE TABLE merge_requests(id INTEGER PRIMARY KEY, project_id INTEGER, iid INTEGER, title TEXT,
  description TEXT, source_branch TEXT, target_branch TEXT, state TEXT, author TEXT, created TEXT,
  UNIQUE(project_id, iid));
CREATE TABLE notes(id INTEGER PRIMARY KEY, project_id INTEGER, target TEXT, iid INTEGER, author TEXT,
  body TEXT, created TEXT);
CREATE TABLE todos(id INTEGER PRIMARY KEY, username TEXT, project_id INTEGER, target TEXT, iid INTEGER,
  action TEXT, author TEXT, state TEXT, created TEXT, done_seq INTEGER);
CREATE INDEX issues_project ON issues(project_id, state);
CREATE INDEX notes_target ON notes(project_id, target, iid);
"""


# ----------------------------------------------------------------------------------------------
# data


def _day(k: int) -> str:
    return (datetime.date(2022, 1, 1) + datetime.timedelta(days=k)).isoformat()


def build(db: sqlite3.Connection, seed: int) -> None:
    rng = random.Random(f"gitlab:{seed}")
    db.executescript(SCHEMA)
    db.executemany("INSERT INTO users VALUES (?,?)", USERS)
    others = [u for u, _ in USERS if u != "byteblaze"]
    titles = [f"{v} {o}{s}" for v in VERBS for o in OBJECTS for s in SUFFIXES]
    rng.shuffle(titles)
    titles = iter(titles)                      # issue and MR titles are unique site-wide
    n_projects = sum(len(p) for *_, p in NAMESPACES)
    updated_days = iter(rng.sample(range(90, 540), n_projects))   # distinct: "last updated" has no ties
    pid = issue_id = mr_id = 0
    todo_targets = []
    for ns, ns_name, kind, projects in NAMESPACES:
        db.execute("INSERT INTO namespaces VALUES (?,?,?)", (ns, ns_name, kind))
        star_counts = rng.sample(range(0, 160), len(projects))   # distinct within a namespace
        group_owner = ns if kind == "user" else rng.choice(others)
        for (path, desc), stars in zip(projects, star_counts):
            pid += 1
            upd = next(updated_days)
            created = rng.randint(0, upd - 60)
            branch = rng.choice(["main", "master"])
            readme = f"{desc}. See CONTRIBUTING.md to get started."
            db.execute("INSERT INTO projects VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                       (pid, ns, path, desc, readme, stars, rng.randint(12, 4800), rng.randint(1, 40),
                        branch, _day(created), _day(upd)))
            members = {group_owner: "Owner"}
            if ns != "byteblaze" and rng.random() < 0.3:
                members["byteblaze"] = rng.choice(["Maintainer", "Developer", "Reporter"])
            elif ns == "byteblaze":
                members["byteblaze"] = "Owner"
            for u in rng.sample(others, rng.randint(2, 9)):
                members.setdefault(u, rng.choice(["Guest", "Reporter", "Developer", "Developer", "Maintainer"]))
            for u, role in members.items():
                db.execute("INSERT INTO members VALUES (?,?,?,?)", (pid, u, role, _day(rng.randint(created, upd))))
            people = sorted(members)
            # issues
            n_issues = rng.randint(5, 25)
            for iid in range(1, n_issues + 1):
                issue_id += 1
                c = rng.randint(created, upd)
                u = rng.randint(c, upd)
                state = "opened" if (rng.random() < 0.6 or iid == n_issues) else "closed"
                assignee = rng.choice(people) if rng.random() < 0.75 else None
                title = next(titles)
                db.execute("INSERT INTO issues VALUES (?,?,?,?,?,?,?,?,?,?)",
                           (issue_id, pid, iid, title, rng.choice(DESCRIPTIONS), state,
                            rng.choice(people), assignee, _day(c), _day(u)))
                for label in rng.sample(LABELS, rng.choice([0, 1, 1, 1, 2])):
                    db.execute("INSERT INTO issue_labels VALUES (?,?)", (issue_id, label))
                for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
                    db.execute("INSERT INTO notes(project_id,target,iid,author,body,created) VALUES (?,?,?,?,?,?)",
                               (pid, "issue", iid, rng.choice(people), rng.choice(SEED_NOTES), _day(rng.randint(c, u))))
                if "byteblaze" in members:
                    todo_targets.append((pid, "issue", iid, assignee == "byteblaze", c))
            # merge requests
            branches = set()
            for iid in range(1, rng.randint(2, 10) + 1):
                mr_id += 1
                title = next(titles)
                source = slugify(title)[:40].strip("-")
                while source in branches:
                    source += "-2"
                branches.add(source)
                c = rng.randint(created, upd)
                target = branch if rng.random() < 0.85 else "develop"
                state = rng.choices(["opened", "merged", "closed"], [40, 45, 15])[0]
                desc = f"Closes #{rng.randint(1, n_issues)}. {rng.choice(DESCRIPTIONS)}"
                db.execute("INSERT INTO merge_requests VALUES (?,?,?,?,?,?,?,?,?,?)",
                           (mr_id, pid, iid, title, desc, source, target, state, rng.choice(people), _day(c)))
                for _ in range(rng.choice([0, 1, 1, 2])):
                    db.execute("INSERT INTO notes(project_id,target,iid,author,body,created) VALUES (?,?,?,?,?,?)",
                               (pid, "mr", iid, rng.choice(people), rng.choice(SEED_NOTES), _day(rng.randint(c, upd))))
                if "byteblaze" in members:
                    todo_targets.append((pid, "mr", iid, False, c))
    # byteblaze's stars: a few projects of other namespaces (the counts include them)
    for p in rng.sample(range(11, n_projects + 1), 5):
        db.execute("INSERT INTO stars VALUES (?,?)", (p, "byteblaze"))
        db.execute("UPDATE projects SET stars = MAX(stars, 1) WHERE id=?", (p,))
    for p in range(1, n_projects + 1):   # other users' stars, for the star list's realism
        for u in rng.sample(others, 2):
            db.execute("INSERT INTO stars VALUES (?,?)", (p, u))
    # byteblaze's To-Do List: every issue assigned to them, plus mentions and review requests
    assigned = [t for t in todo_targets if t[3]]
    rest = [t for t in todo_targets if not t[3]]
    picked = assigned[:20] + rng.sample(rest, 32 - min(20, len(assigned)))
    rng.shuffle(picked)
    for k, (pid, target, iid, is_assigned, c) in enumerate(picked):
        table_ = "issues" if target == "issue" else "merge_requests"
        author = db.execute(f"SELECT author FROM {table_} WHERE project_id=? AND iid=?", (pid, iid)).fetchone()[0]
        if author == "byteblaze":
            author = rng.choice(others)
        action = "assigned" if is_assigned else ("review_requested" if target == "mr" else "mentioned")
        done = k >= 26
        db.execute("INSERT INTO todos(username,project_id,target,iid,action,author,state,created,done_seq) "
                   "VALUES (?,?,?,?,?,?,?,?,?)", ("byteblaze", pid, target, iid, action, author,
                                                  "done" if done else "pending", _day(rng.randint(c, 540)),
                                                  k if done else None))


# ----------------------------------------------------------------------------------------------
# queries shared by pages and task templates


def _rows(db, sql, args=()):
    db.row_factory = sqlite3.Row
    return db.execute(sql, args).fetchall()


def _like(q: str) -> str:
    return "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


PROJECT_SORTS = {   # value -> (label, ORDER BY)
    "latest_activity_desc": ("Last updated", "p.updated DESC, p.id"),
    "latest_activity_asc": ("Oldest updated", "p.updated ASC, p.id"),
    "name_asc": ("Name", "p.path COLLATE NOCASE ASC"),
    "name_desc": ("Name, descending", "p.path COLLATE NOCASE DESC"),
    "stars_desc": ("Most stars", "p.stars DESC, p.id"),
    "stars_asc": ("Least stars", "p.stars ASC, p.id"),
}


def project_rows(db, name: str = "", sort: str = "latest_activity_desc", scope: str = "all", user: str = ""):
    """Projects matching the name filter (project path, namespace path or namespace name), sorted.

    scope: 'all' (explore), 'yours' (member of), 'starred'."""
    where, args = ["1"], []
    if name:
        where.append("(p.path LIKE ? ESCAPE '\\' OR p.namespace LIKE ? ESCAPE '\\' OR n.name LIKE ? ESCAPE '\\')")
        args += [_like(name)] * 3
    if scope == "yours":
        where.append("EXISTS (SELECT 1 FROM members m WHERE m.project_id=p.id AND m.username=?)")
        args.append(user)
    elif scope == "starred":
        where.append("EXISTS (SELECT 1 FROM stars s WHERE s.project_id=p.id AND s.username=?)")
        args.append(user)
    return _rows(db, f"""
        SELECT p.*, n.name AS ns_name,
          (SELECT COUNT(*) FROM issues i WHERE i.project_id=p.id AND i.state='opened') AS open_issues,
          (SELECT role FROM members m WHERE m.project_id=p.id AND m.username=?) AS role
        FROM projects p JOIN namespaces n ON n.path = p.namespace
        WHERE {' AND '.join(where)} ORDER BY {PROJECT_SORTS[sort][1]}""", [user] + args)


ISSUE_SORTS = {"created_desc": ("Created date", "i.created DESC, i.iid DESC"),
               "updated_desc": ("Updated date", "i.updated DESC, i.iid DESC"),
               "title_asc": ("Title", "i.title COLLATE NOCASE ASC")}


def issue_rows(db, project_id=None, assignee=None, label="", search="", sort="created_desc"):
    """Issues (all states) with their labels, filtered like GitLab's issue list."""
    where, args = ["1"], []
    if project_id is not None:
        where.append("i.project_id=?"); args.append(project_id)
    if assignee is not None:
        where.append("i.assignee=?"); args.append(assignee)
    if label:
        where.append("EXISTS (SELECT 1 FROM issue_labels l WHERE l.issue_id=i.id AND l.label=?)"); args.append(label)
    if search:
        where.append("i.title LIKE ? ESCAPE '\\'"); args.append(_like(search))
    return _rows(db, f"""
        SELECT i.*, u.name AS assignee_name, p.namespace, p.path, n.name AS ns_name,
          (SELECT group_concat(label, ', ') FROM (SELECT label FROM issue_labels l WHERE l.issue_id=i.id ORDER BY label)) AS labels
        FROM issues i JOIN projects p ON p.id=i.project_id JOIN namespaces n ON n.path=p.namespace
        LEFT JOIN users u ON u.username=i.assignee
        WHERE {' AND '.join(where)} ORDER BY {ISSUE_SORTS[sort][1]}""", args)


def _user_name(db, username):
    row = db.execute("SELECT name FROM users WHERE username=?", (username,)).fetchone()
    return row[0] if row else username


# ----------------------------------------------------------------------------------------------
# page furniture

STYLE = ("<style>.tabs a,.project-nav a{margin-right:14px}.tabs a.active{font-weight:bold;text-decoration:none;color:#222}"
         ".project-nav{padding:4px 0 8px;border-bottom:1px solid #ddd;margin-bottom:8px}.badge{background:#ddd;"
         "border-radius:8px;padding:0 6px}.state-open{color:#1f7a1f;font-weight:bold}.state-closed{color:#a33;"
         "font-weight:bold}.note{margin:4px 0}.note-body{margin-left:12px}textarea{width:480px;height:60px}"
         "h1{font-size:22px;margin:6px 0}h2{font-size:16px;margin:10px 0 4px}</style>")


def chrome(req, title, body):
    user = req.user if req is not None else None
    parts = [STYLE, "<header><a class='brand' href='/'>GitLab</a>"]
    if user:
        todos = req.db.execute("SELECT COUNT(*) FROM todos WHERE username=? AND state='pending'", (user,)).fetchone()[0]
        issues = req.db.execute("SELECT COUNT(*) FROM issues WHERE assignee=? AND state='opened'", (user,)).fetchone()[0]
        parts.append("<form class='inline' method='get' action='/search'>"
                     "<input type='search' name='search' placeholder='Search GitLab'></form>"
                     f"<nav><a href='/dashboard/issues'>Assigned issues {issues}</a>"
                     f"<a href='/dashboard/todos'>To-Do List {todos}</a></nav><a href='/logout'>Sign Out</a>")
    else:
        parts.append("<a href='/login'>Sign In</a>")
    parts.append("</header>")
    return document(f"{title} · GitLab", "".join(parts), body)


def _page(req, title, body):
    return chrome(req, title, body)


def _tabs(items, active):
    """items: [(key, href, text)]; plain-text links (no nested elements: the agent clicks them)."""
    return "<nav class='tabs'>" + "".join(
        f"<a href='{esc(h)}'{' class=active' if k == active else ''}>{esc(text)}</a>" for k, h, text in items) + "</nav>"


def _pages(req, total):
    """The core pager, shown only when there is more than one page (observations stay short)."""
    offset, html_ = pager(req, total, PER_PAGE, "page")
    return offset, (html_ if total > PER_PAGE else "")


def _select(name, options, current, title, auto=True):
    """A <select>; auto-submits its form on change (GitLab's dropdowns apply at once)."""
    opts = "".join(f"<option value='{esc(v)}'{' selected' if v == current else ''}>{esc(label)}</option>"
                   for v, label in options)
    onchange = " onchange='this.form.submit()'" if auto else ""
    return f"<select name='{esc(name)}' title='{esc(title)}'{onchange}>{opts}</select>"


def _dropdown(menu_id, label, items):
    """GitLab's JS dropdowns (sort, label filter): a button that shows a menu of links (core data-menu).
    Closed, the menu is hidden, so it costs the agent's observation nothing until opened."""
    links = "".join(f"<a href='{esc(h)}'>{esc(t)}</a>" for t, h in items)
    return (f"<span class='menu'><button type='button' data-menu='{menu_id}'>{esc(label)}</button>"
            f"<span id='{menu_id}' class='menu-items'>{links}</span></span>")


def _hidden(**params):
    return "".join(f"<input type='hidden' name='{esc(k)}' value='{esc(v)}'>" for k, v in params.items() if v)


def _plink(p):
    return f"<a href='/{esc(p['namespace'])}/{esc(p['path'])}'>{esc(p['ns_name'])} / {esc(p['path'])}</a>"


def _project(req, ns, path):
    rows = _rows(req.db, "SELECT p.*, n.name AS ns_name FROM projects p JOIN namespaces n ON n.path=p.namespace "
                         "WHERE p.namespace=? AND p.path=?", (ns, path))
    if not rows:
        raise HttpError(404, f"no project {ns}/{path}")
    return rows[0]


def _base(p):
    return f"/{p['namespace']}/{p['path']}"


def _project_nav(req, p, active=""):
    base = _base(p)
    n_issues = req.db.execute("SELECT COUNT(*) FROM issues WHERE project_id=? AND state='opened'", (p["id"],)).fetchone()[0]
    n_mrs = req.db.execute("SELECT COUNT(*) FROM merge_requests WHERE project_id=? AND state='opened'", (p["id"],)).fetchone()[0]
    return (f"<nav class='project-nav'><a href='/{esc(p['namespace'])}'>{esc(p['ns_name'])}</a>"
            f"<a href='{esc(base)}'>{esc(p['path'])}</a>"
            f"<a href='{esc(base)}/-/issues'>Issues {n_issues}</a>"
            f"<a href='{esc(base)}/-/merge_requests'>Merge requests {n_mrs}</a>"
            f"<a href='{esc(base)}/-/project_members'>Members</a></nav>")


# ----------------------------------------------------------------------------------------------
# project lists: dashboard, starred, explore, namespace


def _project_list(req, scope, heading, path, extra_where=None):
    name = req.arg("name")
    sort = req.choice_arg("sort", PROJECT_SORTS, "latest_activity_desc")
    rows = project_rows(req.db, name, sort, scope, req.user or "")
    if extra_where:
        rows = [r for r in rows if extra_where(r)]
    offset, pages = _pages(req, len(rows))
    show_role = scope != "all"
    sorts = [(label, url(path, name=name, sort=k)) for k, (label, _) in PROJECT_SORTS.items()]
    body = [heading,
            f"<form class='inline' method='get' action='{esc(path)}'>{_hidden(sort=sort)}"
            f"<input type='search' name='name' placeholder='Filter by name' value='{esc(name)}'></form> "
            + _dropdown("sort-menu", f"Sort: {PROJECT_SORTS[sort][0]}", sorts)]
    if not rows:
        body.append("<p class='muted'>No projects found.</p>")
    else:
        body.append("<ul class='project-list'>" + "".join(_project_row(r, show_role) for r in rows[offset:offset + PER_PAGE])
                    + "</ul>" + pages)
    return "".join(body)


# List rows are a link followed by a line of details as plain text: every element costs the agent a
# bounding box in its observation (and its text twice), so a row is one element plus its link.
def _project_row(r, show_role=False):
    role = f"{r['role']} · " if show_role and r["role"] else ""
    return f"<li class='project-row'>{_plink(r)} · {esc(role)}{r['stars']} stars · updated {esc(r['updated'])}</li>"


def _dashboard_tabs(req, active):
    yours = len(project_rows(req.db, scope="yours", user=req.user or ""))
    starred = len(project_rows(req.db, scope="starred", user=req.user or ""))
    return _tabs([("yours", "/", f"Yours {yours}"), ("starred", "/dashboard/projects/starred", f"Starred {starred}"),
                  ("explore", "/explore", "Explore")], active)


def dashboard(req):
    req.require_user()
    head = "<h1>Projects</h1>" + _dashboard_tabs(req, "yours")
    return _page(req, "Projects", _project_list(req, "yours", head, "/"))


def starred(req):
    req.require_user()
    head = "<h1>Starred projects</h1>" + _dashboard_tabs(req, "starred")
    return _page(req, "Starred projects", _project_list(req, "starred", head, "/dashboard/projects/starred"))


def explore(req):
    head = "<h1>Explore projects</h1>" + _dashboard_tabs(req, "explore")
    return _page(req, "Explore projects", _project_list(req, "all", head, "/explore"))


def namespace_page(req, ns):
    rows = _rows(req.db, "SELECT * FROM namespaces WHERE path=?", (ns,))
    if not rows:
        raise HttpError(404, f"no group or user named {ns!r}")
    n = rows[0]
    head = (f"<h1>{esc(n['name'])}</h1><p class='muted'>{'Group' if n['kind'] == 'group' else 'User'} "
            f"@{esc(n['path'])}</p>")
    return _page(req, n["name"], _project_list(req, "all", head, f"/{ns}", lambda r: r["namespace"] == ns))


# ----------------------------------------------------------------------------------------------
# project page, star, activity panel


def project_page(req, ns, path):
    p = _project(req, ns, path)
    base = _base(p)
    starred_ = req.db.execute("SELECT 1 FROM stars WHERE project_id=? AND username=?", (p["id"], req.user)).fetchone()
    body = (_project_nav(req, p)
            + f"<h1>{esc(p['path'])}</h1><p class='muted'>Project ID: {p['id']}</p>"
            + f"<p class='project-description'>{esc(p['description'])}</p>"
            + f"<div class='stars'>Stars: <span id='star-count'>{p['stars']}</span> "
            + f"<form class='inline' method='post' action='{esc(base)}/-/star'>"
            + f"<button id='star-button' type='submit'>{'Unstar' if starred_ else 'Star'}</button></form></div>"
            + f"<p class='project-stats'>{p['commits']} Commits · {p['branches']} Branches · default branch "
            + f"{esc(p['default_branch'])} · created {esc(p['created'])} · updated {esc(p['updated'])}</p>"
            + f"<h2>README.md</h2><p class='readme'>{esc(p['readme'])}</p>"
            + f"<h2>Recent activity</h2><div id='activity' data-async='{esc(base)}/-/activity'>Loading activity...</div>")
    return _page(req, p["path"], body)


def star(req, ns, path):
    p = _project(req, ns, path)
    user = req.require_user()
    if req.db.execute("SELECT 1 FROM stars WHERE project_id=? AND username=?", (p["id"], user)).fetchone():
        req.db.execute("DELETE FROM stars WHERE project_id=? AND username=?", (p["id"], user))
        req.db.execute("UPDATE projects SET stars = stars - 1 WHERE id=?", (p["id"],))
    else:
        req.db.execute("INSERT INTO stars VALUES (?,?)", (p["id"], user))
        req.db.execute("UPDATE projects SET stars = stars + 1 WHERE id=?", (p["id"],))
    raise Redirect(_base(p))


def activity(req, ns, path):
    """The HTML fragment the project page's activity panel fetches after load."""
    p = _project(req, ns, path)
    rows = _rows(req.db, """
        SELECT * FROM (
          SELECT created AS day, id AS seq, author, 'opened issue #' || iid AS what, title FROM issues WHERE project_id=?1
          UNION ALL SELECT created, 100000 + id, author, 'opened merge request !' || iid, title FROM merge_requests WHERE project_id=?1
          UNION ALL SELECT created, 200000 + id, author, 'commented on ' ||
            CASE target WHEN 'issue' THEN 'issue #' ELSE 'merge request !' END || iid, '' FROM notes WHERE project_id=?1)
        ORDER BY day DESC, seq DESC LIMIT 3""", (p["id"],))
    items = "".join(f"<li>{esc(r['day'])} {esc(_user_name(req.db, r['author']))} {esc(r['what'])}"
                    f"{(' ' + esc(r['title'])) if r['title'] else ''}</li>" for r in rows)
    return Response(f"<ul class='activity-list'>{items}</ul>")


# ----------------------------------------------------------------------------------------------
# issues


def _state_arg(req, states=("opened", "closed", "all")):
    return req.choice_arg("state", states, "opened")


def _issue_table(rows, show_project=False, show_state=False):
    items = []
    for r in rows:
        href = f"/{r['namespace']}/{r['path']}/-/issues/{r['iid']}"
        details = ([r["path"]] if show_project else []) + [f"#{r['iid']}"] + (
            [("Open" if r["state"] == "opened" else "Closed")] if show_state else []) + (
            [r["labels"]] if r["labels"] else []) + ([f"assigned to {r['assignee_name']}"] if r["assignee"] else [])
        items.append(f"<li class='issue-row'><a href='{esc(href)}'>{esc(r['title'])}</a> · {esc(' · '.join(details))}</li>")
    return "<ul class='issue-list'>" + "".join(items) + "</ul>"


def _issue_list(req, path, project_id=None, assignee=None, show_project=False):
    """State tabs (counts follow the label and search filters, like GitLab's), filters, table, pages."""
    state = _state_arg(req)
    label = req.choice_arg("label_name", [""] + LABELS, "")
    search = req.arg("search")
    sort = req.choice_arg("sort", ISSUE_SORTS, "created_desc")
    rows = issue_rows(req.db, project_id, assignee, label, search, sort)
    counts = {"opened": sum(r["state"] == "opened" for r in rows), "closed": sum(r["state"] == "closed" for r in rows)}
    counts["all"] = len(rows)
    keep = {"label_name": label, "search": search, "sort": sort if sort != "created_desc" else ""}
    tabs = _tabs([(s, url(path, state=s, **keep), f"{text} {counts[s]}")
                  for s, text in (("opened", "Open"), ("closed", "Closed"), ("all", "All"))], state)
    here = {"state": state, "search": search}
    labels = [("Any label", url(path, sort=keep["sort"], **here))] + [
        (lb, url(path, label_name=lb, sort=keep["sort"], **here)) for lb in LABELS]
    sorts = [(text, url(path, label_name=label, sort=k, **here)) for k, (text, _) in ISSUE_SORTS.items()]
    form = (f"<form class='inline' method='get' action='{esc(path)}'>{_hidden(state=state, label_name=label, sort=keep['sort'])}"
            f"<input type='search' name='search' placeholder='Search or filter results...' value='{esc(search)}'></form> "
            + _dropdown("label-menu", f"Label: {label or 'any'}", labels) + " "
            + _dropdown("sort-menu", f"Sort: {ISSUE_SORTS[sort][0]}", sorts))
    shown = rows if state == "all" else [r for r in rows if r["state"] == state]
    offset, pages = _pages(req, len(shown))
    listing = (_issue_table(shown[offset:offset + PER_PAGE], show_project, state == "all") + pages) if shown else \
        "<p class='muted'>No issues match these filters.</p>"
    return tabs + form + listing


def issues_list(req, ns, path):
    p = _project(req, ns, path)
    base = _base(p)
    body = (_project_nav(req, p) + f"<h1>Issues</h1><a href='{esc(base)}/-/issues/new'>New issue</a>"
            + _issue_list(req, f"{base}/-/issues", project_id=p["id"]))
    return _page(req, f"Issues · {p['path']}", body)


def dashboard_issues(req):
    user = req.require_user()
    body = "<h1>Issues assigned to me</h1>" + _issue_list(req, "/dashboard/issues", assignee=user, show_project=True)
    return _page(req, "Assigned issues", body)


def _member_options(req, p):
    return [(r["username"], r["name"]) for r in _rows(
        req.db, "SELECT u.username, u.name FROM members m JOIN users u ON u.username=m.username "
                "WHERE m.project_id=? ORDER BY u.name", (p["id"],))]


def new_issue_form(req, ns, path):
    p = _project(req, ns, path)
    body = (_project_nav(req, p) + "<h1>New Issue</h1>"
            f"<form method='post' action='{esc(_base(p))}/-/issues'>"
            "<p><label>Title <input type='text' name='title' placeholder='Title' size='60'></label></p>"
            "<p><label>Description <textarea name='description' placeholder='Write a description...'></textarea></label></p>"
            "<p><label>Assignee " + _select("assignee", [("", "Unassigned")] + _member_options(req, p), "", "Assignee", False)
            + "</label> <label>Label " + _select("label", [("", "No label")] + [(lb, lb) for lb in LABELS], "", "Label", False)
            + "</label></p><button type='submit'>Create issue</button></form>")
    return _page(req, f"New issue · {p['path']}", body)


def _check_member(req, p, username):
    if username and not req.db.execute("SELECT 1 FROM members WHERE project_id=? AND username=?",
                                       (p["id"], username)).fetchone():
        raise HttpError(400, f"{username!r} is not a member of {p['namespace']}/{p['path']} and cannot be assigned")


def create_issue(req, ns, path):
    p = _project(req, ns, path)
    user = req.require_user()
    title = req.field("title", 255)
    description = req.field("description", 5000, required=False)
    assignee = req.field("assignee", 100, required=False)
    label = req.field("label", 50, required=False)
    _check_member(req, p, assignee)
    if label and label not in LABELS:
        raise HttpError(400, f"unknown label {label[:40]!r}")
    iid = req.db.execute("SELECT COALESCE(MAX(iid), 0) + 1 FROM issues WHERE project_id=?", (p["id"],)).fetchone()[0]
    cur = req.db.execute("INSERT INTO issues(project_id,iid,title,description,state,author,assignee,created,updated) "
                         "VALUES (?,?,?,?,?,?,?,?,?)", (p["id"], iid, title, description, "opened", user,
                                                         assignee or None, NOW, NOW))
    if label:
        req.db.execute("INSERT INTO issue_labels VALUES (?,?)", (cur.lastrowid, label))
    raise Redirect(f"{_base(p)}/-/issues/{iid}")


def _issue(req, p, iid):
    rows = _rows(req.db, "SELECT i.*, u.name AS assignee_name, a.name AS author_name FROM issues i "
                         "LEFT JOIN users u ON u.username=i.assignee LEFT JOIN users a ON a.username=i.author "
                         "WHERE i.project_id=? AND i.iid=?", (p["id"], int(iid)))
    if not rows:
        raise HttpError(404, f"no issue #{iid} in {p['namespace']}/{p['path']}")
    return rows[0]


def _notes_html(req, p, target, iid, action):
    notes = _rows(req.db, "SELECT n.*, u.name FROM notes n LEFT JOIN users u ON u.username=n.author "
                          "WHERE project_id=? AND target=? AND iid=? ORDER BY created, id", (p["id"], target, iid))
    items = "".join(f"<li class='note'><span class='note-author'>{esc(n['name'] or n['author'])}</span> "
                    f"<span class='muted'>{esc(n['created'])}</span><div class='note-body'>{esc(n['body'])}</div></li>"
                    for n in notes)
    return (f"<h2>Comments ({len(notes)})</h2><ul id='notes-list'>{items}</ul>"
            f"<form method='post' action='{esc(action)}'><textarea name='note' placeholder='Write a comment...'></textarea>"
            "<br><button type='submit'>Comment</button></form>")


def issue_page(req, ns, path, iid):
    p = _project(req, ns, path)
    i = _issue(req, p, iid)
    base = f"{_base(p)}/-/issues/{i['iid']}"
    labels = [r[0] for r in req.db.execute("SELECT label FROM issue_labels WHERE issue_id=? ORDER BY label", (i["id"],))]
    is_open = i["state"] == "opened"
    assignee = f"{esc(i['assignee_name'])} @{esc(i['assignee'])}" if i["assignee"] else "None"
    body = (_project_nav(req, p)
            + f"<div class='issue-meta'><span id='issue-state' class='issue-state {'state-open' if is_open else 'state-closed'}'>"
            + f"{'Open' if is_open else 'Closed'}</span> <span>Issue #{i['iid']} · opened {esc(i['created'])} by "
            + f"{esc(i['author_name'] or i['author'])}</span> "
            + f"<form class='inline' method='post' action='{esc(base)}/{'close' if is_open else 'reopen'}'>"
            + f"<button type='submit'>{'Close issue' if is_open else 'Reopen issue'}</button></form></div>"
            + f"<h1 class='issue-title'>{esc(i['title'])}</h1>"
            # GitLab's sidebar "Edit": the assignee dropdown opens on click (a data-menu widget)
            + f"<div class='block assignee'>Assignee: {assignee} <span class='menu'>"
            + "<button type='button' data-menu='assign-menu'>Edit</button>"
            + f"<form id='assign-menu' class='menu-items' method='post' action='{esc(base)}/assign'>"
            + _select("assignee", [("", "Unassigned")] + _member_options(req, p), i["assignee"] or "", "Change assignee", False)
            + " <button type='submit'>Assign</button></form></span></div>"
            + f"<div class='block labels'>Labels: {esc(', '.join(labels)) if labels else 'None'}</div>"
            + f"<div class='description'><p>{esc(i['description'] or 'No description.')}</p></div>"
            + _notes_html(req, p, "issue", i["iid"], f"{base}/notes"))
    return _page(req, f"{i['title']} · Issue #{i['iid']}", body)


def issue_state(req, ns, path, iid, action):
    p = _project(req, ns, path)
    i = _issue(req, p, iid)
    new = "closed" if action == "close" else "opened"
    if i["state"] == new:
        raise HttpError(400, f"issue #{i['iid']} is already {'closed' if new == 'closed' else 'open'}")
    req.db.execute("UPDATE issues SET state=?, updated=? WHERE id=?", (new, NOW, i["id"]))
    raise Redirect(f"{_base(p)}/-/issues/{i['iid']}")


def issue_close(req, ns, path, iid):
    return issue_state(req, ns, path, iid, "close")


def issue_reopen(req, ns, path, iid):
    return issue_state(req, ns, path, iid, "reopen")


def issue_assign(req, ns, path, iid):
    p = _project(req, ns, path)
    i = _issue(req, p, iid)
    assignee = req.field("assignee", 100, required=False)
    _check_member(req, p, assignee)
    req.db.execute("UPDATE issues SET assignee=?, updated=? WHERE id=?", (assignee or None, NOW, i["id"]))
    raise Redirect(f"{_base(p)}/-/issues/{i['iid']}")


def _add_note(req, p, target, iid):
    body = req.field("note", 2000)
    req.db.execute("INSERT INTO notes(project_id,target,iid,author,body,created) VALUES (?,?,?,?,?,?)",
                   (p["id"], target, iid, req.require_user(), body, NOW))


def issue_note(req, ns, path, iid):
    p = _project(req, ns, path)
    i = _issue(req, p, iid)
    _add_note(req, p, "issue", i["iid"])
    req.db.execute("UPDATE issues SET updated=? WHERE id=?", (NOW, i["id"]))
    raise Redirect(f"{_base(p)}/-/issues/{i['iid']}")


# ----------------------------------------------------------------------------------------------
# merge requests


def mr_list(req, ns, path):
    p = _project(req, ns, path)
    base = f"{_base(p)}/-/merge_requests"
    state = req.choice_arg("state", ("opened", "merged", "closed", "all"), "opened")
    search = req.arg("search")
    rows = _rows(req.db, "SELECT m.*, u.name AS author_name FROM merge_requests m LEFT JOIN users u ON u.username=m.author "
                         "WHERE project_id=? AND title LIKE ? ESCAPE '\\' ORDER BY created DESC, iid DESC",
                 (p["id"], _like(search)))
    counts = {s: sum(r["state"] == s for r in rows) for s in ("opened", "merged", "closed")}
    counts["all"] = len(rows)
    tabs = _tabs([(s, url(base, state=s, search=search), f"{text} {counts[s]}")
                  for s, text in (("opened", "Open"), ("merged", "Merged"), ("closed", "Closed"), ("all", "All"))], state)
    shown = rows if state == "all" else [r for r in rows if r["state"] == state]
    offset, pages = _pages(req, len(shown))
    items = "".join(
        f"<li class='mr-row'><a href='{esc(base)}/{r['iid']}'>{esc(r['title'])}</a> · "
        f"!{r['iid']} · by {esc(r['author_name'])} · {esc(r['state'].capitalize())}</li>"
        for r in shown[offset:offset + PER_PAGE])
    listing = f"<ul class='mr-list'>{items}</ul>{pages}" if shown else "<p class='muted'>No merge requests.</p>"
    body = (_project_nav(req, p) + "<h1>Merge requests</h1>" + tabs
            + f"<form method='get' action='{esc(base)}'>{_hidden(state=state)}<input type='search' name='search' "
            f"placeholder='Search merge requests' value='{esc(search)}'></form>" + listing)
    return _page(req, f"Merge requests · {p['path']}", body)


def _mr(req, p, iid):
    rows = _rows(req.db, "SELECT m.*, u.name AS author_name FROM merge_requests m LEFT JOIN users u ON u.username=m.author "
                         "WHERE project_id=? AND iid=?", (p["id"], int(iid)))
    if not rows:
        raise HttpError(404, f"no merge request !{iid} in {p['namespace']}/{p['path']}")
    return rows[0]


def mr_page(req, ns, path, iid):
    p = _project(req, ns, path)
    m = _mr(req, p, iid)
    base = f"{_base(p)}/-/merge_requests/{m['iid']}"
    body = (_project_nav(req, p)
            + f"<p class='mr-meta'><span id='mr-state' class='mr-state'>{esc(m['state'].capitalize())}</span> "
            + f"<span>Merge request !{m['iid']} · created {esc(m['created'])} by {esc(m['author_name'])}</span></p>"
            + f"<h1 class='mr-title'>{esc(m['title'])}</h1>"
            + f"<p>Source branch: <code class='source-branch'>{esc(m['source_branch'])}</code></p>"
            + f"<p>Target branch: <code class='target-branch'>{esc(m['target_branch'])}</code></p>"
            + f"<div class='description'><p>{esc(m['description'])}</p></div>"
            + _notes_html(req, p, "mr", m["iid"], f"{base}/notes"))
    return _page(req, f"{m['title']} · Merge request !{m['iid']}", body)


def mr_note(req, ns, path, iid):
    p = _project(req, ns, path)
    m = _mr(req, p, iid)
    _add_note(req, p, "mr", m["iid"])
    raise Redirect(f"{_base(p)}/-/merge_requests/{m['iid']}")


# ----------------------------------------------------------------------------------------------
# members


def members_page(req, ns, path):
    p = _project(req, ns, path)
    base = f"{_base(p)}/-/project_members"
    rows = _rows(req.db, "SELECT m.*, u.name FROM members m JOIN users u ON u.username=m.username WHERE project_id=? "
                         "ORDER BY CASE role WHEN 'Owner' THEN 0 WHEN 'Maintainer' THEN 1 WHEN 'Developer' THEN 2 "
                         "WHEN 'Reporter' THEN 3 ELSE 4 END, u.name", (p["id"],))
    flash = ""
    invited = req.arg("invited", max_len=100)
    if invited:
        row = [r for r in rows if r["username"] == invited]
        if row:
            flash = f"<p class='flash'>{esc(row[0]['name'])} was added to the project as {esc(row[0]['role'])}.</p>"
    items = "".join(f"<li class='member' data-username='{esc(r['username'])}'>{esc(r['name'])} @{esc(r['username'])}"
                    f" · {esc(r['role'])}</li>" for r in rows)
    body = (_project_nav(req, p) + "<h1>Project members</h1>" + flash
            + f"<form method='post' action='{esc(base)}'><b>Invite member</b> "
            "<input type='text' name='username' placeholder='Username'> "
            + _select("access_level", [(r, r) for r in ROLES], "Guest", "Role", False)
            + " <button type='submit'>Invite</button></form>"
            + f"<h2>Members ({len(rows)})</h2><ul class='members-list'>{items}</ul>")
    return _page(req, f"Members · {p['path']}", body)


def invite_member(req, ns, path):
    p = _project(req, ns, path)
    username = req.field("username", 100).lstrip("@").strip()
    role = req.field("access_level", 20)
    if role not in ROLES:
        raise HttpError(400, f"role must be one of {', '.join(ROLES)}")
    if not req.db.execute("SELECT 1 FROM users WHERE username=?", (username,)).fetchone():
        raise HttpError(404, f"no user with the username {username[:60]!r}")
    if req.db.execute("SELECT 1 FROM members WHERE project_id=? AND username=?", (p["id"], username)).fetchone():
        raise HttpError(400, f"{username} is already a member of {p['namespace']}/{p['path']}")
    req.db.execute("INSERT INTO members VALUES (?,?,?,?)", (p["id"], username, role, NOW))
    raise Redirect(url(f"{_base(p)}/-/project_members", invited=username))


# ----------------------------------------------------------------------------------------------
# to-do list, header search


TODO_ACTIONS = {"assigned": "assigned you", "mentioned": "mentioned you on", "review_requested": "requested your review on"}


def todos_page(req):
    user = req.require_user()
    state = req.choice_arg("state", ("pending", "done"), "pending")
    order = "t.created DESC, t.id DESC" if state == "pending" else "t.done_seq DESC"
    rows = _rows(req.db, f"""
        SELECT t.*, u.name AS author_name, p.namespace, p.path, n.name AS ns_name,
          COALESCE(i.title, m.title) AS title
        FROM todos t JOIN projects p ON p.id=t.project_id JOIN namespaces n ON n.path=p.namespace
        LEFT JOIN users u ON u.username=t.author
        LEFT JOIN issues i ON t.target='issue' AND i.project_id=t.project_id AND i.iid=t.iid
        LEFT JOIN merge_requests m ON t.target='mr' AND m.project_id=t.project_id AND m.iid=t.iid
        WHERE t.username=? AND t.state=? ORDER BY {order}""", (user, state))
    counts = dict(req.db.execute("SELECT state, COUNT(*) FROM todos WHERE username=? GROUP BY state", (user,)).fetchall())
    tabs = _tabs([("pending", "/dashboard/todos", f"To Do {counts.get('pending', 0)}"),
                  ("done", "/dashboard/todos?state=done", f"Done {counts.get('done', 0)}")], state)
    offset, pages = _pages(req, len(rows))
    items = []
    for t in rows[offset:offset + PER_PAGE]:
        kind, sep = ("issues", "#") if t["target"] == "issue" else ("merge_requests", "!")
        href = f"/{t['namespace']}/{t['path']}/-/{kind}/{t['iid']}"
        what = "issue" if t["target"] == "issue" else "merge request"
        button = (f" <form class='inline' method='post' action='/dashboard/todos/{t['id']}/mark_as_done'>"
                  "<button type='submit'>Mark as done</button></form>" if state == "pending" else "")
        items.append(f"<li class='todo'><a href='{esc(href)}'>{esc(t['title'])}</a>{button} · {esc(t['author_name'])} "
                     f"{TODO_ACTIONS[t['action']]} {what} {sep}{t['iid']} in {esc(t['path'])}</li>")
    listing = f"<ul class='todos-list'>{''.join(items)}</ul>{pages}" if rows else \
        "<ul class='todos-list'></ul><p class='muted'>Nothing here.</p>"
    return _page(req, "To-Do List", "<h1>To-Do List</h1>" + tabs + listing)


def todo_done(req, todo_id):
    user = req.require_user()
    t = req.one("SELECT id, state FROM todos WHERE id=? AND username=?", (int(todo_id), user), "to-do item")
    if t[1] == "done":
        raise HttpError(400, "this to-do item is already done")
    seq = req.db.execute("SELECT COALESCE(MAX(done_seq), 0) + 1 FROM todos").fetchone()[0]
    req.db.execute("UPDATE todos SET state='done', done_seq=? WHERE id=?", (seq, t[0]))
    raise Redirect("/dashboard/todos")


def search_page(req):
    q = req.arg("search").strip()
    projects = project_rows(req.db, q, "latest_activity_desc") if q else []
    issues = issue_rows(req.db, search=q) if q else []
    scope = req.choice_arg("scope", ("projects", "issues"), "issues" if issues and not projects else "projects")
    tabs = _tabs([("projects", url("/search", search=q, scope="projects"), f"Projects {len(projects)}"),
                  ("issues", url("/search", search=q, scope="issues"), f"Issues {len(issues)}")], scope)
    form = (f"<form method='get' action='/search'>{_hidden(scope=scope)}<input type='search' name='search' "
            f"placeholder='Search for projects, issues...' value='{esc(q)}'></form>")
    rows = projects if scope == "projects" else issues
    if not q:
        return _page(req, "Search", "<h1>Search</h1>" + form)
    offset, pages = _pages(req, len(rows))
    if not rows:
        listing = "<p class='muted'>No results.</p>"
    elif scope == "projects":
        listing = "<ul class='project-list'>" + "".join(_project_row(r) for r in rows[offset:offset + PER_PAGE]) + "</ul>" + pages
    else:
        listing = _issue_table(rows[offset:offset + PER_PAGE], show_project=True, show_state=True) + pages
    return _page(req, f"Search: {q}", "<h1>Search</h1>" + form + tabs + listing)


def dashboard_redirect(req):
    raise Redirect("/")


ROUTES = [
    ("GET", r"/", dashboard),
    ("GET", r"/dashboard/?", dashboard_redirect),
    ("GET", r"/dashboard/projects/?", dashboard),
    ("GET", r"/dashboard/projects/starred/?", starred),
    ("GET", r"/explore(?:/projects)?/?", explore),
    ("GET", r"/dashboard/issues/?", dashboard_issues),
    ("GET", r"/dashboard/todos/?", todos_page),
    ("POST", r"/dashboard/todos/(\d{1,9})/mark_as_done", todo_done),
    ("GET", r"/search/?", search_page),
    ("GET", rf"/{NAME}/{NAME}/-/activity", activity),
    ("POST", rf"/{NAME}/{NAME}/-/star", star),
    ("GET", rf"/{NAME}/{NAME}/-/issues/?", issues_list),
    ("POST", rf"/{NAME}/{NAME}/-/issues/?", create_issue),
    ("GET", rf"/{NAME}/{NAME}/-/issues/new", new_issue_form),
    ("GET", rf"/{NAME}/{NAME}/-/issues/{IID}", issue_page),
    ("POST", rf"/{NAME}/{NAME}/-/issues/{IID}/close", issue_close),
    ("POST", rf"/{NAME}/{NAME}/-/issues/{IID}/reopen", issue_reopen),
    ("POST", rf"/{NAME}/{NAME}/-/issues/{IID}/assign", issue_assign),
    ("POST", rf"/{NAME}/{NAME}/-/issues/{IID}/notes", issue_note),
    ("GET", rf"/{NAME}/{NAME}/-/merge_requests/?", mr_list),
    ("GET", rf"/{NAME}/{NAME}/-/merge_requests/{IID}", mr_page),
    ("POST", rf"/{NAME}/{NAME}/-/merge_requests/{IID}/notes", mr_note),
    ("GET", rf"/{NAME}/{NAME}/-/project_members/?", members_page),
    ("POST", rf"/{NAME}/{NAME}/-/project_members/?", invite_member),
    ("GET", rf"/{NAME}/{NAME}/?", project_page),
    ("GET", rf"/{NAME}/?", namespace_page),
]

SITE = Site(name="gitlab", env_var="GITLAB", title="GitLab", build=build, routes=ROUTES, chrome=chrome,
            users={"byteblaze": "hello1234"}, prefix="", login_required=True, login=True)


# ----------------------------------------------------------------------------------------------
# tasks
#
# Entity kinds for the split rule: 'project' (named namespace/path), 'namespace' (its path) and
# 'user' (username). Labels, roles, comment texts and new issue titles are vocabulary, not entities.

G = "__GITLAB__"
# (a locator that finds nothing throws, which the evaluator reads as an empty text)
ROW_LOC = "document.querySelector('li.issue-row').outerText"
LAST_NOTE_LOC = "document.querySelector('#notes-list > li:last-child .note-body').outerText"
SORT_CRITERIA = {"has the most stars": "stars_desc", "has the fewest stars": "stars_asc",
                 "was updated most recently": "latest_activity_desc",
                 "was updated least recently": "latest_activity_asc"}


def _projects(db, split):
    return [p for p in project_rows(db) if split_of("project", f"{p['namespace']}/{p['path']}") == split]


def _namespaces(db, split):
    """Namespaces of a split whose name filter on Explore lists exactly their own projects."""
    out = []
    for ns in _rows(db, "SELECT * FROM namespaces ORDER BY path"):
        if split_of("namespace", ns["path"]) != split:
            continue
        found = project_rows(db, ns["name"])
        if found and all(p["namespace"] == ns["path"] for p in found):
            out.append((ns, found))
    return out


def _split_users(split):
    return {u for u, _ in USERS if u != "byteblaze" and split_of("user", u) == split}


def _po(p, **extra):
    """What an oracle needs to reach a project from anywhere: Explore, filter, click its link."""
    return dict({"project": p["path"], "link": f"{p['ns_name']} / {p['path']}"}, **extra)


def _purl(p, rest=""):
    return f"{G}/{p['namespace']}/{p['path']}{rest}"


def _spec(values, ev, oracle):
    return {"values": values, "start_url": G, "eval": ev, "oracle": oracle}


def _answer(value):
    return {"eval_types": ["string_match"], "reference_answers": {"exact_match": str(value)}}


def _html_check(url_, locator, **required):
    return {"eval_types": ["program_html"], "program_html": [
        {"url": url_, "locator": locator, "required_contents": required}]}


def _members(db, p):
    return _rows(db, "SELECT m.username, m.role, u.name FROM members m JOIN users u ON u.username=m.username "
                     "WHERE m.project_id=? ORDER BY m.username", (p["id"],))


def _issues_of(db, p, state=None):
    return [i for i in issue_rows(db, project_id=p["id"], sort="title_asc") if state is None or i["state"] == state]


# -- oracle building blocks -----------------------------------------------------------------------

def _o(task):
    return task["miniarena"]["oracle"]


def _norm(s):
    return " ".join(str(s).split()).lower()


def _expect(obs, *texts):
    """The oracle reads values off the page: make sure the page really shows them."""
    page, raw = _norm(obs.text), _norm(obs.html)
    for t in texts:
        if _norm(t) not in page and _norm(t) not in raw:
            raise OracleError(f"expected {t!r} on {obs.url}")


def _expect_row(obs, link, details):
    """A list row is <li data-text="details..."><a>link</a></li>: check the row of `link` reads `details`."""
    els = obs.elements
    for k, el in enumerate(els):
        if el.tag == "a" and _norm(el.text) == _norm(link) and k and els[k - 1].tag == "li":
            if _norm(details) in _norm(els[k - 1].attrs.get("data-text", "")):
                return
    raise OracleError(f"expected the row {link!r} to read {details!r} on {obs.url}")


def _click_count(obs, word):
    """Click a link reading '<word> <count>' (a tab or a nav link: counts change, the word does not)."""
    pattern = re.compile(rf"^{re.escape(_norm(word))} \d+$")
    for el in obs.find_all(tag="a"):
        if pattern.match(_norm(el.text)):
            return (yield click(el.id))
    raise OracleError(f"no link '{word} <count>' in view on {obs.url}")


def _click_button_after(obs, text, max_steps=30):
    """Click the first button after the link `text` (a row's button), scrolling and paging to find it."""
    for _ in range(max_steps):
        els = obs.elements
        for k, el in enumerate(els):
            if el.tag == "a" and _norm(el.text) == _norm(text):
                button = next((b for b in els[k + 1:] if b.tag == "button" and b.id is not None), None)
                if button is not None:
                    return (yield click(button.id))
        before = obs.html
        obs = yield scroll_down()
        if obs.html == before:   # the bottom of this page: go to the next one
            obs = yield click(obs.find(text="Next", tag="a"))
    raise OracleError(f"no row {text!r} with a button")


def _open_project(obs, o):
    obs = yield from click(obs, text="Explore", tag="a")
    obs = yield from searching(obs, o["project"], placeholder="Filter by name")
    return (yield from click(obs, text=o["link"], tag="a"))


def _open_issue(obs, o):
    obs = yield from _open_project(obs, o)
    obs = yield from _click_count(obs, "Issues")
    obs = yield from _click_count(obs, "All")
    obs = yield from searching(obs, o["title"], placeholder="Search or filter results...")
    return (yield from click(obs, text=o["title"], tag="a"))


def _open_mr(obs, o):
    obs = yield from _open_project(obs, o)
    obs = yield from _click_count(obs, "Merge requests")
    obs = yield from _click_count(obs, "All")
    obs = yield from searching(obs, o["title"], placeholder="Search merge requests")
    return (yield from click(obs, text=o["title"], tag="a"))


def _choose(obs, button, option):
    """Open a dropdown (its button reads '<button>: <current>') and click one of its links."""
    el = next((e for e in obs.find_all(tag="button") if _norm(e.text).startswith(_norm(button) + ":")), None)
    if el is None:
        raise OracleError(f"no dropdown {button!r} in view on {obs.url}")
    obs = yield click(el.id)
    return (yield from click(obs, text=option, tag="a"))


def _sorted_namespace(obs, o):
    """Explore, filter by the namespace's name, sort."""
    obs = yield from click(obs, text="Explore", tag="a")
    obs = yield from searching(obs, o["namespace"], placeholder="Filter by name")
    return (yield from _choose(obs, "Sort", o["sort_label"]))


# -- 400: open issue count ------------------------------------------------------------------------

def _i400(db, split):
    return [_spec({"project": p["path"]}, _answer(p["open_issues"]),
                  _po(p, answer=str(p["open_issues"]), expect=f"Open {p['open_issues']}"))
            for p in _projects(db, split)]


def _s400(task):
    o = _o(task)
    obs = yield
    obs = yield from _open_project(obs, o)
    obs = yield from _click_count(obs, "Issues")
    _expect(obs, o["expect"])
    yield note(f"The Open tab shows {o['answer']} issues.", exit_(o["answer"]))


# -- 401: assignee of an issue --------------------------------------------------------------------

def _i401(db, split):
    out = []
    for p in _projects(db, split):
        for i in _issues_of(db, p):
            if i["assignee"]:
                out.append(_spec({"title": i["title"], "project": p["path"]},
                                 {"eval_types": ["string_match"], "reference_answers": {"must_include": [i["assignee_name"]]}},
                                 _po(p, title=i["title"], answer=i["assignee_name"])))
    return out


def _s401(task):
    o = _o(task)
    obs = yield
    obs = yield from _open_issue(obs, o)
    _expect(obs, f"Assignee: {o['answer']}")
    yield note(f"The issue is assigned to {o['answer']}.", exit_(o["answer"]))


# -- 402: star count ------------------------------------------------------------------------------

def _i402(db, split):
    return [_spec({"project": p["path"]}, _answer(p["stars"]), _po(p, answer=str(p["stars"])))
            for p in _projects(db, split)]


def _s402(task):
    o = _o(task)
    obs = yield
    obs = yield from click(obs, text="Explore", tag="a")
    obs = yield from searching(obs, o["project"], placeholder="Filter by name")
    _expect_row(obs, o["link"], f"· {o['answer']} stars")
    yield note(f"{o['link']} has {o['answer']} stars.", exit_(o["answer"]))


# -- 403: commit count ----------------------------------------------------------------------------

def _i403(db, split):
    return [_spec({"project": p["path"]}, _answer(p["commits"]), _po(p, answer=str(p["commits"])))
            for p in _projects(db, split)]


def _s403(task):
    o = _o(task)
    obs = yield
    obs = yield from _open_project(obs, o)
    _expect(obs, f"{o['answer']} Commits")
    yield note(f"The project page shows {o['answer']} commits.", exit_(o["answer"]))


# -- 404: a namespace's project by a sort criterion -----------------------------------------------

def _i404(db, split):
    out = []
    for ns, found in _namespaces(db, split):
        for crit, sort in SORT_CRITERIA.items():
            top = project_rows(db, ns["name"], sort)[0]
            out.append(_spec({"namespace": ns["name"], "criterion": crit},
                             {"eval_types": ["string_match"], "reference_answers": {"must_include": [top["path"]]}},
                             {"namespace": ns["name"], "sort_label": PROJECT_SORTS[sort][0],
                              "link": f"{top['ns_name']} / {top['path']}", "answer": top["path"]}))
    return out


def _s404(task):
    o = _o(task)
    obs = yield
    obs = yield from _sorted_namespace(obs, o)
    first = next((el for el in obs.elements if el.tag == "a" and " / " in el.text), None)
    if first is None or _norm(first.text) != _norm(o["link"]):
        raise OracleError(f"expected {o['link']!r} first on {obs.url}")
    yield note(f"Sorted by {o['sort_label']}, the first project is {o['answer']}.", exit_(o["answer"]))


# -- 405: open an issue list filtered by a label (url_match) --------------------------------------

def _i405(db, split):
    out = []
    for p in _projects(db, split):
        used = sorted({lb for i in _issues_of(db, p) for lb in (i["labels"] or "").split(", ") if lb})
        for lb in used:
            out.append({"values": {"label": lb, "project": p["path"]}, "start_url": G,
                        "eval": {"eval_types": ["url_match"],
                                 "reference_url": _purl(p, "/-/issues?" + urllib.parse.urlencode({"label_name": lb}))},
                        "oracle": _po(p, label=lb)})
    return out


def _s405(task):
    o = _o(task)
    obs = yield
    obs = yield from _open_project(obs, o)
    obs = yield from _click_count(obs, "Issues")
    obs = yield from _choose(obs, "Label", o["label"])
    yield exit_("")


# -- 406: star a project ----------------------------------------------------------------------------

def _i406(db, split):
    mine = {r[0] for r in db.execute("SELECT project_id FROM stars WHERE username='byteblaze'")}
    out = []
    for p in _projects(db, split):
        if p["id"] in mine:
            continue
        ev = {"eval_types": ["program_html"], "program_html": [
            {"url": _purl(p), "locator": "document.querySelector('#star-button').outerText",
             "required_contents": {"exact_match": "Unstar"}},
            {"url": _purl(p), "locator": "document.querySelector('#star-count').outerText",
             "required_contents": {"exact_match": str(p["stars"] + 1)}}]}
        out.append(_spec({"project": p["path"]}, ev, _po(p)))
    return out


def _s406(task):
    o = _o(task)
    obs = yield
    obs = yield from _open_project(obs, o)
    obs = yield from click(obs, text="Star", tag="button")
    yield exit_("")


# -- 407: create an issue with a label --------------------------------------------------------------

def _new_title_ok(db, p, title):
    return not db.execute("SELECT 1 FROM issues WHERE project_id=? AND title LIKE ?", (p["id"], _like(title))).fetchone()


def _i407(db, split):
    out = []
    for p in _projects(db, split):
        rng = random.Random(f"407:{p['namespace']}/{p['path']}")
        for title in rng.sample(TASK_TITLES, 3):
            label = rng.choice([lb for lb in LABELS if lb not in title.lower()])
            if not _new_title_ok(db, p, title):
                continue
            out.append(_spec({"title": title, "label": label, "project": p["path"]},
                             _html_check(_purl(p, "/-/issues?" + urllib.parse.urlencode({"state": "all", "search": title})),
                                         ROW_LOC, must_include=[title, label]),
                             _po(p, title=title, label=label)))
    return out


def _s407(task):
    o = _o(task)
    obs = yield
    obs = yield from _open_project(obs, o)
    obs = yield from _click_count(obs, "Issues")
    obs = yield from click(obs, text="New issue", tag="a")
    obs = yield from typing(obs, o["title"], placeholder="Title")
    obs = yield from selecting(obs, o["label"], tag="select", title="Label")
    obs = yield from click(obs, text="Create issue", tag="button")
    yield exit_("")


# -- 408: invite a member with a role ---------------------------------------------------------------

def _member_loc(username):
    return f"document.querySelector('li.member[data-username=\"{username}\"]').outerText"


def _i408(db, split):
    users = _split_users(split)
    out = []
    for p in _projects(db, split):
        rng = random.Random(f"408:{p['namespace']}/{p['path']}")
        current = {m["username"] for m in _members(db, p)}
        for u in rng.sample(sorted(users - current), min(3, len(users - current))):
            role = rng.choice(ROLES[:4])
            out.append(_spec({"username": u, "project": p["path"], "role": role},
                             _html_check(_purl(p, "/-/project_members"), _member_loc(u),
                                         must_include=[f"@{u} · {role}"]),
                             _po(p, username=u, role=role)))
    return out


def _s408(task):
    o = _o(task)
    obs = yield
    obs = yield from _open_project(obs, o)
    obs = yield from click(obs, text="Members", tag="a")
    obs = yield from typing(obs, o["username"], placeholder="Username")
    obs = yield from selecting(obs, o["role"], tag="select", title="Role")
    obs = yield from click(obs, text="Invite", tag="button")
    yield exit_("")


# -- 409: close an issue ----------------------------------------------------------------------------

def _i409(db, split):
    out = []
    for p in _projects(db, split):
        for i in _issues_of(db, p, "opened"):
            out.append(_spec({"title": i["title"], "project": p["path"]},
                             _html_check(_purl(p, f"/-/issues/{i['iid']}"), "document.querySelector('#issue-state').outerText",
                                         exact_match="Closed"),
                             _po(p, title=i["title"])))
    return out


def _s409(task):
    o = _o(task)
    obs = yield
    obs = yield from _open_issue(obs, o)
    obs = yield from click(obs, text="Close issue", tag="button")
    yield exit_("")


# -- 410: comment on an issue -----------------------------------------------------------------------

def _i410(db, split):
    out = []
    for p in _projects(db, split):
        rng = random.Random(f"410:{p['namespace']}/{p['path']}")
        for i in rng.sample(_issues_of(db, p), 4):
            comment = rng.choice(TASK_COMMENTS)
            out.append(_spec({"comment": comment, "title": i["title"], "project": p["path"]},
                             _html_check(_purl(p, f"/-/issues/{i['iid']}"), LAST_NOTE_LOC, exact_match=comment),
                             _po(p, title=i["title"], comment=comment)))
    return out


def _s410(task):
    o = _o(task)
    obs = yield
    obs = yield from _open_issue(obs, o)
    obs = yield from typing(obs, o["comment"], placeholder="Write a comment...")
    obs = yield from click(obs, text="Comment", tag="button")
    yield exit_("")


# -- 411: mark a to-do item as done -----------------------------------------------------------------

def _i411(db, split):
    out = []
    for t in _rows(db, """
            SELECT t.*, p.namespace, p.path, COALESCE(i.title, m.title) AS title FROM todos t
            JOIN projects p ON p.id=t.project_id
            LEFT JOIN issues i ON t.target='issue' AND i.project_id=t.project_id AND i.iid=t.iid
            LEFT JOIN merge_requests m ON t.target='mr' AND m.project_id=t.project_id AND m.iid=t.iid
            WHERE t.username='byteblaze' AND t.state='pending' ORDER BY t.id"""):
        if split_of("project", f"{t['namespace']}/{t['path']}") != split:
            continue
        out.append(_spec({"title": t["title"]},
                         _html_check(f"{G}/dashboard/todos?state=done", "document.querySelector('.todos-list').outerText",
                                     must_include=[t["title"]]),
                         {"title": t["title"]}))
    return out


def _s411(task):
    o = _o(task)
    obs = yield
    obs = yield from _click_count(obs, "To-Do List")
    obs = yield from _click_button_after(obs, o["title"])
    yield exit_("")


# -- 412: source branch of a merge request ----------------------------------------------------------

def _mrs_of(db, p):
    return _rows(db, "SELECT * FROM merge_requests WHERE project_id=? ORDER BY iid", (p["id"],))


def _i412(db, split):
    out = []
    for p in _projects(db, split):
        for m in _mrs_of(db, p):
            out.append(_spec({"title": m["title"], "project": p["path"]}, _answer(m["source_branch"]),
                             _po(p, title=m["title"], answer=m["source_branch"])))
    return out


def _s412(task):
    o = _o(task)
    obs = yield
    obs = yield from _open_mr(obs, o)
    _expect(obs, f"Source branch: {o['answer']}")
    yield note(f"The source branch is {o['answer']}.", exit_(o["answer"]))


# -- 413: comment on a merge request ----------------------------------------------------------------

def _i413(db, split):
    out = []
    for p in _projects(db, split):
        rng = random.Random(f"413:{p['namespace']}/{p['path']}")
        for m in _mrs_of(db, p):
            comment = rng.choice(TASK_COMMENTS)
            out.append(_spec({"comment": comment, "title": m["title"], "project": p["path"]},
                             _html_check(_purl(p, f"/-/merge_requests/{m['iid']}"), LAST_NOTE_LOC, exact_match=comment),
                             _po(p, title=m["title"], comment=comment)))
    return out


def _s413(task):
    o = _o(task)
    obs = yield
    obs = yield from _open_mr(obs, o)
    obs = yield from typing(obs, o["comment"], placeholder="Write a comment...")
    obs = yield from click(obs, text="Comment", tag="button")
    yield exit_("")


# -- 414: open issues with a label ------------------------------------------------------------------

def _label_counts(db, p):
    """label -> open issues with it, for the labels used in the project."""
    counts = {}
    for i in _issues_of(db, p):
        for lb in (i["labels"] or "").split(", "):
            if lb:
                counts[lb] = counts.get(lb, 0) + (i["state"] == "opened")
    return counts


def _i414(db, split):
    out = []
    for p in _projects(db, split):
        for lb, n in sorted(_label_counts(db, p).items()):
            out.append(_spec({"label": lb, "project": p["path"]}, _answer(n), _po(p, label=lb, answer=str(n))))
    return out


def _s414(task):
    o = _o(task)
    obs = yield
    obs = yield from _open_project(obs, o)
    obs = yield from _click_count(obs, "Issues")
    obs = yield from _choose(obs, "Label", o["label"])
    _expect(obs, f"Open {o['answer']}")
    yield note(f"With the label {o['label']}, the Open tab shows {o['answer']}.", exit_(o["answer"]))


# -- 415: a member's role ---------------------------------------------------------------------------

def _i415(db, split):
    users = _split_users(split)
    out = []
    for p in _projects(db, split):
        for m in _members(db, p):
            if m["username"] in users:
                out.append(_spec({"name": m["name"], "project": p["path"]}, _answer(m["role"]),
                                 _po(p, row=f"{m['name']} @{m['username']} · {m['role']}", answer=m["role"])))
    return out


def _s415(task):
    o = _o(task)
    obs = yield
    obs = yield from _open_project(obs, o)
    obs = yield from click(obs, text="Members", tag="a")
    _expect(obs, o["row"])
    yield note(f"The members table says: {o['row']}.", exit_(o["answer"]))


# -- 416: assign an issue ---------------------------------------------------------------------------

def _i416(db, split):
    users = _split_users(split)
    out = []
    for p in _projects(db, split):
        rng = random.Random(f"416:{p['namespace']}/{p['path']}")
        candidates = [m for m in _members(db, p) if m["username"] in users]
        if not candidates:
            continue
        for i in _issues_of(db, p, "opened"):
            choices = [m for m in candidates if m["username"] != i["assignee"]]
            if not choices:
                continue
            m = rng.choice(choices)
            out.append(_spec({"title": i["title"], "project": p["path"], "name": m["name"]},
                             _html_check(_purl(p, f"/-/issues/{i['iid']}"),
                                         "document.querySelector('.block.assignee').outerText",
                                         must_include=[f"{m['name']} @{m['username']}"]),
                             _po(p, title=i["title"], name=m["name"])))
    return out


def _s416(task):
    o = _o(task)
    obs = yield
    obs = yield from _open_issue(obs, o)
    obs = yield from click(obs, text="Edit", tag="button")
    obs = yield from selecting(obs, o["name"], tag="select", title="Change assignee")
    obs = yield from click(obs, text="Assign", tag="button")
    yield exit_("")


# -- 450 (test only): create an assigned issue in a namespace's most starred project ---------------

def _i450(db, split):
    users = _split_users(split)
    out = []
    for ns, found in _namespaces(db, split):
        top = project_rows(db, ns["name"], "stars_desc")[0]
        rng = random.Random(f"450:{ns['path']}")
        members = [m for m in _members(db, top) if m["username"] in users]
        for m in members:
            for title in rng.sample(TASK_TITLES, 2):
                if not _new_title_ok(db, top, title):
                    continue
                out.append(_spec({"title": title, "namespace": ns["name"], "name": m["name"]},
                                 _html_check(_purl(top, "/-/issues?" + urllib.parse.urlencode({"state": "all", "search": title})),
                                             ROW_LOC, must_include=[title, f"assigned to {m['name']}"]),
                                 {"namespace": ns["name"], "sort_label": PROJECT_SORTS["stars_desc"][0],
                                  "link": f"{top['ns_name']} / {top['path']}", "title": title, "name": m["name"]}))
    return out


def _s450(task):
    o = _o(task)
    obs = yield
    obs = yield from _sorted_namespace(obs, o)
    obs = yield from click(obs, text=o["link"], tag="a")
    obs = yield from _click_count(obs, "Issues")
    obs = yield from click(obs, text="New issue", tag="a")
    obs = yield from typing(obs, o["title"], placeholder="Title")
    obs = yield from selecting(obs, o["name"], tag="select", title="Assignee")
    obs = yield from click(obs, text="Create issue", tag="button")
    yield exit_("")


# -- 451 (test only): labelled open issues of a namespace's most recently updated project ----------

def _i451(db, split):
    out = []
    for ns, found in _namespaces(db, split):
        top = project_rows(db, ns["name"], "latest_activity_desc")[0]
        for lb, n in sorted(_label_counts(db, top).items()):
            out.append(_spec({"label": lb, "namespace": ns["name"]}, _answer(n),
                             {"namespace": ns["name"], "sort_label": PROJECT_SORTS["latest_activity_desc"][0],
                              "link": f"{top['ns_name']} / {top['path']}", "label": lb, "answer": str(n)}))
    return out


def _s451(task):
    o = _o(task)
    obs = yield
    obs = yield from _sorted_namespace(obs, o)
    obs = yield from click(obs, text=o["link"], tag="a")
    obs = yield from _click_count(obs, "Issues")
    obs = yield from _choose(obs, "Label", o["label"])
    _expect(obs, f"Open {o['answer']}")
    yield note(f"With the label {o['label']}, the Open tab shows {o['answer']}.", exit_(o["answer"]))


def _t(id, intent, inst, solve, steps, skills, test_only=False):
    return Template(id=id, site="gitlab", intent_template=intent, instances=inst, oracle=solve,
                    test_only=test_only, skills=skills, min_steps=steps)


TEMPLATES = [
    _t(400, "How many open issues does the {{project}} project have?", _i400, _s400, 5,
       "find a project with the Explore filter; read a count"),
    _t(401, 'Who is assigned to the issue "{{title}}" in the {{project}} project?', _i401, _s401, 8,
       "find a project; switch the state tab; search issues; read the sidebar"),
    _t(402, "How many stars does the {{project}} project have?", _i402, _s402, 3,
       "filter the project list; read a table"),
    _t(403, "How many commits does the {{project}} project have?", _i403, _s403, 4,
       "find a project; read its page"),
    _t(404, "Which project of the {{namespace}} namespace {{criterion}}?", _i404, _s404, 5,
       "filter the project list; sort with a dropdown; read the first row"),
    _t(405, 'Show me the issues of the {{project}} project that have the label "{{label}}"', _i405, _s405, 7,
       "find a project; filter issues by label (url_match)"),
    _t(406, "Star the {{project}} project", _i406, _s406, 5, "find a project; press a button"),
    _t(407, 'Create an issue titled "{{title}}" with the label "{{label}}" in the {{project}} project', _i407, _s407, 9,
       "find a project; fill and submit a form with a dropdown"),
    _t(408, "Add {{username}} to the {{project}} project as a {{role}}", _i408, _s408, 8,
       "find a project; open Members; fill the invite form"),
    _t(409, 'Close the issue "{{title}}" in the {{project}} project', _i409, _s409, 9,
       "find a project; search issues; press a button"),
    _t(410, 'Post the comment "{{comment}}" on the issue "{{title}}" in the {{project}} project', _i410, _s410, 10,
       "find a project; search issues; write a comment"),
    _t(411, 'Mark the to-do item about "{{title}}" as done', _i411, _s411, 3,
       "open the To-Do List; page through it; press a button"),
    _t(412, 'What is the source branch of the merge request "{{title}}" in the {{project}} project?', _i412, _s412, 8,
       "find a project; switch the MR state tab; search; read"),
    _t(413, 'Post the comment "{{comment}}" on the merge request "{{title}}" in the {{project}} project', _i413, _s413, 10,
       "find a project; open a merge request; write a comment"),
    _t(414, 'How many open issues with the label "{{label}}" does the {{project}} project have?', _i414, _s414, 7,
       "find a project; filter issues by label; read a count"),
    _t(415, "What is the role of {{name}} in the {{project}} project?", _i415, _s415, 5,
       "find a project; read the members table"),
    _t(416, 'Assign the issue "{{title}}" in the {{project}} project to {{name}}', _i416, _s416, 11,
       "find a project; search issues; open a JS dropdown; pick an option; submit"),
    _t(450, 'Create an issue titled "{{title}}" in the project of the {{namespace}} namespace that has the most '
            'stars, and assign it to {{name}}', _i450, _s450, 11,
       "sort a namespace's projects (404) + create an issue with a dropdown (407, 416)", test_only=True),
    _t(451, 'How many open issues with the label "{{label}}" does the most recently updated project of the '
            '{{namespace}} namespace have?', _i451, _s451, 9,
       "sort a namespace's projects (404) + count labelled issues (414)", test_only=True),
]
