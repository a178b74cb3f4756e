#!/usr/bin/env python3
"""Generate fixtures/classification.sql and fixtures/classification_truth.toml: the classification
benchmark of `pgveil rules init` (tests/it/classification.rs).

A small shop database whose column names mislead in both directions: `email_verified boolean`,
`address_id int` and a product's `name` are safe; `contact` holds emails, `col7` phones,
`recipient` and `manager` person names, `notes` and `payload` phones and emails inside text,
`hw` MAC addresses, `ref_account` IBANs, `tax_ref` national ids. The truth file says for every
column whether it is a direct identifier, a quasi-identifier or safe, and its kind.

Deterministic (a fixed seed, no clock): run `python3 scripts/gen_classification.py` from the
repository root to regenerate both files; every value is made up here.
"""
import random

R = random.Random(14)

GIVEN = """James Mary John Patricia Robert Jennifer Michael Linda William Elizabeth David Susan
Richard Jessica Joseph Sarah Thomas Karen Jürgen Sabine Klaus Monika Stefan Petra Wolfgang Ursula
Jean Marie Pierre Nathalie Michel Isabelle Philippe Sylvie Antonio Carmen José Lucía Manuel Pilar
Javier Elena Francisco Rocío""".split()
SURNAMES = """Smith Johnson Williams Brown Jones Miller Davis Wilson Anderson Taylor Thomas Moore
Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Martin Bernard Dubois Durand Lefebvre
Moreau Laurent Girard García Rodríguez González Fernández López Martínez Sánchez Pérez Gómez
Jiménez""".split()
WORDS = """order delivered late please check the invoice again thanks customer asked about the
refund window and the colour of the box was wrong replace item next week""".split()
PRODUCTS = """Steel bolt|Oak table|Desk lamp|USB cable|Garden hose|Coffee mug|Notebook A5|Wall clock|
Phone case|Laptop stand|Office chair|Paper clips|Water bottle|Yoga mat|Bike light|Tea kettle""".split("|")
COLOURS = "black white red blue green silver grey navy beige rose olive amber".split()
CITIES = """Paris Lyon Toulouse Berlin Hamburg München Madrid Sevilla Valencia London Leeds Boston
Denver Austin Lille Bordeaux""".split()


def q(v):
    """A SQL literal."""
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return "'" + str(v).replace("'", "''") + "'"


def person():
    return R.choice(GIVEN), R.choice(SURNAMES)


def ascii_fold(s):
    import unicodedata
    return "".join(c for c in unicodedata.normalize("NFD", s) if not unicodedata.combining(c))


def email():
    g, s = person()
    return f"{ascii_fold(g).lower()}.{ascii_fold(s).lower()}{R.randint(1, 99)}@{R.choice(['mail', 'post', 'inbox'])}.test"


def phone():
    d = lambda n: "".join(str(R.randint(0, 9)) for _ in range(n))
    return R.choice(
        [
            lambda: f"+33 6 {d(2)} {d(2)} {d(2)} {d(2)}",
            lambda: f"+49 30 {d(8)}",
            lambda: f"+34 9{d(2)} {d(3)} {d(3)}",
            lambda: f"+1 (415) 555-{d(4)}",
            lambda: f"+44 20 7946 {d(4)}",
            lambda: f"+3361{d(7)}",
        ]
    )()


def iban():
    # German IBANs with valid check digits (ISO 13616, mod 97).
    bban = "".join(str(R.randint(0, 9)) for _ in range(18))
    n = int(bban + "131400")  # D=13 E=14, then 00
    check = 98 - n % 97
    return f"DE{check:02d}{bban}"


def dni():
    n = R.randint(10_000_000, 99_999_999)
    return f"{n}{'TRWAGMYFPDXBNJZSQVHLCKE'[n % 23]}"


def mac():
    return ":".join(f"{R.randint(0, 255):02x}" for _ in range(6))


def plate():
    L = lambda n: "".join(R.choice("ABCDEFGHJKLMNPRSTVWXYZ") for _ in range(n))
    return f"{L(2)}-{R.randint(100, 999)}-{L(2)}"


def ean13():
    d = [4, 0] + [R.randint(0, 9) for _ in range(10)]
    check = (10 - sum(x * (3 if k % 2 else 1) for k, x in enumerate(d)) % 10) % 10
    return "".join(map(str, d + [check]))


def _unused_plate():
    L = lambda n: "".join(R.choice("ABCDEFGHJKLMNPRSTVWXYZ") for _ in range(n))
    return f"{L(2)}-{R.randint(100, 999)}-{L(2)}"


def handle():
    return f"{R.choice(['sunny', 'dark', 'blue', 'quick', 'lazy', 'wild'])}_{R.choice(['fox', 'owl', 'cat', 'wolf', 'bee'])}{R.randint(1, 999)}"


