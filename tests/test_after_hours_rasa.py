"""After hours through the real assistant (Rasa and the action server): with nobody signed in
the bot promises no queue, asks for an email, asks about a typo in it and keeps the one the
customer confirms; the ticket is marked after hours with that email."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from bot.handoff import HandoffQueue
from bot.rasa_auth import RasaAuth
from bot.stack import own_stack_settings, start_action_server, start_rasa, wait_all
from bot.tokens import internal_token


class Customer:
    """One conversation over the REST channel."""

    def __init__(self, url: str, token: str, sender: str) -> None:
        self.url, self.token, self.sender = url, token, sender

    def say(self, text: str) -> dict:
        """The turn's text, metadata and buttons (the REST channel sends them apart)."""
        said = self._post(text)
        return {
            "text": "\n".join(m["text"] for m in said if m.get("text")),
            "custom": [m["custom"] for m in said if "custom" in m][-1],
            "buttons": [b for m in said for b in m.get("buttons") or []],
        }

    def _post(self, text: str) -> list[dict]:
        response = httpx.post(
            f"{self.url}/webhooks/rest/webhook",
            json={"sender": self.sender, "message": text, "metadata": {"timezone": "Europe/Paris"}},
            auth=RasaAuth(self.token),  # a JWT signed with the token, as the web app sends
            timeout=60,
        )
        response.raise_for_status()
        return response.json()


@pytest.fixture(scope="module")
def stack(rasa_model: Path, demo_index: Path, tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("after-hours")
    # the team works every day, all day, but nobody is signed in to the inbox
    settings = own_stack_settings(folder, index_dir=demo_index, after_hours_without_agents=True)
    actions = start_action_server(settings, folder)
    rasa = start_rasa(settings, rasa_model, folder)
    try:
        wait_all([actions, rasa])
        yield rasa.url, internal_token(settings, "rasa"), settings
    finally:
        rasa.stop()
        actions.stop()


def test_nobody_signed_in_means_an_email_answer_with_the_typo_asked_about(stack) -> None:
    url, token, settings = stack
    customer = Customer(url, token, "after-hours-1")
    away = customer.say("I want to talk to a real person")
    assert away["custom"]["state"] == "after_hours" and away["custom"]["position"] is None
    assert "queue" not in away["text"] and "shortly" not in away["text"]
    assert "What email address should they answer you at?" in away["text"]
    check = customer.say("maya.lind7@gmial.com")
    assert "maya.lind7@gmail.com" in check["text"]
    right = check["buttons"][0]["payload"]
    assert json.loads(right.removeprefix("/inform")) == {"email": "maya.lind7@gmail.com"}
    noted = customer.say(right)
    assert "by email at maya.lind7@gmail.com" in noted["text"]
    queue = HandoffQueue.from_url(settings.queue_url)
    try:
        ticket = queue.active_for_conversation("after-hours-1")
        assert ticket.after_hours and ticket.customer_email == "maya.lind7@gmail.com"
    finally:
        queue.close()
