"""Order tracking: collect the order number and the email on it, then explain the status."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.account import email_from, find_email, retry_slot
from actions.common import customer_turns, render, say, slot_before_message, store
from bot.dialogue import replies, results
from bot.dialogue.flows import FlowContext, adds_another
from bot.dialogue.plan import Say
from bot.store.base import (
    StoreUnavailable,
    extract_order_number,
    order_numbers_in,
    valid_email,
    valid_order_number,
)

FLOW = "track_order"


def _adds(tracker: Tracker, current: Any, number: str) -> bool:
    """A second order number given while the first one's email is asked for ("and 814-7821")."""
    text = tracker.latest_message.get("text") or ""
    valid = isinstance(current, str) and valid_order_number(current)
    return valid and number != current and adds_another(text)


class ValidateTrackOrderForm(FormValidationAction):
    """Checks the order number (123-4567) and the email's formats."""

    def name(self) -> str:
        return "validate_track_order_form"

    def _retry(self, dispatcher, tracker, slot: str, message: str) -> dict[str, Any]:
        return retry_slot(dispatcher, tracker, FLOW, slot, message, replies.STILL_UNREADABLE)

    def validate_order_number(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value is None:
            return {"order_number": None}  # cleared when the flow started: nothing answered yet
        text = tracker.latest_message.get("text") or ""
        number = extract_order_number(str(value or "")) or extract_order_number(text)
        if number:
            current = slot_before_message(tracker, "order_number")
            if tracker.get_slot("requested_slot") == "email" and _adds(tracker, current, number):
                # "and 814-7821 too": keep the first order, look this one up after it
                return self._queue(dispatcher, tracker, current, text)
            if tracker.get_slot("requested_slot") == "email":
                # a corrected number while the email was being asked for
                got = replies.GOT_THE_NUMBER.format(number=number)
                say(dispatcher, [Say(got, meta=replies.meta("flow", flow=FLOW))])
            email = find_email(tracker)
            found = {"order_number": number, "form_tries": 0.0}
            if email and valid_email(email):
                found["email"] = email.lower()
            return found
        if find_email(tracker):
            # they gave (or corrected) the email instead: take it, and ask for the number again
            say(dispatcher, [Say(replies.GOT_THE_EMAIL, meta=replies.meta("flow", flow=FLOW))])
            return {"order_number": None}
        return self._retry(dispatcher, tracker, "order_number", replies.NOT_AN_ORDER_NUMBER)

    def _queue(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, current: str, text: str
    ) -> dict[str, Any]:
        context = FlowContext.from_slot(tracker.get_slot("flow_context")) or FlowContext(
            FLOW, "started", customer_turns(tracker)
        )
        added = tuple(n for n in order_numbers_in(text) if n != current)
        queued = tuple(dict.fromkeys((*context.queued, current, *added)))
        meta = replies.meta("flow", flow=FLOW)
        say(dispatcher, [Say(replies.another_order(added), meta=meta)])
        slots: dict[str, Any] = {
            "order_number": current,
            "flow_context": replace(context, queued=queued).to_slot(),
        }
        email = find_email(tracker)
        if email and valid_email(email):
            slots["email"] = email.lower()
        return slots

    def validate_email(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value is None:
            return {"email": None}  # cleared when the flow started: nothing answered yet
        email = email_from(value, tracker)
        if email:
            return {"email": email, "form_tries": 0.0}
        if extract_order_number(tracker.latest_message.get("text") or ""):
            # a corrected order number, not an email: the number is taken (and acknowledged by
            # validate_order_number), ask for the email again
            return {"email": None}
        return self._retry(dispatcher, tracker, "email", replies.NOT_AN_ORDER_EMAIL)


class ActionTrackOrder(Action):
    """Look the order up; unknown order and wrong email get the same answer."""

    def name(self) -> str:
        return "action_track_order"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> list[dict[str, Any]]:
        cleared = {"order_number": None}
        if tracker.get_slot("flow_failed"):
            return render(dispatcher, results.flow_failed(FLOW, cleared))
        number, email = tracker.get_slot("order_number"), tracker.get_slot("email")
        try:
            order = store().find_order(number, email)
        except StoreUnavailable:
            return render(dispatcher, results.store_down(FLOW, cleared))
        turn = customer_turns(tracker)
        context = FlowContext.from_slot(tracker.get_slot("flow_context"))
        # every order asked about in this flow, as written (the form keeps only one number)
        others = [n for n in (context.queued if context else ()) if n != number]
        try:
            looked_up = [(n, store().find_order(n, email)) for n in others]
        except StoreUnavailable:
            looked_up = []
        if order is None:
            order = next((o for _, o in looked_up if o is not None), None)
            looked_up = [(n, o) for n, o in looked_up if o is not order] + [(number, None)]
        if order is None:
            failures = int(float(tracker.get_slot("order_failures") or 0)) + 1
            plan = results.order_not_found(number, email, failures, turn, tuple(others))
            return render(dispatcher, plan)
        return render(dispatcher, results.order_found(order, email, turn, looked_up))
