"""shopping: OneStopShop, WebArena's Magento storefront ("One Stop Market"), in miniature.

Pages (paths follow Magento's where easy):
  /                                   home: categories and a product showcase
  /<top>.html, /<top>/<sub>.html      category lists, 12 per page, sort <select>, price filter links
  /catalogsearch/result/?q=...        search results (same toolbar and filters)
  /<product-slug>.html                product: price, SKU, rating, reviews, Add to Cart, Write a review
  /checkout/cart/                     cart (update quantities, remove items); /checkout/cart/mini/ feeds
                                      the header's "My Cart" dropdown, filled by JavaScript after load
  /checkout/                          shipping address form + Place Order; /checkout/onepage/success/
  /customer/account/                  My Account; /sales/order/history/ (10 per page);
  /sales/order/view/order_id/N/       order detail (+ Reorder); /review/customer/ My Product Reviews
Browsing is public; cart, checkout, orders, account and reviews need the customer's login
(emma.lopez@gmail.com, "Emma Lopez"). The header's "Categories" button opens a data-menu dropdown.

Tables: categories (10 top + 30 sub), products (240, names brand + adjective + noun + size, SKU
B0XXXXXXXX), reviews (0-6 per product), customers, cart_items, orders (~60 in 2022-2023, statuses
Complete/Canceled/Pending/Processing), order_items. Money is stored in cents.

Templates 100-117: product facts (price, SKU, review count, rating, latest reviewer), cheapest or
most expensive product of a category (sort), the category's products in a price range (filter,
url_match), search (url_match), open a product page (url_match), order history questions (spend in a
month, status / items of the order of a day, total of an order number: pagination), and writes: add
to cart, write a review, place an order. test_only (new compositions of trained skills): 114 add the
cheapest product of a category to the cart (sort + add to cart), 117 review the product bought on a
day (order history + review form).
"""
from __future__ import annotations

import random
import re
import sqlite3
import urllib.parse
from datetime import date, timedelta

from . import oracle as O
from .server import HttpError, Redirect, Response, Site, document, esc, pager, slugify, split_of, url
from .tasks import Template

TODAY = date(2024, 1, 10)        # the store's frozen "today": new orders and reviews get this date
PER_PAGE = 12                    # category and search lists
ORDERS_PER_PAGE = 10             # order history
SHIPPING_CENTS = 500             # flat rate per order
USER = "emma.lopez@gmail.com"
SEARCH_PLACEHOLDER = "Search entire store here..."

# ----------------------------------------------------------------------------------------------
# vocabulary for the generated catalogue:
#   top category -> (brands, {subcategory: (adjectives, {noun: sizes}, price range in $)})
# Adjectives and sizes belong to the subcategory and the noun, so names read like real listings
# ("PureGlow Hydrating Facial Cleanser, 8 fl oz"), never "Ceramic Sheet Set".

