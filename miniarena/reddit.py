"""miniarena.reddit: a Postmill forum, modelled on WebArena's "reddit" site (Postmill on port 9999).

Pages (Postmill's paths):
  /  /hot  /new  /top                    front page: submissions of every forum, sort menu (JS dropdown)
  /forums?sort=name|subscribers          forum list (sort links), 10 per page
  /f/<forum>  /f/<forum>/<hot|new|top>   a forum's submissions, 10 per page, sort menu; #sidebar with
                                         the forum's description, subscriber count and the
                                         Subscribe/Unsubscribe button (POST /f/<forum>/subscribe)
  /f/<forum>/<id>/<slug>                 a submission: score, vote buttons (POST /sv/<id>), body, the
                                         comment form (POST .../comment) and nested comments
  /f/<forum>/<id>/<slug>/comment/<cid>   one comment with a reply form
  /submit  /submit/<forum>               create a submission (forum <select>, title, body)
  /user/<name>  /user/<name>/submissions  /user/<name>/comments
                                         a user's overview, submissions, comments (10 per page); the
                                         sidebar holds the biography (.user-bio__biography) and a
                                         "Moderates" panel filled by JavaScript (data-async)
  /user/<name>/edit_biography            edit one's own biography
  /search?q=                             users and forums whose name contains q, submissions whose
                                         title contains q
The header has the brand, "Forums", the search box, "Submit" and the user menu (a data-menu
dropdown with Profile / Edit biography / Sign Out) or "Sign In". Reading is public; voting,
commenting, subscribing, submitting and editing the biography need a login (MarvelsGrantMan136).

Tables: users, forums, moderators, subscriptions, submissions, comments (parent_id for replies),
votes (the logged-in account's submission votes; submissions.score is the net score including them).

Data (from the seed): 51 forums with 22-26 submissions each whose titles combine a forum's topics
with generic title patterns, ~60 users with Zipf-like activity, 0-8 comments per submission,
dates in 2022-2023. Content the agent creates is stamped one minute after the newest existing
item, so pages stay deterministic. Names of forums and users are case-insensitive in URLs (a 301
to the canonical spelling), as in Postmill.

Page layout keeps the agent's observation short (WebRL's simplified html prints only what is in
the viewport, and prints an element's own text twice when it precedes its first child): listing
rows put the title link first and the details as the row's own text, and rows are tall enough
that five or six fit in the viewport. Median observation over the oracle runs: ~2,600 characters.

Templates 300-315 (entities: forums by split_of("forum", name), submissions take their forum's
split, users split_of("user", name), texts to write split_of("text"|"title"|"bio", text)): who
posted a title (search), comment count (forum list + listing pages), top post (sort menu: top),
newest post's author (sort: new), a user's submission count (search + user tab + pages), forum
sorted (url_match), subscribe, upvote, reply, create a post, change the bio (program_html), the
top comment's author on the top post, the forum of a user's latest post (must_include), a forum's
subscriber count (forum list pages); test_only: upvote the top post of a forum, reply to the
newest submission of a user.
"""
from __future__ import annotations

import datetime
import random

from .oracle import OracleError, click, exit_, note, scroll_down, search, select, type_
from .server import (HttpError, Redirect, Response, Site, document, esc, pager, slugify, split_of,
                     stable_hash, url)
from .tasks import Template

ME = "MarvelsGrantMan136"
PLACE = "__REDDIT__"
PER_PAGE = 10
FORUMS_PER_PAGE = 10
SORTS = ("hot", "new", "top")
NAME_RE = r"([A-Za-z0-9_]{1,40})"

# ----------------------------------------------------------------------------------------------
# data: forums with their topics (every topic belongs to one forum, so titles are unique site-wide)

