"""Locust users: customers chatting through the web app's chat gateway, the way the widget does.

Each user is one customer at a time, coming from an address of its own (X-Forwarded-For, which
the web app believes from 127.0.0.1, its trusted proxy, so the per-address rate limits count each
customer apart), holding one conversation (an id it asks the server for, as the widget does) of
2-4 messages: a greeting and KB questions, an order lookup (where is
my order? → the order number → the email) or a password reset (→ the email), with 5-15 s of
typing between messages. When the conversation ends the customer leaves (the chat's polling
stops) and, after another 5-15 s, the next customer starts a new one.

What it sends is what bot/web/static/widget.js sends:

- a message: `POST /api/chat/{id}/messages?after=<cursor>` with `{"text": ...}`, reported as
  "turn". A turn fails unless it is a 200 holding at least one bot item the customer had not seen
  when sending (or when it is the gateway's "actions unavailable" apology). Like the widget, a turn
  that got no answer or a 5xx is sent again after 2 s, 4 s, 8 s; then the customer gives up.
- the poll: `GET /api/chat/{id}?after=<cursor>`, reported as "poll", on the widget's timer: every
  reply (to a message or a poll) schedules the next poll POLL_IDLE (20 s) later, or POLL_HANDOFF
  (2 s) for 30 s after a reply said a person owns the chat. So with 5-15 s between messages a
  conversation is polled only when a turn is slow (think time + turn time > 20 s), during a handoff,
  or while the customer lingers (LOAD_LINGER seconds with the chat open after the last answer).

With LOAD_ABUSERS = N, N more users are abusive senders from one address (LOAD_ABUSER_ADDRESSES:
from that many): each sends messages into its conversation as fast as answers come, never
waiting for Retry-After, and starts a new conversation whenever it is refused (reported as
"abuse message" and "abuse new conversation", a 429 counted as the expected answer); the
customers' "turn" figures are what the abuse does to everyone else. A 429 that took at least
LOAD_HELD_SECONDS (load.py: 0.9 s, or 0.9 of a shorter tarpit) is counted as "429 held": a
refusal the server tarpitted (rate_limit_tarpit_seconds) rather than answered at once. Answers
are counted when they arrive, so a held one counts in the window it is answered in.

benchmarks/load.py runs it headless at each load level (see its docstring): it passes the demo
store's orders and customers (LOAD_ORDERS, LOAD_CUSTOMERS) and LOAD_WINDOW_SECONDS and LOAD_RESULT,
which make this file reset Locust's stats once every user is spawned, stop the run that many
seconds later and write that window's figures as JSON. By hand, against a running `make run`:

    LOAD_ORDERS="123-4567 someone@example.com" .venv/bin/locust -f benchmarks/locustfile.py \\
        --host http://127.0.0.1:8080
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import Counter
from pathlib import Path

import gevent
from common import QUESTIONS  # benchmarks/common.py (Locust puts this folder on sys.path)
from gevent.event import Event
from locust import between, constant, events, task
from locust.contrib.fasthttp import FastHttpUser

# The widget's timers (bot/web/static/widget.js): POLL_IDLE, POLL_HANDOFF, and how long after a
# reply saying a person owns the chat it keeps polling fast.
POLL_IDLE = 20.0
POLL_HANDOFF = 2.0
FAST_FOR = 30.0
# The widget sends a message again after 2 s, 4 s, 8 s ... (up to 30 s) while it gets no answer or
# a 5xx; a simulated customer waits through this many retries, then leaves.
RETRY_DELAYS = (2.0, 4.0, 8.0)

THINK = (
    float(os.environ.get("LOAD_THINK_MIN", "5")),
    float(os.environ.get("LOAD_THINK_MAX", "15")),
)
LINGER = float(os.environ.get("LOAD_LINGER", "0"))
TIMEOUT = float(os.environ.get("LOAD_TIMEOUT", "120"))  # a browser's fetch waits longer still
# "123-4567 someone@example.com,..." and "a@example.com,b@example.com" (from load.py)
ORDERS = [o.split() for o in os.environ.get("LOAD_ORDERS", "").split(",") if o.strip()]
CUSTOMERS = [e for e in os.environ.get("LOAD_CUSTOMERS", "").split(",") if e.strip()]
GREETINGS = ["hi", "hello", "hey there", "good morning"]
THANKS = ["thanks", "thank you!"]

WINDOW_SECONDS = float(os.environ.get("LOAD_WINDOW_SECONDS", "0"))
# After the last user is spawned, the window waits this long, until every customer has typed and
# sent a first message (the longest think time): from then on the load is steady.
SETTLE_SECONDS = float(os.environ.get("LOAD_SETTLE_SECONDS", str(THINK[1])))
RESULT = os.environ.get("LOAD_RESULT", "")
OUTCOMES: Counter[str] = Counter()  # the bot's outcome of each answered turn, in the window
ABUSERS = int(os.environ.get("LOAD_ABUSERS", "0"))
ABUSER_ADDRESSES = max(1, int(os.environ.get("LOAD_ABUSER_ADDRESSES", "1")))
ABUSE: Counter[str] = Counter()  # the abusers' answers by status, in the window
HELD_SECONDS = float(os.environ.get("LOAD_HELD_SECONDS", "1"))  # a 429 this slow was tarpitted
# benchmarks/load.py runs the abusers in a Locust process of their own (so their sending does
# not delay the customers' timings): that process counts every answer and writes the running
# totals here twice a second, and load.py reads them when the customers' window starts and ends
ABUSE_COUNTS = os.environ.get("LOAD_ABUSE_COUNTS", "")
CPU_WARNINGS: list[float] = []  # Locust's own "CPU usage above 90%" warnings, in the window


def conversation(rng: random.Random) -> list[str]:
    """What one customer types: 2-4 messages."""
    kind = rng.choices(["kb", "order", "reset"], weights=[6, 2, 1])[0]
    if (kind == "order" and not ORDERS) or (kind == "reset" and not CUSTOMERS):
        kind = "kb"
    greeting = [rng.choice(GREETINGS)] if rng.random() < 0.5 else []
    if kind == "order":
        number, email = rng.choice(ORDERS)
        said = [*greeting, "where is my order?", number, email]
    elif kind == "reset":
        said = [*greeting, "I forgot my password", rng.choice(CUSTOMERS)]
    else:
        said = greeting + rng.sample(QUESTIONS, rng.randint(2 - len(greeting), 4 - len(greeting)))
    if len(said) < 4 and rng.random() < 0.3:
        said.append(rng.choice(THANKS))
    return said


class Chat:
    """One conversation as the widget holds it: its id, cursor, the items shown, the poll timer."""

    def __init__(self, user: Customer) -> None:
        self.user = user
        self.id = ""
        self.cursor = 0.0
        self.seen: set[str] = set()
        self.due: float | None = None  # when the next poll goes (none before the first reply)
        self.fast_until = 0.0
        self.rescheduled = Event()

    def apply(self, update: dict) -> None:
        """What the widget does with a reply: show new items, move the cursor, schedule a poll."""
        self.seen.update(item["id"] for item in update.get("items") or [])
        self.cursor = max(self.cursor, float(update.get("cursor") or 0))
        self.schedule((update.get("handoff") or {}).get("state", "bot"))

    def schedule(self, handoff: str | None = None) -> None:
        now = time.monotonic()
        if handoff not in (None, "bot"):
            self.fast_until = now + FAST_FOR
        self.due = now + (POLL_HANDOFF if now < self.fast_until else POLL_IDLE)
        self.rescheduled.set()

    def open(self) -> bool:
        """Ask the server for the conversation's id, as the widget does before its first
        message; False when it gives none."""
        with self.user.client.post(
            "/api/chat/conversations",
            headers=self.user.headers,
            name="new conversation",
            catch_response=True,
        ) as response:
            if response.status_code != 201:
                response.failure(_problem(response))
                return False
            self.id = response.json()["conversation_id"]
            return True

    def send(self, text: str) -> bool:
        """One message, sent again like the widget does; False when the customer gives up."""
        for retry in range(len(RETRY_DELAYS) + 1):
            if retry:
                gevent.sleep(RETRY_DELAYS[retry - 1])
            verdict = self._turn(text)
            if verdict != "retry":
                return verdict == "done"
        return False

    def _turn(self, text: str) -> str:
        known = set(self.seen)  # a poll may show the reply first: new means new to this send
        with self.user.client.post(
            f"/api/chat/{self.id}/messages?after={self.cursor!r}",
            json={"text": text},
            headers=self.user.headers,
            name="turn",
            catch_response=True,
        ) as response:
            status = response.status_code
            if not status or status >= 500:
                response.failure(_problem(response))
                return "retry"
            if status != 200:
                response.failure(_problem(response))
                return "give up"  # the widget shows "Not sent: ..." and sends nothing again
            try:
                update = response.json()
            except ValueError:
                response.failure("200 without JSON")
                return "done"
            self.apply(update)
            said = [
                i
                for i in update.get("items") or []
                if i.get("from") == "bot" and i["id"] not in known
            ]
            outcome = (said[-1].get("meta") or {}).get("outcome", "none") if said else None
            if not said:
                response.failure("200 without a new bot message")
            elif outcome == "unavailable":
                response.failure("the gateway's apology: actions unavailable")
            else:
                OUTCOMES[outcome] += 1
            return "done"

    def poll(self) -> None:
        """The widget's poll loop (sync + schedulePoll), until the conversation ends."""
        while True:
            if self.due is None or time.monotonic() < self.due:
                self.rescheduled.clear()
                self.rescheduled.wait(None if self.due is None else self.due - time.monotonic())
                continue
            self.due = None
            with self.user.client.get(
                f"/api/chat/{self.id}?after={self.cursor!r}",
                headers=self.user.headers,
                name="poll",
                catch_response=True,
            ) as response:
                if response.status_code == 200:
                    try:
                        self.apply(response.json())
                    except ValueError:
                        response.failure("200 without JSON")
                        self.schedule()
                else:
                    response.failure(_problem(response))
                    self.schedule()  # the widget polls again on its timer after an error too


