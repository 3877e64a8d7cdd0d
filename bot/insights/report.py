"""The insights report: how conversations ended, the rates that matter, articles, the queue.

One function builds one dict (`build_report`); the /insights page, its JSON twin and
`bot insights report` all show that dict. It reads only the queue's database: the turns the
recorder wrote (bot.insights.recorder) and the handoff tickets. Test traffic is left out unless
asked for. Definitions are in DEFINITIONS, shown on the page next to each figure.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Engine, select

from bot.handoff.schema import REASONS, tickets
from bot.insights.recorder import is_test
from bot.insights.schema import turns

ENDINGS = ("resolved", "handed_off", "abandoned", "open", "no_question")
# What the bot did with a customer's request (not small talk, not a message passed to an agent).
REQUEST_OUTCOMES = {"article", "clarify", "fallback", "flow", "handoff", "handoff_offer"}
DONE_FLOWS = {"found", "sent"}
CLOSING = {"thanks", "goodbye", "greet"}
CLOSING_CONFIDENCE = 0.8
DEFINITIONS = {
    "resolved": (
        "The bot's last reply to the customer's last request was an answer with no "
        '"not helpful" vote after it, or a finished flow (order found, reset link sent), '
        "and no person was needed."
    ),
    "handed_off": "A ticket was opened for a person (by its reason).",
    "abandoned": 'The last request went unresolved ("can\'t answer", a choice of articles not '
    'taken, a "not helpful" vote, a flow not finished) and the customer left without a person.',
    "open": "A message in the last {idle} minutes and no ticket yet: it may still end any way.",
    "no_question": "Only greetings or small talk; left out of the rates.",
    "containment": "Conversations that ended without a person ÷ conversations with a request "
    "that have ended.",
    "automated_resolution": "Conversations resolved by the bot ÷ conversations with a request "
    "that have ended.",
    "handoff_rate": "Conversations handed off ÷ conversations with a request that have ended; "
    "by reason, the same with that reason.",
    "cant_answer_rate": "Requests the bot said it could not answer ÷ all requests (messages "
    "it acted on).",
    "helpful": '"Helpful" votes ÷ all votes (helpful and not helpful) given to answers.',
    "csat": "Average of the customers' 1-5 ratings after an agent resolved their chat; "
    "satisfied = share of 4 and 5.",
    "claim_time": "From the ticket's creation to an agent claiming it; a ticket still waiting "
    "counts with its wait so far.",
    "after_hours": "Tickets opened outside business hours or with nobody signed in (answered "
    "by email).",
    "emails": "Emails the bot queued in the period (handoffs, notices, answers, password "
    "resets) by state; a failed one was given up after every retry.",
    "resolve_time": "From the ticket's creation to its resolution (or return to the bot).",
}


def build_report(
    engine: Engine,
    *,
    since: dt.datetime,
    until: dt.datetime,
    now: dt.datetime | None = None,
    idle_minutes: int = 30,
    test_prefixes: Iterable[str] = (),
    include_test: bool = False,
    articles: list[dict] | None = None,
    only: set[str] | None = None,
) -> dict[str, Any]:
    """Everything the insights page shows for conversations that began in [since, until)
    (`only`: just these conversations)."""
    now = now or dt.datetime.now(dt.UTC)
    prefixes = tuple(test_prefixes)
    with engine.connect() as conn:
        turn_rows = [
            dict(r)
            for r in conn.execute(
                select(turns)
                .where(turns.c.at >= since, turns.c.at < until)
                .order_by(turns.c.conversation_id, turns.c.event_id)
            ).mappings()
        ]
        ticket_rows = [dict(r) for r in conn.execute(select(tickets)).mappings()]
        mail = _mail(conn, since, until)
    if not include_test:
        turn_rows = [t for t in turn_rows if not t["test"]]
        ticket_rows = [t for t in ticket_rows if not is_test(t["conversation_id"], prefixes)]
    if only is not None:
        turn_rows = [t for t in turn_rows if t["conversation_id"] in only]
        ticket_rows = [t for t in ticket_rows if t["conversation_id"] in only]
    for row in turn_rows:
        row["at"] = _utc(row["at"])
    for row in ticket_rows:
        for key in ("created_at", "claimed_at", "resolved_at", "csat_at"):
            if row.get(key) is not None:
                row[key] = _utc(row[key])
    by_conversation: dict[str, list[dict]] = defaultdict(list)
    for row in turn_rows:
        by_conversation[row["conversation_id"]].append(row)
    tickets_of: dict[str, list[dict]] = defaultdict(list)
    for ticket in sorted(ticket_rows, key=lambda t: t["created_at"]):
        tickets_of[ticket["conversation_id"]].append(ticket)
    idle = dt.timedelta(minutes=idle_minutes)
    endings = {
        cid: ending(rows, tickets_of.get(cid, []), now, idle)
        for cid, rows in by_conversation.items()
    }
    period_tickets = [t for t in ticket_rows if since <= t["created_at"] < until]
    return {
        "period": {
            "since": since.isoformat(),
            "until": until.isoformat(),
            "generated": now.isoformat(timespec="seconds"),
            "include_test": include_test,
        },
        "idle_minutes": idle_minutes,
        "definitions": {k: v.format(idle=idle_minutes) for k, v in DEFINITIONS.items()},
        "conversations": _totals(endings),
        "rates": _rates(endings, turn_rows, period_tickets),
        "days": _days(by_conversation, endings, since, until),
        "answers": _answers(turn_rows),
        "csat": _csat(period_tickets),
        "articles": _articles(by_conversation, endings, articles or []),
        "queue": _queue(ticket_rows, period_tickets, now),
        "mail": mail,
    }


def ending(rows: list[dict], conversation_tickets: list[dict], now: dt.datetime, idle) -> dict:
    """How one conversation ended: {"ending": one of ENDINGS, "reason": handoff reason or None}."""
    first = rows[0]["at"]
    handed = [t for t in conversation_tickets if t["created_at"] >= first - dt.timedelta(seconds=5)]
    reason = next((r["handoff_reason"] for r in rows if r.get("handoff_reason")), None)
    if handed or reason:
        return {"ending": "handed_off", "reason": handed[0]["reason"] if handed else reason}
    requests = [r for r in rows if is_request(r)]
    if not requests:
        so_far = "no_question"
    else:
        so_far = "resolved" if answered(requests[-1]) else "abandoned"
    if now - rows[-1]["at"] < idle:
        return {"ending": "open", "reason": None, "so_far": so_far}
    return {"ending": so_far, "reason": None}


def answered(row: dict) -> bool:
    """An answer with no 👎 after it, or a finished flow."""
    if row["outcome"] == "article":
        return row.get("feedback") != "down"
    return row["outcome"] == "flow" and row.get("flow_result") in DONE_FLOWS


def is_request(row: dict) -> bool:
    """A customer message the bot acted on as a request (not 👍/👎, small talk or a relay).

    "thanks, that's all" after an answer is a goodbye even when the bot missed it (said it could
    not answer): the NLU's confident small-talk intent keeps it from undoing the answer before.
    """
    if row["kind"] not in ("message", "button") or row.get("outcome") not in REQUEST_OUTCOMES:
        return False
    closing = row.get("intent") in CLOSING and (row.get("confidence") or 0) >= CLOSING_CONFIDENCE
    return not (closing and row["outcome"] == "fallback")


def _totals(endings: dict[str, dict]) -> dict[str, Any]:
    counts = Counter(e["ending"] for e in endings.values())
    reasons = Counter(e["reason"] for e in endings.values() if e["ending"] == "handed_off")
    return {
        "total": len(endings),
        **{name: counts.get(name, 0) for name in ENDINGS},
        "handed_off_by_reason": {r: reasons.get(r, 0) for r in REASONS if reasons.get(r)},
        # where the open ones stand now: answered, unanswered, or nothing asked yet
        "open_so_far": dict(Counter(e["so_far"] for e in endings.values() if e.get("so_far"))),
    }


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _rates(endings: dict[str, dict], rows: list[dict], period_tickets: list[dict]) -> dict:
    counts = Counter(e["ending"] for e in endings.values())
    ended = sum(counts[n] for n in ("resolved", "handed_off", "abandoned"))
    reasons = Counter(e["reason"] for e in endings.values() if e["ending"] == "handed_off")
    requests = [r for r in rows if is_request(r)]
    cant = sum(1 for r in requests if r["outcome"] == "fallback")
    up = sum(1 for r in rows if r.get("feedback") == "up")
    down = sum(1 for r in rows if r.get("feedback") == "down")
    scores = [t["csat_score"] for t in period_tickets if t.get("csat_score")]
    return {
        "conversations_ended": ended,
        "containment": _share(ended - counts["handed_off"], ended),
        "automated_resolution": _share(counts["resolved"], ended),
        "handoff_rate": _share(counts["handed_off"], ended),
        "handoff_rate_by_reason": {r: _share(n, ended) for r, n in sorted(reasons.items())},
        "abandoned_rate": _share(counts["abandoned"], ended),
        "requests": len(requests),
        "cant_answer": cant,
        "cant_answer_rate": _share(cant, len(requests)),
        "helpful": _share(up, up + down),
        "csat": round(statistics.fmean(scores), 2) if scores else None,
    }


def _days(by_conversation, endings, since: dt.datetime, until: dt.datetime) -> list[dict]:
    days: dict[str, Counter] = {}
    day = since.date()
    while day < until.date() or (day == until.date() and until.time() != dt.time()):
        days[day.isoformat()] = Counter()
        day += dt.timedelta(days=1)
    for cid, rows in by_conversation.items():
        key = rows[0]["at"].date().isoformat()
        days.setdefault(key, Counter())[endings[cid]["ending"]] += 1
    out = []
    for key in sorted(days):
        counts = days[key]
        ended = sum(counts[n] for n in ("resolved", "handed_off", "abandoned"))
        out.append(
            {
                "day": key,
                **{name: counts.get(name, 0) for name in ENDINGS},
                "containment": _share(ended - counts["handed_off"], ended),
            }
        )
    return out


def _answers(rows: list[dict]) -> dict:
    served = [r for r in rows if r.get("outcome") == "article"]
    return {
        "served": len(served),
        "up": sum(1 for r in served if r.get("feedback") == "up"),
        "down": sum(1 for r in served if r.get("feedback") == "down"),
        "clarify": sum(1 for r in rows if is_request(r) and r["outcome"] == "clarify"),
        "flows": dict(
            Counter(
                f"{r['flow']}:{r['flow_result']}"
                for r in rows
                if r.get("flow") and r.get("flow_result") and r["kind"] != "feedback"
            )
        ),
    }


def _csat(period_tickets: list[dict]) -> dict:
    rated = [t for t in period_tickets if t.get("csat_score")]
    resolved = [t for t in period_tickets if t["status"] in ("resolved", "returned_to_bot")]
    scores = [int(t["csat_score"]) for t in rated]
    comments = sorted(
        (t for t in rated if t.get("csat_comment")), key=lambda t: t["csat_at"], reverse=True
    )
    return {
        "responses": len(scores),
        "asked": len(resolved),
        "response_rate": _share(len(scores), len(resolved)),
        "average": round(statistics.fmean(scores), 2) if scores else None,
        "satisfied": _share(sum(1 for s in scores if s >= 4), len(scores)),
        "distribution": {str(s): scores.count(s) for s in range(1, 6)},
        "comments": [
            {"ticket_id": t["id"], "score": t["csat_score"], "comment": t["csat_comment"]}
            for t in comments[:10]
        ],
    }


def _articles(by_conversation, endings, known: list[dict]) -> list[dict]:
    stats: dict[str, Counter] = defaultdict(Counter)
    for cid, rows in by_conversation.items():
        served = []
        for row in rows:
            if row.get("outcome") == "article" and row.get("article_id"):
                stats[row["article_id"]]["served"] += 1
                if row.get("feedback"):
                    stats[row["article_id"]][row["feedback"]] += 1
                served.append(row["article_id"])
        if endings[cid]["ending"] == "handed_off":
            for article_id in set(served):
                stats[article_id]["handoffs_after"] += 1
    info = {a["id"]: a for a in known}
    out = []
    for article_id in sorted(set(stats) | set(info)):
        s = stats.get(article_id, Counter())
        meta = info.get(article_id, {})
        out.append(
            {
                "id": article_id,
                "title": meta.get("title") or article_id,
                "url": meta.get("url"),
                "updated": meta.get("updated"),
                "in_index": article_id in info,
                "served": s["served"],
                "up": s["up"],
                "down": s["down"],
                "helpful": _share(s["up"], s["up"] + s["down"]),
                "handoffs_after": s["handoffs_after"],
            }
        )
    # the articles to rewrite first: most 👎 and handoffs after them, then the most served
    out.sort(key=lambda a: (-(a["down"] + a["handoffs_after"]), -a["served"], a["id"]))
    return out


def _quantiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"median": None, "p90": None}
    values = sorted(values)
    p90 = values[min(len(values) - 1, int(round(0.9 * (len(values) - 1))))]
    return {"median": round(statistics.median(values), 1), "p90": round(p90, 1)}


def _mail(conn, since: dt.datetime, until: dt.datetime) -> dict:
    """Emails queued in the period by state and kind, and the ones that failed for good."""
    from bot.mail.schema import outbox

    rows = conn.execute(
        select(
            outbox.c.id,
            outbox.c.kind,
            outbox.c.status,
            outbox.c.subject,
            outbox.c.recipients,
            outbox.c.attempts,
            outbox.c.last_error,
            outbox.c.ticket_id,
            outbox.c.created_at,
        ).where(outbox.c.created_at >= since, outbox.c.created_at < until)
    ).mappings()
    counts = {"queued": 0, "sending": 0, "sent": 0, "failed": 0}
    kinds: dict[str, int] = defaultdict(int)
    failed = []
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
        kinds[row["kind"]] += 1
        if row["status"] == "failed":
            failed.append(
                {
                    "id": row["id"],
                    "kind": row["kind"],
                    "subject": row["subject"],
                    "to": ", ".join(row["recipients"]),
                    "attempts": row["attempts"],
                    "error": row["last_error"],
                    "ticket_id": row["ticket_id"],
                    "created_at": _utc(row["created_at"]).isoformat(),
                }
            )
    return {**counts, "by_kind": dict(sorted(kinds.items())), "failed_emails": failed[-20:]}


def _queue(all_tickets: list[dict], period_tickets: list[dict], now: dt.datetime) -> dict:
    def times(group: list[dict]) -> dict:
        # a ticket nobody claimed yet has waited at least until now: leaving it out would
        # report the fast claims and hide the customers still waiting
        claim = [
            ((t["claimed_at"] or now) - t["created_at"]).total_seconds()
            for t in group
            if t["claimed_at"] or t["status"] == "open"
        ]
        resolve = [
            (t["resolved_at"] - t["created_at"]).total_seconds() for t in group if t["resolved_at"]
        ]
        return {
            "tickets": len(group),
            "waiting": sum(1 for t in group if t["status"] == "open"),
            "after_hours": sum(1 for t in group if t.get("after_hours")),
            "claim_seconds": _quantiles(claim),
            "resolve_seconds": _quantiles(resolve),
        }

    by_reason: dict[str, list[dict]] = defaultdict(list)
    for ticket in period_tickets:
        by_reason[ticket["reason"]].append(ticket)
    waiting = [t for t in all_tickets if t["status"] == "open"]
    return {
        "waiting": len(waiting),
        "longest_wait_seconds": round(
            max(((now - t["created_at"]).total_seconds() for t in waiting), default=0), 1
        )
        if waiting
        else None,
        "claimed": sum(1 for t in all_tickets if t["status"] == "claimed"),
        "all": times(period_tickets),
        "by_reason": {r: times(by_reason[r]) for r in REASONS if by_reason.get(r)},
    }


def _utc(moment: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes: they were stored in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def failed_questions(
    engine: Engine,
    *,
    since: dt.datetime,
    until: dt.datetime,
    include_test: bool = False,
) -> list[dict]:
    """The customers' words the bot failed on: can't answer, a choice offered, an answer 👎'd."""
    query = select(
        turns.c.conversation_id,
        turns.c.text,
        turns.c.at,
        turns.c.outcome,
        turns.c.feedback,
        turns.c.article_id,
        turns.c.top_article,
    ).where(
        turns.c.at >= since,
        turns.c.at < until,
        turns.c.kind == "message",
        turns.c.text.is_not(None),
    )
    if not include_test:
        query = query.where(turns.c.test.is_(False))
    out = []
    with engine.connect() as conn:
        for row in conn.execute(query.order_by(turns.c.at, turns.c.id)).mappings():
            if row["outcome"] == "fallback":
                kind = "cant_answer"
            elif row["outcome"] == "clarify":
                kind = "clarify"
            elif row["outcome"] == "article" and row["feedback"] == "down":
                kind = "thumbs_down"
            else:
                continue
            out.append(
                {
                    "conversation_id": row["conversation_id"],
                    "text": row["text"],
                    "at": _utc(row["at"]),
                    "kind": kind,
                    "article_id": row["article_id"] or row["top_article"],
                }
            )
    return out


def not_sold_questions(
    engine: Engine,
    *,
    since: dt.datetime,
    until: dt.datetime,
    include_test: bool = False,
) -> list[dict]:
    """The customers' words the bot answered "we don't sell that" to (catalogue gaps)."""
    query = select(turns.c.conversation_id, turns.c.text, turns.c.at).where(
        turns.c.at >= since,
        turns.c.at < until,
        turns.c.kind == "message",
        turns.c.text.is_not(None),
        turns.c.not_sold.is_(True),
    )
    if not include_test:
        query = query.where(turns.c.test.is_(False))
    with engine.connect() as conn:
        return [
            {
                "conversation_id": row["conversation_id"],
                "text": row["text"],
                "at": _utc(row["at"]),
                "kind": "not_sold",
            }
            for row in conn.execute(query.order_by(turns.c.at, turns.c.id)).mappings()
        ]
