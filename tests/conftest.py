"""Shared fixtures: small article folders, the real embedding model, a built demo index and its
search and help-centre app, the queue databases (tests/handoff_fixtures.py) and the real stack."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import textwrap
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from bot.hours import DAYS
from bot.kb.builder import BuildOptions, BuildReport, build_index
from bot.kb.chunker import ChunkConfig
from bot.kb.embedder import Embedder
from bot.kb.search import KnowledgeBase
from bot.settings import Settings
from tests.catalog_fixtures import demo_catalog, product_search  # noqa: F401 - product fixtures
from tests.handoff_fixtures import queue, queue_url  # noqa: F401 - fixtures for every module
from tests.traffic import NO_RATE_LIMITS

ROOT = Path(__file__).resolve().parent.parent
DEMO_KB = ROOT / "kb_articles"
DEMO_NLU = ROOT / "data" / "nlu"
# the product route's phrasings: the writers' file and the demo feed's types and titles
DEMO_PRODUCTS = {
    "catalog_phrasings": ROOT / "catalog" / "phrasings.yml",
    "catalog_feed": str(ROOT / "catalog" / "demo-feed.xml"),
}
BASE_URL = "https://help.example.test/"


def write(folder: Path, rel: str, text: str) -> Path:
    """Write a file (dedented) under folder, creating sub-folders."""
    path = folder / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


@pytest.fixture
def kb_dir(tmp_path: Path) -> Path:
    """An empty knowledge-base folder."""
    folder = tmp_path / "kb"
    folder.mkdir()
    return folder


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The real default model, loaded once for the whole session."""
    return Embedder()


@pytest.fixture(scope="session")
def onnx_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default model's ONNX export (bot.kb.encoder), made once in an empty folder, as on a
    new machine."""
    from bot.kb.encoder import ensure

    return ensure("all-MiniLM-L6-v2", tmp_path_factory.mktemp("encoders"))


class CountingFactory:
    """An embedder factory that hands out the shared model and counts how often it is asked."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self.calls = 0

    def __call__(self, name: str) -> Embedder:
        self.calls += 1
        return self.embedder


@pytest.fixture
def builder(embedder: Embedder) -> Callable[..., BuildReport]:
    """Build an index with the shared model: builder(kb_dir, index_dir, **options)."""

    def run(
        kb: Path, index: Path, skip_invalid: bool = False, factory=None, **extra
    ) -> BuildReport:
        options = BuildOptions(
            kb_dir=kb,
            index_dir=index,
            base_url=BASE_URL,
            model="all-MiniLM-L6-v2",
            chunking=ChunkConfig(),
            **extra,
        )
        return build_index(
            options, skip_invalid, embedder_factory=factory or CountingFactory(embedder)
        )

    return run


@pytest.fixture(scope="session")
def demo_index(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Path:
    """The demo knowledge base, built once into a temporary index folder (with its router,
    trained on the articles and the Rasa NLU examples, as `bot kb build` does)."""
    index = tmp_path_factory.mktemp("demo-index")
    options = BuildOptions(
        kb_dir=DEMO_KB,
        index_dir=index,
        base_url="http://localhost:8080/help/",
        model="all-MiniLM-L6-v2",
        chunking=ChunkConfig(),
        nlu_dir=DEMO_NLU,
        **DEMO_PRODUCTS,
    )
    build_index(options, embedder_factory=lambda name: embedder)
    return index


@pytest.fixture(scope="module")
def kb(demo_index: Path, embedder: Embedder) -> KnowledgeBase:
    """Search over the demo index with the shared model, one per test module."""
    return KnowledgeBase(demo_index, "all-MiniLM-L6-v2", embedder=embedder)


@pytest.fixture(scope="module")
def client(
    demo_index: Path, kb: KnowledgeBase, tmp_path_factory: pytest.TempPathFactory
) -> TestClient:
    """The web app on the demo index (help centre, search), one per test module; a module that
    tests the app with other settings (a queue, agents, hooks) defines its own `client`."""
    from bot.web.app import create_app

    settings = Settings(
        # a relative articles folder, as `make run` uses it
        kb_dir=Path(os.path.relpath(DEMO_KB, Path.cwd())),
        index_dir=demo_index,
        data_dir=tmp_path_factory.mktemp("web-var"),
        settings_file=Path("/nonexistent"),
    )
    return TestClient(create_app(settings, kb=kb))


@pytest.fixture
def demo_copy(tmp_path: Path) -> Path:
    """A private copy of the demo articles that a test may edit."""
    target = tmp_path / "kb"
    shutil.copytree(DEMO_KB, target)
    return target


class _Training:
    """`rasa train` for the current data, run in a thread while the tests that do not need the
    model go first (a fresh clone, or changed data: a few minutes of training)."""

    def __init__(self) -> None:
        self.model: Path | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._train, name="rasa-train", daemon=True)

    def _train(self) -> None:
        from bot.stack import ensure_model

        try:
            self.model, _ = ensure_model()
        except BaseException as exc:  # noqa: BLE001 - handed to the tests that need the model
            self.error = exc

    def result(self) -> Path:
        """The model, once trained; the training's error if it failed."""
        self.thread.join()
        if self.error is not None:
            raise self.error
        assert self.model is not None
        return self.model