FORUMS = [
    ("books", "Books", "Discuss the books you are reading.",
     ["Dune", "Middlemarch", "Piranesi", "The Hobbit", "Beloved", "Circe", "The Road", "Project Hail Mary"]),
    ("MachineLearning", "Machine Learning", "Research, papers and projects in machine learning.",
     ["transformers", "diffusion models", "gradient boosting", "contrastive learning", "mixture of experts",
      "LoRA fine-tuning", "graph neural networks", "RLHF"]),
    ("gaming", "Gaming", "Video games of every kind.",
     ["Elden Ring", "Stardew Valley", "Hades", "Baldur's Gate 3", "Hollow Knight", "Celeste", "Factorio",
      "Tears of the Kingdom"]),
    ("news", "News", "Local and national news.",
     ["the rail strike", "the housing bill", "the heat wave", "the chip shortage", "the new transit plan",
      "the port closure", "the budget vote", "the water shortage"]),
    ("movies", "Movies", "News and discussion about films.",
     ["Oppenheimer", "Everything Everywhere All at Once", "The Banshees of Inisherin", "Past Lives",
      "Top Gun: Maverick", "Aftersun", "Barbie", "Tar"]),
    ("science", "Science", "Findings and questions from all sciences.",
     ["CRISPR", "the Higgs boson", "plate tectonics", "quantum entanglement", "tardigrades", "dark matter",
      "fusion ignition", "the microbiome"]),
    ("technology", "Technology", "Gadgets, software and the tech industry.",
     ["USB-C", "e-ink tablets", "foldable phones", "mesh Wi-Fi", "passkeys", "RISC-V",
      "solid-state batteries", "smart glasses"]),
    ("food", "Food", "Cooking, eating and everything in between.",
     ["sourdough", "ramen", "kimchi", "birria tacos", "shakshuka", "pho", "focaccia", "khachapuri"]),
    ("sports", "Sports", "All sports, all the time.",
     ["the Champions League final", "the Tour de France", "the Ashes", "the NBA draft", "Wimbledon",
      "the Ryder Cup", "the Stanley Cup", "the Boston Marathon"]),
    ("travel", "Travel", "Trip reports, tips and destinations.",
     ["Lisbon", "Kyoto", "Patagonia", "Iceland's Ring Road", "the Amalfi Coast", "Hanoi", "Marrakech",
      "the Scottish Highlands"]),
    ("music", "Music", "Albums, artists and gear.",
     ["vinyl collecting", "OK Computer", "jazz standards", "synthwave", "Kendrick Lamar", "modular synths",
      "Fleetwood Mac", "bedroom pop"]),
    ("history", "History", "The past, discussed.",
     ["the Byzantine Empire", "the Hanseatic League", "the Meiji Restoration", "the Silk Road",
      "the Library of Alexandria", "the Manhattan Project", "the Bronze Age collapse", "the printing press"]),
    ("space", "Space", "Astronomy and space flight.",
     ["the James Webb telescope", "Starship", "Europa Clipper", "the Artemis program", "Betelgeuse",
      "exoplanet atmospheres", "the Voyager probes", "lunar water ice"]),
    ("photography", "Photography", "Cameras, techniques and critique.",
     ["film cameras", "street photography", "prime lenses", "long exposures", "Lightroom presets",
      "astrophotography", "medium format", "golden hour portraits"]),
    ("gardening", "Gardening", "Grow things.",
     ["tomato blight", "raised beds", "composting", "heirloom seeds", "succulents", "companion planting",
      "fig trees", "no-dig gardening"]),
    ("fitness", "Fitness", "Training, nutrition and recovery.",
     ["progressive overload", "zone 2 cardio", "kettlebells", "the 5x5 program", "rest days", "creatine",
      "marathon training", "pull-up progressions"]),
    ("programming", "Programming", "Code, tools and careers in software.",
     ["Rust lifetimes", "Python type hints", "monorepos", "code review", "Go generics",
      "functional programming", "unit testing", "SQL window functions"]),
    ("personalfinance", "Personal Finance", "Budgets, saving and investing.",
     ["index funds", "emergency funds", "the 50/30/20 rule", "high-yield savings", "Roth IRAs",
      "credit scores", "budget apps", "refinancing"]),
    ("worldnews", "World News", "News from around the world.",
     ["the G20 summit", "the climate accord", "the election in Brazil", "the trade agreement",
      "the refugee crisis", "the ceasefire talks", "the UN assembly", "the grain deal"]),
    ("television", "Television", "Shows, seasons and streaming.",
     ["Succession", "The Bear", "Severance", "Breaking Bad", "The Last of Us", "Andor", "Ted Lasso", "Fleabag"]),
    ("art", "Art", "Make it, share it, talk about it.",
     ["watercolor", "Impressionism", "oil pastels", "the Louvre", "Frida Kahlo", "linocut printing",
      "digital painting", "Van Gogh's letters"]),
    ("philosophy", "Philosophy", "Arguments, ideas and thinkers.",
     ["stoicism", "the trolley problem", "Kant's ethics", "existentialism", "free will", "Plato's cave",
      "utilitarianism", "Nietzsche"]),
    ("cars", "Cars", "Driving, buying and fixing cars.",
     ["the Miata", "hybrid engines", "the Civic Type R", "EV range", "manual transmissions", "the Model 3",
      "winter tires", "the Land Cruiser"]),
    ("pets", "Pets", "Our animal companions.",
     ["adopting a senior dog", "cat litter", "rescue greyhounds", "parrots", "crate training", "guinea pigs",
      "pet insurance", "leopard geckos"]),
    ("hiking", "Hiking", "Trails, gear and trip reports.",
     ["the Appalachian Trail", "ultralight packs", "trekking poles", "the John Muir Trail", "water filters",
      "the Dolomites", "blister care", "the Pacific Crest Trail"]),
    ("coffee", "Coffee", "Brewing, beans and cafes.",
     ["pour-over", "espresso machines", "cold brew", "the AeroPress", "burr grinders", "light roasts",
      "moka pots", "Ethiopian beans"]),
    ("boardgames", "Board Games", "Tabletop games and game nights.",
     ["Catan", "Wingspan", "Gloomhaven", "Ticket to Ride", "Terraforming Mars", "Azul", "Pandemic",
      "Spirit Island"]),
    ("anime", "Anime", "Anime and manga discussion.",
     ["Cowboy Bebop", "Spirited Away", "Attack on Titan", "Frieren", "Mushishi", "Chainsaw Man",
      "Ghost in the Shell", "Mob Psycho 100"]),
    ("architecture", "Architecture", "Buildings and the people who design them.",
     ["brutalism", "Gaudi", "passive houses", "the Bauhaus", "timber skyscrapers", "Frank Lloyd Wright",
      "adaptive reuse", "Art Deco"]),
    ("economics", "Economics", "Markets, policy and data.",
     ["inflation", "minimum wage", "rent control", "universal basic income", "interest rates", "tariffs",
      "the gig economy", "housing supply"]),
    ("chemistry", "Chemistry", "Reactions, labs and molecules.",
     ["titration", "organic synthesis", "the periodic table", "chromatography", "catalysts", "polymers",
      "lab safety", "electrochemistry"]),
    ("linux", "Linux", "The free operating system and its tools.",
     ["Arch Linux", "tiling window managers", "systemd", "Wayland", "NixOS", "dotfiles",
      "the Debian installer", "ZFS"]),
    ("DIY", "Do It Yourself", "Home improvement and building things.",
     ["drywall repair", "a workbench build", "tiling a bathroom", "deck staining", "a kitchen backsplash",
      "cordless drills", "a leaky faucet", "epoxy tables"]),
    ("mathematics", "Mathematics", "Proofs, puzzles and theory.",
     ["the Riemann hypothesis", "linear algebra", "proofs by induction", "prime numbers", "topology",
      "Fourier series", "probability puzzles", "category theory"]),
    ("languagelearning", "Language Learning", "Learning languages together.",
     ["Japanese kanji", "Duolingo streaks", "the Spanish subjunctive", "Anki decks", "German cases",
      "immersion learning", "Mandarin tones", "language exchanges"]),
    ("writing", "Writing", "For writers of every kind.",
     ["NaNoWriMo", "writing dialogue", "query letters", "worldbuilding", "first drafts", "writer's block",
      "beta readers", "short stories"]),
    ("cycling", "Cycling", "Bikes, rides and races.",
     ["gravel bikes", "clipless pedals", "bike commuting", "tubeless tires", "the Giro d'Italia",
      "bikepacking", "indoor trainers", "e-bikes"]),
    ("environment", "Environment", "Climate, conservation and energy.",
     ["heat pumps", "rewilding", "plastic recycling", "solar panels", "carbon capture", "urban trees",
      "wetland restoration", "electric buses"]),
    ("podcasts", "Podcasts", "Shows worth a listen.",
     ["true crime podcasts", "Radiolab", "interview shows", "podcast microphones", "Hardcore History",
      "audio drama", "comedy podcasts", "podcast editing"]),
    ("baking", "Baking", "Breads, cakes and pastry.",
     ["croissants", "macarons", "banana bread", "pie crust", "babka", "cheesecake", "cinnamon rolls",
      "choux pastry"]),
    ("urbanism", "Urbanism", "Cities, streets and transit.",
     ["bike lanes", "zoning reform", "tram networks", "walkable suburbs", "parking minimums", "public plazas",
      "high-speed rail", "15-minute cities"]),
    ("poetry", "Poetry", "Read, write and share poems.",
     ["haiku", "Mary Oliver", "sonnets", "free verse", "slam poetry", "Emily Dickinson", "poetry readings",
      "Pablo Neruda"]),
    ("startups", "Startups", "Founders, funding and growth.",
     ["seed funding", "product-market fit", "cofounder equity", "bootstrapping", "Y Combinator", "pitch decks",
      "churn rates", "the first hire"]),
    ("Fantasy", "Fantasy", "Fantasy books, series and worlds.",
     ["The Wheel of Time", "Mistborn", "The Name of the Wind", "Earthsea", "The Broken Earth", "Discworld",
      "The Stormlight Archive", "magic systems"]),
    ("climbing", "Climbing", "Rock, ice and gym climbing.",
     ["bouldering", "climbing shoes", "lead belaying", "hangboards", "El Capitan", "crack climbing", "chalk bags",
      "indoor gyms"]),
    ("astronomy", "Astronomy", "Observing the night sky.",
     ["meteor showers", "telescopes for beginners", "the Andromeda galaxy", "variable stars", "light pollution",
      "Saturn's rings", "star charts", "the Orion Nebula"]),
    ("chess", "Chess", "Openings, games and puzzles.",
     ["the Sicilian Defense", "endgame studies", "blitz chess", "the London System", "chess engines",
      "opening traps", "rook endgames", "the Queen's Gambit"]),
    ("knitting", "Knitting", "Yarn, needles and finished objects.",
     ["sock knitting", "merino yarn", "cable stitches", "circular needles", "blocking sweaters", "fair isle",
      "knitting patterns", "crochet hooks"]),
    ("birding", "Birding", "Birds and the people who watch them.",
     ["warblers", "bird feeders", "binoculars", "spring migration", "owl calls", "the Christmas bird count",
      "hummingbirds", "eBird checklists"]),
    ("wine", "Wine", "Tasting notes and recommendations.",
     ["natural wine", "Pinot Noir", "decanting", "Rioja", "wine fridges", "Champagne", "orange wine", "Malbec"]),
    ("jobs", "Jobs", "Careers, hiring and the workplace.",
     ["remote work", "salary negotiation", "cover letters", "career changes", "four-day weeks",
      "technical interviews", "LinkedIn", "burnout"]),
]

TITLE_PATTERNS = [
    "What did you think of {a}?", "Questions after getting into {a}", "{A} in {y}: worth it?",
    "Underrated: {a}. Change my mind", "Looking for something like {a}", "Unpopular opinion about {a}",
    "First time trying {a}: any tips?", "{A} vs {b}: which one?", "My honest review of {a}",
    "Why does everyone love {a}?", "A beginner's guide to {a}", "Finally tried {a} after years of waiting",
    "{A} changed how I think", "Can someone explain {a} to me?", "Best resources for {a}?",
    "The story behind {a} is wild", "Hot take: {a}, overrated?", "Three things I learned from {a}",
    "How do you feel about {a} now?", "Anyone else obsessed with {a}?",
]
BODY_PATTERNS = [
    "I've been thinking about {a} a lot lately and wanted to hear other opinions.",
    "Curious what this community thinks about {a}.",
    "Long-time lurker here. {A} keeps coming up and I finally want to discuss it.",
    "Share your experiences with {a} below!",
    "Not sure if this is the right place, but {a} has been on my mind all week.",
    "Here is my take on {a}, feel free to disagree.",
]
COMMENT_PHRASES = [
    "Totally agree with this.", "I had the same experience last year.", "Source? I'd like to read more.",
    "This is the best take I've seen here.", "Strongly disagree, but thanks for posting.",
    "Came here to say exactly this.", "Great write-up, saved for later.",
    "Not sure about that, {a} is more complicated.", "Can you elaborate on the second point?",
    "This thread is gold.", "I changed my mind about {a} after reading this.",
    "Honestly {a} deserves more attention.", "Underrated comment.", "Why is nobody talking about {a}?",
    "Thanks, this helped a lot.", "Bookmarking this thread.", "Wrong forum, but interesting anyway.",
]
ADJECTIVES = ["quiet", "brave", "lazy", "clever", "sunny", "rusty", "cosmic", "tiny", "happy", "salty", "witty",
              "fuzzy", "mellow", "nimble", "stormy", "grumpy", "jolly", "silent", "crimson", "golden"]
ANIMALS = ["fox", "otter", "panda", "falcon", "badger", "lynx", "moose", "heron", "gecko", "walrus", "raven",
           "koala", "bison", "ferret", "newt", "owl"]

