"""Run by tests/test_serving.py in .venv-rasa (it has python-socketio): a customer on Rasa's
socket.io channel. Sends two messages and prints the bot's messages as JSON.

Usage: python tests/rasa_side/socketio_customer.py URL CONVERSATION_ID
"""

import json
import sys
import threading
import time

import socketio

WAIT = 60.0  # the most it waits for the bot's answer to one message


def main(url, conversation):
    got = []
    confirmed = threading.Event()
    client = socketio.Client()
    client.on("bot_uttered", lambda data: got.append(data))
    client.on("session_confirm", lambda *_: confirmed.set())
    client.connect(url, transports=["polling"])
    client.emit("session_request", {"session_id": conversation})
    confirmed.wait(WAIT)
    for text in ["/EXTERNAL_handoff_resolved", "hello"]:
        before = len(got)
        client.emit("user_uttered", {"message": text, "session_id": conversation})
        deadline = time.monotonic() + WAIT
        while len(got) == before or not (
            got[-1].get("custom") or "Sorry" in got[-1].get("text", "")
        ):
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
    client.disconnect()
    return got


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2])))
