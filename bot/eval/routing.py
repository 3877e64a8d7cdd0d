"""Routing and out-of-scope: what the running bot does with a conversation's first message.

Each utterance opens a new conversation on the bot's REST channel; the outcome is read from the
metadata every bot turn ends with: `flow:<name>`, `article:<id>`, `handoff`, `clarify`,
`fallback` (or `smalltalk`, `handoff_offer`). A turn's record keeps the top search score and
article, so `calibrate` can replay other thresholds without asking the bot again.
"""

from __future__ import annotations

import csv
import json
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

from bot.rasa_auth import RasaAuth

# outcomes that answer: wrong ones are false answers (a product answer to a message from
# outside the store's business is one, whatever the catalogue then finds)
ANSWERED = ("article", "flow", "product")
# What acting on a route looks like in a turn's metadata, as the expected-outcomes files say it.
ROUTE_OUTCOMES = {
    "intent:reset_password": "flow:reset_password",
    "intent:track_order": "flow:track_order",
    # the troubleshooting answer ends with an offer of a person: the turn's last metadata
    "intent:reset_email_missing": "handoff_offer",
    "intent:request_human": "handoff",
    "intent:complaint": "handoff",
    "intent:out_of_scope": "fallback",
    "product": "product",
}
KB_PATH = ("article", "clarify", "fallback")  # outcomes the thresholds decide
# CLINC150 domains a store does not serve: their in-scope utterances are out of scope here.
FOREIGN_DOMAINS = ("travel", "auto_and_commute", "home", "utility", "work", "kitchen_and_dining")
# Banking77 intents with a clear store counterpart, and the outcomes that count as correct.
BANKING_STORE = {
    "request_refund": ["article:request-refund", "article:refund-policy"],
    "Refund_not_showing_up": ["article:refund-status"],
    "terminate_account": ["article:delete-account"],
    "edit_personal_details": ["article:edit-account", "article:change-email"],
    "declined_card_payment": ["article:payment-problems"],
    "transaction_charged_twice": ["article:payment-problems"],
    "apple_pay_or_google_pay": ["article:payment-methods"],
    "passcode_forgotten": ["flow:reset_password"],
}
# Banking77 intents about what a bank does and a store does not: near-domain out of scope.
BANKING_FOREIGN = (
    "atm_support",
    "card_swallowed",
    "cash_withdrawal_charge",
    "transfer_timing",
    "beneficiary_not_allowed",
    "pin_blocked",
    "fiat_currency_support",
    "receiving_money",
    "cancel_transfer",
    "wrong_amount_of_cash_received",
    "verify_source_of_funds",
    "get_disposable_virtual_card",
)


@dataclass
class Utterance:
    text: str
    label: str  # the dataset's intent, or "oos"


def outcome_label(meta: dict | None) -> str:
    """The outcome of a turn from its metadata, as the expected-outcomes file spells it."""
    if not meta:
        return "none"
    outcome = meta.get("outcome") or "none"
    if outcome == "flow":
        return f"flow:{meta.get('flow') or meta.get('intent')}"
    if outcome == "article":
        return f"article:{meta.get('article_id')}"
    return outcome


def route_outcome(label: str) -> str:
    """The outcome label of acting on a route (a router label such as `intent:track_order`)."""
    if label.startswith("article:"):
        return label
    return ROUTE_OUTCOMES.get(label, "smalltalk")


def offered(meta: dict | None) -> list[str]:
    """The choices a clarify turn offered, as outcome labels (`article:<id>`, `flow:<name>`)."""
    if not meta or meta.get("outcome") != "clarify":
        return []
    out = []
    for option in meta.get("options") or []:
        if not isinstance(option, dict):
            continue
        label = option.get("label") or (f"article:{option['id']}" if option.get("id") else None)
        if label:
            out.append(route_outcome(label))
    return out


