"""Order tracking: collect the order number and the email on it, then explain the status."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.account import email_from, find_email, retry_slot
from actions.common import store
from actions.kb import customer_turns, offer_human
from bot.dialogue.flows import FlowContext
from bot.dialogue.replies import ORDER_NOT_FOUND, STORE_DOWN, meta, order_status_text
from bot.store.base import StoreUnavailable, extract_order_number, valid_email

FLOW = {"flow": "track_order"}


class ValidateTrackOrderForm(FormValidationAction):
    """Checks the order number (123-4567) and the email's formats."""

    def name(self) -> str:
        return "validate_track_order_form"

    def _retry(self, dispatcher, tracker, slot: str, message: str) -> dict[str, Any]:
        return retry_slot(
            dispatcher, tracker, "track_order", slot, message, "I still couldn't read that."
        )

    def validate_order_number(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value is None:
            return {"order_number": None}  # cleared when the flow started: nothing answered yet
        text = tracker.latest_message.get("text") or ""
        number = extract_order_number(str(value or "")) or extract_order_number(text)
        if number:
            if tracker.get_slot("requested_slot") == "email":
                # a corrected number while the email was being asked for
                dispatcher.utter_message(
                    text=f"Got it: order {number}.", json_message=meta("flow", **FLOW)
                )
            email = find_email(tracker)
            found = {"order_number": number, "form_tries": 0.0}
            if email and valid_email(email):
                found["email"] = email.lower()
            return found
        if find_email(tracker):
            # they gave (or corrected) the email instead: take it, and ask for the number again
            dispatcher.utter_message(
                text="Got it, I'll use that email.", json_message=meta("flow", **FLOW)
            )
            return {"order_number": None}
        return self._retry(
            dispatcher,
            tracker,
            "order_number",
            "Order numbers look like 123-4567; you'll find yours in the confirmation email.",
        )

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
        return self._retry(
            dispatcher,
            tracker,
            "email",
            "That doesn't look like an email address (name@example.com).",
        )


class ActionTrackOrder(Action):
    """Look the order up; unknown order and wrong email get the same answer."""

    def name(self) -> str:
        return "action_track_order"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> list[dict[str, Any]]:
        reset = [SlotSet("order_number", None)]
        turn = customer_turns(tracker)
        if tracker.get_slot("flow_failed"):
            return [
                *reset,
                SlotSet("flow_failed", None),
                *offer_human(dispatcher, "track_order", "flow_failure"),
            ]
        number, email = tracker.get_slot("order_number"), tracker.get_slot("email")
        try:
            order = store().find_order(number, email)
        except StoreUnavailable:
            dispatcher.utter_message(
                text=STORE_DOWN, json_message=meta("flow", "track_order", **FLOW, failed=True)
            )
            return [*reset, *offer_human(dispatcher, "track_order", "flow_failure")]
        if order is None:
            failures = float(tracker.get_slot("order_failures") or 0) + 1
            dispatcher.utter_message(
                text=ORDER_NOT_FOUND.format(number=number),
                json_message=meta("flow", "track_order", **FLOW, result="not_found"),
            )
            tried = FlowContext("track_order", "not_found", turn, email, number)
            events = [
                *reset,
                SlotSet("email", None),
                SlotSet("order_failures", failures),
                SlotSet("flow_context", tried.to_slot()),
            ]
            if failures >= 2:
                events += offer_human(dispatcher, "track_order", "flow_failure")
            return events
        dispatcher.utter_message(
            text=order_status_text(order),
            json_message=meta(
                "flow",
                "track_order",
                **FLOW,
                result="found",
                status=order.status,
                tracking_url=order.tracking_url,
            ),
        )
        found = FlowContext("track_order", "found", turn, email, order.number)
        return [
            *reset,
            # what an agent may rely on: this order belongs to this email
            SlotSet("verified_order_number", order.number),
            SlotSet("verified_email", email),
            SlotSet("customer_email", email),
            SlotSet("order_failures", 0.0),
            SlotSet("flow_context", found.to_slot()),
        ]