CATALOG = {
    "Beauty & Personal Care": (
        ["PureGlow", "Botanic Bay", "Silk & Sage", "DermaVita", "Luxe Lane", "Nature's Veil"],
        {"Skin Care": (["Hydrating", "Gentle", "Organic", "Brightening", "Oil-Free", "Fragrance-Free"],
                       {"Facial Cleanser": ["8 fl oz", "16 fl oz"], "Moisturizing Cream": ["1.7 oz", "3.4 oz"],
                        "Vitamin C Serum": ["1 fl oz", "2 Pack"], "Eye Cream": ["0.5 oz", "1 oz"],
                        "Sunscreen Lotion": ["3 fl oz", "6 fl oz"], "Exfoliating Scrub": ["4 oz", "8 oz"]}, (6, 48)),
         "Hair Care": (["Nourishing", "Volumizing", "Sulfate-Free", "Argan Oil", "Color-Safe", "Repairing"],
                       {"Shampoo": ["12 fl oz", "16.9 fl oz"], "Conditioner": ["12 fl oz", "16.9 fl oz"],
                        "Hair Mask": ["8 oz", "2 Pack"], "Leave-In Spray": ["6 fl oz", "8 fl oz"],
                        "Hair Oil": ["2 fl oz", "3.4 fl oz"], "Dry Shampoo": ["4.3 oz", "2 Pack"]}, (5, 36)),
         "Makeup": (["Long-Lasting", "Waterproof", "Vegan", "Matte", "Cruelty-Free", "Shimmer"],
                    {"Liquid Foundation": ["1 fl oz", "Light Beige"], "Lipstick": ["Ruby Red", "Nude Pink"],
                     "Mascara": ["Black", "Brown-Black"], "Eyeshadow Palette": ["12 Shades", "18 Shades"],
                     "Setting Powder": ["0.35 oz", "Translucent"], "Brow Pencil": ["Dark Brown", "Taupe"]}, (4, 42))}),
    "Sports & Outdoors": (
        ["TrailPeak", "IronCore", "SwiftRide", "Summit Gear", "Everfit", "BlueRidge"],
        {"Exercise & Fitness": (["Non-Slip", "Adjustable", "Heavy-Duty", "Lightweight", "Eco-Friendly", "Pro"],
                                {"Yoga Mat": ["6 mm", "8 mm"], "Resistance Bands": ["Set of 5", "Set of 3"],
                                 "Dumbbell Set": ["20 lb", "40 lb"], "Jump Rope": ["9 ft", "10 ft"],
                                 "Foam Roller": ["18 inch", "36 inch"], "Kettlebell": ["15 lb", "25 lb"]}, (9, 140)),
         "Camping & Hiking": (["Waterproof", "Ultralight", "Insulated", "Foldable", "All-Weather", "Compact"],
                              {"Camping Tent": ["2 Person", "4 Person"], "Sleeping Bag": ["20 Degree", "Regular"],
                               "Trekking Poles": ["1 Pair", "Collapsible"], "Hiking Backpack": ["40 L", "55 L"],
                               "Camp Lantern": ["2 Pack", "1000 Lumens"], "Water Filter": ["Personal", "2 Pack"]}, (14, 260)),
         "Cycling": (["Lightweight", "Reflective", "Padded", "Rechargeable", "Anti-Theft", "Aero"],
                     {"Bike Helmet": ["Medium", "Large"], "Bike Lock": ["5 ft Cable", "U-Lock"],
                      "Cycling Gloves": ["Medium", "Large"], "Bike Light Set": ["USB", "2 Pack"],
                      "Bottle Cage": ["2 Pack", "Carbon"], "Floor Pump": ["160 PSI", "With Gauge"]}, (8, 120))}),
    "Clothing, Shoes & Jewelry": (
        ["Northway", "Urban Thread", "Cobalt & Co", "Maple Row", "Verona", "Ash & Oak"],
        {"Shoes": (["Classic", "Breathable", "Cushioned", "Waterproof", "Lightweight", "Leather"],
                   {"Running Shoes": ["Size 8", "Size 10"], "Chelsea Boots": ["Size 9", "Size 11"],
                    "Canvas Sneakers": ["Size 7", "Size 9"], "Loafers": ["Size 8", "Size 10"],
                    "Hiking Shoes": ["Size 9", "Size 11"], "Slide Sandals": ["Size 7", "Size 10"]}, (24, 160)),
         "Outerwear": (["Quilted", "Slim-Fit", "Hooded", "Insulated", "Packable", "Vintage"],
                       {"Rain Jacket": ["Medium", "Large"], "Puffer Vest": ["Small", "Medium"],
                        "Fleece Hoodie": ["Large", "X-Large"], "Wool Coat": ["Medium", "Large"],
                        "Denim Jacket": ["Small", "Large"], "Windbreaker": ["Medium", "X-Large"]}, (29, 220)),
         "Jewelry": (["Sterling Silver", "Gold-Plated", "Handmade", "Minimalist", "Vintage", "Rose Gold"],
                     {"Necklace": ["18 inch", "Gift Box"], "Hoop Earrings": ["1 Pair", "Small"],
                      "Charm Bracelet": ["7 inch", "Gift Box"], "Stud Earrings": ["1 Pair", "3 Pairs"],
                      "Stacking Ring": ["Size 6", "Size 7"], "Pendant": ["Gift Box", "20 inch Chain"]}, (12, 180))}),
    "Home & Kitchen": (
        ["HearthStone", "Casa Verde", "KitchenPro", "Willow & Wren", "Nordhaus", "SunnyNest"],
        {"Kitchen & Dining": (["Nonstick", "Stainless Steel", "Cast Iron", "Bamboo", "Dishwasher-Safe", "Professional"],
                              {"Frying Pan": ["10 inch", "12 inch"], "Chef Knife": ["8 inch", "6 inch"],
                               "Cutting Board": ["Set of 3", "Large"], "Mixing Bowls": ["Set of 3", "Set of 5"],
                               "Saucepan": ["2 qt", "3 qt"], "Tea Kettle": ["1.7 L", "2.5 qt"]}, (11, 130)),
         "Bedding": (["Cotton", "Microfiber", "Cooling", "Linen", "Hypoallergenic", "Soft"],
                     {"Sheet Set": ["Queen", "King"], "Duvet Cover": ["Queen", "Full"], "Pillows": ["2 Pack", "Standard"],
                      "Weighted Blanket": ["15 lb", "20 lb"], "Mattress Topper": ["Queen", "Twin"],
                      "Quilt Set": ["King", "Full"]}, (19, 190)),
         "Home Decor": (["Modern", "Rustic", "Boho", "Minimalist", "Farmhouse", "Velvet"],
                        {"Wall Clock": ["12 inch", "16 inch"], "Table Lamp": ["Set of 2", "19 inch"],
                         "Throw Pillow Covers": ["18x18 inch", "Set of 4"], "Picture Frame": ["5x7 inch", "8x10 inch"],
                         "Scented Candle": ["16 oz", "3-Wick"], "Area Rug": ["5x7 ft", "8x10 ft"]}, (7, 150))}),
    "Office Products": (
        ["PaperTrail", "Officio", "InkWell", "DeskMate", "Clearline", "Quillon"],
        {"Office Supplies": (["Heavy-Duty", "Recycled", "Assorted Color", "Compact", "Premium", "Magnetic"],
                             {"Stapler": ["20 Sheet", "Desktop"], "Sticky Notes": ["12 Pads", "24 Pads"],
                              "File Folders": ["Letter Size", "100 Count"], "Desk Organizer": ["5 Compartment", "Mesh"],
                              "Binder Clips": ["60 Count", "Assorted Sizes"], "Label Maker": ["With 2 Tapes", "Handheld"]}, (3, 60)),
         "Writing Instruments": (["Retractable", "Quick-Dry", "Refillable", "Fine Point", "Smooth", "Bold"],
                                 {"Gel Pens": ["12 Pack", "24 Pack"], "Fountain Pen": ["Medium Nib", "Gift Set"],
                                  "Mechanical Pencils": ["0.5 mm", "0.7 mm"], "Highlighters": ["6 Pack", "12 Pack"],
                                  "Fineliner Pens": ["Set of 10", "Set of 24"], "Dry Erase Markers": ["8 Pack", "12 Pack"]}, (4, 55)),
         "Office Furniture": (["Ergonomic", "Adjustable", "Mesh", "Solid Wood", "Mobile", "Space-Saving"],
                              {"Office Chair": ["Black", "Gray"], "Standing Desk": ["48 inch", "55 inch"],
                               "Footrest": ["Black", "Foam"], "Monitor Stand": ["Walnut", "2 Tier"],
                               "Filing Cabinet": ["3 Drawer", "2 Drawer"], "Bookshelf": ["5 Shelf", "3 Shelf"]}, (25, 320))}),
    "Tools & Home Improvement": (
        ["BoltMaster", "Craftline", "Torque & Co", "HandyHaus", "VoltEdge", "Forgewell"],
        {"Power Tools": (["Cordless", "Brushless", "Compact", "Variable Speed", "Heavy-Duty", "Corded"],
                         {"Drill Driver": ["20V Kit", "12V"], "Circular Saw": ["7-1/4 inch", "20V"],
                          "Orbital Sander": ["5 inch", "Variable Speed"], "Impact Driver": ["20V", "Tool Only"],
                          "Jigsaw": ["6.5 Amp", "20V"], "Heat Gun": ["1500W", "Dual Temperature"]}, (39, 280)),
         "Hand Tools": (["Magnetic", "Professional", "Chrome Vanadium", "Non-Slip", "Heavy-Duty", "Precision"],
                        {"Screwdriver Set": ["32 Piece", "12 Piece"], "Claw Hammer": ["16 oz", "20 oz"],
                         "Tape Measure": ["25 ft", "16 ft"], "Socket Set": ["40 Piece", "108 Piece"],
                         "Utility Knife": ["2 Pack", "Folding"], "Pliers Set": ["3 Piece", "5 Piece"]}, (7, 90)),
         "Lighting": (["Dimmable", "Energy-Saving", "Rechargeable", "Warm White", "Motion-Activated", "Waterproof"],
                      {"LED Bulbs": ["4 Pack", "60W Equivalent"], "Work Light": ["2000 Lumens", "Portable"],
                       "Flashlight": ["2 Pack", "1000 Lumens"], "Security Light": ["Outdoor", "2 Pack"],
                       "String Lights": ["33 ft", "100 ft"], "Under Cabinet Lights": ["3 Pack", "12 inch"]}, (8, 75))}),
    "Health & Household": (
        ["VitaLeaf", "CleanCrest", "WellSpring", "Medix", "FreshHaven", "Daily Balance"],
        {"Vitamins & Supplements": (["Extra Strength", "Sugar-Free", "Plant-Based", "Natural", "High Potency", "Vegan"],
                                    {"Vitamin D3 Gummies": ["60 Count", "120 Count"], "Fish Oil Softgels": ["90 Count", "180 Count"],
                                     "Multivitamin Tablets": ["100 Count", "200 Count"], "Magnesium Capsules": ["60 Count", "120 Count"],
                                     "Probiotic Capsules": ["30 Count", "60 Count"], "Melatonin Gummies": ["60 Count", "2 Pack"]}, (7, 45)),
         "Household Supplies": (["Unscented", "Lemon", "Heavy-Duty", "Eco-Friendly", "Lavender", "Ultra"],
                                {"Dish Soap": ["24 fl oz", "3 Pack"], "Laundry Detergent": ["64 Loads", "100 fl oz"],
                                 "Paper Towels": ["6 Rolls", "12 Rolls"], "Trash Bags": ["13 Gallon, 90 Count", "30 Gallon, 50 Count"],
                                 "All-Purpose Cleaner": ["32 fl oz", "2 Pack"], "Sponges": ["6 Pack", "12 Pack"]}, (4, 38)),
         "Medical Supplies": (["Digital", "Reusable", "Adjustable", "Portable", "Professional", "Compact"],
                              {"Thermometer": ["Oral", "Forehead"], "Blood Pressure Monitor": ["Upper Arm", "Wrist"],
                               "First Aid Kit": ["100 Piece", "250 Piece"], "Heating Pad": ["12x24 inch", "XL"],
                               "Pulse Oximeter": ["Fingertip", "With Lanyard"], "Knee Brace": ["Medium", "Large"]}, (9, 85))}),
    "Electronics": (
        ["Sonix", "Voltra", "ClearView", "Nexa", "AudioPeak", "Pixelon"],
        {"Headphones & Audio": (["Wireless", "Noise-Cancelling", "Bluetooth", "Portable", "Studio", "Waterproof"],
                                {"Over-Ear Headphones": ["Black", "Silver"], "Earbuds": ["White", "Black"],
                                 "Speaker": ["20W", "Mini"], "Soundbar": ["2.1 Channel", "32 inch"],
                                 "USB Microphone": ["Cardioid", "With Stand"], "Headphone Stand": ["Aluminum", "Dual"]}, (18, 300)),
         "Computer Accessories": (["Wireless", "Ergonomic", "Mechanical", "USB-C", "Backlit", "Ultra-Slim"],
                                  {"Keyboard": ["Full Size", "Compact"], "Mouse": ["Silent Click", "Rechargeable"],
                                   "Hub": ["7-in-1", "4 Port"], "Laptop Stand": ["Adjustable", "Aluminum"],
                                   "Webcam": ["1080p", "4K"], "External SSD": ["1 TB", "500 GB"]}, (12, 160)),
         "Cameras": (["4K", "Wide-Angle", "Night Vision", "Compact", "Waterproof", "Professional"],
                     {"Action Camera": ["With Case", "64 GB"], "Security Camera": ["2 Pack", "Outdoor"],
                      "Camera Tripod": ["60 inch", "Travel"], "Dash Cam": ["Front and Rear", "1080p"],
                      "Ring Light": ["10 inch", "18 inch"], "Camera Bag": ["Medium", "Sling"]}, (19, 350))}),
    "Cell Phones & Accessories": (
        ["ArmorShell", "ChargeUp", "Glasswise", "Mobilix", "Zentek", "Cellora"],
        {"Cases": (["Shockproof", "Slim", "Clear", "Magnetic", "Rugged", "Leather"],
                   {"Phone Case": ["iPhone 14", "Galaxy S23"], "Wallet Case": ["iPhone 13", "Pixel 7"],
                    "Bumper Case": ["iPhone 14", "Galaxy S22"], "Folio Case": ["Galaxy S23", "iPhone 13"],
                    "Silicone Case": ["Pixel 7", "iPhone 14"], "Kickstand Case": ["Galaxy S23", "Pixel 7"]}, (7, 45)),
         "Chargers & Cables": (["Fast-Charging", "Braided", "Dual Port", "Compact", "Magnetic", "Heavy-Duty"],
                               {"Wall Charger": ["20W", "65W"], "USB-C Cable": ["6 ft", "3 Pack"],
                                "Wireless Charging Pad": ["15W", "2-in-1"], "Car Charger": ["36W", "Dual USB"],
                                "Power Bank": ["10000mAh", "20000mAh"], "Lightning Cable": ["3 ft", "2 Pack"]}, (6, 60)),
         "Screen Protectors": (["Tempered Glass", "Privacy", "Anti-Glare", "Bubble-Free", "Matte", "Scratch-Resistant"],
                               {"Screen Protector": ["iPhone 14, 2 Pack", "Galaxy S23, 3 Pack"],
                                "Camera Lens Protector": ["iPhone 14", "3 Pack"], "Tablet Screen Protector": ["iPad 10.9 inch", "2 Pack"],
                                "Watch Screen Protector": ["45 mm", "6 Pack"], "Screen Film": ["Pixel 7", "2 Pack"],
                                "Protector Kit": ["iPhone 13", "With Installation Frame"]}, (5, 25))}),
    "Grocery & Gourmet Food": (
        ["Elmwood Farms", "Golden Harvest", "Blue Hill Pantry", "Sweet Meadow", "Casa Oliva", "Nutri Snack Co"],
        {"Beverages": (["Organic", "Decaf", "Unsweetened", "Caffeine-Free", "Medium Roast", "Sparkling"],
                       {"Green Tea": ["20 Tea Bags", "16 oz Pouch"], "Cold Brew Coffee": ["32 fl oz", "Pack of 4"],
                        "Mineral Water": ["Pack of 12", "Pack of 24"], "Herbal Tea": ["20 Tea Bags", "Pack of 3"],
                        "Coconut Water": ["Pack of 12", "33.8 fl oz"], "Ground Coffee": ["12 oz Bag", "2 lb Bag"]}, (4, 32)),
         "Snacks": (["Roasted", "Sea Salt", "Gluten-Free", "Dark Chocolate", "Honey", "Low Sugar"],
                    {"Trail Mix": ["Pack of 6", "26 oz"], "Almonds": ["16 oz", "3 lb Bag"], "Protein Bars": ["12 Count", "24 Count"],
                     "Popcorn": ["Pack of 12", "8 oz Bag"], "Rice Crackers": ["Pack of 6", "3.5 oz"],
                     "Granola Bites": ["Pack of 8", "12 oz"]}, (3, 28)),
         "Pantry Staples": (["Organic", "Extra Virgin", "Raw", "Creamy", "Whole Grain", "Pure"],
                            {"Olive Oil": ["16.9 fl oz", "1 L"], "Pasta Sauce": ["24 oz Jar", "Pack of 3"],
                             "Honey": ["12 oz", "32 oz"], "Peanut Butter": ["16 oz", "2 Pack"],
                             "Basmati Rice": ["2 lb Bag", "10 lb Bag"], "Maple Syrup": ["12 fl oz", "32 fl oz"]}, (3, 30))}),
}

FEATURES = ["Backed by a 1-year warranty.", "Ships in recyclable packaging.", "A customer favorite since 2019.",
            "Easy to clean and store.", "Designed for everyday use.", "Great as a gift.", "Made with care in small batches.",
            "Tested for quality and durability."]

NICKNAMES = ["Rachel", "T. Gannon", "Mike R.", "JennyB", "Sam", "Olivia P.", "grace_h", "D. Nguyen", "Carlos", "Priya S.",
             "Ben T.", "KatieLou", "Marcus", "Hannah W.", "J. Alvarez", "Tom", "Lily C.", "quietreader", "Ahmed K.", "Sofia",
             "Nate", "Chloe M.", "R. Patel", "Derek", "Megan", "Yuki", "Frank B.", "Isabel", "Owen", "Tasha",
             "Leo G.", "Nina", "Victor", "Amy L.", "Chris P.", "Dana", "Ethan", "Fiona", "G. Ramirez", "Holly",
             "Ivan", "Jade", "Kevin S.", "Laura", "Mo", "Nora", "Paul D.", "Quinn", "Rosa", "Steve"]