def _problem(response) -> str:
    if not response.status_code:
        return f"no answer: {type(response.error).__name__}: {response.error}"[:300]
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = (response.text or "")[:120]
    return f"HTTP {response.status_code}: {detail}"[:300]


class Customer(FastHttpUser):
    wait_time = between(*THINK)  # between two messages, and before the next customer's first
    network_timeout = TIMEOUT
    connection_timeout = TIMEOUT

    def on_start(self) -> None:
        self.rng = random.Random()
        self.headers = {"X-Forwarded-For": _address(self.rng)}
        # the first customer types a first message too, like every later one: customers do not
        # all send the moment Locust spawns them (400 first messages within its 10 s ramp)
        gevent.sleep(self.wait_time())

    @task
    def converse(self) -> None:
        chat = Chat(self)
        if not chat.open():
            return
        poller = gevent.spawn(chat.poll)
        try:
            for n, text in enumerate(conversation(self.rng)):
                if n:
                    gevent.sleep(self.wait_time())
                if not chat.send(text):
                    return
            if LINGER:
                gevent.sleep(LINGER)  # reading the answer with the chat still open
        finally:
            poller.kill(block=False)  # the customer left: the widget polls no more


def _address(rng: random.Random) -> str:
    """A customer's own address (10.x.y.z)."""
    return f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def _count_abuse(name: str, response) -> int:
    """Count one abusive request's answer ("<name> <status>", "<name> 429 held" when it was
    tarpitted); its status (0: no answer)."""
    status = response.status_code or 0
    held = status == 429 and response.request_meta["response_time"] >= HELD_SECONDS * 1000
    if ABUSE_COUNTS or "start" in _window:
        ABUSE[f"{name} {status}{' held' if held else ''}"] += 1
    return status


