"""Rasa actions run with a CollectingDispatcher and a Tracker, over the real KB, store and queue."""

from __future__ import annotations

from pathlib import Path

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

import actions.common as common
from actions.account import ActionResetPassword, ActionResetTroubleshoot, ValidateResetPasswordForm
from actions.feedback import ActionFeedback
from actions.handoff import ActionHandoff, ActionHandoffRelay, ActionHandoffResumed
from actions.kb import ActionAnswerChosenArticle, ActionGuideStep, ActionKbAnswer
from actions.orders import ActionTrackOrder, ValidateTrackOrderForm
from bot.dialogue import replies
from bot.handoff import NewMessage

pytestmark = pytest.mark.model


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, demo_index: Path):
    monkeypatch.setenv("BOT_SETTINGS_FILE", str(tmp_path / "none.toml"))
    monkeypatch.setenv("BOT_INDEX_DIR", str(demo_index))
    monkeypatch.setenv("BOT_DATA_DIR", str(tmp_path / "var"))
    cached_parts = (
        common.settings,
        common.knowledge_base,
        common.store,
        common.queue,
        common.limits,
    )
    for cached in cached_parts:
        cached.cache_clear()
    yield
    for cached in cached_parts:
        cached.cache_clear()


def tracker(
    text: str = "",
    intent: str = "ask_question",
    slots: dict | None = None,
    entities: list[dict] | None = None,
    events: list[dict] | None = None,
    sender: str = "t-1",
    metadata: dict | None = None,
) -> Tracker:
    message = {
        "metadata": metadata or {},
        "text": text,
        "intent": {"name": intent, "confidence": 0.93},
        "intent_ranking": [
            {"name": intent, "confidence": 0.93},
            {"name": "greet", "confidence": 0.02},
        ],
        "entities": entities or [],
    }
    history = (
        events if events is not None else [{"event": "user", "text": text, "parse_data": message}]
    )
    return Tracker(sender, slots or {}, message, history, False, None, {}, "action_listen")


def run(action, t: Tracker) -> tuple[list[dict], list[dict]]:
    dispatcher = CollectingDispatcher()
    events = action.run(dispatcher, t, {})
    return dispatcher.messages, events


def slots(events: list[dict]) -> dict:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


def test_a_question_gets_the_section_and_a_citation(env) -> None:
    messages, events = run(ActionKbAnswer(), tracker("how long do refunds take to reach my card"))
    payload = messages[0]["custom"]
    assert payload["outcome"] == "article" and payload["article_id"] == "refund-status"
    assert payload["intent"] == "ask_question" and payload["score"] > 0.5
    assert "Source: [Where is my refund?" in messages[0]["text"]
    assert payload["citation"]["url"].startswith("http://localhost:8080/help/refund-status")
    assert slots(events)["last_article"] == "refund-status"
    assert slots(events)["kb_articles_tried"][0]["id"] == "refund-status"


def test_a_button_payload_is_acted_on_as_given(env) -> None:
    # "Talk to a human" sends /request_human: its text is not a question to route
    messages, events = run(ActionKbAnswer(), tracker("/request_human", "request_human"))
    assert messages == [] and slots(events)["route"] == "handoff"
    messages, events = run(ActionKbAnswer(), tracker("/greet", "greet"))
    assert slots(events)["route"] == "done"
    assert messages[0]["response"] == "utter_greet"


def test_open_messages_set_the_route_the_rules_carry_on_from(env) -> None:
    _, events = run(ActionKbAnswer(), tracker("I forgot my password", "reset_password"))
    assert slots(events)["route"] == "reset_password"
    assert slots(events)["last_routing"]["routes"][0]["label"] == "intent:reset_password"


def test_unsure_questions_offer_the_closest_articles(env, monkeypatch) -> None:
    monkeypatch.setenv("BOT_ANSWER_THRESHOLD", "0.99")
    common.settings.cache_clear()
    question = "which delivery options do you have for my package"
    messages, events = run(ActionKbAnswer(), tracker(question))
    payload = messages[0]["custom"]
    assert payload["outcome"] == "clarify" and 2 <= len(messages[0]["buttons"]) <= 4
    assert messages[0]["buttons"][0]["payload"].startswith('/choose_article{"article_id": ')
    assert messages[0]["buttons"][-1]["title"] == "Something else"
    options = slots(events)["clarify_options"]
    chosen = tracker(
        "the second one",
        "choose_article",
        slots={"clarify_options": options, "last_question": question},
    )
    if len(options) > 1 and options[1].startswith("article:"):
        messages, _ = run(ActionAnswerChosenArticle(), chosen)
        assert "article:" + messages[0]["custom"]["article_id"] == options[1]