SUMMARIES = {
    5: ["Love it!", "Exactly what I needed", "Highly recommend", "Works great", "Five stars", "Best purchase this year"],
    4: ["Very good", "Pretty happy with it", "Good value", "Solid product", "Does the job well"],
    3: ["It's okay", "Average", "Mixed feelings", "Decent but not great"],
    2: ["Disappointed", "Not worth the price", "Expected better"],
    1: ["Broke quickly", "Terrible", "Do not buy", "Waste of money"],
}
DETAILS = {
    5: ["Excellent quality, I use it every day.", "Arrived early and works perfectly.", "Better than the brand I used before."],
    4: ["Good quality for the price.", "Works well, packaging could be better.", "Nice, but took a while to arrive."],
    3: ["Does what it says, nothing special.", "Quality is so-so for the price.", "Fine for now, we will see."],
    2: ["Smaller than the pictures suggest.", "Stopped working properly after a month.", "Not as described."],
    1: ["Fell apart after a week.", "Arrived damaged and support never answered.", "Did not work at all."],
}
# Titles and texts the review-writing tasks ask for: none of them appears in the generated reviews.
TASK_TITLES = ["Great for everyday use", "Arrived quickly and well packed", "Better than expected", "Would buy again",
               "Not what I expected", "Good quality for the price", "My new favorite", "Works as described",
               "Too small for me", "Solid but pricey"]
TASK_TEXTS = ["I have used it for two weeks and I am happy with it.", "The quality is fine but shipping was slow.",
              "It does exactly what the listing says.", "My family loves it, we ordered a second one.",
              "It stopped working after a few days of use.", "Good product overall, the price could be lower."]

REGIONS = ["California", "New York", "Texas", "Washington", "Florida", "Illinois", "Oregon", "Massachusetts"]
PRICE_BUCKETS = [(0, 10), (10, 20), (20, 30), (30, 50), (50, 100), (100, 200), (200, None)]
SORTS = {"position": "Position", "name": "Product Name", "price_asc": "Price: Low to High",
         "price_desc": "Price: High to Low", "rating": "Rating: High to Low"}
STATUSES = ("Complete", "Canceled", "Pending", "Processing")


# ----------------------------------------------------------------------------------------------
# formatting

def money(cents: int) -> str:
    return f"${cents / 100:,.2f}"


def plain_money(cents: int) -> str:
    """The amount as an answer string: 1234.5 -> '1234.50' (no $ or thousands separator)."""
    return f"{cents / 100:.2f}"


def short_date(iso: str) -> str:
    """Magento's list format: 2023-05-07 -> 5/7/23."""
    d = date.fromisoformat(iso)
    return f"{d.month}/{d.day}/{d.year % 100:02d}"


def long_date(iso: str) -> str:
    d = date.fromisoformat(iso)
    return f"{d.strftime('%B')} {d.day}, {d.year}"


def month_name(iso: str) -> str:
    return date.fromisoformat(iso).strftime("%B %Y")


def order_number(order_id: int) -> str:
    return f"{order_id:09d}"


def fmt_rating(avg: float) -> str:
    """One rounding everywhere (half up): an average of 3.25 is 3.3 on every page and in every answer."""
    return f"{round(avg + 1e-9, 1):.1f}"


def rating_text(avg: float | None) -> str:
    return "No ratings yet" if avg is None else f"{fmt_rating(avg)} out of 5"


def bucket_label(lo: int, hi: int | None) -> str:
    return f"${lo:,}.00 and above" if hi is None else f"${lo:,}.00 - ${hi - 1:,}.99"


# ----------------------------------------------------------------------------------------------
# data

SCHEMA = """
CREATE TABLE categories (id INTEGER PRIMARY KEY, name TEXT NOT NULL, path TEXT UNIQUE NOT NULL, parent_id INTEGER);
CREATE TABLE products (id INTEGER PRIMARY KEY, sku TEXT UNIQUE NOT NULL, name TEXT UNIQUE NOT NULL,
    slug TEXT UNIQUE NOT NULL, category_id INTEGER NOT NULL, price INTEGER NOT NULL, description TEXT NOT NULL);
CREATE TABLE reviews (id INTEGER PRIMARY KEY, product_id INTEGER NOT NULL, nickname TEXT NOT NULL,
    rating INTEGER NOT NULL, title TEXT NOT NULL, detail TEXT NOT NULL, created TEXT NOT NULL, customer TEXT);
CREATE INDEX reviews_product ON reviews(product_id);
CREATE TABLE customers (email TEXT PRIMARY KEY, firstname TEXT, lastname TEXT, street TEXT, city TEXT,
    region TEXT, postcode TEXT, telephone TEXT);
CREATE TABLE cart_items (id INTEGER PRIMARY KEY, customer TEXT NOT NULL, product_id INTEGER NOT NULL, qty INTEGER NOT NULL);
CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT NOT NULL, created TEXT NOT NULL, status TEXT NOT NULL,
    subtotal INTEGER NOT NULL, shipping INTEGER NOT NULL, total INTEGER NOT NULL, ship_name TEXT, ship_street TEXT,
    ship_city TEXT, ship_region TEXT, ship_postcode TEXT, ship_phone TEXT);
CREATE TABLE order_items (id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL, product_id INTEGER NOT NULL,
    name TEXT NOT NULL, sku TEXT NOT NULL, price INTEGER NOT NULL, qty INTEGER NOT NULL);
"""

ADDRESS = ("Emma", "Lopez", "101 S San Mateo Dr", "San Mateo", "California", "94010", "6505551212")


def _price(rng: random.Random, lo: int, hi: int) -> int:
    dollars = rng.randint(lo, hi)
    return dollars * 100 + rng.choice([99, 99, 49, 95, 0, 29, 79])


def build(db: sqlite3.Connection, seed: int) -> None:
    rng = random.Random(f"shopping:{seed}")
    db.executescript(SCHEMA)
    # categories: tops get ids 1..10, subs 11..40
    tops = list(CATALOG)
    for i, top in enumerate(tops, 1):
        db.execute("INSERT INTO categories VALUES (?,?,?,NULL)", (i, top, slugify(top)))
    sub_rows, cid = [], len(tops)
    for i, (top, (_, subs)) in enumerate(CATALOG.items(), 1):
        for sub in subs:
            cid += 1
            db.execute("INSERT INTO categories VALUES (?,?,?,?)", (cid, sub, f"{slugify(top)}/{slugify(sub)}", i))
            sub_rows.append((cid, top, sub))

    # products: 8 per subcategory; ids shuffled so "Position" order says nothing about price or name
    products, names, skus = [], set(), set()
    for cid, top, sub in sub_rows:
        brands, subs = CATALOG[top]
        adjs, nouns, (lo, hi) = subs[sub]
        made = 0
        while made < 8:
            brand, noun = rng.choice(brands), rng.choice(sorted(nouns))
            name = f"{brand} {rng.choice(adjs)} {noun}, {rng.choice(nouns[noun])}"
            if name in names:
                continue
            names.add(name)
            sku = "B0" + "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(8))
            if sku in skus:
                continue
            skus.add(sku)
            desc = f"{noun} by {brand}. {FEATURES[len(products) % len(FEATURES)]}"
            products.append([sku, name, slugify(name), cid, _price(rng, lo, hi), desc])
            made += 1
    rng.shuffle(products)
    for pid, p in enumerate(products, 1):
        db.execute("INSERT INTO products VALUES (?,?,?,?,?,?,?)", (pid, *p))

    # reviews: 0-6 per product, distinct nicknames and dates per product, mostly positive
    start = date(2021, 3, 1)
    for pid in range(1, len(products) + 1):
        n = rng.choice([0, 0, 1, 1, 2, 2, 3, 3, 4, 5, 6])
        days = sorted(rng.sample(range((date(2023, 12, 20) - start).days), n))
        for nick, day in zip(rng.sample(NICKNAMES, n), days):
            r = rng.choices([5, 4, 3, 2, 1], weights=[40, 30, 14, 9, 7])[0]
            db.execute("INSERT INTO reviews (product_id, nickname, rating, title, detail, created) VALUES (?,?,?,?,?,?)",
                       (pid, nick, r, rng.choice(SUMMARIES[r]), rng.choice(DETAILS[r]), (start + timedelta(day)).isoformat()))

    db.execute("INSERT INTO customers VALUES (?,?,?,?,?,?,?,?)", (USER, *ADDRESS))

    # order history: ~60 orders on distinct days of 2022-2023; the newest still pending/processing
    days = sorted(rng.sample(range((date(2023, 12, 20) - date(2022, 1, 3)).days), 60))
    oid = 99 + rng.randint(1, 30)
    for k, day in enumerate(days):
        oid += rng.randint(1, 9)   # other customers' orders take the ids in between
        created = (date(2022, 1, 3) + timedelta(day)).isoformat()
        if k >= len(days) - 4:
            status = ["Processing", "Pending", "Processing", "Pending"][k - (len(days) - 4)]
        else:
            status = rng.choices(["Complete", "Canceled"], weights=[80, 20])[0]
        items = rng.sample(range(1, len(products) + 1), rng.choice([1, 1, 1, 2, 2, 3]))
        subtotal = 0
        for pid in items:
            sku, name, _, _, price, _ = products[pid - 1]
            qty = rng.choice([1, 1, 1, 2, 3])
            subtotal += price * qty
            db.execute("INSERT INTO order_items (order_id, product_id, name, sku, price, qty) VALUES (?,?,?,?,?,?)",
                       (oid, pid, name, sku, price, qty))
        db.execute("INSERT INTO orders VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                   (oid, USER, created, status, subtotal, SHIPPING_CENTS, subtotal + SHIPPING_CENTS,
                    "Emma Lopez", *ADDRESS[2:]))

    # the customer's cart is not empty, as in WebArena
    for pid, qty in zip(rng.sample(range(1, len(products) + 1), 2), (1, 2)):
        db.execute("INSERT INTO cart_items (customer, product_id, qty) VALUES (?,?,?)", (USER, pid, qty))

    # a few reviews written by the customer herself (My Product Reviews)
    for pid in rng.sample(range(1, len(products) + 1), 3):
        r = rng.choice([3, 4, 5])
        db.execute("INSERT INTO reviews (product_id, nickname, rating, title, detail, created, customer) VALUES (?,?,?,?,?,?,?)",
                   (pid, "Emma", r, rng.choice(SUMMARIES[r]), rng.choice(DETAILS[r]),
                    (date(2023, 1, 1) + timedelta(rng.randint(0, 340))).isoformat(), USER))