def _write_abuse_counts() -> None:
    while True:
        partial = Path(ABUSE_COUNTS + ".tmp")
        partial.write_text(json.dumps({"at": time.time(), "answers": dict(ABUSE)}))
        partial.replace(ABUSE_COUNTS)
        gevent.sleep(0.5)


class Abuser(FastHttpUser):
    """A script: messages as fast as the answers come, a new conversation whenever refused."""

    abstract = ABUSERS == 0  # none unless LOAD_ABUSERS asks
    fixed_count = ABUSERS
    wait_time = constant(0)
    network_timeout = TIMEOUT
    connection_timeout = TIMEOUT
    spawned = 0

    def on_start(self) -> None:
        Abuser.spawned += 1
        self.headers = {"X-Forwarded-For": f"192.0.2.{1 + Abuser.spawned % ABUSER_ADDRESSES}"}
        self.id = ""

    def _request(self, name: str, path: str, body: dict | None) -> int:
        with self.client.post(
            path, json=body, headers=self.headers, name=name, catch_response=True
        ) as response:
            status = _count_abuse(name, response)
            if status in (200, 201, 409, 429):
                response.success()  # what the server should say to a script
            else:
                response.failure(_problem(response))
            return status

    @task
    def abuse(self) -> None:
        if not self.id:
            with self.client.post(
                "/api/chat/conversations",
                headers=self.headers,
                name="abuse new conversation",
                catch_response=True,
            ) as response:
                status = _count_abuse("abuse new conversation", response)
                if status == 201:
                    self.id = response.json()["conversation_id"]
                response.success() if status in (201, 429) else response.failure(_problem(response))
            if not self.id:
                return
        status = self._request(
            "abuse message", f"/api/chat/{self.id}/messages", {"text": "/request_human"}
        )
        if status in (403, 409, 429):
            self.id = ""  # refused: start again with a new conversation, as a script would