def first_turn(client: httpx.Client, bot_url: str, utterance: Utterance) -> dict:
    """Send one utterance as the first message of a new conversation; return its record.

    The record keeps the router's candidates (the `last_routing` slot), so `calibrate` can
    replay the gate at other thresholds without asking the bot again.
    """
    sender = f"eval-{uuid.uuid4().hex}"
    record = {"text": utterance.text, "label": utterance.label}
    base = bot_url.rstrip("/")
    try:
        response = client.post(
            f"{base}/webhooks/rest/webhook", json={"sender": sender, "message": utterance.text}
        )
        response.raise_for_status()
        messages = response.json()
        tracker = client.get(f"{base}/conversations/{sender}/tracker")
        tracker.raise_for_status()
        slots = tracker.json().get("slots") or {}
    except (httpx.HTTPError, ValueError) as exc:
        return {**record, "outcome": "error", "error": str(exc)}
    metas = [m["custom"] for m in messages if isinstance(m.get("custom"), dict)]
    meta = metas[-1] if metas else None
    top = None
    if meta and meta.get("outcome") in KB_PATH:
        top = meta.get("article_id") or meta.get("top_article")
    return {
        **record,
        "outcome": outcome_label(meta),
        "score": meta.get("score") if meta else None,
        "top_article": top,
        "intent": meta.get("intent") if meta else None,
        "options": offered(meta),
        "routing": slots.get("last_routing"),
    }


def run(
    bot_url: str,
    utterances: list[Utterance],
    concurrency: int = 4,
    timeout: float = 60.0,
    on_done: Callable[[int], None] | None = None,
    token: str | None = None,
) -> list[dict]:
    """Every utterance through the bot (its REST channel, with Rasa's token), a few
    conversations at a time, in input order."""
    auth = RasaAuth(token) if token else None  # a JWT in a header: the API and the channel
    with (
        httpx.Client(timeout=timeout, auth=auth) as client,
        ThreadPoolExecutor(concurrency) as pool,
    ):
        futures = [pool.submit(first_turn, client, bot_url, u) for u in utterances]
        records = []
        for number, future in enumerate(futures, start=1):
            records.append(future.result())
            if on_done:
                on_done(number)
    return records


def load_bitext(path: Path) -> list[Utterance]:
    """Bitext customer-support CSV: the `instruction` and `intent` columns."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"instruction", "intent"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        return [Utterance(row["instruction"], row["intent"]) for row in reader]


def load_banking(path: Path, store: bool) -> list[Utterance]:
    """Banking77 (`text`, `category`): the store-counterpart intents, or the near-domain
    out-of-scope ones (labelled "banking77:<intent>")."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"text", "category"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        rows = list(reader)
    if store:
        return [Utterance(r["text"], r["category"]) for r in rows if r["category"] in BANKING_STORE]
    return [
        Utterance(r["text"], f"banking77:{r['category']}")
        for r in rows
        if r["category"] in BANKING_FOREIGN or r["category"].startswith("top_up_")
    ]


def load_expected(path: Path) -> dict[str, list[str]]:
    """Intent → the outcomes that count as correct (keys starting with '_' are notes)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return {k: list(v) for k, v in data.items() if not k.startswith("_")}


def load_oos(clinc_dir: Path) -> list[Utterance]:
    """CLINC150 oos_val, plus the val utterances of the domains a store does not serve."""
    data = json.loads((clinc_dir / "data_full.json").read_text(encoding="utf-8"))
    domains = json.loads((clinc_dir / "domains.json").read_text(encoding="utf-8"))
    foreign = {intent for d in FOREIGN_DOMAINS for intent in domains[d]}
    items = [Utterance(text, "oos") for text, _ in data["oos_val"]]
    items += [
        Utterance(text, f"clinc:{intent}") for text, intent in data["val"] if intent in foreign
    ]
    return items


def load_lines(path: Path) -> list[Utterance]:
    """One utterance per line (for a custom out-of-scope set)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [Utterance(line.strip(), "custom") for line in lines if line.strip()]


def reached(record: dict, expected: list[str]) -> bool:
    """Right first, or the right one among the choices offered (a second message away)."""
    return record["outcome"] in expected or (
        record["outcome"] == "clarify" and any(o in expected for o in record.get("options") or [])
    )


