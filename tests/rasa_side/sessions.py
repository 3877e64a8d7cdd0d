"""Rasa-side check: calls to the action server keep their connection and Rasa's request."""

from __future__ import annotations

import asyncio
import types
from typing import Any

import rasa.core.run
from aiohttp import web
from rasa.utils.endpoints import ClientResponseError, EndpointConfig

from rasa_plugins import speedups
from tests.rasa_side import run_check


async def _calls() -> None:
    seen: list[dict[str, Any]] = []

    async def webhook(request: web.Request) -> web.Response:
        seen.append(
            {
                "peer": request.transport.get_extra_info("peername")[1],
                "headers": [
                    request.headers.get("Authorization"),
                    request.headers.get("Content-Type"),
                    request.query.get("token"),
                ],
                "body": await request.json(),
            }
        )
        if seen[-1]["body"].get("fail"):
            return web.Response(status=400, text="no such action")
        return web.json_response({"events": [], "n": len(seen)})

    app = web.Application()
    app.router.add_post("/webhook", webhook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    endpoint = EndpointConfig(
        f"http://127.0.0.1:{port}/webhook",
        token="t0k",
        headers={"Authorization": "Bearer secret"},
    )
    replies = [await endpoint.request(json={"i": i}, method="post") for i in range(3)]
    assert [reply["n"] for reply in replies] == [1, 2, 3]
    try:
        await endpoint.request(json={"fail": True}, method="post")
    except ClientResponseError as exc:
        text = exc.text.decode() if isinstance(exc.text, bytes) else exc.text
        assert (exc.status, text) == (400, "no such action")
    else:
        raise AssertionError("a failing call raised nothing")
    await runner.cleanup()  # the server goes away, and comes back on the same port
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    assert (await endpoint.request(json={"i": 9}, method="post"))["n"] == 5
    await runner.cleanup()
    session = endpoint._tier0_session
    # what Rasa registers to run after its server stops (no agent here)
    await rasa.core.run.close_resources(types.SimpleNamespace(ctx=types.SimpleNamespace()), None)
    assert session.closed

    peers = [call["peer"] for call in seen]
    assert len(set(peers[:4])) == 1, peers  # one connection for the four calls
    assert peers[4] != peers[0], peers  # a new one after the restart
    assert all(call["headers"] == ["Bearer secret", "application/json", "t0k"] for call in seen)
    sent = [{"i": 0}, {"i": 1}, {"i": 2}, {"fail": True}, {"i": 9}]
    assert [call["body"] for call in seen] == sent


def check_kept_connections() -> None:
    """Calls to an endpoint reuse one connection, with Rasa's headers, token, body, reply and
    error; after the server restarts the next call opens a new connection and succeeds; the
    session closes when Rasa's server stops."""
    speedups.install()
    try:
        assert "action_sessions" in speedups.installed()
        asyncio.run(_calls())
    finally:
        speedups.undo()


if __name__ == "__main__":
    run_check(globals())