# ----------------------------------------------------------------------------------------------
# queries shared by pages and task generation (so tasks ask exactly what the pages show)

RATING_SQL = "(SELECT AVG(rating) FROM reviews r WHERE r.product_id = p.id)"
COUNT_SQL = "(SELECT COUNT(*) FROM reviews r WHERE r.product_id = p.id)"
ORDER_BY = {"position": "p.id", "name": "p.name", "price_asc": "p.price, p.id", "price_desc": "p.price DESC, p.id",
            "rating": f"COALESCE({RATING_SQL}, 0) DESC, {COUNT_SQL} DESC, p.id"}


def category_ids(db, cat_id: int) -> list[int]:
    """A category and its subcategories (top categories list their subcategories' products, like Magento's anchors)."""
    return [cat_id] + [r[0] for r in db.execute("SELECT id FROM categories WHERE parent_id=?", (cat_id,))]


def product_stats(db, pid: int) -> tuple[float | None, int]:
    avg, n = db.execute("SELECT AVG(rating), COUNT(*) FROM reviews WHERE product_id=?", (pid,)).fetchone()
    return avg, n


def cart_rows(db, user: str):
    return db.execute("SELECT c.id, p.id, p.name, p.slug, p.sku, p.price, c.qty FROM cart_items c "
                      "JOIN products p ON p.id = c.product_id WHERE c.customer=? ORDER BY c.id", (user,)).fetchall()


def orders_desc(db, user: str = USER):
    """The order history in the order the history page lists it."""
    return db.execute("SELECT id, created, total, status FROM orders WHERE customer=? ORDER BY created DESC, id DESC",
                      (user,)).fetchall()


def display_name(db, user: str) -> str:
    row = db.execute("SELECT firstname, lastname FROM customers WHERE email=?", (user,)).fetchone()
    return f"{row[0]} {row[1]}" if row else user


# ----------------------------------------------------------------------------------------------
# page chrome

def chrome(req, title: str, body: str) -> str:
    cats = ""
    cart = "My Cart"
    user = None
    if req is not None:
        user = req.user
        cats = "".join(f"<a href='/{esc(p)}.html'>{esc(n)}</a>"
                       for n, p in req.db.execute("SELECT name, path FROM categories WHERE parent_id IS NULL ORDER BY id"))
        if user:
            n = req.db.execute("SELECT COALESCE(SUM(qty),0) FROM cart_items WHERE customer=?", (user,)).fetchone()[0]
            cart = f"My Cart ({n})"
    q = req.query.get("q", "") if req is not None else ""
    account = "<a href='/customer/account/'>My Account</a> <a href='/logout'>Sign Out</a>" if user else "<a href='/login'>Sign In</a>"
    header = (
        "<header><a class='brand' href='/'>One Stop Market</a>"
        "<button type='button' data-menu='catmenu'>Categories</button>"
        f"<div class='menu-items' id='catmenu'>{cats}</div>"
        "<form action='/catalogsearch/result/' method='get' class='inline'>"
        f"<input name='q' type='text' placeholder='{SEARCH_PLACEHOLDER}' value='{esc(q[:200])}'>"
        "<button type='submit'>Search</button></form>"
        f"<button type='button' data-menu='minicart'>{esc(cart)}</button>"
        "<div class='menu-items' id='minicart' data-async='/checkout/cart/mini/'></div>"
        f"{account}</header>"
    )
    # the dropdowns open just below the header (the header is a flex box: their static place is its corner)
    extra = ("<style>.cols{display:flex;gap:24px}.cols aside{width:200px}.cols ul,.cols ol{margin:4px 0;padding-left:18px}"
             ".price{font-size:20px;font-weight:bold}header{position:relative}header .menu-items{top:42px}"
             "#minicart{right:16px;min-width:260px}</style>")
    return document(f"{title} - One Stop Market", extra + header, body)


def flash(text: str) -> str:
    return f"<p class='flash'>{esc(text)}</p>"


# ----------------------------------------------------------------------------------------------
# catalogue pages

def home(req):
    cats = "".join(f"<li><a href='/{esc(path)}.html'>{esc(name)}</a></li>" for name, path in req.db.execute(
        "SELECT name, path FROM categories WHERE parent_id IS NULL ORDER BY id"))
    showcase = "".join(f"<li><a href='/{esc(slug)}.html'>{esc(name)}</a> {money(price)}</li>"
                       for name, slug, price in req.db.execute(
                           "SELECT name, slug, price FROM products WHERE id % 41 = 7 ORDER BY id LIMIT 3"))
    body = (f"<h1>One Stop Market</h1><div class='cols'><section><h2>Shop by Category</h2><ul>{cats}</ul></section>"
            f"<section><h2>Product Showcases</h2><ul>{showcase}</ul></section></div>")
    return chrome(req, "Home Page", body)


def parse_price(req) -> tuple[int, int | None] | None:
    raw = req.arg("price", "", max_len=20)
    if not raw:
        return None
    m = re.fullmatch(r"(\d{1,6})-(\d{0,6})", raw)
    if not m:
        raise HttpError(400, f"parameter 'price' must look like '10-20' or '200-', got {raw!r}")
    lo, hi = int(m.group(1)), (int(m.group(2)) if m.group(2) else None)
    if hi is not None and hi <= lo:
        raise HttpError(400, "parameter 'price': the upper bound must be above the lower bound")
    return lo, hi


def product_list(req, where: str, args: tuple, heading: str, sidebar_top: str, hidden: dict) -> str:
    """The shared list page of categories and search: price filter, sort select, 12 per page."""
    sort = req.choice_arg("product_list_order", SORTS, "position")
    price = parse_price(req)
    price_sql, price_args = "", ()
    if price:
        price_sql = " AND p.price >= ?" + (" AND p.price < ?" if price[1] is not None else "")
        price_args = (price[0] * 100,) + ((price[1] * 100,) if price[1] is not None else ())
    total = req.db.execute(f"SELECT COUNT(*) FROM products p WHERE {where}{price_sql}", args + price_args).fetchone()[0]
    offset, pages = pager(req, total, PER_PAGE)
    rows = req.db.execute(
        f"SELECT p.id, p.name, p.slug, p.price, {RATING_SQL}, {COUNT_SQL} FROM products p WHERE {where}{price_sql} "
        f"ORDER BY {ORDER_BY[sort]} LIMIT ? OFFSET ?", args + price_args + (PER_PAGE, offset)).fetchall()

    # layered navigation: price buckets with counts over the unfiltered list
    base = {k: v for k, v in req.query.items() if k not in ("price", "p")}
    links = []
    for lo, hi in PRICE_BUCKETS:
        cond = " AND p.price >= ?" + (" AND p.price < ?" if hi is not None else "")
        n = req.db.execute(f"SELECT COUNT(*) FROM products p WHERE {where}{cond}",
                           args + (lo * 100,) + ((hi * 100,) if hi is not None else ())).fetchone()[0]
        if n:
            value = f"{lo}-{'' if hi is None else hi}"
            links.append(f"<li><a href='{esc(url(req.path, **base, price=value))}'>"
                         f"{esc(bucket_label(lo, hi))}</a> ({n})</li>")
    now = ""
    if price:
        now = (f"<p>Now shopping by: Price {esc(bucket_label(*price))} "
               f"<a href='{esc(url(req.path, **base))}'>Clear All</a></p>")
    aside = f"<aside>{sidebar_top}<b>Price</b><ul>{''.join(links)}</ul></aside>"

    options = "".join(f"<option value='{k}'{' selected' if k == sort else ''}>{esc(v)}</option>" for k, v in SORTS.items())
    keep = dict(hidden, **({"price": req.query["price"]} if price else {}))
    hidden_inputs = "".join(f"<input type='hidden' name='{esc(k)}' value='{esc(v)}'>" for k, v in keep.items())
    shown = f"Items {offset + 1}-{offset + len(rows)} of {total}" if rows else "We can't find products matching the selection."
    toolbar = (f"<form method='get' action='{esc(req.path)}' class='toolbar'>{hidden_inputs}<span>{shown}</span> "
               f"<label>Sort By <select name='product_list_order' title='Sort By' onchange='this.form.submit()'>{options}</select></label></form>")
    items = "".join(
        f"<li><a href='/{esc(slug)}.html'>{esc(name)}</a> {money(price_c)} · "
        f"{'no reviews' if n == 0 else f'{fmt_rating(avg)}/5 ({n} reviews)'}</li>"
        for _, name, slug, price_c, avg, n in rows)
    body = (f"<h1>{heading}</h1>{now}<div class='cols'>{aside}<section>{toolbar}<ol class='products'>{items}</ol>"
            f"{pages}</section></div>")
    return body


def search_page(req):
    q = req.arg("q", "", max_len=200).strip()
    words = re.findall(r"[a-z0-9]+", q.lower())
    if not words:
        raise HttpError(400, "enter a search term (letters or digits) in the search box")
    where = " AND ".join(["LOWER(p.name) LIKE ?"] * len(words))
    args = tuple(f"%{w}%" for w in words)
    where = f"(({where}) OR p.sku = ?)"
    args = args + (q.upper(),)
    body = product_list(req, where, args, f"Search results for: '{esc(q)}'", "", {"q": q})
    return chrome(req, f"Search results for: '{q}'", body)


def catalog_page(req, path: str):
    cat = req.db.execute("SELECT id, name, parent_id FROM categories WHERE path=?", (path,)).fetchone()
    if cat is None:
        if "/" in path:
            raise HttpError(404, f"no category or product at /{path}.html")
        return product_page(req, path)
    cid, name, parent = cat
    ids = category_ids(req.db, cid)
    if parent is None:
        subs = req.db.execute("SELECT c.name, c.path, (SELECT COUNT(*) FROM products WHERE category_id=c.id) "
                              "FROM categories c WHERE parent_id=? ORDER BY id", (cid,)).fetchall()
        side = "<b>Category</b><ul>" + "".join(
            f"<li><a href='/{esc(p)}.html'>{esc(n)}</a> ({k})</li>" for n, p, k in subs) + "</ul>"
        crumbs = ""
    else:
        pname, ppath = req.db.execute("SELECT name, path FROM categories WHERE id=?", (parent,)).fetchone()
        side = ""
        crumbs = f"<p><a href='/'>Home</a> › <a href='/{esc(ppath)}.html'>{esc(pname)}</a> › {esc(name)}</p>"
    where = f"p.category_id IN ({','.join('?' * len(ids))})"
    body = crumbs + product_list(req, where, tuple(ids), esc(name), side, {})
    return chrome(req, name, body)