# Texts the tasks ask the agent to write; each belongs to one split (kind "text").
REPLY_TEXTS = [
    "Thanks for sharing!", "Great post, I learned a lot.", "I completely agree with you.",
    "Could you share a source for this?", "This made my day.", "Interesting point, never thought of it that way.",
    "Following this thread.", "Well said.", "Saving this for later.", "I respectfully disagree.",
    "Welcome to the community!", "Nice write-up, thank you.", "Same here, great minds think alike.",
    "Can you post an update later?", "This deserves more upvotes.", "I had no idea, thanks!",
    "What a great question.", "Counterpoint: it depends on the context.", "Happy to help if you need more info.",
    "This is exactly what I was looking for.", "Thank you for the detailed answer.", "Looking forward to part two.",
    "Agreed, well put.", "Bumping this for visibility.", "I'll try this tonight.",
]
BIO_TEXTS = [
    "Seeking SDE positions", "Coffee lover and amateur astronomer", "Writing code by day, reading books by night",
    "Open to freelance design work", "Learning Japanese one kanji at a time", "Dog person. Trail runner.",
    "Data scientist based in Lisbon", "Retired teacher, lifelong learner", "I review board games for fun",
    "Home baker and sourdough nerd", "Building a tiny house in Oregon", "PhD student in chemistry",
    "Here for the memes and the science", "Gardener, cyclist, optimist", "Indie game developer",
    "Photographer chasing golden hour", "Always looking for book recommendations", "Linux enthusiast since 2009",
    "Part-time musician, full-time dad", "Exploring the world one city at a time", "Marathon runner in training",
    "Film buff and popcorn critic", "Aspiring novelist", "Software engineer who loves hiking",
    "History nerd and museum regular", "Cat parent of two", "Learning to paint with watercolor",
    "Climate researcher", "Espresso perfectionist", "Board game night organizer", "Stand-up comedy fan",
    "Space exploration enthusiast", "Weekend woodworker", "Math tutor and puzzle lover",
    "Podcast host about urban design", "Vegan cook experimenting daily", "Chess player rated 1600",
    "Open source contributor", "Night owl and jazz listener", "Amateur historian of trains",
]
NEW_POST_TITLES = [
    "Looking for recommendations", "My first post here", "What are you working on this week?",
    "Weekly discussion thread", "Need advice from experienced members", "A question for the community",
    "Share your favorite resources", "What got you started?", "Small win I wanted to share",
    "Is anyone else going to the meetup?", "Recommendations for a beginner", "Monthly appreciation post",
    "Which mistakes should I avoid?", "Tell me about your setup", "Lessons from my first year",
    "Opinions wanted on a new idea", "What is your unpopular opinion?", "Best thing you discovered this month",
    "Help me choose between two options", "Quick poll for everyone", "Stories from the weekend",
    "The most useful tip I ever got", "How do you stay motivated?", "Underrated gems thread",
    "Any good newsletters to follow?", "Ask me anything about my journey", "Throwback thread",
    "What would you change about this forum?", "Favorite moment of the year", "Recommendations for gifts",
]

SCHEMA = """
CREATE TABLE users(name TEXT PRIMARY KEY COLLATE NOCASE, bio TEXT NOT NULL DEFAULT '', created TEXT NOT NULL);
CREATE TABLE forums(name TEXT PRIMARY KEY COLLATE NOCASE, title TEXT NOT NULL, description TEXT NOT NULL,
                    created TEXT NOT NULL);
CREATE TABLE moderators(forum TEXT NOT NULL, user TEXT NOT NULL, PRIMARY KEY(forum, user));
CREATE TABLE subscriptions(user TEXT NOT NULL, forum TEXT NOT NULL, PRIMARY KEY(user, forum));
CREATE TABLE submissions(id INTEGER PRIMARY KEY, forum TEXT NOT NULL, user TEXT NOT NULL, title TEXT NOT NULL,
                         body TEXT NOT NULL, created TEXT NOT NULL, score INTEGER NOT NULL);
CREATE INDEX submissions_forum ON submissions(forum);
CREATE INDEX submissions_user ON submissions(user);
CREATE TABLE comments(id INTEGER PRIMARY KEY, submission_id INTEGER NOT NULL, parent_id INTEGER,
                      user TEXT NOT NULL, body TEXT NOT NULL, created TEXT NOT NULL, score INTEGER NOT NULL);
CREATE INDEX comments_submission ON comments(submission_id);
CREATE INDEX comments_user ON comments(user);
CREATE TABLE votes(user TEXT NOT NULL, submission_id INTEGER NOT NULL, choice INTEGER NOT NULL,
                   PRIMARY KEY(user, submission_id));
"""

EPOCH = datetime.datetime(2022, 1, 1)
FMT = "%Y-%m-%d %H:%M:%S"


def _stamp(dt: datetime.datetime) -> str:
    return dt.strftime(FMT)


def _cap(s: str) -> str:
    return s[0].upper() + s[1:]


def build(db, seed: int) -> None:
    rng = random.Random(f"reddit:{seed}")
    db.executescript(SCHEMA)

    # ~60 users; activity follows a Zipf-like law so most users have a handful of posts
    names = set()
    while len(names) < 59:
        names.add(f"{rng.choice(ADJECTIVES)}_{rng.choice(ANIMALS)}{rng.randint(10, 99)}")
    users = sorted(names)
    rng.shuffle(users)
    weights = [1.0 / (i + 4) for i in range(len(users))]
    cum = [sum(weights[:i + 1]) for i in range(len(weights))]   # cumulative: rng.choices is faster with it
    for u in users:
        db.execute("INSERT INTO users VALUES (?, '', ?)",
                   (u, _stamp(EPOCH - datetime.timedelta(days=rng.randint(60, 900)))))
    db.execute("INSERT INTO users VALUES (?, ?, ?)", (ME, "Just here for the discussions.", "2021-03-14 09:26:53"))

    for name, title, desc, _ in FORUMS:
        db.execute("INSERT INTO forums VALUES (?, ?, ?, ?)",
                   (name, title, desc, _stamp(EPOCH - datetime.timedelta(days=rng.randint(400, 1100)))))
        for m in rng.sample(users, rng.randint(1, 3)):
            db.execute("INSERT INTO moderators VALUES (?, ?)", (name, m))
    popularity = {f[0]: rng.uniform(0.05, 0.6) for f in FORUMS}
    db.executemany("INSERT INTO subscriptions VALUES (?, ?)",
                   [(u, f) for u in users for f in popularity if rng.random() < popularity[f]])
    for f in rng.sample([f[0] for f in FORUMS], 5):
        db.execute("INSERT OR IGNORE INTO subscriptions VALUES (?, ?)", (ME, f))

    # submissions: distinct scores within a forum (so "the top post" is unambiguous), unique stamps
    span = 2 * 365 * 86400 - 12 * 86400
    used_secs: set = set()
    posts = []   # (created, forum, user, title, body, score, topic)
    for name, _, _, topics in FORUMS:
        titles, scores = set(), set()
        n = rng.randint(22, 26)
        while len(titles) < n:
            a, b = rng.sample(topics, 2)
            t = rng.choice(TITLE_PATTERNS).format(a=a, A=_cap(a), b=b, y=rng.choice((2022, 2023)))
            if t in titles:
                continue
            titles.add(t)
            score = int(rng.lognormvariate(3.0, 1.3)) - rng.randint(0, 6)
            while score in scores:
                score += 1
            scores.add(score)
            sec = rng.randrange(span)
            while sec in used_secs:
                sec += 1
            used_secs.add(sec)
            author = ME if rng.random() < 0.01 else rng.choices(users, cum_weights=cum)[0]
            body = rng.choice(BODY_PATTERNS).format(a=a, A=_cap(a))
            posts.append((EPOCH + datetime.timedelta(seconds=sec), name, author, t, body, score, a))
    posts.sort()
    db.executemany("INSERT INTO submissions VALUES (?, ?, ?, ?, ?, ?, ?)",
                   [(sid, f, u, t, b, _stamp(c), sc) for sid, (c, f, u, t, b, sc, _) in enumerate(posts, 1)])
    comments = []
    for sid, (created, forum, author, title, body, score, topic) in enumerate(posts, 1):
        # popular submissions draw more comments
        k = rng.randint(2, 8) if score > 60 else rng.choices(range(9), [14, 16, 16, 14, 12, 10, 8, 6, 4])[0]
        t = created
        tops = []
        for _ in range(k):
            t = t + datetime.timedelta(seconds=rng.randint(120, 3 * 86400))
            parent = rng.choice(tops) if tops and rng.random() < 0.3 else None
            text = " ".join(p.format(a=topic) for p in rng.sample(COMMENT_PHRASES, rng.choice((1, 1, 2))))
            cscore = int(rng.lognormvariate(1.4, 1.1)) - rng.randint(0, 4)
            who = ME if rng.random() < 0.01 else rng.choices(users, cum_weights=cum)[0]
            cid = len(comments) + 1
            comments.append((cid, sid, parent, who, text, _stamp(t), cscore))
            if parent is None:
                tops.append(cid)
    db.executemany("INSERT INTO comments VALUES (?, ?, ?, ?, ?, ?, ?)", comments)

    # the account's earlier votes (already counted in the scores)
    for sid in rng.sample(range(1, len(posts) + 1), 20):
        db.execute("INSERT INTO votes VALUES (?, ?, ?)", (ME, sid, 1 if rng.random() < 0.8 else -1))


# ----------------------------------------------------------------------------------------------
# helpers


def post_path(forum: str, sid: int, title: str) -> str:
    return f"/f/{forum}/{sid}/{slugify(title) or '-'}"


def _id(text: str, what: str) -> int:
    if len(text) > 9:   # beyond any id here (and SQLite's integer range)
        raise HttpError(404, f"no such {what}")
    return int(text)


def _now(db) -> str:
    """The site clock for new content: a minute after the newest submission or comment."""
    newest = db.execute("SELECT max(m) FROM (SELECT max(created) m FROM submissions "
                        "UNION ALL SELECT max(created) FROM comments)").fetchone()[0]
    return _stamp(datetime.datetime.strptime(newest, FMT) + datetime.timedelta(minutes=1))