_training: _Training | None = None


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Modules with a test that needs the trained Rasa model run last, each module whole and in
    its usual order, and the model is trained in the background meanwhile."""
    global _training
    needing = {
        item.module
        for item in items
        if "rasa_model" in getattr(item, "fixturenames", ()) or item.get_closest_marker("rasa")
    }
    items.sort(key=lambda item: item.module in needing)  # stable: the order within each group
    if not needing or config.option.collectonly:
        return
    _training = _Training()
    _training.thread.start()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A run that stopped early still lets the training finish: no half-written model."""
    if _training is not None:
        _training.thread.join()


@pytest.fixture(scope="session")
def rasa_model() -> Path:
    """The trained Rasa model for the current data (trained once if the data changed)."""
    if _training is not None:
        return _training.result()
    from bot.stack import ensure_model

    model, _ = ensure_model()
    return model


@dataclass
class WebStack:
    """The whole bot as `bot up` runs it (action server, Rasa, web app) on free ports."""

    url: str
    data_dir: Path
    agent_token: str
    settings: Settings


def _web_stack(
    folder: Path, rasa_model: Path, embedder: Embedder, catalog_dir: Path, **fields: Any
) -> Iterator[WebStack]:
    """The whole stack on free ports in folder, with these settings on top of a test stack's."""
    from bot.stack import free_port, own_stack_settings, running_stack

    web_port = free_port()
    web_url = f"http://127.0.0.1:{web_port}"
    settings = own_stack_settings(
        folder,
        index_dir=folder / "index",
        web_port=web_port,
        help_base_url=f"{web_url}/help/",
        **NO_RATE_LIMITS,  # every test's customers come from 127.0.0.1
        catalog_dir=catalog_dir,  # the demo catalogue, synced once for the session
        **fields,
    )
    # Citations link to this web app's help centre, so a browser can follow them.
    options = BuildOptions(
        kb_dir=DEMO_KB,
        index_dir=folder / "index",
        base_url=f"{web_url}/help/",
        model="all-MiniLM-L6-v2",
        chunking=ChunkConfig(),
        nlu_dir=DEMO_NLU,  # the router learns the flows, handoff and small talk from these
        **DEMO_PRODUCTS,  # and product questions
    )
    build_index(options, embedder_factory=lambda name: embedder)
    with running_stack(settings, rasa_model, folder, roles=("actions", "rasa", "web")):
        token = (folder / "var" / "demo-agent.token").read_text().strip()
        yield WebStack(web_url, folder / "var", token, settings)


@pytest.fixture(scope="session")
def web_stack(
    rasa_model: Path,
    embedder: Embedder,
    tmp_path_factory: pytest.TempPathFactory,
    demo_catalog: Path,  # noqa: F811 - the fixture imported above
) -> Iterator[WebStack]:
    """One real stack for the whole session (browser and conversation tests share it; each
    test uses its own conversation ids, so they do not meet)."""
    folder = tmp_path_factory.mktemp("web-stack")
    yield from _web_stack(folder, rasa_model, embedder, demo_catalog)


AFTER_HOURS_ZONE = "America/New_York"


def closed_for_two_days(now: dt.datetime | None = None) -> dict[str, Any]:
    """Business hours every day 09:00-17:00 (New York), with today and tomorrow holidays: closed
    for all of a test session, and back the day after tomorrow at 9 AM."""
    today = (now or dt.datetime.now(dt.UTC)).astimezone(ZoneInfo(AFTER_HOURS_ZONE)).date()
    return {
        "business_hours": {day: "09:00-17:00" for day in DAYS},
        "business_timezone": AFTER_HOURS_ZONE,
        "business_holidays": [
            f"{today.isoformat()} Test holiday",
            f"{(today + dt.timedelta(days=1)).isoformat()} Test holiday",
        ],
    }


@pytest.fixture(scope="session")
def after_hours_stack(
    rasa_model: Path,
    embedder: Embedder,
    tmp_path_factory: pytest.TempPathFactory,
    demo_catalog: Path,  # noqa: F811 - the fixture imported above
) -> Iterator[WebStack]:
    """A second real stack whose team is away (closed_for_two_days): conversation scripts that
    say `stack: after_hours`, and the after-hours chat in chromium."""
    folder = tmp_path_factory.mktemp("after-hours-stack")
    yield from _web_stack(folder, rasa_model, embedder, demo_catalog, **closed_for_two_days())


@pytest.fixture(scope="session")
def store_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Orders and customers of the demo store (tests/conversations fill their text with them)."""
    from bot.store.demo import DemoStore

    # the demo store seeds the same customers and orders every time: read them from a copy
    store = DemoStore(tmp_path_factory.mktemp("store") / "demo_store.db")
    (order, order_email), (order2, order2_email) = store.sample("shipped"), store.sample("delayed")
    customers = store.customer_emails(400)
    typo = order_email.replace("@", "x@", 1)
    return {
        "order": order,
        "order_nodash": order.replace("-", ""),
        "order_email": order_email,
        "order2": order2,
        "order2_email": order2_email,
        "typo_email": typo,
        "customers": customers,
    }


# Browser tests drive Debian's chromium (never a downloaded one); BOT_CHROMIUM names another.
CHROMIUM = os.environ.get("BOT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One chromium for every browser test. A missing browser fails them: a skip would hide it."""
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"chromium not found at {CHROMIUM}: `make setup` installs it when it can (as root or "
            "with passwordless sudo); otherwise run `sudo apt-get install chromium`"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        yield browser
        browser.close()