def test_an_offered_flow_clicked_starts_it_and_something_else_offers_a_person(
    env, monkeypatch
) -> None:
    monkeypatch.setenv("BOT_ANSWER_THRESHOLD", "0.99")
    monkeypatch.setenv("BOT_CLARIFY_THRESHOLD", "0.001")
    common.settings.cache_clear()
    question = "where is my parcel, it has not come yet"
    messages, events = run(ActionKbAnswer(), tracker(question))
    offered = slots(events)["clarify_options"]
    assert "intent:track_order" in offered, offered
    button = next(b for b in messages[0]["buttons"] if b["payload"] == "/track_order")
    assert button["title"] == "Track an order"
    state = {"clarify_options": offered, "last_question": question}
    _, events = run(ActionKbAnswer(), tracker("/track_order", "track_order", slots=state))
    assert slots(events)["route"] == "track_order" and slots(events)["clarify_options"] is None
    messages, events = run(
        ActionAnswerChosenArticle(), tracker("/none_of_these", "none_of_these", slots=state)
    )
    assert messages[0]["text"].startswith("Sorry I didn't get it right")
    assert slots(events)["handoff_offer_reason"] == "low_confidence"


def test_two_misses_in_a_row_offer_a_person(env) -> None:
    messages, events = run(ActionKbAnswer(), tracker("what's the airspeed of an unladen swallow"))
    assert messages[0]["custom"]["outcome"] == "fallback" and len(messages) == 1
    messages, events = run(
        ActionKbAnswer(), tracker("how do i fix my carburetor", slots={"unresolved_turns": 1.0})
    )
    assert [m["custom"]["outcome"] for m in messages] == ["fallback", "handoff_offer"]
    assert slots(events)["handoff_offer_reason"] == "low_confidence"


def test_reset_validates_the_email_and_reveals_nothing(env) -> None:
    validate = ValidateResetPasswordForm()
    dispatcher = CollectingDispatcher()
    assert (
        validate.validate_email("not an email", dispatcher, tracker("not an email", "inform"), {})[
            "email"
        ]
        is None
    )
    assert "doesn't look like an email" in dispatcher.messages[0]["text"]
    ok = validate.validate_email(
        "it's Ana@Example.com", CollectingDispatcher(), tracker("it's Ana@Example.com"), {}
    )
    assert ok["email"] == "ana@example.com"

    customer = common.store().customer_emails(1)[0]
    known, _ = run(ActionResetPassword(), tracker(slots={"email": customer}))
    unknown, _ = run(ActionResetPassword(), tracker(slots={"email": "nobody@nowhere.example"}))
    assert known[0]["text"].replace(customer, "X") == unknown[0]["text"].replace(
        "nobody@nowhere.example", "X"
    )
    assert "/help/reset-password" in known[0]["text"]
    assert len(common.store().outbox(customer)) == 1
    run(ActionResetPassword(), tracker(slots={"email": customer}))
    run(ActionResetPassword(), tracker(slots={"email": customer}))
    limited, _ = run(ActionResetPassword(), tracker(slots={"email": customer}))
    assert "already sent 3 reset emails" in limited[0]["text"]
    assert limited[0]["custom"]["result"] == "rate_limited"


def test_the_missing_email_walks_the_troubleshooting_guide_to_a_person(env) -> None:
    messages, events = run(
        ActionResetTroubleshoot(), tracker("the email never arrived", "reset_email_missing")
    )
    assert messages[0]["custom"]["citation"]["url"].endswith("#the-reset-email-never-arrived")
    assert [b["title"] for b in messages[0]["buttons"]][1] == "No, it isn't there"
    walk = slots(events)["guide"]
    # the guide cites its article: the ticket says the bot tried it
    assert [a["id"] for a in slots(events)["kb_articles_tried"]] == ["reset-password"]
    # the clicks: the button's entity names the step, whatever the slot holds
    for title in ("No, it isn't there", "Yes, it was right"):
        button = next(b for b in messages[0]["buttons"] if b["title"] == title)
        step = button["payload"].partition('"guide_step": "')[2].rstrip('"}')
        entity = [{"entity": "guide_step", "value": step}]
        clicked = tracker(button["payload"], "guide_choice", {"guide": walk}, entity)
        messages, events = run(ActionGuideStep(), clicked)
        walk = slots(events)["guide"]
    assert messages[0]["buttons"][0]["payload"] == "/request_human"
    assert slots(events)["handoff_offer_reason"] == "flow_failure"
    assert walk["end"] == "handoff" and walk["labels"] == [
        "No, it isn't there",
        "Yes, it was right",
    ]