def user_agent():
    v = f"{R.randint(90, 125)}.0.{R.randint(1000, 6999)}.{R.randint(1, 200)}"
    return R.choice(
        [
            f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v} Safari/537.36",
            f"Mozilla/5.0 (X11; Linux x86_64; rv:{R.randint(100, 125)}.0) Gecko/20100101 Firefox/{R.randint(100, 125)}.0.1.2",
            f"MyShopApp/5.0.1.2 (iPhone; iOS 17.{R.randint(0, 5)}.1)",
        ]
    )


def prose(n):
    return " ".join(R.choice(WORDS) for _ in range(n))


def date(y0, y1):
    return f"{R.randint(y0, y1)}-{R.randint(1, 12):02d}-{R.randint(1, 28):02d}"


def ts():
    return f"2024-{R.randint(1, 12):02d}-{R.randint(1, 28):02d} {R.randint(0, 23):02d}:{R.randint(0, 59):02d}:00+00"


# (table, [(column, type, class, kind, generator(i))], rows)
TABLES = [
    ("customers", 300, [
        ("id", "integer PRIMARY KEY", "safe", "id", lambda i: i),
        ("recipient", "text", "direct", "name", lambda i: " ".join(person())),
        ("contact", "text", "direct", "email", lambda i: email()),
        ("col7", "text", "direct", "phone", lambda i: phone()),
        ("email_verified", "boolean", "safe", "flag", lambda i: R.random() < 0.7),
        ("address_id", "integer", "safe", "id", lambda i: R.randint(1, 5000)),
        ("dob", "date", "quasi", "birth_date", lambda i: date(1940, 2005)),
        ("zip", "text", "quasi", "postal_code", lambda i: f"{R.randint(1000, 99999):05d}"),
        ("city", "text", "quasi", "city", lambda i: R.choice(CITIES)),
        ("username", "text", "direct", "username", lambda i: handle()),
        ("age", "integer", "quasi", "age", lambda i: R.randint(18, 90)),
        ("status", "text", "safe", "category", lambda i: R.choice(["active", "inactive", "banned"])),
        ("score", "numeric(6,2)", "safe", "measure", lambda i: round(R.uniform(0, 100), 2)),
        ("ref_account", "text", "direct", "iban", lambda i: iban()),
        ("tax_ref", "text", "direct", "national_id", lambda i: dni()),
        ("contact2", "text", "direct", "phone", lambda i: "0" + str(R.randint(6, 7)) + "".join(str(R.randint(0, 9)) for _ in range(8))),
        ("author", "text", "direct", "name", lambda i: " ".join(person()).lower()),
        ("title", "text", "safe", "category", lambda i: R.choice(["Mr", "Ms", "Mrs", "Dr", "Prof"])),
        ("contact_method", "text", "safe", "category", lambda i: R.choice(["email", "phone", "post"])),
        ("birth", "text", "quasi", "birth_date", lambda i: date(1940, 2005)),
        ("created_at", "timestamp with time zone", "safe", "timestamp", lambda i: ts()),
    ]),
    ("products", 200, [
        ("id", "integer PRIMARY KEY", "safe", "id", lambda i: i),
        ("name", "text", "safe", "label", lambda i: f"{R.choice(PRODUCTS)} {R.choice(['S', 'M', 'L', 'XL', 'Pro', 'Mini'])}"),
        ("sku", "text", "safe", "code", lambda i: f"SKU-{R.randint(1, 99999):05d}"),
        ("price", "numeric(10,2)", "safe", "measure", lambda i: round(R.uniform(1, 500), 2)),
        ("description", "text", "safe", "prose", lambda i: prose(12)),
        ("version", "text", "safe", "version", lambda i: f"{R.randint(1, 9)}.{R.randint(0, 9)}.{R.randint(0, 9)}.{R.randint(0, 9)}"),
        ("colour", "text", "safe", "category", lambda i: R.choice(COLOURS)),
        ("stock", "integer", "safe", "measure", lambda i: R.randint(0, 900)),
        ("hostname", "text", "safe", "code", lambda i: f"web-{R.randint(1, 40):02d}.internal"),
        ("ean", "text", "safe", "code", lambda i: ean13()),
    ]),
    ("orders", 250, [
        ("id", "integer PRIMARY KEY", "safe", "id", lambda i: i),
        ("customer_id", "integer", "safe", "id", lambda i: R.randint(1, 300)),
        ("notes", "text", "direct", "free_text", lambda i: R.choice([
            f"call {phone()} or write to {email()}",
            f"{prose(5)} then call {phone()}",
            f"customer wrote from {email()} about {prose(3)}",
            prose(8),
        ])),
        ("payload", "jsonb", "direct", "free_text", lambda i: '{"channel": "sms", "to": "%s", "items": [%d]}' % (phone(), i)),
        ("total", "numeric(10,2)", "safe", "measure", lambda i: round(R.uniform(5, 900), 2)),
        ("ship_city", "text", "quasi", "city", lambda i: R.choice(CITIES)),
        ("placed_at", "timestamp with time zone", "safe", "timestamp", lambda i: ts()),
        ("phone_type", "text", "safe", "category", lambda i: R.choice(["mobile", "landline"])),
        ("tracking_code", "text", "safe", "code", lambda i: "1Z" + "".join(R.choice("0123456789ABCDEF") for _ in range(16))),
        ("cc_list", "text[]", "direct", "email", lambda i: "{" + ",".join(email() for _ in range(R.randint(1, 3))) + "}"),
        ("isbn", "text", "safe", "code", lambda i: f"978-{R.randint(0, 9)}-{R.randint(10, 99)}-{R.randint(100000, 999999)}-{R.randint(0, 9)}"),
    ]),
    ("devices", 200, [
        ("id", "integer PRIMARY KEY", "safe", "id", lambda i: i),
        ("mac", "macaddr", "direct", "mac", lambda i: mac()),
        ("hw", "text", "direct", "mac", lambda i: mac().upper().replace(":", "-")),
        ("ip_seen", "inet", "direct", "ip", lambda i: f"10.{R.randint(0, 255)}.{R.randint(0, 255)}.{R.randint(1, 254)}"),
        ("user_agent", "text", "quasi", "user_agent", lambda i: user_agent()),
        ("home", "point", "direct", "geo", lambda i: f"({R.uniform(-5, 15):.5f},{R.uniform(36, 55):.5f})"),
        ("lat", "double precision", "direct", "geo", lambda i: round(R.uniform(36, 55), 6)),
        ("lon", "double precision", "direct", "geo", lambda i: round(R.uniform(-5, 15), 6)),
        ("firmware", "text", "safe", "version", lambda i: f"{R.randint(1, 9)}.{R.randint(0, 9)}.{R.randint(0, 9)}.{R.randint(0, 9)}"),
        ("owner_login", "text", "direct", "username", lambda i: handle()),
        ("plate", "text", "direct", "plate", lambda i: plate()),
        ("build", "text", "safe", "version", lambda i: f"10.0.{R.randint(17000, 22999)}.{R.randint(1, 3000)}"),
        ("coords", "text", "direct", "geo", lambda i: f"{R.uniform(36, 55):.5f}, {R.uniform(-5, 15):.5f}"),
        ("last_seen", "timestamp with time zone", "safe", "timestamp", lambda i: ts()),
    ]),
    ("staff", 120, [
        ("id", "integer PRIMARY KEY", "safe", "id", lambda i: i),
        ("first_name", "text", "direct", "name", lambda i: R.choice(GIVEN)),
        ("last_name", "text", "direct", "name", lambda i: R.choice(SURNAMES)),
        ("manager", "text", "direct", "name", lambda i: "{1}, {0}".format(*person())),
        ("department", "text", "safe", "category", lambda i: R.choice(["Sales", "Support", "Finance", "Logistics"])),
        ("email_count", "integer", "safe", "measure", lambda i: R.randint(0, 40)),
        ("salary", "numeric(10,2)", "safe", "measure", lambda i: round(R.uniform(25000, 90000), 2)),
        ("hired_on", "date", "safe", "date", lambda i: date(2005, 2024)),
        ("surname", "text", "direct", "name", lambda i: R.choice(SURNAMES)),
        ("nick", "text", "direct", "username", lambda i: handle()),
        ("room", "text", "safe", "code", lambda i: f"{R.choice('ABC')}-{R.randint(100, 450)}"),
    ]),
]