def product_page(req, slug: str):
    row = req.one("SELECT id, sku, name, price, description, category_id FROM products WHERE slug=?", (slug,), "product")
    pid, sku, name, price, desc, cid = row
    avg, n = product_stats(req.db, pid)
    cname, cpath = req.db.execute("SELECT name, path FROM categories WHERE id=?", (cid,)).fetchone()
    msg = flash("You submitted your review. Thank you!") if req.query.get("review") == "posted" else ""
    reviews = req.db.execute("SELECT nickname, rating, title, detail, created FROM reviews WHERE product_id=? "
                             "ORDER BY created DESC, id DESC", (pid,)).fetchall()
    rating_line = f"Rating: {rating_text(avg)} · {n} Reviews" if n else "No reviews yet"
    items = "".join(f"<li class='review'><b>{esc(t)}</b> {r}/5 stars · {esc(d)} <i>Review by {esc(nick)}, posted on {short_date(c)}</i></li>"
                    for nick, r, t, d, c in reviews)
    if req.user:
        first = display_name(req.db, req.user).split()[0]
        stars = "".join(f"<option value='{k}'>{k} star{'s' if k > 1 else ''}</option>" for k in range(1, 6))
        # the form opens from a button (a data-menu toggle), like Magento's "Add Your Review" tab
        form = ("<button type='button' data-menu='review-form'>Write a review</button>"
                f"<form id='review-form' style='display:none' method='post' action='/review/product/post/id/{pid}/'>"
                f"<label>Rating <select name='rating' title='Rating'><option value=''>-- Please Select --</option>{stars}</select></label> "
                f"<label>Nickname <input name='nickname' type='text' title='Nickname' value='{esc(first)}'></label><br>"
                "<input name='title' type='text' placeholder='Summary' size='40'><br>"
                "<textarea name='detail' placeholder='Review' rows='3' cols='50'></textarea><br>"
                "<button type='submit'>Submit Review</button></form>")
    else:
        form = f"<p id='review-form'>Only registered users can write reviews. Please <a href='{esc(url('/login', next='/' + slug + '.html'))}'>Sign in</a>.</p>"
    body = (f"{msg}<p><a href='/{esc(cpath)}.html'>{esc(cname)}</a></p><h1>{esc(name)}</h1><p>{rating_line}</p>"
            f"<p class='price'>{money(price)}</p><p>In stock · SKU: {esc(sku)}</p>"
            "<form method='post' action='/checkout/cart/add/'>"
            f"<input type='hidden' name='product' value='{pid}'>"
            "<label>Qty <input name='qty' type='number' min='1' max='99' value='1' title='Qty' size='3'></label> "
            "<button type='submit'>Add to Cart</button></form>"
            f"<p>{esc(desc)}</p><h2 id='reviews'>Customer Reviews ({n})</h2>"
            f"<ul id='customer-reviews'>{items}</ul>{form}")
    return chrome(req, name, body)


def post_review(req, pid: str):
    user = req.require_user()
    prow = req.one("SELECT id, slug FROM products WHERE id=?", (int(pid),), "product")
    rating = req.form.get("rating", "")
    if rating not in ("1", "2", "3", "4", "5"):
        raise HttpError(400, "please select a rating from 1 to 5 stars")
    nickname = req.field("nickname", 40)
    title = req.field("title", 120)
    detail = req.field("detail", 1000)
    req.db.execute("INSERT INTO reviews (product_id, nickname, rating, title, detail, created, customer) VALUES (?,?,?,?,?,?,?)",
                   (prow[0], nickname, int(rating), title, detail, TODAY.isoformat(), user))
    raise Redirect(f"/{prow[1]}.html?review=posted#reviews")


# ----------------------------------------------------------------------------------------------
# cart and checkout

def add_to_cart(req):
    pid = req.int_arg("product", None, 1, 10**9)
    slug = req.one("SELECT slug FROM products WHERE id=?", (pid,), "product")[0]
    if not req.user:
        raise Redirect(url("/login", next=f"/{slug}.html"))
    qty = req.int_arg("qty", 1, 1, 99)
    row = req.db.execute("SELECT id, qty FROM cart_items WHERE customer=? AND product_id=?", (req.user, pid)).fetchone()
    if row:
        if row[1] + qty > 99:
            raise HttpError(400, "at most 99 of a product fit in the cart")
        req.db.execute("UPDATE cart_items SET qty=? WHERE id=?", (row[1] + qty, row[0]))
    else:
        req.db.execute("INSERT INTO cart_items (customer, product_id, qty) VALUES (?,?,?)", (req.user, pid, qty))
    raise Redirect(url("/checkout/cart/", added=pid))


def update_cart(req):
    user = req.require_user()
    rows = {r[0]: r for r in cart_rows(req.db, user)}
    remove = req.form.get("remove", "")
    if remove:
        if not remove.isdigit() or int(remove) not in rows:
            raise HttpError(400, f"no item {remove[:20]!r} in your cart")
        req.db.execute("DELETE FROM cart_items WHERE id=?", (int(remove),))
        raise Redirect(url("/checkout/cart/", removed=1))
    for item_id in rows:
        if f"qty_{item_id}" in req.form:
            qty = req.int_arg(f"qty_{item_id}", None, 0, 99)
            if qty == 0:
                req.db.execute("DELETE FROM cart_items WHERE id=?", (item_id,))
            else:
                req.db.execute("UPDATE cart_items SET qty=? WHERE id=?", (qty, item_id))
    raise Redirect(url("/checkout/cart/", updated=1))


def cart_page(req):
    user = req.require_user()
    msg = ""
    if req.query.get("added", "").isdigit():
        row = req.db.execute("SELECT name FROM products WHERE id=?", (int(req.query["added"]),)).fetchone()
        if row:
            msg = flash(f"You added {row[0]} to your shopping cart.")
    elif req.query.get("removed"):
        msg = flash("The item was removed from your cart.")
    elif req.query.get("updated"):
        msg = flash("Your shopping cart was updated.")
    rows = cart_rows(req.db, user)
    if not rows:
        return chrome(req, "Shopping Cart", f"<h1>Shopping Cart</h1>{msg}<p>You have no items in your shopping cart.</p>"
                                            "<a href='/'>Continue Shopping</a>")
    trs = "".join(
        f"<tr data-sku='{esc(sku)}' data-qty='{qty}'><td><a href='/{esc(slug)}.html'>{esc(name)}</a></td><td>{money(price)}</td>"
        f"<td><input class='qty' name='qty_{cid}' type='number' min='0' max='99' value='{qty}' title='Qty' size='3'></td>"
        f"<td>{money(price * qty)}</td><td><button type='submit' name='remove' value='{cid}'>Remove item</button></td></tr>"
        for cid, _, name, slug, sku, price, qty in rows)
    subtotal = sum(r[5] * r[6] for r in rows)
    body = (f"<h1>Shopping Cart</h1>{msg}<form method='post' action='/checkout/cart/updatePost/'>"
            "<table id='shopping-cart-table'><thead><tr><th>Item</th><th>Price</th><th>Qty</th><th>Subtotal</th><th></th></tr></thead>"
            f"<tbody>{trs}</tbody></table><button type='submit'>Update Shopping Cart</button></form>"
            f"<p>Subtotal: {money(subtotal)} · Shipping (Flat Rate): {money(SHIPPING_CENTS)} · "
            f"<b>Order Total: {money(subtotal + SHIPPING_CENTS)}</b></p><a href='/checkout/'>Proceed to Checkout</a>")
    return chrome(req, "Shopping Cart", body)


def mini_cart(req):
    """The header dropdown's content, fetched by the page's script after load."""
    if not req.user:
        return Response("<p>You have no items in your shopping cart.</p>")
    rows = cart_rows(req.db, req.user)
    if not rows:
        return Response("<p>You have no items in your shopping cart.</p>")
    items = "".join(f"<a href='/{esc(slug)}.html'>{esc(name)} × {qty}</a>" for _, _, name, slug, _, _, qty in rows)
    subtotal = sum(r[5] * r[6] for r in rows)
    return Response(f"{items}<p>Cart Subtotal: {money(subtotal)}</p><a href='/checkout/cart/'>View and Edit Cart</a>")


def checkout_page(req):
    user = req.require_user()
    rows = cart_rows(req.db, user)
    if not rows:
        raise Redirect("/checkout/cart/")
    c = req.db.execute("SELECT firstname, lastname, street, city, region, postcode, telephone FROM customers WHERE email=?",
                       (user,)).fetchone()
    fields = [("firstname", "First Name", c[0]), ("lastname", "Last Name", c[1]), ("street", "Street Address", c[2]),
              ("city", "City", c[3])]
    inputs = "".join(f"<label>{lab} <input name='{n}' type='text' title='{lab}' value='{esc(v)}'></label><br>" for n, lab, v in fields)
    regions = "".join(f"<option{' selected' if r == c[4] else ''}>{esc(r)}</option>" for r in REGIONS)
    subtotal = sum(r[5] * r[6] for r in rows)
    summary = "".join(f"<li>{esc(name)} × {qty} {money(price * qty)}</li>" for _, _, name, _, _, price, qty in rows)
    body = ("<h1>Checkout</h1><form method='post' action='/checkout/placeorder/'><h2>Shipping Address</h2>"
            f"{inputs}<label>State/Province <select name='region' title='State/Province'>{regions}</select></label><br>"
            f"<label>Zip/Postal Code <input name='postcode' type='text' title='Zip/Postal Code' value='{esc(c[5])}'></label><br>"
            f"<label>Phone Number <input name='telephone' type='text' title='Phone Number' value='{esc(c[6])}'></label>"
            f"<h2>Order Summary</h2><ul>{summary}</ul><p>Subtotal {money(subtotal)} · Flat Rate {money(SHIPPING_CENTS)} · "
            f"<b>Order Total {money(subtotal + SHIPPING_CENTS)}</b></p><button type='submit'>Place Order</button></form>")
    return chrome(req, "Checkout", body)


def place_order(req):
    user = req.require_user()
    rows = cart_rows(req.db, user)
    if not rows:
        raise HttpError(400, "your shopping cart is empty: there is nothing to order")
    f = {k: req.field(k, 100) for k in ("firstname", "lastname", "street", "city", "postcode", "telephone")}
    region = req.field("region", 40)
    if region not in REGIONS:
        raise HttpError(400, f"form field 'region' must be one of {REGIONS}")
    oid = req.db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM orders").fetchone()[0]
    subtotal = sum(r[5] * r[6] for r in rows)
    req.db.execute("INSERT INTO orders VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                   (oid, user, TODAY.isoformat(), "Pending", subtotal, SHIPPING_CENTS, subtotal + SHIPPING_CENTS,
                    f"{f['firstname']} {f['lastname']}", f["street"], f["city"], region, f["postcode"], f["telephone"]))
    for _, pid, name, _, sku, price, qty in rows:
        req.db.execute("INSERT INTO order_items (order_id, product_id, name, sku, price, qty) VALUES (?,?,?,?,?,?)",
                       (oid, pid, name, sku, price, qty))
    req.db.execute("DELETE FROM cart_items WHERE customer=?", (user,))
    raise Redirect(url("/checkout/onepage/success/", order_id=oid))