def _back(req, default: str) -> str:
    """Where a form post returns to: its 'next' field when it is a path on this site."""
    nxt = req.form.get("next", "")
    return nxt if nxt.startswith("/") and not nxt.startswith("//") and len(nxt) <= 300 else default


def _login_first(req, back: str) -> str:
    """Posting needs a session; without one go to the login page, returning to the page of the form."""
    if not req.user:
        raise Redirect(url("/login", next=back))
    return req.user


def _forum(req, name: str):
    row = req.one("SELECT name, title, description, created FROM forums WHERE name = ?", (name,), "forum")
    return row


def _canonical(req, head: str, actual: str, given: str):
    """Forum and user names are case-insensitive, as in Postmill: redirect to the canonical spelling."""
    if actual != given:
        raise Redirect(head + actual + req.path[len(head) + len(given):], 301)


def _user(req, name: str):
    return req.one("SELECT name, bio, created FROM users WHERE name = ?", (name,), "user")


COMMENT_COUNT = "(SELECT count(*) FROM comments c WHERE c.submission_id = s.id)"
ORDER = {"hot": "(CAST(strftime('%s', s.created) AS INTEGER) + 1800 * s.score) DESC, s.id DESC",
         "new": "s.created DESC, s.id DESC", "top": "s.score DESC, s.id DESC"}


def _n(k: int, word: str) -> str:
    return f"{k} {word}" + ("" if k == 1 else "s")


def _row(r, show_forum: bool = True, show_author: bool = True) -> str:
    sid, forum, user, title, created, score, ncom = r
    link = post_path(forum, sid, title)
    where = f" in <a href='/f/{esc(forum)}'>f/{esc(forum)}</a>" if show_forum else ""
    where = where if show_author else where.replace(" in", " · in", 1)
    by = f" · by <a class='submission__author' href='/user/{esc(user)}'>{esc(user)}</a>" if show_author else ""
    # The title link comes first and the details are the row's own text: the agent's simplified html
    # then prints that text once (as data-text) instead of twice, which keeps listings short.
    return (f"<div class='submission' id='submission-{sid}'>"
            f"<a class='submission__title' href='{esc(link)}'>{esc(title)}</a><br>"
            f"{_n(score, 'point')} · {_n(ncom, 'comment')} · {created[:10]}{by}{where}</div>")


def _listing(req, where: str, args: tuple, sort: str, show_forum: bool) -> str:
    total = req.db.execute(f"SELECT count(*) FROM submissions s WHERE {where}", args).fetchone()[0]
    offset, pg = pager(req, total, PER_PAGE)
    rows = req.db.execute(
        f"SELECT s.id, s.forum, s.user, s.title, s.created, s.score, {COMMENT_COUNT} FROM submissions s "
        f"WHERE {where} ORDER BY {ORDER[sort]} LIMIT ? OFFSET ?", args + (PER_PAGE, offset)).fetchall()
    items = "".join(_row(r, show_forum) for r in rows) or "<p class='muted'>There are no submissions here.</p>"
    return items + pg


def _sort_menu(base: str, sort: str) -> str:
    """Postmill's sort dropdown: a button that opens a menu of links (rendered by the core's data-menu JS)."""
    links = "".join(f"<a href='{esc(base.rstrip('/') + '/' + s)}'>{s.capitalize()}</a>" for s in SORTS)
    return (f"<div class='sortbar'><button type='button' data-menu='sort-menu' title='Sort by'>"
            f"{sort.capitalize()}</button><div class='menu-items' id='sort-menu'>{links}</div></div>")


def _layout(content: str, sidebar: str) -> str:
    return f"<div class='layout'><div class='content'>{content}</div><aside id='sidebar'>{sidebar}</aside></div>"


def _forum_sidebar(req, forum) -> str:
    name, title, desc, created = forum
    subs = req.db.execute("SELECT count(*) FROM subscriptions WHERE forum = ?", (name,)).fetchone()[0]
    subscribed = bool(req.user) and req.db.execute(
        "SELECT 1 FROM subscriptions WHERE user = ? AND forum = ?", (req.user, name)).fetchone() is not None
    action = "unsubscribe" if subscribed else "subscribe"
    back = req.path if req.method == "GET" else f"/f/{name}"
    return (f"<section class='forum-sidebar'><h2><a href='/f/{esc(name)}'>f/{esc(name)}</a></h2>"
            f"<p>{esc(desc)} {_n(subs, 'subscriber')}.</p>"
            f"<form method='post' action='/f/{esc(name)}/{action}'>"
            f"<input type='hidden' name='next' value='{esc(back)}'>"
            f"<button type='submit' class='subscribe-button'>{action.capitalize()}</button></form>"
            "</section>")


def _subscriptions_section(req) -> str:
    if not req.user:
        return "<section><h2>Subscriptions</h2><p class='muted'>Sign in to see your subscribed forums.</p></section>"
    subs = [f for (f,) in req.db.execute(
        "SELECT forum FROM subscriptions WHERE user = ? ORDER BY forum COLLATE NOCASE", (req.user,))]
    items = "".join(f"<li><a href='/f/{esc(f)}'>f/{esc(f)}</a></li>" for f in subs)
    return ("<section class='subscriptions'><h2>Subscribed forums</h2>"
            + (f"<ul>{items}</ul>" if subs else "<p>You are not subscribed to any forum.</p>") + "</section>")


# ----------------------------------------------------------------------------------------------
# pages


def front(req, sort=None):
    sort = sort or "hot"
    content = "<h1>All forums</h1>" + _sort_menu("/", sort) + _listing(req, "1", (), sort, True)
    return req.site.chrome(req, "Postmill", _layout(content, _subscriptions_section(req)))


def forum_list(req):
    sort = req.choice_arg("sort", ("name", "subscribers"), "name")
    order = {"name": "f.name COLLATE NOCASE", "subscribers": "subs DESC, f.name COLLATE NOCASE"}[sort]
    total = req.db.execute("SELECT count(*) FROM forums").fetchone()[0]
    offset, pg = pager(req, total, FORUMS_PER_PAGE)
    rows = req.db.execute(
        "SELECT f.name, f.title, (SELECT count(*) FROM subscriptions x WHERE x.forum = f.name) subs FROM forums f "
        f"ORDER BY {order} LIMIT ? OFFSET ?", (FORUMS_PER_PAGE, offset)).fetchall()
    sorts = " · ".join(f"<b>{label}</b>" if k == sort else f"<a href='{url('/forums', sort=k)}'>{label}</a>"
                       for k, label in (("name", "Name"), ("subscribers", "Subscribers")))
    items = "".join(f"<li><a href='/f/{esc(n)}'>{esc(n)}</a> {esc(t)} · {_n(s, 'subscriber')}</li>"
                    for n, t, s in rows)
    body = f"<h1>Forums</h1><p class='sortbar'>Sort by: {sorts}</p><ul class='forum-list'>{items}</ul>{pg}"
    return req.site.chrome(req, "Forums", body)


def forum_page(req, name, sort=None):
    forum = _forum(req, name)
    _canonical(req, "/f/", forum[0], name)
    sort = sort or "hot"
    content = (f"<h1>{esc(forum[1])}</h1>" + _sort_menu(f"/f/{forum[0]}", sort)
               + _listing(req, "s.forum = ?", (forum[0],), sort, False))
    return req.site.chrome(req, f"f/{forum[0]}", _layout(content, _forum_sidebar(req, forum)))


def subscribe(req, name, action):
    forum = _forum(req, name)
    back = _back(req, f"/f/{forum[0]}")
    user = _login_first(req, back)
    if action == "subscribe":
        req.db.execute("INSERT OR IGNORE INTO subscriptions VALUES (?, ?)", (user, forum[0]))
    else:
        req.db.execute("DELETE FROM subscriptions WHERE user = ? AND forum = ?", (user, forum[0]))
    raise Redirect(back)


def _submission(req, forum_name: str, sid: str):
    s = req.one("SELECT id, forum, user, title, body, created, score FROM submissions WHERE id = ?",
                (_id(sid, "submission"),), "submission")
    if s[1].lower() != forum_name.lower():
        raise HttpError(404, f"submission {s[0]} is not in forum {forum_name[:40]}")
    return s


def _vote_form(req, s) -> str:
    sid, score = s[0], s[6]
    mine = 0
    if req.user:
        row = req.db.execute("SELECT choice FROM votes WHERE user = ? AND submission_id = ?", (req.user, sid)).fetchone()
        mine = row[0] if row else 0
    state = {1: " vote--user-upvoted", -1: " vote--user-downvoted", 0: ""}[mine]
    up = ("0", "Retract upvote") if mine == 1 else ("1", "Upvote")
    down = ("0", "Retract downvote") if mine == -1 else ("-1", "Downvote")
    return (f"<form class='vote{state}' method='post' action='/sv/{sid}'>"
            f"<input type='hidden' name='next' value='{esc(post_path(s[1], sid, s[3]))}'>"
            f"<button type='submit' name='choice' value='{up[0]}' title='{up[1]}' class='vote__up'>▲</button>"
            f"<span class='vote__net-score'>{_n(score, 'point')}</span>"
            f"<button type='submit' name='choice' value='{down[0]}' title='{down[1]}' class='vote__down'>▼</button>"
            "</form>")