# ---------- the measured window (benchmarks/load.py) ----------

_window: dict = {}


@events.init.add_listener
def _remember(environment, **_kwargs) -> None:
    _window["environment"] = environment
    if ABUSE_COUNTS:
        gevent.spawn(_write_abuse_counts)


@events.cpu_warning.add_listener
def _cpu_warning(environment, cpu_usage, **_kwargs) -> None:
    if "start" in _window:
        CPU_WARNINGS.append(cpu_usage)


@events.spawning_complete.add_listener
def _spawned(user_count: int, **_kwargs) -> None:
    """Every user spawned: the window starts SETTLE_SECONDS later."""
    if not WINDOW_SECONDS or "spawned" in _window:
        return
    _window["spawned"] = True
    gevent.spawn_later(SETTLE_SECONDS, _start_window, user_count)


def _start_window(user_count: int) -> None:
    """The load is steady: drop what the ramp recorded, then measure for WINDOW_SECONDS."""
    _window["environment"].runner.stats.reset_all()
    OUTCOMES.clear()
    ABUSE.clear()
    _window.update(start=time.time(), users=user_count)
    print("LOAD-WINDOW start", flush=True)  # load.py reads the servers' CPU now
    gevent.spawn_later(WINDOW_SECONDS, _end_window)


def _end_window() -> None:
    environment = _window["environment"]
    ended = time.time()
    figures = _figures(environment, ended - _window["start"])
    print("LOAD-WINDOW end", flush=True)  # and now
    Path(RESULT).write_text(json.dumps(figures, indent=2) + "\n")
    environment.runner.quit()


def _figures(environment, seconds: float) -> dict:
    stats = environment.runner.stats
    out: dict = {"users": _window["users"], "window_s": round(seconds, 2)}
    for name, method in (("turn", "POST"), ("poll", "GET")):
        entry = stats.get(name, method)
        ok = entry.num_requests - entry.num_failures
        out[name] = {
            "requests": entry.num_requests,
            "ok": ok,
            "failures": entry.num_failures,
            "ok_per_s": round(ok / seconds, 2),
            "requests_per_s": round(entry.num_requests / seconds, 2),
            "ms": {
                f"p{q}": entry.get_response_time_percentile(q / 100) if entry.num_requests else None
                for q in (50, 95, 99)
            }
            | {
                "mean": round(entry.avg_response_time, 1),
                "max": round(entry.max_response_time or 0, 1),
            },
        }
    out["errors"] = sorted(
        (
            {"name": e.name, "occurrences": e.occurrences, "error": str(e.error)[:300]}
            for e in stats.errors.values()
        ),
        key=lambda e: -e["occurrences"],
    )
    out["outcomes"] = dict(OUTCOMES.most_common())
    if ABUSERS:
        out["abuse"] = {
            "abusers": ABUSERS,
            "addresses": ABUSER_ADDRESSES,
            "answers": dict(sorted(ABUSE.items())),
            "requests_per_s": round(sum(ABUSE.values()) / seconds, 1),
        }
    out["locust_cpu_warnings"] = len(CPU_WARNINGS)
    return out
