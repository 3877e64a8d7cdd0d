"""A bounded schema-driven fuzz run of the web app: every generated request gets a documented,
non-5xx answer. Schemathesis reads the app's own /openapi.json and calls the app in-process."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import allow_header_conformance, unsupported_method
from sqlalchemy import create_engine

from bot.handoff import HandoffQueue, NewTicket
from bot.kb.search import KnowledgeBase
from bot.settings import Settings
from bot.web.app import create_app
from tests.conftest import DEMO_KB
from tests.handoff_fixtures import database_url
from tests.test_handoff_api import ACTION_SERVER, AGENT, _new, _settings

# A fixed seed and a fixed number of examples per operation keep the run short and repeatable.
SEED = 20240601
MAX_EXAMPLES = 30
FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,  # no saved failures replayed first: each run is the same run
    suppress_health_check=list(HealthCheck),
)
_SCHEMA_DIR = tempfile.TemporaryDirectory(prefix="fuzz-schema-")


def _schema_app() -> FastAPI:
    """An app to read the OpenAPI document from; requests go to the apps the fixtures build."""
    settings = Settings(
        settings_file=Path("/nonexistent"),
        data_dir=Path(_SCHEMA_DIR.name),
        session_secret="schema-only",
        rasa_token="schema-only",
    )
    return create_app(settings, queue=HandoffQueue(create_engine("sqlite://")))


CONFIG = {
    "seed": SEED,
    "generation": {"max-examples": MAX_EXAMPLES},
    # Schemathesis' defaults, and 413: a body too long for its schema can be too big to read.
    "checks": {
        "negative_data_rejection": {
            "expected-statuses": [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429, "5xx"]
        }
    },
}
schema = schemathesis.openapi.from_asgi(
    "/openapi.json", _schema_app(), config=schemathesis.Config.from_dict(CONFIG)
)
# The /api/chat routes are left out: they need a Rasa server behind them (tests/test_chat.py).
queue_api = schema.include(tag="handoff")
help_centre = schema.include(path_regex=r"^/(healthz|api/search|help/)")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def queue_app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """The app over a fresh queue with a few tickets in it, and no webhook or Rasa hooks."""
    tmp_path = tmp_path_factory.mktemp(request.param)
    for url in database_url(request.param, tmp_path):
        queue = HandoffQueue.from_url(url)
        for i in range(3):
            queue.create(NewTicket(**_new(f"fuzz-{i}")))
        yield create_app(_settings(url, tmp_path), queue=queue)
        queue.close()


@queue_api.parametrize()
@FUZZ_SETTINGS
def test_the_handoff_api_answers_every_generated_request(case, queue_app: FastAPI) -> None:
    """Agent calls everywhere, except creating a ticket: only the action server may do that."""
    service_call = (case.method, case.path) == ("POST", "/api/tickets")
    # GET /api/tickets/claim-next is GET /api/tickets/{ticket_id} with a bad id (a 422, not a
    # 405), so the Allow header rightly names GET although the schema's claim-next has only POST.
    claim_next = case.path == "/api/tickets/claim-next"
    excluded = [allow_header_conformance, unsupported_method] if claim_next else []
    case.call_and_validate(
        app=queue_app, headers=ACTION_SERVER if service_call else AGENT, excluded_checks=excluded
    )


@pytest.fixture(scope="module")
def help_app(demo_index: Path, embedder, tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    """The app serving the demo knowledge base's built index."""
    tmp_path = tmp_path_factory.mktemp("help")
    settings = _settings(f"sqlite:///{tmp_path / 'handoff.db'}", tmp_path)
    # past the search limit a repeat 429 would be held (rate_limit_tarpit_seconds): not what
    # this test is about (tests/test_rate_limits_tarpit.py is), and it would only slow it down
    settings = settings.model_copy(
        update={"kb_dir": DEMO_KB, "index_dir": demo_index, "rate_limit_tarpit_seconds": 0}
    )
    kb = KnowledgeBase(demo_index, settings.embedding_model, embedder=embedder)
    return create_app(settings, kb=kb)


@pytest.mark.model
@help_centre.parametrize()
@FUZZ_SETTINGS
def test_the_help_centre_answers_every_generated_request(case, help_app: FastAPI) -> None:
    """No server errors; its HTML pages (/help/...) do not declare their 404 yet."""
    case.call_and_validate(app=help_app, checks=[not_a_server_error])
