"""The embedded demo store: SQLite seeded deterministically, with an outbox for reset emails
(the mail worker hands them to the bot's mail outbox, which delivers them: bot.mail)."""

from __future__ import annotations

import datetime as dt
import random
import secrets
import sqlite3
import threading
from pathlib import Path

from bot.store.base import (
    AVAILABILITIES,
    MAX_AVAILABILITY_IDS,
    STATUSES,
    Availability,
    Order,
    ResetOutcome,
    normalize_email,
)
from bot.store.ratelimit import RateLimiter

SEED = 20261122
CUSTOMERS = 500
ORDERS = 1000
RESETS_PER_HOUR = 3
FIRST = [
    "ana",
    "ben",
    "chloe",
    "dev",
    "elena",
    "farid",
    "grace",
    "hugo",
    "ines",
    "jamal",
    "kira",
    "liam",
    "maya",
    "noah",
    "olga",
    "pavel",
    "quinn",
    "rosa",
    "sam",
    "tara",
    "umar",
    "vera",
    "will",
    "xena",
    "yusuf",
    "zoe",
]
LAST = [
    "silva",
    "okafor",
    "nguyen",
    "schmidt",
    "kowalski",
    "haddad",
    "tanaka",
    "oconnor",
    "rossi",
    "andersen",
    "moreau",
    "patel",
    "garcia",
    "ivanova",
    "mensah",
    "lind",
]
CARRIERS = ["UPS", "FedEx", "USPS"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS customers (
    id INTEGER PRIMARY KEY, email TEXT UNIQUE NOT NULL, name TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS orders (
    number TEXT PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id),
    status TEXT NOT NULL, carrier TEXT, tracking_code TEXT, placed_days_ago INTEGER NOT NULL,
    eta_in_days INTEGER, items INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT, to_email TEXT NOT NULL, subject TEXT NOT NULL,
    body TEXT NOT NULL, link TEXT NOT NULL, created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS stock (
    item_id TEXT PRIMARY KEY, availability TEXT NOT NULL, quantity INTEGER, price TEXT,
    sale_price TEXT, currency TEXT, availability_date TEXT, updated_at TEXT NOT NULL
);
"""


def _eta(status: str, rng: random.Random) -> int | None:
    """Days until delivery relative to today; negative means it already happened."""
    return {
        "processing": rng.randint(3, 6),
        "shipped": rng.randint(1, 4),
        "out_for_delivery": 0,
        "delivered": -rng.randint(1, 20),
        "delayed": rng.randint(2, 6),
        "cancelled": None,
        "returned": -rng.randint(5, 30),
    }[status]


class DemoStore:
    """A store with ~500 customers and 1,000 orders in every status; the same data every time."""

    def __init__(self, path: Path, public_url: str = "https://shop.example") -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.public_url = public_url.rstrip("/")
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        self._add_relay_columns()
        self._seed()
        self._limiter = RateLimiter(path.with_suffix(".ratelimit.db"), RESETS_PER_HOUR, 3600)

    def _add_relay_columns(self) -> None:
        """Outboxes made before the mail worker existed get its two columns."""
        with self._lock:
            have = {row["name"] for row in self._db.execute("PRAGMA table_info(outbox)")}
            for column in ("message_id", "handed_over_at"):
                if column not in have:
                    try:
                        self._db.execute(f"ALTER TABLE outbox ADD COLUMN {column} TEXT")
                    except sqlite3.OperationalError as exc:  # another process added it first
                        if "duplicate column" not in str(exc):
                            raise

    def pending_emails(self) -> list[dict]:
        """Reset emails not yet handed to the bot's mail outbox, oldest first."""
        rows = self._db.execute(
            "SELECT id, to_email, subject, body, created_at FROM outbox "
            "WHERE handed_over_at IS NULL ORDER BY id"
        )
        return [dict(r) for r in rows]

    def handed_over(self, row_id: int, message_id: str) -> None:
        """Mark a reset email as queued in the bot's mail outbox (with its Message-ID)."""
        with self._lock:
            self._db.execute(
                "UPDATE outbox SET handed_over_at = ?, message_id = ? WHERE id = ?",
                (dt.datetime.now(dt.UTC).isoformat(), message_id, row_id),
            )

    def _seed(self) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if self._db.execute("SELECT 1 FROM meta WHERE key = 'seed'").fetchone():
                    self._db.execute("COMMIT")
                    return
                rng = random.Random(SEED)
                emails: set[str] = set()
                while len(emails) < CUSTOMERS:
                    emails.add(
                        f"{rng.choice(FIRST)}.{rng.choice(LAST)}{rng.randint(1, 99)}@example.com"
                    )
                customers = sorted(emails)
                self._db.executemany(
                    "INSERT INTO customers (id, email, name) VALUES (?, ?, ?)",
                    [
                        (i + 1, e, e.split("@")[0].split(".")[0].title())
                        for i, e in enumerate(customers)
                    ],
                )
                numbers: set[str] = set()
                while len(numbers) < ORDERS:
                    numbers.add(f"{rng.randint(100, 999)}-{rng.randint(1000, 9999)}")
                rows = []
                for n, number in enumerate(sorted(numbers)):
                    status = STATUSES[n % len(STATUSES)]  # every status, evenly
                    shipped = status not in ("processing", "cancelled")
                    carrier = rng.choice(CARRIERS) if shipped else None
                    code = f"1Z{rng.randint(10**9, 10**10 - 1)}" if shipped else None
                    rows.append(
                        (
                            number,
                            rng.randint(1, CUSTOMERS),
                            status,
                            carrier,
                            code,
                            rng.randint(1, 30),
                            _eta(status, rng),
                            rng.randint(1, 5),
                        )
                    )
                self._db.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
                self._db.execute("INSERT INTO meta VALUES ('seed', ?)", (str(SEED),))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def request_password_reset(self, email: str) -> ResetOutcome:
        """Queue a reset email in the outbox if the account exists; same answer either way."""
        email = normalize_email(email)
        if not self._limiter.hit(email):
            return "rate_limited"
        with self._lock:
            customer = self._db.execute(
                "SELECT name FROM customers WHERE email = ?", (email,)
            ).fetchone()
            if customer is not None:
                link = f"{self.public_url}/reset-password?token={secrets.token_urlsafe(24)}"
                body = (
                    f"Hi {customer['name']},\n\nSomeone asked to reset the password of your "
                    "Northwind Goods account. Choose a new one here (the link works once, "
                    f"for 1 hour):\n{link}\n\n"
                    "If it wasn't you, ignore this email; your password stays the same."
                )
                self._db.execute(
                    "INSERT INTO outbox (to_email, subject, body, link, created_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (email, "Reset your password", body, link, dt.datetime.now(dt.UTC).isoformat()),
                )
        return "sent"

    def find_order(self, order_number: str, email: str) -> Order | None:
        """The order if it exists and belongs to this email."""
        row = self._db.execute(
            "SELECT o.*, c.email FROM orders o JOIN customers c ON c.id = o.customer_id "
            "WHERE o.number = ?",
            (order_number.strip(),),
        ).fetchone()
        if row is None or row["email"] != normalize_email(email):
            return None
        today = dt.date.today()
        tracking = (
            f"https://track.example/{row['carrier'].lower()}/{row['tracking_code']}"
            if row["carrier"]
            else None
        )
        return Order(
            number=row["number"],
            status=row["status"],
            carrier=row["carrier"],
            tracking_url=tracking,
            estimated_delivery=today + dt.timedelta(days=row["eta_in_days"])
            if row["eta_in_days"] is not None
            else None,
            placed_on=today - dt.timedelta(days=row["placed_days_ago"]),
            items=row["items"],
        )

    def product_availability(self, item_ids: list[str]) -> dict[str, Availability]:
        """The stock the demo store's back office set for these variants (the feed otherwise)."""
        ids = list(dict.fromkeys(item_ids))[:MAX_AVAILABILITY_IDS]
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self._db.execute(f"SELECT * FROM stock WHERE item_id IN ({marks})", ids)
        return {
            row["item_id"]: Availability.from_dict(
                {
                    "id": row["item_id"],
                    "availability": row["availability"],
                    "price": row["price"],
                    "sale_price": row["sale_price"],
                    "currency": row["currency"],
                    "quantity": row["quantity"],
                    "availability_date": row["availability_date"],
                }
            )
            for row in rows
        }

    def set_stock(
        self,
        item_id: str,
        availability: str,
        quantity: int | None = None,
        price: str | None = None,
        availability_date: dt.date | None = None,
    ) -> None:
        """The back office's word on one variant (what a shop's stock system would change)."""
        if availability not in AVAILABILITIES:
            raise ValueError(f"availability must be one of {', '.join(AVAILABILITIES)}")
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO stock (item_id, availability, quantity, price, currency, "
                "availability_date, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    item_id,
                    availability,
                    quantity,
                    price,
                    "USD" if price else None,
                    availability_date.isoformat() if availability_date else None,
                    dt.datetime.now(dt.UTC).isoformat(),
                ),
            )

    # -- for tests and the demo ---------------------------------------------------------------

    def outbox(self, email: str | None = None) -> list[dict]:
        """Emails the store sent, newest last."""
        query, args = "SELECT * FROM outbox", ()
        if email:
            query, args = query + " WHERE to_email = ?", (normalize_email(email),)
        return [dict(r) for r in self._db.execute(query + " ORDER BY id", args)]

    def sample(self, status: str | None = None) -> tuple[str, str]:
        """(order number, email) of a seeded order, for demos and tests."""
        query = "SELECT o.number, c.email FROM orders o JOIN customers c ON c.id = o.customer_id"
        args: tuple = ()
        if status:
            query, args = query + " WHERE o.status = ?", (status,)
        row = self._db.execute(query + " ORDER BY o.number LIMIT 1", args).fetchone()
        return row["number"], row["email"]

    def customer_emails(self, limit: int = 5) -> list[str]:
        """A few seeded customers' emails."""
        return [
            r[0]
            for r in self._db.execute("SELECT email FROM customers ORDER BY id LIMIT ?", (limit,))
        ]
