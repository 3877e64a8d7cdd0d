"""Password reset: collect a valid email, ask the store to send the link, reveal nothing."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import customer_turns, knowledge, knowledge_base, render, say, store
from bot.dialogue import replies, results
from bot.store.base import StoreUnavailable, extract_email, valid_email


def retry_slot(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    flow: str,
    slot: str,
    message: str,
    give_up: str,
) -> dict[str, Any]:
    """A form slot that could not be read: ask again, or after MAX_TRIES end the flow as failed."""
    tries = int(float(tracker.get_slot("form_tries") or 0))
    plan = results.form_retry(flow, slot, tries, message, give_up)
    say(dispatcher, plan.says)
    return plan.slots


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
            replies.NOT_AN_EMAIL,
            replies.STILL_NO_EMAIL,
        )


class ActionResetPassword(Action):
    """Send the reset link; the reply is the same whether or not the account exists."""

    def name(self) -> str:
        return "action_reset_password"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> list[dict[str, Any]]:
        if tracker.get_slot("flow_failed"):
            return render(dispatcher, results.flow_failed("reset_password", {}))
        email = tracker.get_slot("email")
        try:
            outcome = store().request_password_reset(email)
        except StoreUnavailable:
            return render(dispatcher, results.store_down("reset_password", {}))
        article = knowledge_base().reader.article_chunks(results.RESET_ARTICLE)
        link = article[0].url if article else None
        again = bool(tracker.get_slot("reset_requested"))
        plan = results.reset_sent(email, outcome, again, link, customer_turns(tracker))
        return render(dispatcher, plan)


class ActionResetTroubleshoot(Action):
    """'The email never arrived': the article's troubleshooting guide, walked step by step
    (or its section and the offer of a person, should the article hold no guide)."""

    def name(self) -> str:
        return "action_reset_troubleshoot"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> list[dict[str, Any]]:
        hit = knowledge_base().best_section(
            "the password reset email never arrived", results.RESET_ARTICLE
        )
        tried = tracker.get_slot("kb_articles_tried") or ()
        plan = results.reset_troubleshooting(
            hit, knowledge(tracker), customer_turns(tracker), tried
        )
        return render(dispatcher, plan)