def test_tracking_finds_the_order_and_leaks_nothing_on_a_wrong_email(env) -> None:
    validate = ValidateTrackOrderForm()
    got = validate.validate_order_number(
        "where is my order 123-4567?",
        CollectingDispatcher(),
        tracker("where is my order 123-4567?", "track_order"),
        {},
    )
    assert got["order_number"] == "123-4567"
    number, email = common.store().sample("delayed")
    found, events = run(ActionTrackOrder(), tracker(slots={"order_number": number, "email": email}))
    assert f"Order **{number}** is **delayed**" in found[0]["text"]
    assert found[0]["custom"]["status"] == "delayed"
    assert slots(events)["verified_order_number"] == number
    assert slots(events)["customer_email"] == email

    wrong, events = run(
        ActionTrackOrder(), tracker(slots={"order_number": number, "email": "x@y.com"})
    )
    unknown, _ = run(
        ActionTrackOrder(), tracker(slots={"order_number": "999-9999", "email": email})
    )
    # a wrong email and an unknown order get the same answer (it repeats only their number)
    assert wrong[0]["text"].replace(number, "N") == unknown[0]["text"].replace("999-9999", "N")
    again, events = run(
        ActionTrackOrder(),
        tracker(slots={"order_number": number, "email": "x@y.com", "order_failures": 1.0}),
    )
    assert [m["custom"]["outcome"] for m in again] == ["flow", "handoff_offer"]


def test_one_address_gets_only_so_many_people_an_hour(env, monkeypatch) -> None:
    """The gateway sends an HMAC of the customer's address with each message; the handoff
    counts tickets by it, and past the limit says when to try again instead of opening one."""
    monkeypatch.setenv("BOT_TICKETS_PER_HOUR_PER_ADDRESS", "2")
    common.settings.cache_clear()

    def asking(sender: str, client: str) -> Tracker:
        t = tracker("I want a person", "request_human", sender=sender)
        t.latest_message["metadata"] = {"client": client}
        return t

    for n in range(2):
        messages, _ = run(ActionHandoff(), asking(f"conv-limit-{n}", "a" * 32))
        assert messages[0]["custom"]["outcome"] == "handoff"
    messages, events = run(ActionHandoff(), asking("conv-limit-2", "a" * 32))
    assert messages[0]["custom"]["outcome"] == "handoff_limited"
    assert "try again in about" in messages[0]["text"] and "handoff_active" not in slots(events)
    assert common.queue().active_for_conversation("conv-limit-2") is None
    messages, _ = run(ActionHandoff(), asking("conv-limit-3", "b" * 32))  # another address
    assert messages[0]["custom"]["outcome"] == "handoff"


def sign_in(agent: str) -> None:
    """An agent with a live inbox session (the handoff is live only with someone there)."""
    from bot.handoff.sessions import SessionStore

    SessionStore(common.queue().engine, 1800, 8 * 3600).create(agent, "sha256:x")


