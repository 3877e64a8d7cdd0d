"""The action server: rasa-sdk's app running actions/, on a private address, answering only Rasa.

`python -m bot.action_server` is what `bot up` starts. It is rasa-sdk's own server (same routes,
same `ACTION_SERVER_SANIC_WORKERS`) with two changes: it listens on `action_host` (loopback by
default, never 0.0.0.0 unless configured), and every route but `/health` answers 401 unless the
request carries `Authorization: Bearer <action_token>`, the header Rasa is configured to send.
"""

from __future__ import annotations

import hmac
import logging
import os
import warnings
from functools import partial

from rasa_sdk import utils
from rasa_sdk.endpoint import create_app_for_serve
from rasa_sdk.executor import ActionExecutor
from sanic import Sanic, response
from sanic.request import Request
from sanic.worker.loader import AppLoader

from bot.settings import load_settings
from bot.tokens import internal_token

OPEN_PATHS = frozenset({"/health"})
logger = logging.getLogger(__name__)


def create_app(token: str, actions_package: str = "actions") -> Sanic:
    """rasa-sdk's app for the actions package, behind the bearer token (module level: each
    worker builds its own)."""
    # rasa-sdk warns on every call that Rasa 3.6 is not its own minor version (4 lines in the log
    # per turn); the pair is the one tested here (tests/test_conversations.py and the rest)
    warnings.filterwarnings(
        "ignore", message=r"Your versions of rasa and rasa_sdk might not be compatible"
    )
    executor = ActionExecutor()
    executor.register_package(actions_package)
    app = create_app_for_serve(executor, cors_origins=None)
    expected = f"Bearer {token}".encode()

    @app.on_request
    async def require_token(request: Request) -> response.HTTPResponse | None:
        if request.path in OPEN_PATHS:
            return None
        sent = request.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(sent, expected):
            return response.json(
                {"error": "missing or wrong token: send 'Authorization: Bearer <token>'"},
                status=401,
            )
        return None

    if actions_package == "actions":

        @app.after_server_start
        async def warm_up(_app: Sanic) -> None:
            # the first customer should not wait for the embedding model and the index to load
            from actions import warm_up_in_background

            warm_up_in_background()

    return app


def serve(host: str, port: int, token: str) -> None:
    """Run the server until it is stopped (workers: ACTION_SERVER_SANIC_WORKERS, default 1)."""
    loader = AppLoader(factory=partial(create_app, token))
    app = loader.load()
    app.prepare(host=host, port=port, workers=utils.number_of_sanic_workers())
    logger.info(f"action server listening on http://{host}:{port}")
    Sanic.serve(primary=app, app_loader=loader)


def main() -> None:
    """Entry point: settings from the environment, like every other process of the bot."""
    settings = load_settings()
    # torch reads these when it starts (in each worker, after this): one query per thread
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, str(settings.action_torch_threads))
    utils.configure_colored_logging("INFO")
    utils.update_sanic_log_level()
    serve(settings.action_host, settings.action_port, internal_token(settings, "action"))


if __name__ == "__main__":
    main()