def success_page(req):
    user = req.require_user()
    oid = req.int_arg("order_id", None, 1, 10**9)
    req.one("SELECT id FROM orders WHERE id=? AND customer=?", (oid, user), "order")
    body = (f"<h1>Thank you for your purchase!</h1><p>Your order number is: "
            f"<a href='/sales/order/view/order_id/{oid}/'>{order_number(oid)}</a>.</p>"
            "<p>We'll email you an order confirmation with details and tracking info.</p><a href='/'>Continue Shopping</a>")
    return chrome(req, "Success Page", body)


# ----------------------------------------------------------------------------------------------
# customer account

def account_nav() -> str:
    return ("<aside><ul><li><a href='/customer/account/'>My Account</a></li><li><a href='/sales/order/history/'>My Orders</a></li>"
            "<li><a href='/review/customer/'>My Product Reviews</a></li></ul></aside>")


def orders_table(rows) -> str:
    """One line per order (a table's cells would triple the agent's observation)."""
    lis = "".join(f"<li>Order #{order_number(oid)} · Date: {short_date(created)} · Total: {money(total)} · {esc(status)} "
                  f"<a href='/sales/order/view/order_id/{oid}/'>View Order</a></li>"
                  for oid, created, total, status in rows)
    return f"<ul id='my-orders'>{lis}</ul>"


def account_page(req):
    user = req.require_user()
    c = req.db.execute("SELECT firstname, lastname, street, city, region, postcode, telephone FROM customers WHERE email=?",
                       (user,)).fetchone()
    recent = orders_desc(req.db, user)[:3]
    body = (f"<h1>My Account</h1><div class='cols'>{account_nav()}<section><h2>Contact Information</h2>"
            f"<p>{esc(c[0])} {esc(c[1])}<br>{esc(user)}</p><h2>Default Shipping Address</h2>"
            f"<p>{esc(c[2])}, {esc(c[3])}, {esc(c[4])} {esc(c[5])}<br>T: {esc(c[6])}</p>"
            f"<h2>Recent Orders</h2>{orders_table(recent)}<a href='/sales/order/history/'>View All</a></section></div>")
    return chrome(req, "My Account", body)


def history_page(req):
    user = req.require_user()
    rows = orders_desc(req.db, user)
    offset, pages = pager(req, len(rows), ORDERS_PER_PAGE)
    body = (f"<h1>My Orders</h1><div class='cols'>{account_nav()}<section>"
            f"{orders_table(rows[offset:offset + ORDERS_PER_PAGE])}{pages}</section></div>")
    return chrome(req, "My Orders", body)


def order_page(req, oid: str):
    user = req.require_user()
    o = req.one("SELECT id, created, status, subtotal, shipping, total, ship_name, ship_street, ship_city, ship_region, "
                "ship_postcode, ship_phone FROM orders WHERE id=? AND customer=?", (int(oid), user), "order")
    items = req.db.execute("SELECT i.name, i.sku, i.price, i.qty, p.slug FROM order_items i JOIN products p ON p.id=i.product_id "
                           "WHERE order_id=? ORDER BY i.id", (o[0],)).fetchall()
    trs = "".join(f"<tr data-sku='{esc(sku)}' data-qty='{qty}'><td><a href='/{esc(slug)}.html'>{esc(name)}</a></td><td>{esc(sku)}</td>"
                  f"<td>{money(price)}</td><td>Ordered: {qty}</td><td>{money(price * qty)}</td></tr>"
                  for name, sku, price, qty, slug in items)
    body = (f"<h1>Order # {order_number(o[0])}</h1><p>Status: <b>{esc(o[2])}</b> · Order Date: {long_date(o[1])}</p>"
            f"<form method='post' action='/sales/order/reorder/order_id/{o[0]}/' class='inline'><button type='submit'>Reorder</button></form> "
            "<a href='/sales/order/history/'>Back to My Orders</a>"
            "<h2>Items Ordered</h2><table id='my-orders-table'><thead><tr><th>Product Name</th><th>SKU</th><th>Price</th>"
            f"<th>Qty</th><th>Subtotal</th></tr></thead><tbody>{trs}</tbody></table>"
            f"<p>Subtotal {money(o[3])} · Shipping &amp; Handling {money(o[4])} · <b>Grand Total {money(o[5])}</b></p>"
            f"<h2>Shipping Address</h2><p>{esc(o[6])}, {esc(o[7])}, {esc(o[8])}, {esc(o[9])} {esc(o[10])} · T: {esc(o[11])}</p>")
    return chrome(req, f"Order # {order_number(o[0])}", body)


def reorder(req, oid: str):
    user = req.require_user()
    o = req.one("SELECT id FROM orders WHERE id=? AND customer=?", (int(oid), user), "order")
    for pid, qty in req.db.execute("SELECT product_id, qty FROM order_items WHERE order_id=?", (o[0],)).fetchall():
        row = req.db.execute("SELECT id, qty FROM cart_items WHERE customer=? AND product_id=?", (user, pid)).fetchone()
        if row:
            req.db.execute("UPDATE cart_items SET qty=? WHERE id=?", (min(99, row[1] + qty), row[0]))
        else:
            req.db.execute("INSERT INTO cart_items (customer, product_id, qty) VALUES (?,?,?)", (user, pid, qty))
    raise Redirect("/checkout/cart/")


def my_reviews(req):
    user = req.require_user()
    rows = req.db.execute("SELECT p.name, p.slug, r.rating, r.title, r.created FROM reviews r JOIN products p ON p.id=r.product_id "
                          "WHERE r.customer=? ORDER BY r.created DESC, r.id DESC", (user,)).fetchall()
    offset, pages = pager(req, len(rows), 10)
    items = "".join(f"<li><a href='/{esc(slug)}.html'>{esc(name)}</a> {r}/5 stars · {esc(t)} · {short_date(c)}</li>"
                    for name, slug, r, t, c in rows[offset:offset + 10])
    body = (f"<h1>My Product Reviews</h1><div class='cols'>{account_nav()}<section>"
            f"{'<ul>' + items + '</ul>' if rows else '<p>You have submitted no reviews.</p>'}{pages}</section></div>")
    return chrome(req, "My Product Reviews", body)


def login_alias(req):
    raise Redirect("/login")


ROUTES = [
    ("GET", r"/", home),
    ("GET", r"/catalogsearch/result/(?:index/)?", search_page),
    ("GET", r"/checkout/cart/?", cart_page),
    ("GET", r"/checkout/cart/mini/?", mini_cart),
    ("POST", r"/checkout/cart/add/?", add_to_cart),
    ("POST", r"/checkout/cart/updatePost/?", update_cart),
    ("GET", r"/checkout/?", checkout_page),
    ("POST", r"/checkout/placeorder/?", place_order),
    ("GET", r"/checkout/onepage/success/?", success_page),
    ("GET", r"/customer/account/?", account_page),
    ("GET", r"/customer/account/login/?", login_alias),
    ("GET", r"/sales/order/history/?", history_page),
    ("GET", r"/sales/order/view/order_id/(\d{1,9})/?", order_page),
    ("POST", r"/sales/order/reorder/order_id/(\d{1,9})/?", reorder),
    ("GET", r"/review/customer/?", my_reviews),
    ("POST", r"/review/product/post/id/(\d{1,9})/?", post_review),
    ("GET", r"/([a-z0-9-]{1,300}(?:/[a-z0-9-]{1,100})?)\.html", catalog_page),
]

SITE = Site(name="shopping", env_var="SHOPPING", title="One Stop Market", build=build, routes=ROUTES, chrome=chrome,
            users={USER: "Password.123"}, prefix="", login_required=False, login=True)


# ==============================================================================================
# tasks

H = "__SHOPPING__"


def _products(db, split, where: str = "1", args=()):
    """(id, name, slug, sku, price, category_id) of the products of a split."""
    rows = db.execute(f"SELECT id, name, slug, sku, price, category_id FROM products WHERE {where} ORDER BY id", args).fetchall()
    return [r for r in rows if split_of("product", r[1]) == split]


def _categories(db, split):
    """(id, name, path, parent_id) of the categories (top and sub) of a split."""
    rows = db.execute("SELECT id, name, path, parent_id FROM categories ORDER BY id").fetchall()
    return [r for r in rows if split_of("category", r[1]) == split]


def _initial_cart(db) -> set:
    return {r[0] for r in db.execute("SELECT product_id FROM cart_items")}


def _pick(seq, key: str):
    """A deterministic choice that depends only on the entity, not on the order of instances."""
    return seq[random.Random(key).randrange(len(seq))]


def _cat_nav(db, cat_id: int) -> list:
    """[top category name] or [top name, sub name]: what the oracle clicks to reach a category."""
    name, parent = db.execute("SELECT name, parent_id FROM categories WHERE id=?", (cat_id,)).fetchone()
    if parent is None:
        return [name]
    return [db.execute("SELECT name FROM categories WHERE id=?", (parent,)).fetchone()[0], name]


def _in_category(db, cat_id: int, order: str):
    ids = category_ids(db, cat_id)
    return db.execute(f"SELECT p.id, p.name, p.slug, p.sku, p.price FROM products p WHERE p.category_id IN "
                      f"({','.join('?' * len(ids))}) ORDER BY {ORDER_BY[order]}", ids).fetchall()


def _history_page(db, oid: int) -> int:
    ids = [r[0] for r in orders_desc(db)]
    return ids.index(oid) // ORDERS_PER_PAGE + 1


# -- oracle building blocks (generators over observations) -------------------------------------

def _own_text_has(el: O.Element, anchor: str) -> bool:
    """Whether the element's own text (data-text: its direct text, not its children's) holds `anchor`
    as a whole token: 'Date: 2/5/22' must not match inside 'Date: 12/5/22'."""
    own = O._norm(el.attrs.get("data-text", ""))
    return re.search(r"(?<![\w/])" + re.escape(O._norm(anchor)) + r"(?![\w/])", own) is not None


