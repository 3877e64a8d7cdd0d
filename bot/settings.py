"""One settings object for the whole bot: BOT_* environment variables over an optional TOML file."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_SETTINGS_FILE = "bot.toml"
# The patches of rasa_plugins/speedups.py, each of which rasa_speedups_off can switch off
# (tests/test_rasa_speedups.py keeps this list equal to speedups.NAMES)
RasaSpeedup = Literal[
    "action_reply_check",
    "event_lookup",
    "action_sessions",
    "sequential_graph",
    "model_frozen",
]


class Settings(BaseSettings):
    """Every tunable of the bot, each with a default; BOT_<FIELD> in the environment overrides."""

    # errors never echo a value: smtp_url (and other settings) may hold a password
    model_config = SettingsConfigDict(env_prefix="BOT_", extra="ignore", hide_input_in_errors=True)

    settings_file: Path = Field(
        Path(DEFAULT_SETTINGS_FILE),
        description="Optional TOML file with settings (environment variables win over it).",
    )

    # Knowledge base
    kb_dir: Path = Field(Path("kb_articles"), description="Folder of Markdown articles.")
    index_dir: Path = Field(Path("index"), description="Folder the FAISS index is built into.")
    kb_tests_file: Path = Field(
        Path("tests/kb_questions.yml"),
        description="Writers' regression file: questions that must find a given article.",
    )
    help_base_url: str = Field(
        "/help/",
        description="Public help-centre address; an article's default url is this plus its id. "
        "The default, a path, is the web app's own help centre: citations open on the host and "
        "port the customer is using (set a full https:// address for other channels).",
    )
    embedding_model: str = Field(
        "all-MiniLM-L6-v2",
        description="sentence-transformers model name or local path (loaded offline).",
    )
    embedding_batch_size: int = Field(32, ge=1, description="Texts embedded per batch.")
    query_encoder: Literal["onnx", "torch"] = Field(
        "onnx",
        description="What embeds a customer's question in the action server: the model exported "
        "to ONNX Runtime (the same vectors for less CPU, no torch loaded) or "
        "sentence-transformers on torch.",
    )
    encoder_dir: Path = Field(
        Path("models/encoders"),
        description="Where the ONNX export of the embedding model is kept (made once per model, "
        "checked against sentence-transformers).",
    )
    index_type: Literal["auto", "flat", "hnsw"] = Field(
        "auto", description="FAISS index: exact 'flat', graph 'hnsw', or 'auto' by size."
    )
    ann_threshold: int = Field(
        50_000, ge=1, description="With index_type 'auto': vectors from which HNSW is used."
    )
    chunk_max_tokens: int = Field(
        256, ge=32, description="Token budget of one chunk, title and headings included."
    )
    chunk_overlap_tokens: int = Field(
        32, ge=0, description="Tokens repeated from the previous chunk when a section splits."
    )
    chunk_min_tokens: int = Field(
        20, ge=0, description="Sections shorter than this merge with a neighbour."
    )
    article_max_words: int = Field(
        1500, ge=100, description="Lint warns about articles longer than this."
    )
    index_keep_versions: int = Field(
        3, ge=2, description="Index versions kept on disk (readers may still use older ones)."
    )

    # Product catalogue
    catalog_feed: str = Field(
        "catalog/demo-feed.xml",
        description="The store's Google Merchant product feed (RSS 2.0 XML or tab-separated): a "
        "path, or an http(s) address the store serves. Empty: no product answers.",
    )
    catalog_dir: Path = Field(
        Path("index/catalog"),
        description="Folder the synced catalogue versions (products and vectors) are kept in.",
    )
    catalog_phrasings: Path = Field(
        Path("catalog/phrasings.yml"),
        description="How shoppers ask about products, in the writers' words: `kb build` trains "
        "the router's `product` route on them and on phrasings made from the catalogue's types "
        "and titles (a missing file: only those).",
    )
    catalog_sync_minutes: int = Field(
        60,
        ge=0,
        description="`bot up` syncs the catalogue from its feed this often (0: only at start "
        "and by `bot catalog sync`).",
    )
    catalog_max_bytes: int = Field(
        200_000_000,
        ge=1000,
        description="Largest feed read; a bigger one is refused and the last good catalogue "
        "keeps serving.",
    )
    catalog_timeout_seconds: float = Field(
        60.0, gt=0, description="Timeout of fetching a feed from an http(s) address."
    )
    restock_confirm_days: int = Field(
        7,
        ge=1,
        le=90,
        description="A back-in-stock alert's confirmation link works this many days; an alert "
        "never confirmed is deleted after it.",
    )
    restock_retention_days: int = Field(
        180,
        ge=1,
        description="Back-in-stock alerts sent or unsubscribed are deleted (with the customer's "
        "email) this many days later (by the web app once an hour, and by `bot catalog alerts "
        "--purge`).",
    )
    restock_alerts_per_hour_per_address: int = Field(
        10,
        ge=0,
        description="Back-in-stock alerts the conversations of one client address may ask for "
        "per hour. 0: no limit.",
    )
    restock_alerts_per_day_per_email: int = Field(
        5,
        ge=0,
        description="Back-in-stock alerts (each sends a confirmation email) one email address "
        "may be given per day: nobody can flood someone else's inbox. 0: no limit.",
    )

    # Web app
    web_host: str = Field("127.0.0.1", description="Address the web app listens on.")
    web_port: int = Field(8080, ge=1, le=65535, description="Port of the web app.")
    web_edge: bool = Field(
        False,
        description="Run HAProxy on web_host:web_port in front of the web app (which then "
        "listens on 127.0.0.1:web_app_port): it refuses chat messages, new conversations and "
        "searches over the per-address limits with 429 before they cost a Python worker; the "
        "web app keeps its own limits behind it (benchmarks/README.md, abusive senders).",
    )
    web_app_port: int = Field(
        0,
        ge=0,
        le=65535,
        description="The web app's own port (on 127.0.0.1) when web_edge is on; 0: web_port + 1.",
    )
    data_dir: Path = Field(Path("var"), description="Where databases and generated secrets live.")

    # Handoff queue
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the handoff queue (default: SQLite in data_dir). "
        "Use postgresql+psycopg://... to scale past one machine.",
    )
    agent_tokens: dict[str, str] = Field(
        default_factory=dict,
        description="Agent name -> 'sha256:<hex>' of their token (`bot handoff hash-token`).",
    )
    service_token: str | None = Field(
        None, description="'sha256:<hex>' of the action server's token for creating tickets."
    )
    session_secret: str | None = Field(
        None, description="Key that signs inbox session cookies (default: generated in data_dir)."
    )
    cookie_secure: bool = Field(True, description="Send the inbox cookie over HTTPS only.")
    production: bool = Field(
        False,
        description="Production mode (also `bot up --production`): `bot up` refuses to start "
        "without agent_tokens, a session_secret of at least 32 characters and cookie_secure, "
        "and never makes a demo agent. Off: demo mode, which says so when it starts.",
    )
    session_idle_minutes: int = Field(
        30,
        ge=1,
        le=24 * 60,
        description="An inbox session unused for this long ends; the agent signs in again.",
    )
    session_lifetime_hours: float = Field(
        8.0,
        gt=0,
        le=24 * 7,
        description="An inbox session ends this long after sign-in, however busy it is.",
    )
    sign_in_max_failures: int = Field(
        5,
        ge=1,
        description="Failed inbox sign-ins from one address within sign_in_window_minutes "
        "after which it gets 429 (Retry-After) until the oldest of them ages out.",
    )
    sign_in_window_minutes: int = Field(
        15, ge=1, description="The window over which failed sign-ins are counted."
    )
    api_docs: bool = Field(
        True,
        description="Serve the API docs at /docs and /redoc (Swagger UI and ReDoc from files "
        "the project installs, never a CDN); false turns both pages off.",
    )
    webhook_urls: list[str] = Field(
        default_factory=list, description="URLs that get a signed POST for each new ticket."
    )
    webhook_secret: str | None = Field(None, description="HMAC-SHA256 key for webhook signatures.")
    webhook_timeout_seconds: float = Field(5.0, gt=0, description="Timeout of one webhook call.")
    webhook_retries: int = Field(3, ge=0, le=10, description="Retries of a failing webhook.")
    rasa_port: int = Field(5005, ge=1, le=65535, description="Port of the Rasa server (`bot up`).")
    action_port: int = Field(
        5055, ge=1, le=65535, description="Port of the action server (`bot up`)."
    )
    rasa_host: str = Field(
        "127.0.0.1",
        description="Address the Rasa server listens on: loopback, or a private network's "
        "address when the web app runs on another machine. Never a public one.",
    )
    action_host: str = Field(
        "127.0.0.1",
        description="Address the action server listens on (loopback, or a private address).",
    )
    rasa_url: str | None = Field(
        None, description="Where the web app reaches Rasa (default: rasa_host and rasa_port)."
    )
    action_url: str | None = Field(
        None,
        description="Where Rasa reaches the action server's webhook "
        "(default: action_host and action_port).",
    )
    rasa_token: str | None = Field(
        None,
        description="Token of Rasa's HTTP API and REST channel (default: generated once and "
        "kept in data_dir/rasa.token).",
    )
    action_token: str | None = Field(
        None,
        description="Token Rasa sends to the action server (default: generated once and kept "
        "in data_dir/action.token).",
    )
    tracker_store_url: str | None = Field(
        None,
        description="SQLAlchemy URL of Rasa's conversation store (default: SQLite "
        "data_dir/conversations.db); postgresql+psycopg://user@host/db for PostgreSQL.",
    )
    rasa_replicas: int = Field(
        1,
        ge=1,
        le=32,
        description="Rasa servers `bot up` starts. Above 1: HAProxy on rasa_port in front of "
        "them (hashing on the conversation id), Rasa's RedisLockStore at redis_url, and the "
        "conversations on PostgreSQL (tracker_store_url).",
    )
    rasa_replica_ports: list[int] = Field(
        default_factory=list,
        description="Ports of the Rasa replicas (default: rasa_port+1, rasa_port+2, ...).",
    )
    rasa_backends: list[str] = Field(
        default_factory=list,
        description="host:port of Rasa servers on other machines that HAProxy also balances "
        "over (scale-out across machines).",
    )
    redis_url: str = Field(
        "redis://127.0.0.1:6379/1",
        description="Redis for Rasa's lock store when rasa_replicas > 1 or rasa_backends are set.",
    )
    lock_key_prefix: str = Field(
        "tier0",
        pattern=r"^[A-Za-z0-9]+$",
        description="Prefix of the lock keys in Redis (letters and digits), one per bot.",
    )
    lock_lifetime_seconds: int = Field(
        10,
        ge=2,
        le=600,
        description="How long a conversation's lock outlives a Rasa server that died holding it "
        "(Rasa's TICKET_LOCK_LIFETIME; longer than the slowest turn).",
    )
    haproxy_bin: str = Field("haproxy", description="The HAProxy program (Debian's package).")
    action_workers: int = Field(
        1,
        ge=1,
        le=32,
        description="Worker processes of the action server (ACTION_SERVER_SANIC_WORKERS); each "
        "loads the embedding model.",
    )
    action_torch_threads: int = Field(
        1,
        ge=1,
        le=64,
        description="Threads that embed a question in each action-server worker (ONNX Runtime's "
        "or torch's). One query is too small to split; with several turns at once, more threads "
        "only fight over the cores (benchmarks/README.md).",
    )
    rasa_speedups: bool = Field(
        True,
        description="Run Rasa with the patches of rasa_plugins/speedups.py (the same answers "
        "for less CPU, see benchmarks/README.md), each only on the library versions it was "
        "written for. False runs Rasa's own code as shipped, e.g. to rule the patches out after "
        "an upgrade: what stays are the tracker store, lock store and channels of rasa_plugins, "
        "which Rasa loads through its own extension points (endpoints.yml, credentials.yml).",
    )
    rasa_speedups_off: list[RasaSpeedup] = Field(
        default_factory=list,
        description="Patches of rasa_plugins/speedups.py left out while rasa_speedups is true, "
        "by name: " + ", ".join(get_args(RasaSpeedup)) + ".",
    )
    rasa_threads: int = Field(
        1,
        ge=1,
        le=64,
        description="TensorFlow threads of each Rasa server (its intra- and inter-op pools): one "
        "message is too small to split, and idle pool threads spin on the cores.",
    )
    web_workers: int = Field(1, ge=1, le=32, description="uvicorn worker processes of the web app.")
    rasa_socketio: bool = Field(
        False,
        description="Also open Rasa's socket.io channel (for a socket.io widget); it takes "
        "the same message checks as the chat gateway. Off by default.",
    )
    trusted_proxies: list[str] = Field(
        default_factory=lambda: ["127.0.0.1"],
        description="Addresses of the reverse proxies in front of the web app whose "
        "X-Forwarded-For and X-Forwarded-Proto the web app believes (uvicorn's "
        "forwarded_allow_ips); a request from anywhere else is taken from the address it came "
        "from, so a client cannot pick the address its rate limits count against.",
    )
    rate_limit_store: Literal["auto", "database", "redis"] = Field(
        "auto",
        description="Where rate limits are counted, shared by every web worker: 'database' (the "
        "handoff database), 'redis' (redis_url), or 'auto': Redis when the stack runs it "
        "(rasa_replicas > 1 or rasa_backends), else the database.",
    )
    chat_messages_per_minute: int = Field(
        20,
        ge=0,
        description="Messages one conversation may send per minute (a sliding minute); more get "
        "429 with Retry-After. 0: no limit.",
    )
    chat_messages_per_minute_per_address: int = Field(
        60,
        ge=0,
        description="Chat messages one client address may send per minute, all its "
        "conversations together (an office behind one address holds many customers). 0: none.",
    )
    conversations_per_hour_per_address: int = Field(
        30,
        ge=0,
        description="New conversations one client address may start per hour (the widget keeps "
        "its conversation across pages and visits). 0: no limit.",
    )
    tickets_per_hour_per_address: int = Field(
        10,
        ge=0,
        description="Handoffs to a person (new tickets) the conversations of one client address "
        "may ask for per hour; past it the bot says to try again later. 0: no limit.",
    )
    searches_per_minute_per_address: int = Field(
        60,
        ge=0,
        description="Searches (/api/search, the help centre's search) one client address may "
        "make per minute. 0: no limit.",
    )
    rate_limit_tarpit_seconds: float = Field(
        5.0,
        ge=0,
        le=60,
        description="A client refused again before its Retry-After has passed (a script that "
        "ignores it) gets its 429 only after this delay, at the edge and in the web app (the "
        "app never past its Retry-After): a script that sends as soon as it is answered slows to "
        "a trickle. The first refusal is answered at once. 0: no delay.",
    )
    rate_limit_tarpit_max: int = Field(
        256,
        ge=0,
        description="Refusals one web worker holds back at once (rate_limit_tarpit_seconds); "
        "past it a refusal is answered at once, so held requests cannot exhaust its sockets.",
    )
    edge_connections_per_address: int = Field(
        500,
        ge=0,
        description="Open connections one client address may hold at the edge (web_edge) at "
        "once; more are closed. Generous: a shop or office behind one address opens several "
        "per browser. Not applied to trusted_proxies (they carry many clients). 0: no cap.",
    )
    conversation_max_messages: int = Field(
        300,
        ge=10,
        description="Customer messages one conversation may hold; past it the widget offers a "
        "new conversation (a longer one slows every turn of it).",
    )
    history_max_items: int = Field(
        200,
        ge=20,
        description="Most items of a conversation the widget's first read returns (the newest; "
        "it says that earlier ones are left out).",
    )
    widget_origins: list[str] = Field(
        default_factory=list,
        description="Other sites allowed to embed the chat widget (CORS origins of /api/chat); "
        "the web app's own pages need none.",
    )

    widget_page_topics: dict[str, str] = Field(
        default_factory=dict,
        description="Help articles the widget suggests on a page, by the page's path: "
        "{'/shop/candles' = 'candle care and burning times', '/checkout' = 'payment methods'}; "
        "the longest matching path prefix wins and its words are searched in the articles "
        "(GET /help/for-page.json).",
    )

    # Store backends and dialogue decisions
    store_backend: Literal["demo", "http"] = Field(
        "demo", description="'demo': the embedded SQLite store; 'http': a real store's API."
    )
    store_api_url: str | None = Field(None, description="Base URL of the store's API.")
    store_api_token: str | None = Field(None, description="Bearer token for the store's API.")
    store_timeout_seconds: float = Field(3.0, gt=0, description="Timeout of one store API call.")
    store_retries: int = Field(2, ge=0, le=5, description="Retries of a failing store API call.")
    answer_threshold: float = Field(
        0.40,
        description="Router probability at or above which the bot acts on its best route "
        "(answers from the article, starts the flow, hands off); below it, it offers choices.",
    )
    clarify_threshold: float = Field(
        0.15,
        description="Router probability at or above which an article, a flow or a person among "
        "the top three is offered as a choice when the bot is unsure; with none, the bot says "
        "it can't answer.",
    )
    similarity_threshold: float = Field(
        0.50,
        description="Cosine similarity to the nearest known phrasing of the best route below "
        "which a message counts as unlike anything the bot knows (it can't answer).",
    )
    nlu_weight: float = Field(
        0.2,
        ge=0,
        le=1,
        description="Weight of the Rasa NLU's intent ranking in the router's decision.",
    )
    learned_poll_seconds: float = Field(
        2.0,
        gt=0,
        le=30,
        description="How often each action-server worker checks the database for questions "
        "people confirmed in the review queue (one row read), and then refits its router.",
    )
    nlu_dir: Path = Field(
        Path("data/nlu"),
        description="Rasa NLU examples; `kb build` trains the router on them and the articles.",
    )

    # Insights (bot.insights): what the bot resolved, where it failed, what to write next
    insights_retention_days: int = Field(
        90,
        ge=1,
        description="Recorded turns older than this many days are deleted (by the web app "
        "once an hour, and by `bot insights purge`).",
    )
    insights_keep_text: bool = Field(
        True,
        description="Keep the customer's (masked) words with each recorded turn. Off: only "
        "outcomes are kept, and content gaps cannot be grouped.",
    )
    insights_test_prefixes: list[str] = Field(
        default_factory=lambda: ["eval-", "load-", "bench-", "test-"],
        description="Conversation ids that start with one of these are test traffic (the "
        "evaluation commands, the benchmarks): recorded, but left out of every figure.",
    )
    insights_idle_minutes: int = Field(
        30,
        ge=1,
        description="A conversation with no message for this long has ended; before that the "
        "report counts it as still open.",
    )
    insights_record_seconds: float = Field(
        30.0,
        gt=0,
        description="How often the web app records new turns from Rasa's tracker store.",
    )

    # Email (bot.mail): every email leaves through the durable outbox and the mail worker
    smtp_url: SecretStr | None = Field(
        None,
        description="The mail server: smtp://user:pass@host:587 (STARTTLS, required), "
        "smtps://user:pass@host:465 (TLS from the start), or smtp+insecure://host:25 (plain, for "
        "a relay on this machine only). Unset: emails wait in the outbox until it is set. "
        "The password never appears in logs or on a command line.",
    )
    mail_from: str = Field(
        "Northwind Goods Support <support@shop.example>",
        description="The From address of every email the bot sends.",
    )
    mail_host: str = Field("127.0.0.1", description="Address of the mail worker's health port.")
    mail_port: int = Field(
        5071, ge=1, le=65535, description="Port of the mail worker's health check (`bot up`)."
    )
    mail_max_attempts: int = Field(
        12,
        ge=1,
        le=50,
        description="Tries of one email before it is marked failed and shown to the support "
        "lead (with mail_backoff_seconds doubling: about 17 hours with the defaults).",
    )
    mail_backoff_seconds: float = Field(
        30.0, gt=0, description="Wait before the first retry; doubled after each failure."
    )
    mail_backoff_max_seconds: float = Field(
        6 * 3600.0, gt=0, description="The longest wait between two tries."
    )
    mail_timeout_seconds: float = Field(
        20.0, gt=0, description="Timeout of one conversation with the mail server."
    )
    mail_poll_seconds: float = Field(
        2.0, gt=0, description="How often the mail worker looks for emails to send."
    )
    mail_lease_seconds: float = Field(
        120.0,
        gt=0,
        description="How long a worker holds an email it is sending; a worker that died "
        "holding one lets another resend it (with the same Message-ID) after this.",
    )
    public_url: str = Field(
        "http://localhost:8080",
        description="The web app's public address, for links in emails (the inbox's tickets).",
    )
    handoff_email_to: str | None = Field(
        None,
        description="The team's support address (a helpdesk's inbound address): each new "
        "ticket is emailed there, later messages of the ticket in the same thread.",
    )
    agent_notify_emails: list[str] = Field(
        default_factory=list,
        description="Agents' addresses told of each new ticket (a short notice with the link).",
    )
    agent_notify_reasons: list[str] = Field(
        default_factory=list,
        description="Handoff reasons the agent notices are sent for (empty: every reason), "
        "e.g. ['complaint', 'customer_request'].",
    )
    inbound_mail_domain: str | None = Field(
        None,
        description="Domain whose addresses reach the inbound-email webhook (POST "
        "/api/mail/inbound): each ticket gets a signed reply address reply+<ticket>.<sig>@ this "
        "domain, and an agent's reply to it reaches the customer's chat.",
    )
    inbound_mail_secret: str | None = Field(
        None,
        description="Key that signs reply addresses and the inbound webhook's token (default: "
        "generated once and kept in data_dir/inbound-mail.key).",
    )

    # Business hours (bot.hours)
    business_hours: dict[str, str] = Field(
        default_factory=dict,
        description="When agents answer, by weekday: {mon = '08:00-20:00', sat = '09:00-13:00', "
        "sun = 'closed'}; a day may list several spans ('08:00-12:00, 13:00-17:00'). Empty: "
        "every day, all day (availability then depends only on agents signed in).",
    )
    business_timezone: str = Field(
        "America/New_York", description="The time zone of business_hours (an IANA name)."
    )
    business_holidays: list[str] = Field(
        default_factory=list,
        description="Dates the team is off, YYYY-MM-DD (optionally 'YYYY-MM-DD Christmas').",
    )
    after_hours_without_agents: bool = Field(
        True,
        description="Inside business hours with no agent signed in to the inbox, handle a "
        "handoff as after hours (an email answer) instead of a live queue nobody reads.",
    )

    # Help centre (bot.web.help)
    help_search_min_score: float = Field(
        0.45,
        ge=0,
        le=1,
        description="Similarity of a help-centre search's best article below which the search "
        "says it found nothing good, offers the chat and is kept for the content-gap report.",
    )
    theme_color: str = Field(
        "#2f5d3a",
        pattern=r"^#[0-9a-fA-F]{6}$",
        description="The store's accent colour (#rrggbb): the shop page, the help centre and the "
        "chat widget on both.",
    )
    kb_watch: bool = Field(
        False,
        description="Watch kb_dir and publish a saved article within seconds, without a "
        "restart (`make run` turns it on for the demo; production runs `bot kb build`).",
    )

    @property
    def rasa_base_url(self) -> str:
        """Where the Rasa server's HTTP API answers."""
        return self.rasa_url or f"http://{connectable(self.rasa_host)}:{self.rasa_port}"

    @property
    def action_webhook_url(self) -> str:
        """Where Rasa calls the action server."""
        return self.action_url or (
            f"http://{connectable(self.action_host)}:{self.action_port}/webhook"
        )

    @property
    def conversations_url(self) -> str:
        """The SQLAlchemy URL of Rasa's tracker store actually used."""
        return self.tracker_store_url or f"sqlite:///{self.data_dir.resolve() / 'conversations.db'}"

    @property
    def mail_url(self) -> str:
        """Where the mail worker's health check answers."""
        return f"http://{connectable(self.mail_host)}:{self.mail_port}"

    @property
    def queue_url(self) -> str:
        """The handoff database URL actually used."""
        return self.database_url or f"sqlite:///{self.data_dir / 'handoff.db'}"

    @model_validator(mode="after")
    def _hours_are_readable(self) -> Settings:
        """business_hours, business_timezone and business_holidays parse (bot.hours)."""
        from bot.hours import BusinessHours

        BusinessHours.parse(self.business_hours, self.business_timezone, self.business_holidays)
        return self

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url_is_usable(cls, value: SecretStr | None) -> SecretStr | None:
        """A wrong scheme or no host is refused at start (the message never shows the URL)."""
        if value is not None and value.get_secret_value():
            from bot.mail.smtp import MailConfigError, SmtpServer

            try:
                SmtpServer.from_url(value.get_secret_value())
            except MailConfigError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("rasa_speedups_off", mode="before")
    @classmethod
    def _names_in_one_string(cls, value: Any) -> Any:
        """'a b' or 'a,b' (a command line's form) as the list ['a', 'b']."""
        return value.replace(",", " ").split() if isinstance(value, str) else value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Priority: explicit arguments, then environment, then the TOML settings file."""
        file_path = _settings_file_from(init_settings, env_settings)
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if file_path is not None and file_path.is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=file_path))
        return tuple(sources)


def connectable(host: str) -> str:
    """An address to connect to for a listening address (a wildcard means this machine)."""
    return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host


def _settings_file_from(
    init_settings: PydanticBaseSettingsSource, env_settings: PydanticBaseSettingsSource
) -> Path | None:
    """Find which settings file to read before the other fields are parsed."""
    init_values: dict[str, Any] = init_settings()
    if "settings_file" in init_values:
        return Path(init_values["settings_file"])
    env_values: dict[str, Any] = env_settings()
    if "settings_file" in env_values:
        return Path(env_values["settings_file"])
    return Path(DEFAULT_SETTINGS_FILE)


def load_settings(**overrides: Any) -> Settings:
    """Build the settings, with keyword overrides taking precedence (None values are ignored)."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