def _comment_html(c, children: dict, path: str) -> str:
    cid, parent, user, body, created, score = c
    replies = "".join(_comment_html(r, children, path) for r in children.get(cid, []))
    return (f"<div class='comment' id='comment-{cid}' data-author='{esc(user)}'>"
            f"<a class='comment__author' href='/user/{esc(user)}'>{esc(user)}</a> · {_n(score, 'point')} · "
            f"{created[:16]}<div class='comment__body'>{esc(body)}</div>"
            f"<a class='comment__reply' href='{esc(path)}/comment/{cid}'>Reply</a>{replies}</div>")


def _comment_form(req, s, path: str, parent: int | None = None) -> str:
    if not req.user:
        return f"<p><a href='{esc(url('/login', next=path))}'>Sign in</a> to comment.</p>"
    hidden = f"<input type='hidden' name='parent' value='{parent}'>" if parent else ""
    return (f"<form method='post' action='/f/{esc(s[1])}/{s[0]}/comment' class='comment-form'>{hidden}"
            "<textarea name='comment' rows='3' cols='60' placeholder='Write a comment' aria-label='Comment'></textarea>"
            "<br><button type='submit'>Post</button></form>")


def submission_page(req, forum_name, sid, slug=None):
    s = _submission(req, forum_name, sid)
    path = post_path(s[1], s[0], s[3])
    if req.path != path:   # wrong slug or spelling: Postmill redirects to the canonical address
        raise Redirect(path, 301)
    forum = _forum(req, s[1])
    rows = req.db.execute("SELECT id, parent_id, user, body, created, score FROM comments "
                          "WHERE submission_id = ? ORDER BY created, id", (s[0],)).fetchall()
    children: dict = {}
    for c in rows:
        children.setdefault(c[1], []).append(c)
    comments = "".join(_comment_html(c, children, path) for c in children.get(None, []))
    content = (f"<article class='submission submission--full' id='submission-{s[0]}'>"
               f"<h1 class='submission__title'>{esc(s[3])}</h1>"
               f"<p class='submission__info'>Submitted by <a class='submission__author' href='/user/{esc(s[2])}'>"
               f"{esc(s[2])}</a> on {s[5][:16]} in <a href='/f/{esc(s[1])}'>f/{esc(s[1])}</a></p>"
               f"{_vote_form(req, s)}<div class='submission__body'>{esc(s[4])}</div></article>"
               f"<section id='comments'><h2>{_n(len(rows), 'comment')}</h2>{_comment_form(req, s, path)}"
               f"{comments}</section>")
    return req.site.chrome(req, s[3], _layout(content, _forum_sidebar(req, forum)))


def comment_page(req, forum_name, sid, slug, cid):
    s = _submission(req, forum_name, sid)
    path = post_path(s[1], s[0], s[3])
    c = req.one("SELECT id, parent_id, user, body, created, score FROM comments WHERE id = ? AND submission_id = ?",
                (_id(cid, "comment"), s[0]), "comment")
    content = (f"<p><a href='{esc(path)}'>Back to: {esc(s[3])}</a></p><h1>Reply to {esc(c[2])}</h1>"
               + _comment_html(c, {}, path) + _comment_form(req, s, path, c[0]))
    return req.site.chrome(req, f"Comment by {c[2]}", _layout(content, _forum_sidebar(req, _forum(req, s[1]))))


def post_comment(req, forum_name, sid):
    s = _submission(req, forum_name, sid)
    path = post_path(s[1], s[0], s[3])
    user = _login_first(req, path)
    body = req.field("comment", max_len=5000)
    parent = req.int_arg("parent", 0, 0, 10**9) or None
    if parent is not None:
        req.one("SELECT id FROM comments WHERE id = ? AND submission_id = ?", (parent, s[0]), "parent comment")
    cur = req.db.execute("INSERT INTO comments(submission_id, parent_id, user, body, created, score) "
                         "VALUES (?, ?, ?, ?, ?, 1)", (s[0], parent, user, body, _now(req.db)))
    raise Redirect(f"{path}#comment-{cur.lastrowid}")


def vote(req, sid):
    s = req.one("SELECT id, forum, title FROM submissions WHERE id = ?", (_id(sid, "submission"),), "submission")
    back = _back(req, post_path(s[1], s[0], s[2]))
    user = _login_first(req, back)
    choice = req.int_arg("choice", None, -1, 1)
    row = req.db.execute("SELECT choice FROM votes WHERE user = ? AND submission_id = ?", (user, s[0])).fetchone()
    old = row[0] if row else 0
    req.db.execute("UPDATE submissions SET score = score + ? WHERE id = ?", (choice - old, s[0]))
    if choice:
        req.db.execute("INSERT OR REPLACE INTO votes VALUES (?, ?, ?)", (user, s[0], choice))
    else:
        req.db.execute("DELETE FROM votes WHERE user = ? AND submission_id = ?", (user, s[0]))
    raise Redirect(back)


def submit_page(req, forum_name=None):
    req.require_user()
    chosen = ""
    if forum_name:
        chosen = _forum(req, forum_name)[0]
    return _submit_form(req, chosen, "", "", "")


def _submit_form(req, chosen, title, body, error):
    names = [n for (n,) in req.db.execute("SELECT name FROM forums ORDER BY name COLLATE NOCASE")]
    options = "<option value=''>Choose a forum</option>" + "".join(
        f"<option value='{esc(n)}'{' selected' if n == chosen else ''}>{esc(n)}</option>" for n in names)
    page = ("<h1>Create submission</h1>" + (f"<p class='error'>{esc(error)}</p>" if error else "")
            + "<form method='post' action='/submit' class='submit-form'>"
            f"<p><label>Forum <select name='forum'>{options}</select></label></p>"
            f"<p><label>Title <input type='text' name='title' size='60' placeholder='Title' value='{esc(title)}'></label></p>"
            "<p><label>Body <textarea name='body' rows='5' cols='60' placeholder='Body (optional)'>"
            f"{esc(body)}</textarea></label></p><button type='submit'>Create submission</button></form>")
    return req.site.chrome(req, "Create submission", page)


def create_submission(req):
    user = _login_first(req, "/submit")
    forum_name = req.field("forum", max_len=40, required=False)
    title = req.field("title", max_len=300, required=False)
    body = req.field("body", max_len=10000, required=False)
    if not forum_name or not title:   # Postmill re-shows the form with the error and the typed text
        missing = "a forum" if not forum_name else "a title"
        return Response(_submit_form(req, forum_name, title, body, f"Please choose {missing}."), 400)
    forum = _forum(req, forum_name)
    cur = req.db.execute("INSERT INTO submissions(forum, user, title, body, created, score) VALUES (?, ?, ?, ?, ?, 1)",
                         (forum[0], user, title, body, _now(req.db)))
    req.db.execute("INSERT INTO votes VALUES (?, ?, 1)", (user, cur.lastrowid))  # Postmill upvotes one's own post
    raise Redirect(post_path(forum[0], cur.lastrowid, title))


def _user_sidebar(req, u) -> str:
    name, bio, created = u
    bio_html = (f"<div class='user-bio__biography'>{esc(bio)}</div>" if bio
                else "<p class='muted'>This user has not written a biography.</p>")
    edit = f"<p><a href='/user/{esc(name)}/edit_biography'>Edit biography</a></p>" if req.user == name else ""
    return (f"<section class='user-bio'><h2>About {esc(name)}</h2>{bio_html}{edit}"
            f"<p class='muted'>Registered {created[:10]}</p></section>"
            f"<section><h2>Moderates</h2><div data-async='/user/{esc(name)}/moderates'>Loading...</div></section>")