def _rates(rows: list[dict]) -> dict:
    n = len(rows)
    return {
        "accuracy": round(sum(r["ok"] for r in rows) / n, 4),
        "reached_in_two": round(sum(r["reached"] for r in rows) / n, 4),
        "wrong_answer_rate": round(sum(r["wrong"] for r in rows) / n, 4),
        "clarify_rate": round(sum(r["outcome"] == "clarify" for r in rows) / n, 4),
        "refusal_rate": round(sum(r["outcome"] == "fallback" for r in rows) / n, 4),
        "n": n,
    }


def score_routing(records: Iterable[dict], expected: dict[str, list[str]]) -> dict:
    """What customers feel, overall and per intent: the first reply right (`accuracy`), right
    first or among the choices offered (`reached_in_two`), an article or a flow that is not an
    expected one (`wrong_answer_rate`), a choice offered, a refusal; errors, and the commonest
    confusions."""
    rows: list[dict] = []
    per_intent: dict[str, list[dict]] = defaultdict(list)
    confusions: Counter = Counter()
    for record in records:
        label = record["label"]
        if label not in expected:
            continue
        ok = record["outcome"] in expected[label]
        row = {
            "outcome": record["outcome"],
            "ok": ok,
            "reached": reached(record, expected[label]),
            "wrong": not ok and record["outcome"].split(":", 1)[0] in ANSWERED,
        }
        rows.append(row)
        per_intent[label].append(row)
        if not ok:
            confusions[(label, record["outcome"])] += 1
    if not rows:
        raise ValueError("no utterance has an intent in the expected-outcomes file")
    overall = _rates(rows)
    return {
        "utterances": overall.pop("n"),
        **overall,
        "errors": sum(r["outcome"] == "error" for r in rows),
        "per_intent": {k: _rates(v) for k, v in sorted(per_intent.items())},
        "confusions": [
            {"intent": i, "outcome": o, "count": n} for (i, o), n in confusions.most_common(15)
        ],
    }


def score_oos(records: Iterable[dict]) -> dict:
    """The false-answer rate (out-of-scope messages that got an article or started a flow) and
    the choice rate (they were offered a choice of articles or flows), overall and by source."""
    records = list(records)
    if not records:
        raise ValueError("no out-of-scope utterances")
    outcomes = Counter(r["outcome"].split(":", 1)[0] for r in records)
    false = [r for r in records if r["outcome"].split(":", 1)[0] in ANSWERED]
    by_source: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for r in records:
        row = by_source[oos_source(r["label"])]
        row[0] += r["outcome"].split(":", 1)[0] in ANSWERED
        row[1] += r["outcome"] == "clarify"
        row[2] += 1
    return {
        "utterances": len(records),
        "false_answer_rate": round(len(false) / len(records), 4),
        "choice_rate": round(outcomes.get("clarify", 0) / len(records), 4),
        "by_source": {
            k: {
                "false_answer_rate": round(v[0] / v[2], 4),
                "choice_rate": round(v[1] / v[2], 4),
                "n": v[2],
            }
            for k, v in sorted(by_source.items())
        },
        "outcomes": dict(outcomes.most_common()),
        "errors": outcomes.get("error", 0),
        "false_answers": [{"text": r["text"], "outcome": r["outcome"]} for r in false[:25]],
    }


def oos_source(label: str) -> str:
    """Which out-of-scope set a record came from: banking77 (near-domain) or clinc."""
    if label == "custom":
        return label
    return "banking77" if label.startswith("banking77:") else "clinc"


def nearest_misses(records: Iterable[dict], expected: dict[str, list[str]], n: int = 3) -> dict:
    """Per article, the missed utterances the router came closest to sending there: the
    phrasings a writer could cover (in their own words) to fix the most."""
    misses: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        wanted = [o for o in expected.get(record["label"], []) if o.startswith("article:")]
        if not wanted or record["outcome"] in expected[record["label"]]:
            continue
        routes = (record.get("routing") or {}).get("routes") or []
        for outcome in wanted:
            p = next((r["probability"] for r in routes if r["label"] == outcome), 0.0)
            misses[outcome.split(":", 1)[1]].append(
                {"text": record["text"], "outcome": record["outcome"], "probability": p}
            )
    return {
        article: sorted(rows, key=lambda r: -r["probability"])[:n]
        for article, rows in sorted(misses.items())
    }


def save_records(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def load_records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