def main():
    sql = [
        "-- Generated by scripts/gen_classification.py (deterministic): the classification benchmark of",
        "-- `pgveil rules init` (tests/it/classification.rs); ground truth in classification_truth.toml.",
        "-- Every value is made up; addresses are in the .test domain.",
        "",
    ]
    truth = [
        "# Generated by scripts/gen_classification.py: what every column of classification.sql holds.",
        "# class: direct (identifies a person: must be masked), quasi (singles people out in",
        "# combination: generalise), safe (must be kept). kind: what the values are.",
        "",
    ]
    for table, rows, cols in TABLES:
        sql.append(f"CREATE TABLE public.{table} (")
        sql.append(",\n".join(f"    {c} {t}" for c, t, *_ in cols))
        sql.append(");")
        sql.append(f"INSERT INTO public.{table} ({', '.join(c for c, *_ in cols)}) VALUES")
        values = []
        for i in range(1, rows + 1):
            values.append("(" + ", ".join(q(gen(i)) for *_, gen in cols) + ")")
        sql.append(",\n".join(values) + ";")
        sql.append("")
        for c, t, cls, kind, _ in cols:
            truth.append("[[column]]")
            truth.append(f'table = "{table}"\ncolumn = "{c}"\nclass = "{cls}"\nkind = "{kind}"')
            truth.append("")
    with open("fixtures/classification.sql", "w", encoding="utf-8") as f:
        f.write("\n".join(sql))
    with open("fixtures/classification_truth.toml", "w", encoding="utf-8") as f:
        f.write("\n".join(truth))


if __name__ == "__main__":
    main()
