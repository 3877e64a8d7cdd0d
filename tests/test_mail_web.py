"""The widget's availability line and the inbound-email webhook, over HTTP."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from bot.handoff import NewTicket
from bot.handoff.auth import hash_token
from bot.mail.inbound import inbound_token, reply_address
from bot.settings import Settings
from bot.web.app import create_app

ALICE = "alice-token-0123456789"


def _app(queue_url: str, tmp_path: Path, **extra):
    settings = Settings(
        settings_file=tmp_path / "none.toml",
        data_dir=tmp_path / "var",
        database_url=queue_url,
        agent_tokens={"alice": hash_token(ALICE)},
        **extra,
    )
    return create_app(settings)


def test_the_widget_learns_whether_people_are_there(queue_url: str, tmp_path: Path) -> None:
    app = _app(queue_url, tmp_path)
    with TestClient(app, base_url="https://testserver") as client:
        nobody = client.get("/api/availability").json()
        assert nobody["state"] == "nobody" and nobody["live"] is False
        assert "answer comes by email" in nobody["text"] and "agents" not in nobody
        app.state.sessions.store.create("alice", "x")
        assert client.get("/api/availability").json()["live"] is True
        assert client.get("/api/availability", params={"tz": "No/Such_Zone"}).status_code == 200
        assert client.get("/api/availability", params={"tz": "<script>"}).status_code == 422
    app.state.queue.close()


def test_outside_hours_the_line_says_when_people_are_back_in_the_customers_time(
    queue_url: str, tmp_path: Path
) -> None:
    team = ZoneInfo("America/New_York")
    today = dt.datetime.now(team).date()
    off = [str(today + dt.timedelta(days=d)) for d in (-1, 0, 1)]
    app = _app(
        queue_url,
        tmp_path,
        business_hours={
            d: "09:00-17:00" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
        },
        business_holidays=off,
    )
    with TestClient(app, base_url="https://testserver") as client:
        app.state.sessions.store.create("alice", "x")  # signed in, but the team is off today
        got = client.get("/api/availability", params={"tz": "Europe/Paris"}).json()
        assert got["state"] == "closed" and not got["live"]
        back = dt.datetime.fromisoformat(got["back_at"])
        assert back.astimezone(team).date() == today + dt.timedelta(days=2)
        assert back.astimezone(team).hour == 9
        assert "(your time)" in got["text"] and "3:00 PM" in got["text"]  # 09:00 New York
    app.state.queue.close()


def test_an_emailed_reply_reaches_the_tickets_chat(queue_url: str, tmp_path: Path) -> None:
    secret = "inbound-secret-0123456789"
    app = _app(
        queue_url, tmp_path, inbound_mail_domain="reply.shop.example", inbound_mail_secret=secret
    )
    with TestClient(app, base_url="https://testserver") as client:
        queue = app.state.queue
        ticket, _ = queue.create(NewTicket(conversation_id="conv-in", reason="complaint"))
        url = f"/api/mail/inbound?token={inbound_token(secret)}"
        address = reply_address(secret, "reply.shop.example", ticket.id)
        form = {
            "recipient": address,
            "sender": "kim@shop.example",
            "body-plain": "We're sending a new one today.\n\nOn Mon, Bot wrote:\n> old text",
        }
        assert client.post(url, data=form).json() == {"ticket_id": ticket.id, "added": True}
        last = queue.get(ticket.id).transcript[-1]
        assert (last["sender"], last["text"]) == ("agent", "We're sending a new one today.")
        # Postmark's JSON form works too
        body = {
            "OriginalRecipient": address,
            "From": "kim@shop.example",
            "TextBody": "And a refund.",
        }
        assert client.post(url, json=body).status_code == 200
        assert client.post("/api/mail/inbound?token=wrong", data=form).status_code == 403
        forged = {**form, "recipient": address.replace(f"+{ticket.id}.", f"+{ticket.id + 1}.")}
        assert client.post(url, data=forged).status_code == 403
        empty = client.post(url, data={"recipient": address})
        assert empty.status_code == 422 and "no text" in empty.json()["detail"]
        assert (
            client.post(
                url, content=b"[1]", headers={"content-type": "application/json"}
            ).status_code
            == 422
        )
    app.state.queue.close()


def test_without_an_inbound_domain_the_webhook_is_not_there(queue_url: str, tmp_path: Path) -> None:
    app = _app(queue_url, tmp_path)
    with TestClient(app, base_url="https://testserver") as client:
        response = client.post("/api/mail/inbound", data={"recipient": "x@y"})
        assert response.status_code == 404 and "inbound_mail_domain" in response.json()["detail"]
    app.state.queue.close()


def test_the_inbox_marks_after_hours_tickets_and_their_emails(
    queue_url: str, tmp_path: Path
) -> None:
    import re

    app = _app(queue_url, tmp_path, handoff_email_to="help@desk.example")
    with TestClient(app, base_url="https://testserver") as client:
        queue = app.state.queue
        late, _ = queue.create(
            NewTicket(conversation_id="conv-late", reason="customer_request", after_hours=True)
        )
        form = client.get("/inbox/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
        client.post("/inbox/login", data={"token": ALICE, "csrf": csrf, "next": "/inbox"})
        [row] = client.get("/inbox.json").json()["tickets"]
        assert row["id"] == late.id and row["after_hours"] is True and row["email"] == "waiting"
        page = client.get("/inbox").text
        assert "after hours" in page and "email waiting" in page
        assert "your reply here is emailed to them" in client.get(f"/inbox/tickets/{late.id}").text
    app.state.queue.close()


def test_the_lead_retries_an_email_that_failed_for_good_from_insights(
    queue_url: str, tmp_path: Path
) -> None:
    import re
    from email.message import EmailMessage

    from bot.mail.mailer import open_outbox

    app = _app(queue_url, tmp_path, mail_max_attempts=1)
    with TestClient(app, base_url="https://testserver") as client:
        outbox = open_outbox(app.state.insights.settings, app.state.queue.engine)
        message = EmailMessage()
        message["From"], message["To"] = "support@shop.example", "help@desk.example"
        message["Subject"], message["Message-ID"] = "[Ticket #1] Complaint", "<t1@shop.example>"
        message.set_content("body")
        email_id = outbox.enqueue(message, "handoff")
        [claimed] = outbox.claim(10)
        assert outbox.failed(claimed, "550 mailbox unavailable") == "failed"
        retry = f"/insights/mail/{email_id}/retry"
        # not signed in, then signed in without the form's token: refused
        assert client.post(retry, follow_redirects=False).status_code == 401
        form = client.get("/inbox/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
        client.post("/inbox/login", data={"token": ALICE, "csrf": csrf, "next": "/inbox"})
        page = client.get("/insights").text
        assert "550 mailbox unavailable" in page and f'action="{retry}"' in page
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        assert client.post(retry, data={"csrf": "forged"}).status_code == 403
        assert outbox.get(email_id).status == "failed"
        done = client.post(retry, data={"csrf": csrf, "back": "days=7"}, follow_redirects=False)
        assert done.status_code == 303 and done.headers["location"] == "/insights?days=7#mail-h"
        assert outbox.get(email_id).status == "queued" and outbox.get(email_id).attempts == 0
        # queued again: a second click is a conflict, an unknown id is not found, never a 500
        again = client.post(retry, data={"csrf": csrf})
        assert again.status_code == 409 and "queued, not failed" in again.json()["detail"]
        assert client.post("/insights/mail/999999/retry", data={"csrf": csrf}).status_code == 404
        assert client.post("/insights/mail/abc/retry", data={"csrf": csrf}).status_code == 422
        bad_back = client.post(retry, data={"csrf": csrf, "back": "//evil.example"})
        assert bad_back.status_code == 422
        assert f'action="{retry}"' not in client.get("/insights").text  # no longer failed
    app.state.queue.close()