def user_page(req, name, tab=None):
    u = _user(req, name)
    _canonical(req, "/user/", u[0], name)
    tab = tab or "overview"
    if tab == "submissions":
        total = req.db.execute("SELECT count(*) FROM submissions WHERE user = ?", (u[0],)).fetchone()[0]
        offset, pg = pager(req, total, PER_PAGE)
        rows = req.db.execute(
            f"SELECT s.id, s.forum, s.user, s.title, s.created, s.score, {COMMENT_COUNT} FROM submissions s "
            "WHERE s.user = ? ORDER BY s.created DESC, s.id DESC LIMIT ? OFFSET ?", (u[0], PER_PAGE, offset)).fetchall()
        items = "".join(_row(r, show_author=False) for r in rows)
    else:
        kinds = "" if tab == "overview" else " WHERE kind = 'c'"
        union = ("SELECT * FROM (SELECT 's' kind, id, created FROM submissions WHERE user = :u "
                 "UNION ALL SELECT 'c', id, created FROM comments WHERE user = :u)" + kinds)
        total = req.db.execute(f"SELECT count(*) FROM ({union})", {"u": u[0]}).fetchone()[0]
        offset, pg = pager(req, total, PER_PAGE)
        picked = req.db.execute(f"{union} ORDER BY created DESC, id DESC LIMIT :n OFFSET :o",
                                {"u": u[0], "n": PER_PAGE, "o": offset}).fetchall()
        parts = []
        for kind, iid, _ in picked:
            if kind == "s":
                parts.append(_row(req.db.execute(
                    f"SELECT s.id, s.forum, s.user, s.title, s.created, s.score, {COMMENT_COUNT} FROM submissions s "
                    "WHERE s.id = ?", (iid,)).fetchone()))
            else:
                cid, body, created, score, sid, forum, title = req.db.execute(
                    "SELECT c.id, c.body, c.created, c.score, s.id, s.forum, s.title FROM comments c "
                    "JOIN submissions s ON s.id = c.submission_id WHERE c.id = ?", (iid,)).fetchone()
                parts.append(
                    f"<div class='comment' id='comment-{cid}' data-author='{esc(u[0])}'>"
                    f"<a href='{esc(post_path(forum, sid, title))}#comment-{cid}'>{esc(title)}</a>"
                    f" · comment in f/{esc(forum)} · {created[:10]} · {_n(score, 'point')}<br>{esc(body)}</div>")
        items = "".join(parts)
    active = " class='active'"
    tabs = "".join(f"<a href='/user/{esc(u[0])}{suffix}'{active if t == tab else ''}>{label}</a>"
                   for t, suffix, label in (("overview", "", "Overview"), ("submissions", "/submissions", "Submissions"),
                                            ("comments", "/comments", "Comments")))
    content = (f"<h1>{esc(u[0])}</h1><nav class='tabs'>{tabs}</nav>"
               + (items or "<p class='muted'>Nothing here yet.</p>") + pg)
    return req.site.chrome(req, u[0], _layout(content, _user_sidebar(req, u)))


def user_moderates(req, name):
    """The fragment the user page's "Moderates" panel fetches after load."""
    u = _user(req, name)
    forums = [f for (f,) in req.db.execute("SELECT forum FROM moderators WHERE user = ? ORDER BY forum COLLATE NOCASE",
                                           (u[0],))]
    return ("".join(f"<a href='/f/{esc(f)}'>f/{esc(f)}</a> " for f in forums)
            or f"<span class='muted'>{esc(u[0])} does not moderate any forum.</span>")


def edit_biography(req, name):
    u = _user(req, name)
    user = req.require_user() if req.method == "GET" else _login_first(req, f"/user/{u[0]}/edit_biography")
    if user != u[0]:
        raise HttpError(403, "you can only edit your own biography")
    if req.method == "POST":
        bio = req.field("biography", max_len=300, required=False)
        req.db.execute("UPDATE users SET bio = ? WHERE name = ?", (bio, u[0]))
        raise Redirect(f"/user/{u[0]}")
    body = (f"<h1>Edit biography</h1><form method='post' action='/user/{esc(u[0])}/edit_biography'>"
            f"<p><label>Biography <textarea name='biography' rows='4' cols='60'>{esc(u[1])}</textarea></label></p>"
            f"<button type='submit'>Save</button> <a href='/user/{esc(u[0])}'>Cancel</a></form>")
    return req.site.chrome(req, "Edit biography", body)


def search_page(req):
    q = req.arg("q").strip()
    if not q:
        return req.site.chrome(req, "Search", "<h1>Search</h1><p>Type a search term in the box above.</p>")
    users = [n for (n,) in req.db.execute("SELECT name FROM users WHERE instr(lower(name), lower(?)) "
                                          "ORDER BY name COLLATE NOCASE LIMIT 10", (q,))]
    forums = [n for (n,) in req.db.execute("SELECT name FROM forums WHERE instr(lower(name), lower(?)) "
                                           "ORDER BY name COLLATE NOCASE LIMIT 10", (q,))]
    head = f"<h1>Search results for “{esc(q)}”</h1>"
    if users:
        head += "<p>Users: " + ", ".join(f"<a href='/user/{esc(n)}'>{esc(n)}</a>" for n in users) + "</p>"
    if forums:
        head += "<p>Forums: " + ", ".join(f"<a href='/f/{esc(n)}'>f/{esc(n)}</a>" for n in forums) + "</p>"
    return req.site.chrome(req, f"Search: {q}",
                           head + "<h2>Submissions</h2>" + _listing(req, "instr(lower(s.title), lower(?))", (q,), "new", True))


ROUTES = [
    ("GET", r"/", front),
    ("GET", r"/(hot|new|top)", front),
    ("GET", r"/forums", forum_list),
    ("GET", r"/search", search_page),
    ("GET", r"/submit", submit_page),
    ("GET", r"/submit/" + NAME_RE, submit_page),
    ("POST", r"/submit", create_submission),
    ("GET", r"/f/" + NAME_RE, forum_page),
    ("GET", r"/f/" + NAME_RE + r"/(hot|new|top)", forum_page),
    ("POST", r"/f/" + NAME_RE + r"/(subscribe|unsubscribe)", subscribe),
    ("GET", r"/f/" + NAME_RE + r"/(\d+)(?:/([^/]*))?", submission_page),
    ("POST", r"/f/" + NAME_RE + r"/(\d+)/comment", post_comment),
    ("GET", r"/f/" + NAME_RE + r"/(\d+)/([^/]*)/comment/(\d+)", comment_page),
    ("POST", r"/sv/(\d+)", vote),
    ("GET", r"/user/" + NAME_RE, user_page),
    ("GET", r"/user/" + NAME_RE + r"/(submissions|comments)", user_page),
    ("GET", r"/user/" + NAME_RE + r"/moderates", user_moderates),
    ("GET", r"/user/" + NAME_RE + r"/edit_biography", edit_biography),
    ("POST", r"/user/" + NAME_RE + r"/edit_biography", edit_biography),
]

STYLE = ("<style>.layout{display:flex;gap:16px;align-items:flex-start}.content{flex:1;max-width:840px}"
         "#sidebar{width:290px}header{position:relative}[data-menu=user-menu]{margin-left:auto}#user-menu{right:16px;top:38px}.sortbar{position:relative}#sort-menu{left:0;top:24px}#sidebar section{border:1px solid #ddd;padding:6px 10px;margin-bottom:10px}"
         "#sidebar h2{font-size:15px;margin:4px 0}h1{font-size:20px;margin:6px 0}"
         ".submission,.content>.comment{padding:30px 0 32px;border-bottom:1px solid #eee;color:#555;font-size:13px;"
         "line-height:2}.submission--full{padding:0 0 12px;color:#222;font-size:14px;line-height:1.4}"
         "a.submission__title{font-size:16px}h1.submission__title{font-size:20px}"
         ".submission__info{margin:2px 0;color:#555;font-size:13px}.comment{margin:8px 0;padding-left:8px;font-size:12px;color:#555;"
         "border-left:2px solid #ddd}.comment__body{font-size:14px;color:#222}.comment__reply{font-size:12px}"
         ".vote{display:flex;gap:6px;align-items:center;margin:4px 0}.tabs a{margin-right:12px}.tabs a.active"
         "{font-weight:bold}.sortbar{margin:4px 0 8px}.forum-list li{margin:6px 0}header form{margin:0}</style>")


def chrome(req, title: str, body: str) -> str:
    user = req.user if req is not None else None
    if user:
        account = (f"<button type='button' data-menu='user-menu'>{esc(user)}</button>"
                   f"<div class='menu-items' id='user-menu'><a href='/user/{esc(user)}'>Profile</a>"
                   f"<a href='/user/{esc(user)}/edit_biography'>Edit biography</a>"
                   "<a href='/logout'>Sign Out</a></div>")
    else:
        path = req.path if req is not None and req.method == "GET" else "/"
        account = f"<a href='{esc(url('/login', next=path))}'>Sign In</a>"
    header = (f"{STYLE}<header><a class='brand' href='/'>Postmill</a><a href='/forums'>Forums</a>"
              "<form method='get' action='/search'><input type='search' name='q' placeholder='Search'></form>"
              f"<a href='/submit'>Submit</a>{account}</header>")
    return document(title, header, body)


SITE = Site(name="reddit", env_var="REDDIT", title="Postmill", build=build, routes=ROUTES, chrome=chrome,
            users={ME: "test1234"}, prefix="", login_required=False, login=True)


# ----------------------------------------------------------------------------------------------
# oracle helpers: the env prints only what is inside the viewport, so the oracle scrolls like an
# agent would until what it needs is in view (oracle.click does the same for what it clicks)


def _seek(obs, **query):
    """Scroll down until an interactive element matching `query` is in view. Returns (obs, found)."""
    for _ in range(15):
        if obs.find_all(**query):
            return obs, True
        before = obs.html
        obs = yield scroll_down()
        if obs.html == before:   # the page did not move: this is the bottom
            return obs, bool(obs.find_all(**query))
    return obs, False


def _see(obs, **query):
    """Like _seek for text to read (interactive or not); raises when it is not on the page."""
    for _ in range(15):
        if obs.find_all(interactive=False, **query):
            return obs
        before = obs.html
        obs = yield scroll_down()
        if obs.html == before:
            break
    if not obs.find_all(interactive=False, **query):
        raise OracleError(f"{query} is not on {obs.url}")
    return obs


def _type(obs, value, **query):
    """oracle.typing, but the text to type is `value` so that `text=` can select the field."""
    obs, found = yield from _seek(obs, **query)
    if not found:
        raise OracleError(f"no field {query} on {obs.url}")
    return (yield type_(obs.find(**query), value))


