"""Password reset: collect a valid email, ask the store to send the link, reveal nothing."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import knowledge_base, store
from actions.kb import customer_turns, offer_human
from bot.dialogue.answers import answer_text, article_meta
from bot.dialogue.flows import FlowContext
from bot.dialogue.replies import RESET_AGAIN, RESET_LIMITED, RESET_SENT, STORE_DOWN, meta
from bot.store.base import StoreUnavailable, extract_email, valid_email

RESET_ARTICLE = "reset-password"
MAX_TRIES = 3


def retry_slot(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    flow: str,
    slot: str,
    message: str,
    give_up: str,
) -> dict[str, Any]:
    """A form slot that could not be read: ask again, or after MAX_TRIES end the flow as failed."""
    tries = float(tracker.get_slot("form_tries") or 0) + 1
    if tries >= MAX_TRIES:
        dispatcher.utter_message(
            text=give_up, json_message=meta("flow", flow, flow=flow, failed=True)
        )
        return {slot: None, "form_tries": 0.0, "requested_slot": None, "flow_failed": True}
    dispatcher.utter_message(text=message, json_message=meta("flow", flow, flow=flow))
    return {slot: None, "form_tries": tries}


def find_email(tracker: Tracker) -> str | None:
    """An email from the entity extractor, or found in the message text."""
    entity = next(tracker.get_latest_entity_values("email"), None)
    return entity or extract_email(tracker.latest_message.get("text") or "")


def email_from(value: Any, tracker: Tracker) -> str | None:
    """The valid, normalised email the customer gave for a form's email slot, if any."""
    email = extract_email(str(value or "")) or find_email(tracker)
    return email.strip().lower() if email and valid_email(email) else None


class ValidateResetPasswordForm(FormValidationAction):
    """Checks the email's format; after three bad tries the flow fails over to a person."""

    def name(self) -> str:
        return "validate_reset_password_form"

    def validate_email(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value is None:
            return {"email": None}  # cleared when the flow started: nothing was answered yet
        email = email_from(value, tracker)
        if email:
            return {"email": email, "form_tries": 0.0}
        return retry_slot(
            dispatcher,
            tracker,
            "reset_password",
            "email",
            "That doesn't look like an email address. It should look like name@example.com.",
            "I still couldn't read an email address there.",
        )


class ActionResetPassword(Action):
    """Send the reset link; the reply is the same whether or not the account exists."""

    def name(self) -> str:
        return "action_reset_password"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> list[dict[str, Any]]:
        if tracker.get_slot("flow_failed"):
            return [
                SlotSet("flow_failed", None),
                *offer_human(dispatcher, "reset_password", "flow_failure"),
            ]
        email = tracker.get_slot("email")
        try:
            outcome = store().request_password_reset(email)
        except StoreUnavailable:
            dispatcher.utter_message(
                text=STORE_DOWN,
                json_message=meta("flow", "reset_password", flow="reset_password", failed=True),
            )
            return offer_human(dispatcher, "reset_password", "flow_failure")
        article = knowledge_base().reader.article_chunks(RESET_ARTICLE)
        link = article[0].url if article else None
        again = bool(tracker.get_slot("reset_requested"))
        sent = (RESET_AGAIN if again else RESET_SENT).format(email=email)
        text = RESET_LIMITED if outcome == "rate_limited" else sent
        if link:
            text += f"\n\nMore help: [How do I reset my password?]({link})"
        dispatcher.utter_message(
            text=text,
            buttons=[{"title": "The email didn't arrive", "payload": "/reset_email_missing"}],
            json_message=meta(
                "flow", "reset_password", RESET_ARTICLE, flow="reset_password", result=outcome
            ),
        )
        state = "rate_limited" if outcome == "rate_limited" else "sent"
        asked = FlowContext("reset_password", state, customer_turns(tracker), email)
        return [
            SlotSet("reset_requested", True),
            # the address the customer says is theirs (not verified: the reply never tells)
            SlotSet("customer_email", email),
            SlotSet("flow_context", asked.to_slot()),
        ]


class ActionResetTroubleshoot(Action):
    """'The email never arrived': the article's troubleshooting section, then a person."""

    def name(self) -> str:
        return "action_reset_troubleshoot"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> list[dict[str, Any]]:
        hit = knowledge_base().best_section("the password reset email never arrived", RESET_ARTICLE)
        if hit is not None:
            dispatcher.utter_message(
                text=answer_text(hit),
                json_message=meta(
                    "article", "reset_email_missing", hit.id, hit.score, citation=article_meta(hit)
                ),
            )
        dispatcher.utter_message(
            text="If it still doesn't arrive, a person can check your account with you.",
            buttons=[
                {"title": "Talk to a person", "payload": "/request_human"},
                {"title": "It arrived, thanks", "payload": "/thanks"},
            ],
            json_message=meta("handoff_offer", "reset_email_missing", reason="flow_failure"),
        )
        return [SlotSet("handoff_offer_reason", "flow_failure")]