def test_handoff_creates_a_ticket_with_context_and_the_bot_relays_until_resumed(env) -> None:
    sign_in("alice")
    history = [
        {"event": "user", "text": "where is my order 123-4567?"},
        {"event": "bot", "text": "What email did you order with?"},
        {"event": "user", "text": "my card is 4111 1111 1111 1111"},
        {"event": "user", "text": "let me talk to a person"},
    ]
    t = tracker(
        "let me talk to a person",
        "request_human",
        events=history,
        sender="conv-9",
        slots={
            "email": "typo@example.con",
            "order_number": "123-4566",
            "customer_email": "ana@example.com",
            "verified_order_number": "123-4567",
            "kb_articles_tried": [
                {
                    "id": "track-order",
                    "title": "Where is my order?",
                    "url": "http://x/track-order",
                    "score": 0.44,
                }
            ],
        },
    )
    messages, events = run(ActionHandoff(), t)
    assert messages[0]["custom"]["outcome"] == "handoff" and messages[0]["custom"]["position"] == 1
    assert slots(events)["handoff_active"] is True
    ticket = common.queue().active_for_conversation("conv-9")
    assert ticket.reason == "customer_request" and ticket.order_number == "123-4567"
    assert ticket.customer_email == "ana@example.com" and ticket.articles[0]["id"] == "track-order"
    assert ticket.intents[0]["name"] == "request_human"
    texts = [m["text"] for m in ticket.transcript]
    assert texts[0] == "where is my order 123-4567?" and "4111" not in texts[2]

    relay, events = run(ActionHandoffRelay(), tracker("are you there?", "greet", sender="conv-9"))
    assert relay[0]["custom"]["state"] == "waiting" and slots(events)["handoff_relayed"] is True
    assert common.queue().get(ticket.id).transcript[-1]["text"] == "are you there?"
    common.queue().claim(ticket.id, "alice")
    # said once: later messages reach the agent without the bot repeating itself
    relay, _ = run(
        ActionHandoffRelay(),
        tracker("hello?", "greet", sender="conv-9", slots={"handoff_relayed": True}),
    )
    assert relay == [] and common.queue().get(ticket.id).transcript[-1]["text"] == "hello?"
    # after the agent's reply, nobody "joins" any more
    common.queue().add_message(
        ticket.id, NewMessage(sender="agent", text="Hi, Alice here"), "alice"
    )
    relay, _ = run(ActionHandoffRelay(), tracker("thanks", "thanks", sender="conv-9"))
    assert "has joined" not in relay[0]["text"] and relay[0]["text"] == replies.RELAYED_TO_AGENT
    common.queue().resolve(ticket.id, "alice", "done")
    back, events = run(
        ActionHandoffResumed(), tracker("", "EXTERNAL_handoff_resolved", sender="conv-9")
    )
    assert back[0]["custom"]["state"] == "bot_back" and slots(events)["handoff_active"] is False


def test_with_nobody_signed_in_the_bot_takes_an_email_instead_of_promising_a_queue(
    env,
) -> None:
    said, events = run(
        ActionHandoff(),
        tracker(
            "I want a person", "request_human", sender="conv-n", metadata={"timezone": "Asia/Tokyo"}
        ),
    )
    text = said[0]["text"]
    assert said[0]["custom"]["state"] == "after_hours" and said[0]["custom"]["position"] is None
    assert "queue" not in text and "shortly" not in text
    assert replies.AWAY_NOBODY in text and replies.ASK_EMAIL_FOR_ANSWER in text
    ticket = common.queue().active_for_conversation("conv-n")
    assert ticket.after_hours and ticket.customer_email is None
    # a typo in a well-known domain is asked about, never kept
    typo, _ = run(
        ActionHandoffRelay(),
        tracker(
            "it's maya@gmial.com",
            "inform",
            sender="conv-n",
            entities=[{"entity": "email", "value": "maya@gmial.com"}],
        ),
    )
    assert "maya@gmail.com" in typo[0]["text"]
    assert [b["payload"] for b in typo[0]["buttons"]] == [
        '/inform{"email": "maya@gmail.com"}',
        '/inform{"email": "maya@gmial.com"}',
    ]
    assert common.queue().get(ticket.id).customer_email is None
    kept, events = run(
        ActionHandoffRelay(),
        tracker(
            '/inform{"email": "maya@gmail.com"}',
            "inform",
            sender="conv-n",
            entities=[{"entity": "email", "value": "maya@gmail.com"}],
        ),
    )
    assert (
        "maya@gmail.com" in kept[0]["text"] and slots(events)["customer_email"] == "maya@gmail.com"
    )
    assert common.queue().get(ticket.id).customer_email == "maya@gmail.com"


def test_a_complaint_is_a_priority_ticket(env) -> None:
    run(ActionHandoff(), tracker("this is unacceptable", "complaint", sender="conv-c"))
    assert common.queue().active_for_conversation("conv-c").reason == "complaint"


def test_two_thumbs_down_offer_a_person(env) -> None:
    first, events = run(ActionFeedback(), tracker("👎", "feedback_not_helpful"))
    assert first[0]["custom"]["outcome"] == "fallback"
    second, events = run(
        ActionFeedback(), tracker("👎", "feedback_not_helpful", slots={"unresolved_turns": 1.0})
    )
    assert second[0]["custom"]["outcome"] == "handoff_offer"
    assert slots(events)["handoff_offer_reason"] == "negative_feedback"
    thanks, events = run(ActionFeedback(), tracker("👍", "feedback_helpful"))
    assert (
        thanks[0]["custom"]["outcome"] == "smalltalk" and slots(events)["unresolved_turns"] == 0.0
    )