def _after(obs: O.Obs, anchor: str, text: str, tag=None):
    """The id of the first interactive element named `text` after the element whose own text holds
    `anchor`, in document order: e.g. the "View Order" link of the order dated 5/7/23."""
    seen = False
    for el in obs.elements:
        if not seen:
            seen = _own_text_has(el, anchor)
            continue
        if el.id is not None and (tag is None or el.tag == tag) and O._norm(text) in [O._norm(n) for n in el.names()]:
            return el.id
    return None


def click_after(obs, anchor: str, text: str, tag=None, max_scrolls: int = 6):
    for _ in range(max_scrolls + 1):
        eid = _after(obs, anchor, text, tag)
        if eid is not None:
            return (yield O.click(eid))
        if not any(_own_text_has(el, anchor) for el in obs.elements):
            raise O.OracleError(f"no {anchor!r} on {obs.url}")
        obs = yield O.scroll_down()
    raise O.OracleError(f"{text!r} after {anchor!r} never came into view on {obs.url}")


def open_product(obs, name: str):
    """Search the store for the product's name and open its page."""
    obs = yield from O.searching(obs, name, placeholder=SEARCH_PLACEHOLDER)
    return (yield from O.click(obs, text=name, tag="a"))


def open_category(obs, nav: list):
    """Open a top category from the header's Categories menu (a data-menu dropdown shown by a
    script: its links come first in the page once open), then a subcategory from the sidebar."""
    obs = yield from O.click(obs, text="Categories", tag="button")
    obs = yield from O.click(obs, text=nav[0], tag="a")
    if len(nav) > 1:
        obs = yield from O.click(obs, text=nav[1], tag="a")
    return obs


def open_orders(obs, page: int = 1):
    """My Account -> My Orders -> Next until the wanted page of the history."""
    obs = yield from O.click(obs, text="My Account", tag="a")
    obs = yield from O.click(obs, text="My Orders", tag="a")
    for _ in range(page - 1):
        obs = yield from O.click(obs, text="Next", tag="a")
    return obs


def write_review(obs, stars: str, title: str, text: str):
    obs = yield from O.click(obs, text="Write a review", tag="button")
    obs = yield from O.selecting(obs, stars, tag="select", title="Rating")
    obs = yield from O.typing(obs, title, placeholder="Summary")
    obs = yield from O.typing(obs, text, placeholder="Review")
    return (yield from O.click(obs, text="Submit Review", tag="button"))




# -- the oracles -------------------------------------------------------------------------------

def solve_product_fact(task):
    """Search, open the product, read the fact (price, SKU, rating...), answer."""
    o = task["miniarena"]["oracle"]
    obs = yield
    obs = yield from open_product(obs, o["product"])
    if o.get("scroll"):   # the reviews list is further down the page
        obs = yield O.note(o["note"], O.scroll_down())
        yield O.exit_(o["answer"])
    else:
        yield O.note(o["note"], O.exit_(o["answer"]))


def solve_open_product(task):
    o = task["miniarena"]["oracle"]
    obs = yield
    obs = yield from open_product(obs, o["product"])
    yield O.exit_("")


def solve_search(task):
    o = task["miniarena"]["oracle"]
    obs = yield
    obs = yield from O.searching(obs, o["keyword"], placeholder=SEARCH_PLACEHOLDER)
    yield O.exit_("")


def solve_category_extreme(task):
    """Open the category, sort by price, read the first product."""
    o = task["miniarena"]["oracle"]
    obs = yield
    obs = yield from open_category(obs, o["nav"])
    obs = yield from O.selecting(obs, o["sort"], tag="select", title="Sort By")
    yield O.note(f"the first product after sorting by {o['sort']} is {o['answer']}", O.exit_(o["answer"]))


def solve_price_filter(task):
    o = task["miniarena"]["oracle"]
    obs = yield
    obs = yield from open_category(obs, o["nav"])
    obs = yield from O.click(obs, text=o["bucket"], tag="a")
    yield O.exit_("")


def solve_month_spend(task):
    """Walk the order history pages that hold the month's orders and add up their totals."""
    o = task["miniarena"]["oracle"]
    obs = yield
    obs = yield from open_orders(obs, o["pages"][0])
    for _ in range(o["pages"][-1] - o["pages"][0]):
        obs = yield O.note(o["partial"], O.click(obs.find(text="Next", tag="a")))
    yield O.note(o["note"], O.exit_(o["answer"]))


def solve_order_row(task):
    """Find the order's row in the history (by date or number) and read it."""
    o = task["miniarena"]["oracle"]
    obs = yield
    obs = yield from open_orders(obs, o["page"])
    if o.get("view"):
        obs = yield from click_after(obs, o["anchor"], "View Order", tag="a")
    yield O.note(o["note"], O.exit_(o["answer"]))


def solve_add_to_cart(task):
    o = task["miniarena"]["oracle"]
    obs = yield
    if o.get("nav"):   # the cheapest product of a category: sort, then open the first one
        obs = yield from open_category(obs, o["nav"])
        obs = yield from O.selecting(obs, "Price: Low to High", tag="select", title="Sort By")
        obs = yield from O.click(obs, text=o["product"], tag="a")
    else:
        obs = yield from open_product(obs, o["product"])
    obs = yield from O.typing(obs, str(o["qty"]), tag="input", title="Qty")
    obs = yield from O.click(obs, text="Add to Cart", tag="button")
    yield O.exit_("")


def solve_review(task):
    o = task["miniarena"]["oracle"]
    obs = yield
    if o.get("order_page"):   # find the product through the order history first
        obs = yield from open_orders(obs, o["order_page"])
        obs = yield from click_after(obs, o["anchor"], "View Order", tag="a")
        obs = yield from O.click(obs, text=o["product"], tag="a")
    else:
        obs = yield from open_product(obs, o["product"])
    obs = yield from write_review(obs, o["stars"], o["title"], o["text"])
    yield O.exit_("")


def solve_place_order(task):
    """Add the product, empty the rest of the cart, check out with the default address."""
    o = task["miniarena"]["oracle"]
    obs = yield
    obs = yield from open_product(obs, o["product"])
    obs = yield from O.typing(obs, str(o["qty"]), tag="input", title="Qty")
    obs = yield from O.click(obs, text="Add to Cart", tag="button")
    for other in o["remove"]:
        obs = yield from click_after(obs, other, "Remove item", tag="button")
    obs = yield from O.click(obs, text="Proceed to Checkout", tag="a")
    obs = yield from O.click(obs, text="Place Order", tag="button")
    yield O.exit_("")


# -- instances ----------------------------------------------------------------------------------

def _string(kind: str, value) -> dict:
    if kind == "exact_match":
        return {"eval_types": ["string_match"], "reference_answers": {"exact_match": str(value)}}
    return {"eval_types": ["string_match"], "reference_answers": {"must_include": [str(v) for v in value]}}


def inst_price(db, split):
    return [{"values": {"product": name}, "start_url": H,
             "eval": _string("must_include", [plain_money(price)]),
             "oracle": {"product": name, "answer": money(price), "note": f"the price is {money(price)}"}}
            for _, name, _, _, price, _ in _products(db, split)]


def inst_sku(db, split):
    return [{"values": {"product": name}, "start_url": H, "eval": _string("exact_match", sku),
             "oracle": {"product": name, "answer": sku, "note": f"the SKU is {sku}"}}
            for _, name, _, sku, _, _ in _products(db, split)]


def inst_review_count(db, split):
    out = []
    for pid, name, *_ in _products(db, split):
        n = product_stats(db, pid)[1]
        out.append({"values": {"product": name}, "start_url": H, "eval": _string("exact_match", n),
                    "oracle": {"product": name, "answer": str(n), "note": f"the page shows {n} reviews"}})
    return out


def inst_rating(db, split):
    out = []
    for pid, name, *_ in _products(db, split):
        avg, n = product_stats(db, pid)
        if n:
            out.append({"values": {"product": name}, "start_url": H, "eval": _string("must_include", [fmt_rating(avg)]),
                        "oracle": {"product": name, "answer": fmt_rating(avg), "note": f"the rating is {rating_text(avg)}"}})
    return out


def inst_latest_reviewer(db, split):
    out = []
    for pid, name, *_ in _products(db, split):
        rows = db.execute("SELECT nickname, created FROM reviews WHERE product_id=? ORDER BY created DESC, id DESC", (pid,)).fetchall()
        if len(rows) >= 2 and rows[0][1] != rows[1][1]:   # a strictly newest review
            nick, created = rows[0]
            out.append({"values": {"product": name}, "start_url": H, "eval": _string("must_include", [nick]),
                        "oracle": {"product": name, "answer": nick, "scroll": True,
                                   "note": f"the newest review, posted on {short_date(created)}, is by {nick}"}})
    return out


def inst_category_extreme(db, split):
    out = []
    for cid, cname, _, _ in _categories(db, split):
        for which, order in (("cheapest", "price_asc"), ("most expensive", "price_desc")):
            rows = _in_category(db, cid, order)
            if len(rows) > 1 and rows[0][4] != rows[1][4]:   # a unique answer
                out.append({"values": {"which": which, "category": cname}, "start_url": H,
                            "eval": _string("must_include", [rows[0][1]]),
                            "oracle": {"nav": _cat_nav(db, cid), "sort": SORTS[order], "answer": rows[0][1]}})
    return out


def inst_search(db, split):
    """Search keywords: the product nouns (lowercase), each matching at least one product."""
    nouns = sorted({n for _, subs in CATALOG.values() for _, nouns, _ in subs.values() for n in nouns})
    out = []
    for noun in nouns:
        kw = noun.lower()
        if split_of("keyword", kw) != split:
            continue
        words = re.findall(r"[a-z0-9]+", kw)
        n = db.execute("SELECT COUNT(*) FROM products WHERE " + " AND ".join(["LOWER(name) LIKE ?"] * len(words)),
                       tuple(f"%{w}%" for w in words)).fetchone()[0]
        if n:
            out.append({"values": {"keyword": kw}, "start_url": H,
                        "eval": {"eval_types": ["url_match"], "reference_answers": None,
                                 "reference_url": f"{H}/catalogsearch/result/?{urllib.parse.urlencode({'q': kw})}"},
                        "oracle": {"keyword": kw}})
    return out


def inst_open_product(db, split):
    return [{"values": {"product": name}, "start_url": H,
             "eval": {"eval_types": ["url_match"], "reference_answers": None, "reference_url": f"{H}/{slug}.html"},
             "oracle": {"product": name}}
            for _, name, slug, *_ in _products(db, split)]