def _page_until(obs, **query):
    """Go through a listing's pages (scrolling each) until an element matching `query` is in view."""
    for _ in range(20):
        obs, found = yield from _seek(obs, **query)
        if found:
            return obs
        obs = yield from click(obs, text="Next", tag="a")
    raise OracleError(f"{query} not found in the listing at {obs.url}")


def _count_pages(obs):
    """Scroll through every page of a listing (the oracle knows the count; this shows the reading)."""
    for _ in range(20):
        obs, found = yield from _seek(obs, text="Next", tag="a")
        if not found:
            return obs
        obs = yield click(obs.find(text="Next", tag="a"))
    return obs


def _search(obs, q):
    return (yield search(obs.find(text="Search", tag="input"), q))


def _to_forum(obs, forum):
    obs = yield from click(obs, text="Forums", tag="a")
    obs = yield from _page_until(obs, text=forum, tag="a")
    return (yield click(obs.find(text=forum, tag="a")))


def _sort(obs, label):
    obs = yield from click(obs, text="Sort by", tag="button")       # opens the JS menu
    return (yield from click(obs, text=label, tag="a"))


def _to_user(obs, user, tab=None):
    obs = yield from _search(obs, user)
    obs = yield from click(obs, text=user, tag="a")
    if tab:
        obs = yield from click(obs, text=tab, tag="a")
    return obs


def _to_post(obs, title):
    obs = yield from _search(obs, title)
    return (yield from click(obs, text=title, tag="a"))


def _reply(obs, text):
    obs = yield from _type(obs, text, text="Write a comment", tag="textarea")
    return (yield from click(obs, text="Post", tag="button"))


# ----------------------------------------------------------------------------------------------
# task data


def _q(db, sql, args=()):
    return db.execute(sql, args).fetchall()


def _forums(db, split):
    return [n for (n,) in _q(db, "SELECT name FROM forums ORDER BY name COLLATE NOCASE") if split_of("forum", n) == split]


def _users(db, split):
    return [n for (n,) in _q(db, "SELECT name FROM users WHERE name != ? ORDER BY name", (ME,))
            if split_of("user", n) == split]


def _texts(pool, kind, split):
    return [t for t in pool if split_of(kind, t) == split]


def _pick(items, key: str):
    """A deterministic choice from `items` keyed by a string (stable across runs and processes)."""
    return items[stable_hash(key) % len(items)]


def _posts(db, split, extra="1"):
    """(id, forum, user, title, ncomments, score) of submissions in forums of the split."""
    forums = _forums(db, split)
    rows = _q(db, f"SELECT s.id, s.forum, s.user, s.title, {COMMENT_COUNT}, s.score FROM submissions s "
                  f"WHERE {extra} ORDER BY s.id")
    return [r for r in rows if r[1] in forums]


def _top(db, forum, order="s.score DESC, s.id DESC"):
    return db.execute(f"SELECT s.id, s.user, s.title, s.score, s.created FROM submissions s WHERE s.forum = ? "
                      f"ORDER BY {order} LIMIT 1", (forum,)).fetchone()


def _voted(db, sid) -> bool:
    return db.execute("SELECT 1 FROM votes WHERE user = ? AND submission_id = ?", (ME, sid)).fetchone() is not None


def _commented(db, sid) -> bool:
    return db.execute("SELECT 1 FROM comments WHERE user = ? AND submission_id = ?", (ME, sid)).fetchone() is not None


def _answer(kind: str, value) -> dict:
    ref = {"exact_match": str(value)} if kind == "exact" else {"must_include": [str(value)]}
    return {"eval_types": ["string_match"], "reference_answers": ref}


def _vote_check(forum, sid, title) -> dict:
    return {"eval_types": ["program_html"], "program_html": [{
        "url": PLACE + post_path(forum, sid, title),
        "locator": "document.querySelector('.submission .vote').className",
        "required_contents": {"must_include": ["vote--user-upvoted"]}}]}


def _reply_check(forum, sid, title, text) -> dict:
    return {"eval_types": ["program_html"], "program_html": [{
        "url": PLACE + post_path(forum, sid, title),
        "locator": ("[...document.querySelectorAll('#comments .comment')].filter(c => c.dataset.author === "
                    f"'{ME}').map(c => c.querySelector('.comment__body').innerText).join(' || ')"),
        "required_contents": {"must_include": [text]}}]}


# ----------------------------------------------------------------------------------------------
# templates (each with its instances and its oracle)


def t300(db, split):
    return [{"values": {"title": t, "forum": f}, "start_url": PLACE, "eval": _answer("exact", u),
             "oracle": {"title": t, "answer": u}} for _, f, u, t, _, _ in _posts(db, split)]


def s300(task):
    o = task["miniarena"]["oracle"]
    obs = yield
    obs = yield from _search(obs, o["title"])
    obs = yield from _see(obs, text=o["title"], tag="a")
    yield note(f"The submission \"{o['title']}\" was posted by {o['answer']}.", exit_(o["answer"]))


def t301(db, split):
    return [{"values": {"title": t, "forum": f}, "start_url": PLACE, "eval": _answer("include", n),
             "oracle": {"forum": f, "title": t, "answer": str(n)}} for _, f, _, t, n, _ in _posts(db, split)]


def s301(task):
    o = task["miniarena"]["oracle"]
    obs = yield
    obs = yield from _to_forum(obs, o["forum"])
    obs = yield from _page_until(obs, text=o["title"], tag="a")
    yield note(f"The row of \"{o['title']}\" says {o['answer']} comments.", exit_(o["answer"]))


def t302(db, split):
    out = []
    for f in _forums(db, split):
        sid, user, title, score, _ = _top(db, f)
        out.append({"values": {"forum": f}, "start_url": PLACE, "eval": _answer("include", title),
                    "oracle": {"forum": f, "answer": title}})
    return out


def s302(task):
    o = task["miniarena"]["oracle"]
    obs = yield
    obs = yield from _to_forum(obs, o["forum"])
    obs = yield from _sort(obs, "Top")
    obs = yield from _see(obs, text=o["answer"], tag="a")
    yield note(f"Sorted by top, the first post is \"{o['answer']}\".", exit_(o["answer"]))


def t303(db, split):
    out = []
    for f in _forums(db, split):
        sid, user, title, score, _ = _top(db, f, "s.created DESC, s.id DESC")
        out.append({"values": {"forum": f}, "start_url": PLACE, "eval": _answer("exact", user),
                    "oracle": {"forum": f, "answer": user}})
    return out


def s303(task):
    o = task["miniarena"]["oracle"]
    obs = yield
    obs = yield from _to_forum(obs, o["forum"])
    obs = yield from _sort(obs, "New")
    obs = yield from _see(obs, text=o["answer"], tag="a")
    yield note(f"Sorted by new, the first post is by {o['answer']}.", exit_(o["answer"]))


def t304(db, split):
    out = []
    for u in _users(db, split):
        n = db.execute("SELECT count(*) FROM submissions WHERE user = ?", (u,)).fetchone()[0]
        if 1 <= n <= 3 * PER_PAGE:   # at most three pages to count
            out.append({"values": {"user": u}, "start_url": PLACE, "eval": _answer("include", n),
                        "oracle": {"user": u, "answer": str(n)}})
    return out


def s304(task):
    o = task["miniarena"]["oracle"]
    obs = yield
    obs = yield from _to_user(obs, o["user"], "Submissions")
    obs = yield from _count_pages(obs)
    yield note(f"Counting the rows on every page: {o['answer']} submissions.", exit_(o["answer"]))


def t305(db, split):
    return [{"values": {"forum": f, "sort": label}, "start_url": PLACE,
             "eval": {"eval_types": ["url_match"], "reference_url": f"{PLACE}/f/{f}/{label.lower()}"},
             "oracle": {"forum": f, "sort": label}} for f in _forums(db, split) for label in ("New", "Top")]


def s305(task):
    o = task["miniarena"]["oracle"]
    obs = yield
    obs = yield from _to_forum(obs, o["forum"])
    obs = yield from _sort(obs, o["sort"])
    yield exit_("")


def t306(db, split):
    mine = {f for (f,) in _q(db, "SELECT forum FROM subscriptions WHERE user = ?", (ME,))}
    return [{"values": {"forum": f}, "start_url": PLACE,
             "eval": {"eval_types": ["program_html"], "program_html": [
                 {"url": f"{PLACE}/f/{f}", "locator": "document.querySelector('#sidebar .subscribe-button').outerText",
                  "required_contents": {"exact_match": "Unsubscribe"}},
                 {"url": f"{PLACE}/", "locator": "document.querySelector('#sidebar > section').outerText",
                  "required_contents": {"must_include": [f"f/{f}"]}}]},
             "oracle": {"forum": f}} for f in _forums(db, split) if f not in mine]


def s306(task):
    o = task["miniarena"]["oracle"]
    obs = yield
    obs = yield from _to_forum(obs, o["forum"])
    obs = yield from click(obs, text="Subscribe", tag="button")
    yield exit_("")


