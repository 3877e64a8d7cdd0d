"""Locust users: customers holding a conversation with the bot over Rasa's REST channel.

Each user is one conversation at a time: a greeting, a KB question, sometimes a password reset or
an order lookup, with a short think time between turns. benchmarks/load.py runs it headless at
1, 10 and 50 users; it can also be run by hand:

    LOAD_TOKEN=$(cat var/rasa.token) .venv/bin/locust -f benchmarks/locustfile.py \
        --host http://127.0.0.1:5005
"""

from __future__ import annotations

import os
import random
import uuid

from common import QUESTIONS  # benchmarks/common.py (Locust puts this folder on sys.path)
from locust import HttpUser, between, task

ORDER = os.environ.get("LOAD_ORDER", "")  # "123-4567 someone@example.com" from load.py
CUSTOMER = os.environ.get("LOAD_CUSTOMER", "")
HEADERS = {"Authorization": f"Bearer {os.environ.get('LOAD_TOKEN', '')}"}  # Rasa's token


class Customer(HttpUser):
    wait_time = between(float(os.environ.get("LOAD_THINK_MIN", "0.5")),
                        float(os.environ.get("LOAD_THINK_MAX", "1.5")))  # fmt: skip

    def say(self, sender: str, text: str, name: str) -> None:
        with self.client.post(
            "/webhooks/rest/webhook",
            json={"sender": sender, "message": text},
            headers=HEADERS,
            name=name,
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")
            elif not any("custom" in m for m in response.json()):
                response.failure("a turn without its outcome metadata")

    @task(6)
    def question(self) -> None:
        sender = f"load-{uuid.uuid4().hex}"
        self.say(sender, "hi", "turn")
        self.say(sender, random.choice(QUESTIONS), "turn")

    @task(2)
    def track_order(self) -> None:
        if not ORDER:
            return
        number, email = ORDER.split()
        sender = f"load-{uuid.uuid4().hex}"
        self.say(sender, f"where is my order {number}?", "turn")
        self.say(sender, email, "turn")

    @task(1)
    def reset_password(self) -> None:
        if not CUSTOMER:
            return
        sender = f"load-{uuid.uuid4().hex}"
        self.say(sender, "I forgot my password", "turn")
        self.say(sender, CUSTOMER, "turn")