def inst_price_filter(db, split):
    out = []
    for cid, cname, path, _ in _categories(db, split):
        prices = [r[4] for r in _in_category(db, cid, "position")]
        buckets = [(lo, hi) for lo, hi in PRICE_BUCKETS
                   if any(p >= lo * 100 and (hi is None or p < hi * 100) for p in prices)]
        for lo, hi in buckets[:3]:
            label = bucket_label(lo, hi)
            phrase = f"cost ${lo}.00 or more" if hi is None else f"cost between ${lo}.00 and ${hi - 1}.99"
            out.append({"values": {"category": cname, "price_range": phrase}, "start_url": H,
                        "eval": {"eval_types": ["url_match"], "reference_answers": None,
                                 "reference_url": f"{H}/{path}.html?price={lo}-{'' if hi is None else hi}"},
                        "oracle": {"nav": _cat_nav(db, cid), "bucket": label}})
    return out


def inst_month_spend(db, split):
    history = orders_desc(db)
    months = {}
    for i, (oid, created, total, status) in enumerate(history):
        months.setdefault(month_name(created), []).append((i // ORDERS_PER_PAGE + 1, created, total, status))
    out = []
    for m, rows in months.items():
        if split_of("month", m) != split:
            continue
        paid = [r for r in rows if r[3] != "Canceled"]
        spent = sum(r[2] for r in paid)
        if not paid or spent >= 100000:   # answers stay below $1,000 (no thousands separator to argue about)
            continue
        pages = sorted({r[0] for r in rows})
        detail = " + ".join(money(r[2]) for r in paid)
        out.append({"values": {"month": m}, "start_url": H, "eval": _string("must_include", [plain_money(spent)]),
                    "oracle": {"pages": pages, "answer": plain_money(spent),
                               "partial": f"{m} continues on the next page",
                               "note": f"orders of {m} that were not canceled: {detail} = {money(spent)}"}})
    return out


def _orders_by_date(db, split):
    for oid, created, total, status in orders_desc(db):
        d = short_date(created)
        if split_of("order_date", d) == split:
            yield oid, created, d, total, status


def inst_order_status(db, split):
    return [{"values": {"date": d}, "start_url": H, "eval": _string("exact_match", status),
             "oracle": {"page": _history_page(db, oid), "answer": status,
                        "note": f"the order of {d} has status {status}"}}
            for oid, _, d, _, status in _orders_by_date(db, split)]


def inst_order_items(db, split):
    out = []
    for oid, _, d, _, _ in _orders_by_date(db, split):
        names = [r[0] for r in db.execute("SELECT name FROM order_items WHERE order_id=? ORDER BY id", (oid,))]
        out.append({"values": {"date": d}, "start_url": H, "eval": _string("must_include", names),
                    "oracle": {"page": _history_page(db, oid), "view": True, "anchor": f"Date: {d}", "answer": "; ".join(names),
                               "note": f"the order of {d} contains: " + "; ".join(names)}})
    return out


def inst_order_total(db, split):
    out = []
    for oid, created, total, status in orders_desc(db):
        num = order_number(oid)
        if split_of("order_number", num) == split:
            out.append({"values": {"number": num}, "start_url": H, "eval": _string("must_include", [plain_money(total)]),
                        "oracle": {"page": _history_page(db, oid), "answer": money(total),
                                   "note": f"order {num} has an order total of {money(total)}"}})
    return out


def _cart_check(sku: str, qty: int) -> dict:
    return {"eval_types": ["program_html"], "reference_answers": None, "reference_url": "",
            "program_html": [{"url": f"{H}/checkout/cart/",
                              "locator": "[...document.querySelectorAll('#shopping-cart-table tbody tr')]"
                                         ".map(r => '|' + r.dataset.sku + ':' + r.dataset.qty + '|').join('')",
                              "required_contents": {"must_include": [f"|{sku}:{qty}|"]}}]}


def inst_add_to_cart(db, split):
    in_cart = _initial_cart(db)
    out = []
    for pid, name, _, sku, _, _ in _products(db, split):
        if pid in in_cart:
            continue
        qty = _pick([1, 2, 2, 3, 4, 5], f"qty:{name}")
        out.append({"values": {"product": name, "qty": qty}, "start_url": H, "eval": _cart_check(sku, qty),
                    "oracle": {"product": name, "qty": qty}})
    return out


def inst_cheapest_to_cart(db, split):
    in_cart = _initial_cart(db)
    out = []
    for cid, cname, _, _ in _categories(db, split):
        rows = _in_category(db, cid, "price_asc")
        if rows[0][0] in in_cart or rows[0][4] == rows[1][4]:
            continue
        qty = _pick([1, 2, 3], f"qty:{cname}")
        out.append({"values": {"category": cname, "qty": qty}, "start_url": H, "eval": _cart_check(rows[0][3], qty),
                    "oracle": {"nav": _cat_nav(db, cid), "product": rows[0][1], "qty": qty}})
    return out


def _review_check(slug: str, title: str, text: str, stars: str) -> dict:
    return {"eval_types": ["program_html"], "reference_answers": None, "reference_url": "",
            "program_html": [{"url": f"{H}/{slug}.html",
                              "locator": "document.querySelector('#customer-reviews .review').outerText",
                              "required_contents": {"must_include": [title, text, f"{stars[0]}/5 stars"]}}]}


def _review_values(key: str) -> tuple:
    """(summary, text, stars label as the rating select shows it: '1 star', '4 stars')."""
    stars = _pick([1, 2, 3, 4, 5, 5, 4], f"stars:{key}")
    return _pick(TASK_TITLES, f"title:{key}"), _pick(TASK_TEXTS, f"text:{key}"), f"{stars} star{'s' if stars > 1 else ''}"


def inst_review(db, split):
    out = []
    for _, name, slug, *_ in _products(db, split):
        title, text, stars = _review_values(name)
        out.append({"values": {"product": name, "stars": stars, "title": title, "text": text}, "start_url": H,
                    "eval": _review_check(slug, title, text, stars),
                    "oracle": {"product": name, "stars": stars, "title": title, "text": text}})
    return out


def inst_review_ordered(db, split):
    out = []
    for oid, _, d, _, status in _orders_by_date(db, split):
        items = db.execute("SELECT p.name, p.slug FROM order_items i JOIN products p ON p.id=i.product_id WHERE order_id=?",
                           (oid,)).fetchall()
        if len(items) != 1 or status == "Canceled":
            continue
        name, slug = items[0]
        title, text, stars = _review_values(d)
        out.append({"values": {"date": d, "stars": stars, "title": title, "text": text}, "start_url": H,
                    "eval": _review_check(slug, title, text, stars),
                    "oracle": {"order_page": _history_page(db, oid), "anchor": f"Date: {d}", "product": name,
                               "stars": stars, "title": title, "text": text}})
    return out


def inst_place_order(db, split):
    in_cart = [r[0] for r in db.execute("SELECT p.name FROM cart_items c JOIN products p ON p.id=c.product_id ORDER BY c.id")]
    in_cart_ids = _initial_cart(db)
    next_id = db.execute("SELECT MAX(id) + 1 FROM orders").fetchone()[0]
    out = []
    for pid, name, _, sku, _, _ in _products(db, split):
        if pid in in_cart_ids:
            continue
        qty = _pick([1, 1, 2, 3], f"order-qty:{name}")
        out.append({"values": {"product": name, "qty": qty}, "start_url": H,
                    "eval": {"eval_types": ["program_html"], "reference_answers": None, "reference_url": "",
                             "program_html": [{"url": f"{H}/sales/order/view/order_id/{next_id}/",
                                               "locator": "[...document.querySelectorAll('#my-orders-table tbody tr')]"
                                                          ".map(r => r.dataset.sku + ':' + r.dataset.qty).join(' ')",
                                               "required_contents": {"exact_match": f"{sku}:{qty}"}}]},
                    "oracle": {"product": name, "qty": qty, "remove": in_cart}})
    return out


def T(id, intent, inst, solve, steps, skills, test_only=False):
    return Template(id=id, site="shopping", intent_template=intent, instances=inst, oracle=solve,
                    test_only=test_only, skills=skills, min_steps=steps)


TEMPLATES = [
    T(100, "What is the price of {{product}}?", inst_price, solve_product_fact, 3, "search, read product page"),
    T(101, "What is the SKU of {{product}}?", inst_sku, solve_product_fact, 3, "search, read product page"),
    T(102, "How many reviews does {{product}} have?", inst_review_count, solve_product_fact, 3, "search, read product page"),
    T(103, "What is the average customer rating (out of 5) of {{product}}?", inst_rating, solve_product_fact, 3,
      "search, read product page"),
    T(104, "Who wrote the most recent review of {{product}}? Give the reviewer's nickname.", inst_latest_reviewer,
      solve_product_fact, 4, "search, scroll, compare review dates"),
    T(105, "What is the name of the {{which}} product in the {{category}} category?", inst_category_extreme,
      solve_category_extreme, 5, "category menu, sort select"),
    T(106, "How much did I spend on orders placed in {{month}}? Do not count canceled orders.", inst_month_spend,
      solve_month_spend, 4, "account, order history pagination, arithmetic"),
    T(107, "What is the status of the order I placed on {{date}}?", inst_order_status, solve_order_row, 3,
      "account, order history pagination"),
    T(108, "Which products did I buy in the order I placed on {{date}}?", inst_order_items, solve_order_row, 4,
      "order history pagination, order detail"),
    T(109, "Search the store for \"{{keyword}}\".", inst_search, solve_search, 2, "search box"),
    T(110, "Open the product page of {{product}}.", inst_open_product, solve_open_product, 3, "search, navigate"),
    T(111, "Add {{qty}} of {{product}} to my shopping cart.", inst_add_to_cart, solve_add_to_cart, 5,
      "search, quantity field, add to cart"),
    T(112, "Write a review of {{product}}: rate it {{stars}}, with the summary \"{{title}}\" and the text \"{{text}}\".",
      inst_review, solve_review, 8, "search, review form with select"),
    T(113, "Buy {{qty}} of {{product}} and place the order with my default shipping address. The order must contain only this product.",
      inst_place_order, solve_place_order, 9, "add to cart, remove cart items, checkout"),
    T(114, "Add {{qty}} of the cheapest product in the {{category}} category to my shopping cart.", inst_cheapest_to_cart,
      solve_add_to_cart, 8, "category menu, sort select, add to cart", test_only=True),
    T(115, "Show me the products in the {{category}} category that {{price_range}}.", inst_price_filter,
      solve_price_filter, 5, "category menu, price filter"),
    T(116, "What was the order total of my order #{{number}}?", inst_order_total, solve_order_row, 3,
      "order history pagination"),
    T(117, "Write a review of the product I bought on {{date}}: rate it {{stars}}, with the summary \"{{title}}\" and the text \"{{text}}\".",
      inst_review_ordered, solve_review, 10, "order history, order detail, review form", test_only=True),
]