def t307(db, split):
    return [{"values": {"title": t, "forum": f}, "start_url": PLACE, "eval": _vote_check(f, sid, t),
             "oracle": {"title": t}}
            for sid, f, u, t, _, _ in _posts(db, split) if u != ME and not _voted(db, sid)]


def s307(task):
    o = task["miniarena"]["oracle"]
    obs = yield
    obs = yield from _to_post(obs, o["title"])
    obs = yield from click(obs, text="Upvote", tag="button")
    yield exit_("")


def t308(db, split):
    texts = _texts(REPLY_TEXTS, "text", split)
    out = []
    for sid, f, u, t, _, _ in _posts(db, split):
        if not _commented(db, sid):
            text = _pick(texts, t)
            out.append({"values": {"title": t, "forum": f, "text": text}, "start_url": PLACE,
                        "eval": _reply_check(f, sid, t, text), "oracle": {"title": t, "text": text}})
    return out


def s308(task):
    o = task["miniarena"]["oracle"]
    obs = yield
    obs = yield from _to_post(obs, o["title"])
    obs = yield from _reply(obs, o["text"])
    yield exit_("")


def t309(db, split):
    return [{"values": {"forum": f, "title": t}, "start_url": PLACE,
             "eval": {"eval_types": ["program_html"], "program_html": [
                 {"url": f"{PLACE}/f/{f}/new", "locator": "document.querySelector('.submission__title').outerText",
                  "required_contents": {"exact_match": t}},
                 {"url": f"{PLACE}/f/{f}/new", "locator": "document.querySelector('.submission__author').outerText",
                  "required_contents": {"exact_match": ME}}]},
             "oracle": {"forum": f, "title": t}}
            for f in _forums(db, split) for t in _texts(NEW_POST_TITLES, "title", split)]


def s309(task):
    o = task["miniarena"]["oracle"]
    obs = yield
    obs = yield from click(obs, text="Submit", tag="a")
    obs = yield select(obs.find(tag="select"), o["forum"])
    obs = yield from _type(obs, o["title"], text="Title", tag="input")
    obs = yield from click(obs, text="Create submission", tag="button")
    yield exit_("")


def t310(db, split):
    return [{"values": {"bio": b}, "start_url": PLACE,
             "eval": {"eval_types": ["program_html"], "program_html": [
                 {"url": f"{PLACE}/user/{ME}", "locator": "document.querySelector('.user-bio__biography').outerText",
                  "required_contents": {"exact_match": b}}]},
             "oracle": {"bio": b}} for b in _texts(BIO_TEXTS, "bio", split)]


def s310(task):
    o = task["miniarena"]["oracle"]
    obs = yield
    obs = yield from click(obs, text=ME, tag="button")            # the JS user menu
    obs = yield from click(obs, text="Edit biography", tag="a")
    obs = yield from _type(obs, o["bio"], tag="textarea")
    obs = yield from click(obs, text="Save", tag="button")
    yield exit_("")


def t311(db, split):
    out = []
    for f in _forums(db, split):
        sid, _, title, _, _ = _top(db, f)
        cs = _q(db, "SELECT user, score FROM comments WHERE submission_id = ? ORDER BY score DESC", (sid,))
        if len(cs) >= 2 and cs[0][1] > cs[1][1]:
            out.append({"values": {"forum": f}, "start_url": PLACE, "eval": _answer("exact", cs[0][0]),
                        "oracle": {"forum": f, "title": title, "answer": cs[0][0], "score": cs[0][1]}})
    return out


def s311(task):
    o = task["miniarena"]["oracle"]
    obs = yield
    obs = yield from _to_forum(obs, o["forum"])
    obs = yield from _sort(obs, "Top")
    obs = yield from click(obs, text=o["title"], tag="a")
    obs = yield from _see(obs, text=o["answer"], tag="a")
    yield note(f"The highest-scored comment ({o['score']} points) is by {o['answer']}.", exit_(o["answer"]))


def t312(db, split):
    out = []
    for u in _users(db, split):
        row = db.execute("SELECT forum FROM submissions WHERE user = ? ORDER BY created DESC LIMIT 1", (u,)).fetchone()
        if row:
            out.append({"values": {"user": u}, "start_url": PLACE, "eval": _answer("include", row[0]),
                        "oracle": {"user": u, "answer": row[0]}})
    return out


def s312(task):
    o = task["miniarena"]["oracle"]
    obs = yield
    obs = yield from _to_user(obs, o["user"], "Submissions")
    obs = yield from _see(obs, text=f"f/{o['answer']}", tag="a")
    yield note(f"The newest submission is in f/{o['answer']}.", exit_(o["answer"]))


def t313(db, split):
    if split != "test":
        return []
    out = []
    for f in _forums(db, split):
        sid, user, title, _, _ = _top(db, f)
        if user != ME and not _voted(db, sid):
            out.append({"values": {"forum": f}, "start_url": PLACE, "eval": _vote_check(f, sid, title),
                        "oracle": {"forum": f, "title": title}})
    return out


def s313(task):
    o = task["miniarena"]["oracle"]
    obs = yield
    obs = yield from _to_forum(obs, o["forum"])
    obs = yield from _sort(obs, "Top")
    obs = yield from click(obs, text=o["title"], tag="a")
    obs = yield from click(obs, text="Upvote", tag="button")
    yield exit_("")


def t314(db, split):
    if split != "test":
        return []
    texts = _texts(REPLY_TEXTS, "text", split)
    out = []
    for u in _users(db, split):
        row = db.execute("SELECT id, forum, title FROM submissions WHERE user = ? ORDER BY created DESC LIMIT 1",
                         (u,)).fetchone()
        if row and not _commented(db, row[0]):
            text = _pick(texts, u)
            out.append({"values": {"text": text, "user": u}, "start_url": PLACE,
                        "eval": _reply_check(row[1], row[0], row[2], text),
                        "oracle": {"user": u, "title": row[2], "text": text}})
    return out


def s314(task):
    o = task["miniarena"]["oracle"]
    obs = yield
    obs = yield from _to_user(obs, o["user"], "Submissions")
    obs = yield from click(obs, text=o["title"], tag="a")
    obs = yield from _reply(obs, o["text"])
    yield exit_("")


def t315(db, split):
    return [{"values": {"forum": f}, "start_url": PLACE, "eval": _answer("include", n),
             "oracle": {"forum": f, "answer": str(n)}}
            for f, n in _q(db, "SELECT forum, count(*) FROM subscriptions GROUP BY forum")
            if split_of("forum", f) == split]


def s315(task):
    o = task["miniarena"]["oracle"]
    obs = yield
    obs = yield from click(obs, text="Forums", tag="a")
    obs = yield from _page_until(obs, text=o["forum"], tag="a")
    yield note(f"The forum list shows {o['answer']} subscribers for {o['forum']}.", exit_(o["answer"]))


def _t(id, intent, inst, solve, steps, skills, test_only=False):
    return Template(id=id, site="reddit", intent_template=intent, instances=inst, oracle=solve,
                    test_only=test_only, skills=skills, min_steps=steps)


TEMPLATES = [
    _t(300, 'Who posted the submission "{{title}}" in the {{forum}} forum?', t300, s300, 2, "search, read"),
    _t(301, 'How many comments does the post "{{title}}" in the {{forum}} forum have?', t301, s301, 8,
       "forum list, listing pagination, read"),
    _t(302, "What is the title of the highest-scored post in the {{forum}} forum?", t302, s302, 8,
       "forum list, sort menu (top), read"),
    _t(303, "Who is the author of the most recent post in the {{forum}} forum?", t303, s303, 8,
       "forum list, sort menu (new), read"),
    _t(304, "How many submissions has the user {{user}} posted in total?", t304, s304, 10,
       "search a user, user page tab, pagination, count"),
    _t(305, "Open the {{forum}} forum and sort its posts by {{sort}}.", t305, s305, 6, "forum list, sort menu"),
    _t(306, "Subscribe to the {{forum}} forum.", t306, s306, 5, "forum list, subscribe form"),
    _t(307, 'Upvote the post "{{title}}" in the {{forum}} forum.', t307, s307, 4, "search, vote form"),
    _t(308, 'Reply to the post "{{title}}" in the {{forum}} forum with the comment "{{text}}".', t308, s308, 5,
       "search, comment form"),
    _t(309, 'Create a new post in the {{forum}} forum with the title "{{title}}".', t309, s309, 5,
       "submit form, dropdown"),
    _t(310, 'Change my bio to "{{bio}}".', t310, s310, 5, "JS user menu, edit form"),
    _t(311, "Who wrote the highest-scored comment on the highest-scored post of the {{forum}} forum?", t311, s311, 9,
       "forum list, sort menu (top), open post, compare comment scores"),
    _t(312, "In which forum did {{user}} make their most recent submission?", t312, s312, 4,
       "search a user, user page tab, read"),
    _t(313, "Upvote the highest-scored post in the {{forum}} forum.", t313, s313, 10,
       "forum list, sort menu (top), open post, vote form", test_only=True),
    _t(314, 'Reply "{{text}}" to the most recent submission by {{user}}.', t314, s314, 7,
       "search a user, user page tab, open post, comment form", test_only=True),
    _t(315, "How many subscribers does the {{forum}} forum have?", t315, s315, 4, "forum list pagination, read"),
]