def kb_turn(text: str, intent: str = "ask_question", slots: dict | None = None, **kw):
    """One open message through action_kb_answer: its replies and the slots it set."""
    messages, events = run(ActionKbAnswer(), tracker(text, intent, slots=slots, **kw))
    return messages, {**(slots or {}), **{k: v for k, v in _slots(events).items()}}


_slots = slots


def test_a_flow_never_starts_with_another_flows_email(env) -> None:
    # after a password reset for one address, tracking asks for the order's email
    messages, set_ = kb_turn(
        "where is my order 100-9246",
        "track_order",
        slots={"email": "reset.me@example.com", "customer_email": "reset.me@example.com"},
        entities=[{"entity": "order_number", "value": "100-9246"}],
    )
    assert set_["route"] == "track_order"
    assert set_["order_number"] == "100-9246" and set_["email"] is None


def test_one_sentence_with_an_order_and_an_email_tracks_it(env) -> None:
    text = "can you check order 100-9246 with email tara.tanaka86@example.com"
    for intent in ("affirm", "inform", "track_order"):  # whatever the NLU thought it was
        _, set_ = kb_turn(text, intent)
        assert set_["route"] == "track_order", intent
        assert set_["order_number"] == "100-9246"
        assert set_["email"] == "tara.tanaka86@example.com"


def test_the_right_email_after_a_failed_lookup_retries_it(env) -> None:
    failed = {"flow": "track_order", "state": "not_found", "turn": 2, "email": "tara@x.com"}
    failed["order_number"] = "100-9246"
    history = [{"event": "user", "text": t} for t in ("track", "100-9246", "tara@example.com")]
    _, set_ = kb_turn(
        "tara.tanaka86@example.com", "inform", slots={"flow_context": failed}, events=history
    )
    assert set_["route"] == "track_order"
    assert set_["order_number"] == "100-9246" and set_["email"] == "tara.tanaka86@example.com"
    # a corrected number keeps the email that came with it
    _, set_ = kb_turn(
        "sorry, it's 100-9247", "inform", slots={"flow_context": failed}, events=history
    )
    assert set_["order_number"] == "100-9247" and set_["email"] == "tara@x.com"


def test_yes_and_no_with_nothing_pending_are_answered_without_routing(env) -> None:
    messages, set_ = kb_turn("yes", "affirm")
    assert messages[0]["response"] == "utter_how_can_help" and set_["route"] == "done"
    messages, _ = kb_turn("no", "deny")
    assert messages[0]["response"] == "utter_ok"


def test_never_mind_with_a_question_stops_the_form_and_answers_it(env) -> None:
    t = tracker("never mind, how do returns work?", "deny")
    t.latest_action_name = "action_deactivate_loop"
    messages, events = run(ActionKbAnswer(), t)
    assert messages[0]["custom"]["outcome"] in {"article", "clarify"}
    only = tracker("never mind", "deny")
    only.latest_action_name = "action_deactivate_loop"
    messages, _ = run(ActionKbAnswer(), only)
    assert messages[0]["response"] == "utter_flow_stopped"


def test_a_typed_request_for_a_person_is_a_customer_request_after_a_failed_flow(env) -> None:
    offered = {"handoff_offer_reason": "flow_failure"}
    run(
        ActionHandoff(),
        tracker("i want to talk to a real person", "request_human", slots=offered, sender="conv-r"),
    )
    assert common.queue().active_for_conversation("conv-r").reason == "customer_request"
    # the offer's own button accepts the offer and keeps its reason
    run(ActionHandoff(), tracker("/request_human", "request_human", slots=offered, sender="conv-s"))
    assert common.queue().active_for_conversation("conv-s").reason == "flow_failure"


def test_an_email_on_its_own_asks_what_it_is_for_and_is_kept_for_the_answer(env) -> None:
    history = [{"event": "user", "text": "tara.tanaka86@example.com"}]
    messages, set_ = kb_turn("tara.tanaka86@example.com", "inform", events=history)
    assert [b["payload"] for b in messages[0]["buttons"]] == ["/reset_password", "/track_order"]
    history.append({"event": "user", "text": "/reset_password"})
    _, set_ = kb_turn(
        "/reset_password",
        "reset_password",
        slots={"flow_context": set_["flow_context"]},
        events=history,
    )
    assert set_["route"] == "reset_password" and set_["email"] == "tara.tanaka86@example.com"
