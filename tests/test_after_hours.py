"""Business hours and the after-hours handoff's decisions, without Rasa: when people are back,
what the customer is told, and the email the answer goes to (typos asked about, never kept)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from bot.dialogue import replies
from bot.dialogue.handoff import after_hours_message, handed_off_away, relayed
from bot.handoff.availability import availability
from bot.hours import BusinessHours, customer_zone
from bot.mail.typos import suggest

NY = ZoneInfo("America/New_York")
WEEK = {d: "08:00-20:00" for d in ("mon", "tue", "wed", "thu", "fri", "sat")} | {"sun": "closed"}


def hours(**extra) -> BusinessHours:
    return BusinessHours.parse(WEEK, "America/New_York", extra.get("holidays", []))


def test_sunday_night_is_closed_and_people_are_back_monday_morning() -> None:
    sunday_0240 = dt.datetime(2026, 12, 6, 2, 40, tzinfo=NY)  # the Sunday, 02:40 ET
    h = hours()
    assert not h.is_open(sunday_0240)
    assert h.next_open(sunday_0240) == dt.datetime(2026, 12, 7, 8, 0, tzinfo=NY)
    assert h.is_open(dt.datetime(2026, 12, 7, 8, 0, tzinfo=NY))
    assert not h.is_open(dt.datetime(2026, 12, 7, 20, 0, tzinfo=NY))  # the end is excluded


def test_holidays_and_split_days_are_read_and_mistakes_are_named() -> None:
    h = BusinessHours.parse(
        {"mon": "08:00-12:00, 13:00-17:00", "tue": "00:00-24:00"},
        "Europe/Paris",
        ["2026-12-07 Staff day"],
    )
    paris = ZoneInfo("Europe/Paris")
    # Monday 7th is a holiday: people are back when Tuesday (open all day) begins
    assert h.next_open(dt.datetime(2026, 12, 7, 9, tzinfo=paris)) == dt.datetime(
        2026, 12, 8, 0, 0, tzinfo=paris
    )
    assert not h.is_open(dt.datetime(2026, 12, 14, 12, 30, tzinfo=paris))  # lunch
    assert h.describe_week()[0] == ("Monday", "08:00-12:00, 13:00-17:00")
    for bad, said in [
        ({"mon": "8-17"}, "business_hours.mon: '8-17' is not a span"),
        ({"funday": "08:00-17:00"}, "'funday' is not a weekday"),
        ({"mon": "17:00-08:00"}, "ends before it starts"),
    ]:
        with pytest.raises(ValueError, match=said):
            BusinessHours.parse(bad, "UTC")
    with pytest.raises(ValueError, match="not a time zone"):
        BusinessHours.parse({}, "Mars/Olympus")
    with pytest.raises(ValueError, match="not a date"):
        BusinessHours.parse({}, "UTC", ["Christmas"])


def test_open_needs_someone_signed_in() -> None:
    monday_noon = dt.datetime(2026, 12, 7, 12, tzinfo=NY)
    assert availability(hours(), 1, monday_noon).live
    assert availability(hours(), 0, monday_noon).state == "nobody"
    assert availability(hours(), 0, monday_noon, need_agents=False).live
    closed = availability(hours(), 3, dt.datetime(2026, 12, 6, 2, 40, tzinfo=NY))
    assert closed.state == "closed" and closed.back_at.hour == 8


def test_when_people_are_back_is_said_in_the_customers_time() -> None:
    now = dt.datetime(2026, 12, 6, 2, 40, tzinfo=NY)
    back = dt.datetime(2026, 12, 7, 8, 0, tzinfo=NY)
    assert replies.when_back(back, now, None) == "tomorrow at 8:00 AM (EST)"
    tokyo = customer_zone({"timezone": "Asia/Tokyo"})
    assert replies.when_back(back, now, tokyo) == "tomorrow at 10:00 PM (your time)"
    later = dt.datetime(2026, 12, 10, 8, 0, tzinfo=NY)
    assert replies.when_back(later, now, None) == "on Thursday, December 10 at 8:00 AM (EST)"
    for wrong in ("Not/AZone", "America", "Europe/", "-", "/", "a" * 65, 7):
        assert customer_zone({"timezone": wrong}) is None, wrong
    assert customer_zone(None) is None


def test_the_after_hours_handoff_promises_no_queue_and_asks_for_an_email() -> None:
    plan = handed_off_away("request_human", "customer_request", 12, "tomorrow at 8:00 AM", None)
    [said] = plan.says
    assert "queue" not in said.text and "shortly" not in said.text
    assert "back tomorrow at 8:00 AM" in said.text and "#12" in said.text
    assert said.text.endswith(replies.ASK_EMAIL_FOR_ANSWER)
    assert said.meta["state"] == "after_hours" and said.meta["position"] is None
    assert plan.slots["handoff_active"] is True
    known = handed_off_away("complaint", "complaint", 13, None, "ana@example.com")
    assert replies.AWAY_NOBODY in known.says[0].text
    assert known.says[0].text.endswith("They'll answer by email at ana@example.com.")


@pytest.mark.parametrize(
    ("typed", "fixed"),
    [
        ("maya@gmial.com", "maya@gmail.com"),
        ("maya@gmail.con", "maya@gmail.com"),
        ("maya@hotmial.com", "maya@hotmail.com"),
        ("maya@yahoo.cmo", "maya@yahoo.com"),
        ("maya@outlok.com", "maya@outlook.com"),
        ("maya@gmail.com", None),
        ("maya@northwind-goods.com", None),  # a company's own domain is never "corrected"
        ("maya@acme.co", None),
    ],
)
def test_obvious_domain_typos_are_suggested(typed: str, fixed: str | None) -> None:
    assert suggest(typed) == fixed


def test_an_email_for_the_answer_is_checked_before_it_is_kept() -> None:
    def step(text, emails=(), ticket_email=None, last=None):
        return after_hours_message("inform", 7, text, list(emails), ticket_email, last, False)

    typo = step("it's maya@gmial.com")
    assert typo.keep_email is None
    assert typo.suggested == {"typed": "maya@gmial.com", "suggestion": "maya@gmail.com"}
    assert [b.title for b in typo.plan.says[0].buttons] == [
        "Yes, maya@gmail.com",
        "No, maya@gmial.com is right",
    ]
    # the customer insists on what they typed: that is their address
    insisted = step("maya@gmial.com", last=typo.suggested)
    assert insisted.keep_email == "maya@gmial.com"
    fixed = step('/inform{"email": "maya@gmail.com"}', ["maya@gmail.com"], last=typo.suggested)
    assert fixed.keep_email == "maya@gmail.com"
    assert "maya@gmail.com" in fixed.plan.says[0].text
    assert step("maya@ something").plan.says[0].text == replies.EMAIL_NOT_VALID
    # typed instead of clicked: "yes" is the suggestion, "no, it's right" the address as typed
    for yes, intent in [("yes", "affirm"), ("yep", "affirm"), ("correct", None)]:
        typed = after_hours_message(intent, 7, yes, [], None, typo.suggested, False)
        assert typed.keep_email == "maya@gmail.com", yes
        assert "maya@gmail.com" in typed.plan.says[0].text, yes
    for no, intent in [("no", "deny"), ("no, it's right", "deny")]:
        typed = after_hours_message(intent, 7, no, [], None, typo.suggested, False)
        assert typed.keep_email == "maya@gmial.com", no
    # once an address is kept, a later "yes" is only relayed
    later = after_hours_message("affirm", 7, "yes", [], "maya@gmail.com", typo.suggested, True)
    assert later.keep_email is None
    relayed_text = step("also the box was wet").plan.says[0].text
    assert relayed_text == replies.RELAYED_NO_EMAIL
    known = step("anything new?", ticket_email="maya@gmail.com").plan.says[0].text
    assert known == replies.RELAYED_FOR_EMAIL.format(email="maya@gmail.com")


def test_after_hours_the_bot_still_answers_what_it_can_and_the_team_gets_it_too() -> None:
    def step(intent, text, said_before=False):
        return after_hours_message(intent, 7, text, [], None, None, said_before).plan

    for intent, text in [
        ("reset_password", "I forgot my password"),
        ("track_order", "where is my order?"),
        ("ask_question", "how do I return a jacket?"),
    ]:
        plan = step(intent, text)
        assert plan.followup == "action_kb_answer", intent  # the bot's own decision answers
        assert [s.text for s in plan.says] == [replies.RELAYED_AND_ANSWERING]
        again = step(intent, text, said_before=True)
        assert again.followup == "action_kb_answer" and again.says == ()  # said once
    for intent in ("request_human", "complaint", "thanks", "inform"):
        assert step(intent, "...").followup is None, intent  # for the team alone
    # an order and its email: the bot tracks it; an email alone is the one for the answer
    with_email = after_hours_message(
        "track_order", 7, "where is order 123-4567? email Ana@Example.com", [], None, None, False
    )
    assert with_email.plan.followup == "action_kb_answer" and with_email.keep_email is None
    for text in ("it's ana@example.com", "my email is Ana@Example.com", "ana@example.com"):
        alone = after_hours_message("ask_question", 7, text, [], None, None, False)
        assert alone.keep_email == "ana@example.com" and alone.plan.followup is None, text
    broken = after_hours_message("track_order", 7, "it's ana.lopez@gmail", [], None, None, False)
    assert broken.plan.says[0].text == replies.EMAIL_NOT_VALID


def test_after_hours_a_product_question_is_answered_and_nothing_is_met_with_silence() -> None:
    def step(intent, text, said_before=False):
        return after_hours_message(intent, 7, text, [], None, None, said_before).plan

    # the NLU knows no product: out of scope to it, a question the bot can answer
    for text in ("is the oak serving board in stock?", "how much is the linen runner"):
        plan = step("out_of_scope", text, said_before=True)
        assert plan.followup == "action_kb_answer", text
    # what is only for the team is still acknowledged every time, briefly after the first
    first = step("out_of_scope", "hello? did you see my message", said_before=False)
    assert first.followup is None and first.says[0].text == replies.RELAYED_NO_EMAIL
    again = step("out_of_scope", "hello? did you see my message", said_before=True)
    assert again.followup is None
    assert [s.text for s in again.says] == [replies.RELAYED_AGAIN.format(ticket=7)]


def test_a_button_press_shows_in_the_transcript_as_the_button_the_customer_saw() -> None:
    from bot.conversations import transcript_lines

    events = [
        {"event": "user", "text": "can I talk to a person"},
        {
            "event": "bot",
            "text": "Did you mean **ana@gmail.com**?",
            "data": {
                "buttons": [
                    {"title": "Yes, ana@gmail.com", "payload": '/inform{"email": "ana@gmail.com"}'},
                    {"title": "No, ana@gmial.com is right", "payload": "/deny"},
                ]
            },
        },
        {"event": "user", "text": '/inform{"email": "ana@gmail.com"}'},
        {"event": "user", "text": "/request_human"},
        {"event": "user", "text": "/choose_article", "parse_data": {"intent": {"name": "x"}}},
    ]
    said = [line["text"] for line in transcript_lines(events) if line["sender"] == "customer"]
    assert said == ["can I talk to a person", "Yes, ana@gmail.com", "Talk to a human", "[x]"]


def test_after_the_agents_reply_nobody_joins_any_more() -> None:
    before = relayed("greet", 3, None, False, agent_replied=False).says[0].text
    after = relayed("greet", 3, None, False, agent_replied=True).says[0].text
    assert "has joined" in before and "has joined" not in after
    assert after == replies.RELAYED_TO_AGENT
