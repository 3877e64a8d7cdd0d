"""HAProxy at the edge of the web app (web_edge): per-address rate limits refused before Python.

Every request a script sends past a limit still cost the web app a worker's time when only the
app refused it (a 429 from uvicorn and FastAPI: ~0.4 ms of CPU each, in the one event loop every
customer's turn also waits in; benchmarks/README.md). With web_edge, HAProxy listens on
web_host:web_port and counts, per client address, the same three limits the app counts in its
shared store (chat messages per minute, new conversations per hour, searches per minute):
the numbers come from the same settings (bot.web.limits), the reason from the same sentence
(bot.ratelimit.reason_text). A request over one gets 429 with Retry-After from HAProxy; the rest
go to the app on 127.0.0.1:web_app_port, whose own limits (per conversation, the conversation's
length, tickets, and these three again) stay the second line.

Counting as the app does:
- Only requests let through count (HAProxy's gpc0, raised after the check), as in
  bot.ratelimit where a refused request costs nothing of the allowance; gpc0_rate(period) is the
  same sliding-window estimate (the previous period's share plus the current one's).
- The client's address is uvicorn's (ProxyHeadersMiddleware): the connection's peer, or, when the
  peer is one of trusted_proxies, the rightmost X-Forwarded-For entry that is not (looked at
  among the last MAX_HOPS), or the first entry when all are trusted; "*" trusts everyone and takes
  the first entry. HAProxy then replaces X-Forwarded-For with that one address (and drops
  X-Forwarded-Proto from anyone untrusted), and the app trusts only HAProxy: both count the same
  key. Customers behind one NAT or proxy share an address at both, as at the app alone.
- Retry-After is an estimate (HAProxy keeps no per-window split): the time for the excess over
  the limit to slide out at the address's current rate, at least 1 s; a client that comes back
  early is refused again with a new estimate.

Tarpitting a script that does not read Retry-After: each address's table entry keeps (gpt0) the
Unix time its last Retry-After passes; a request refused before then is a repeat, and HAProxy
holds it for rate_limit_tarpit_seconds (`http-request tarpit`, `timeout tarpit`; no CPU while
held) before the same 429, whose Retry-After is then what is left. The first refusal is
immediate. So that held connections cannot fill maxconn, one address may hold at most
edge_connections_per_address connections (a trusted proxy, carrying many clients, is not
capped); past it new connections are closed.

Not covered here (the app still refuses them): X-Forwarded-For entries that are not IP addresses
(uvicorn takes them as they are; HAProxy skips them), bracketed IPv6 with a port, and chains of
more than MAX_HOPS trusted proxies. A 429 from HAProxy carries no CORS headers: a widget on
another site (widget_origins) sees it as a failed request, not the reason.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass

from bot.ratelimit import Limit, reason_text
from bot.settings import Settings
from bot.web.limits import chat_address_limit, conversations_limit, search_limit
from bot.web.security import headers_for

EDGE_HEALTH = "/haproxy-health"
EDGE_NAME = "web edge (HAProxy)"
MAX_HOPS = 5  # X-Forwarded-For entries looked at from the right
RETRY_VAR = "txn.retry"
CONNECTIONS_TABLE = "edge_connections"
XFF = "x-forwarded-for"


@dataclass(frozen=True)
class EdgeRule:
    """One limit counted at the edge: the requests it matches (an HAProxy condition) and its
    stick table's name."""

    table: str
    limit: Limit
    match: tuple[str, ...]  # HAProxy ACL criteria, all of which the request meets
    path: str  # one path it matches: the app's security headers for it go on the 429 too
    html: bool = False  # the help centre's page: a short page rather than JSON


def edge_rules(settings: Settings) -> list[EdgeRule]:
    """The limits HAProxy counts, from the same settings as the app's (a count of 0: none)."""
    rules = [
        EdgeRule(
            "edge_chat_address",
            chat_address_limit(settings),
            ("method POST", "path,url_dec -m reg ^/api/chat/[^/]+/messages$"),
            "/api/chat/x/messages",
        ),
        EdgeRule(
            "edge_conversations",
            conversations_limit(settings),
            ("method POST", "path,url_dec -m str /api/chat/conversations"),
            "/api/chat/conversations",
        ),
        EdgeRule(
            "edge_search",
            search_limit(settings),
            ("path,url_dec -m str /api/search /help/search.json",),
            "/api/search",
        ),
        EdgeRule(
            "edge_search",
            search_limit(settings),
            ("path,url_dec -m str /help/search",),
            "/help/search",
            html=True,
        ),
    ]
    return [rule for rule in rules if rule.limit.count > 0]


def app_port(settings: Settings) -> int:
    """Where the web app listens behind the edge (on 127.0.0.1)."""
    return settings.web_app_port or settings.web_port + 1


def trusted_networks(settings: Settings) -> list[str]:
    """trusted_proxies that are IP addresses or networks, as HAProxy writes them (uvicorn's
    other literals, such as a unix socket's name, cannot be a TCP peer)."""
    found = []
    for entry in settings.trusted_proxies:
        try:
            found.append(str(ipaddress.ip_network(entry, strict=False)))
        except ValueError:
            continue
    return found


def _client_rules(settings: Settings) -> list[str]:
    """HAProxy lines that set txn.client as uvicorn's ProxyHeadersMiddleware chooses it."""
    lines = ["http-request set-var(txn.client) src"]
    if "*" in settings.trusted_proxies:
        first = f"req.hdr_ip({XFF},1)"
        return [*lines, f"http-request set-var(txn.client) {first} if {{ {first} -m found }}"]
    networks = trusted_networks(settings)
    if not networks:  # nobody may say who the client is or how it connected
        return [*lines, "http-request del-header x-forwarded-proto"]
    trusted = " ".join(networks)
    lines.append(f"acl from_proxy src {trusted}")
    # all trusted: the first entry; then the rightmost untrusted one wins (applied last)
    lines.append(
        f"http-request set-var(txn.client) req.hdr_ip({XFF},1) "
        f"if from_proxy {{ req.hdr_ip({XFF},1) -m found }}"
    )
    for hop in range(MAX_HOPS, 0, -1):
        entry = f"req.hdr_ip({XFF},-{hop})"
        lines.append(
            f"http-request set-var(txn.client) {entry} "
            f"if from_proxy {{ {entry} -m found }} !{{ {entry} {trusted} }}"
        )
    lines.append("http-request del-header x-forwarded-proto unless from_proxy")
    return lines


def _json(text: str) -> str:
    return '{"detail":"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"}'


def _page(text: str) -> str:
    return (
        '<!doctype html><html lang="en"><meta charset="utf-8"><title>Too many requests</title>'
        f"<h1>Please slow down</h1><p>{text}</p>"
        '<p><a href="/help/">See all help articles</a>, or ask the assistant in the chat.</p>'
    )


def _quoted(value: str) -> str:
    """A value in HAProxy's double quotes (a security policy holds single quotes)."""
    if "$" in value or "%" in value:
        raise ValueError(f"cannot pass {value!r} to HAProxy unchanged")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _limit_rules(index: int, rule: EdgeRule, tarpit: float) -> list[str]:
    """Track the address in the rule's table, refuse when over (a repeat after the tarpit),
    else count the request."""
    name = f"limit{index}"
    limit = rule.limit
    matches = [f"{name}_{i}" for i in range(len(rule.match))]
    when = " ".join(matches)
    over = f"{when} {name}_over"
    reason = reason_text(limit, f"%[var({RETRY_VAR})]")
    headers = headers_for(rule.path, https=False)  # the app's, but HSTS (HTTPS is the proxy's)
    body, kind = (_page(reason), "text/html") if rule.html else (_json(reason), "application/json")
    # ceil((rate - count + 1) * period / rate), the rate at least count here
    retry = (
        f"var(txn.rate),sub({limit.count - 1}),mul({limit.seconds}),add(txn.rate),sub(1),"
        "div(txn.rate)"
    )
    answer = (
        f"content-type '{kind}; charset=utf-8' lf-string '{body}' "
        f"hdr Retry-After '%[var({RETRY_VAR})]' hdr Cache-Control no-store "
        + "".join(f"hdr {name} {_quoted(value)} " for name, value in headers.items())
    )
    return [
        *(f"acl {acl} {criterion}" for acl, criterion in zip(matches, rule.match, strict=True)),
        f"acl {name}_over sc_gpc0_rate(0) ge {limit.count}",
        f"http-request track-sc0 var(txn.client) table {rule.table} if {when}",
        f"http-request set-var(txn.rate) sc_gpc0_rate(0) if {over}",
        f"http-request set-var({RETRY_VAR}) {retry} if {over}",
        *(_tarpit_rules(over, answer, tarpit) if tarpit > 0 else []),
        f"http-request return status 429 {answer}if {over}",
        f"http-request sc-inc-gpc0(0) if {when}",
    ]


def _tarpit_rules(over: str, answer: str, tarpit: float) -> list[str]:
    """Keep when the address's Retry-After passes (gpt0, Unix time); refused before then (a
    repeat), hold it for the tarpit, then answer with the Retry-After that is left."""
    repeat = "{ var(txn.left) -m int gt 0 }"  # its last Retry-After has not passed
    held = int(tarpit)  # whole seconds the tarpit takes off Retry-After
    return [
        f"http-request set-var(txn.now) date if {over}",
        f"http-request set-var(txn.left) sc_get_gpt0(0),sub(txn.now) if {over}",
        f"http-request sc-set-gpt0(0) var(txn.now),add({RETRY_VAR}) if {over}",
        f"http-request set-var({RETRY_VAR}) var({RETRY_VAR}),sub({held}) if {over} {repeat}",
        f"http-request set-var({RETRY_VAR}) int(1) if {over} {repeat} "
        f"{{ var({RETRY_VAR}) -m int lt 1 }}",
        f"http-request tarpit status 429 {answer}if {over} {repeat}",
    ]


def _connection_rules(settings: Settings) -> list[str]:
    """At most edge_connections_per_address open connections from one peer (not from a trusted
    proxy, which carries many clients; none with "*")."""
    most = settings.edge_connections_per_address
    if not most or "*" in settings.trusted_proxies:
        return []
    networks = trusted_networks(settings)
    unless = f" if !{{ src {' '.join(networks)} }}" if networks else ""
    return [
        f"tcp-request connection track-sc2 src table {CONNECTIONS_TABLE}{unless}",
        f"tcp-request connection reject if {{ sc_conn_cur(2) gt {most} }}",
    ]


def behind_edge(settings: Settings) -> dict[str, str]:
    """The web app's variables behind the edge: on 127.0.0.1:app_port, believing
    X-Forwarded-For (and -Proto) from HAProxy alone, which wrote it."""
    return {
        "BOT_WEB_HOST": "127.0.0.1",
        "BOT_WEB_PORT": str(app_port(settings)),
        "BOT_TRUSTED_PROXIES": json.dumps(["127.0.0.1"]),
    }


def edge_config(settings: Settings) -> str:
    """HAProxy's configuration for the edge: the limits' stick tables, the client's address,
    the refusals, and everything else passed to the app unchanged."""
    rules = edge_rules(settings)
    tables = {}
    for rule in rules:
        period = rule.limit.seconds
        tables[rule.table] = (
            f"backend {rule.table}\n"
            f"    stick-table type ipv6 size 200k expire {2 * period}s "
            f"store gpc0,gpc0_rate({period}s),gpt0\n"
        )
    connections = _connection_rules(settings)
    if connections:
        tables[CONNECTIONS_TABLE] = (
            f"backend {CONNECTIONS_TABLE}\n"
            "    stick-table type ipv6 size 200k expire 10m store conn_cur\n"
        )
    tarpit = settings.rate_limit_tarpit_seconds
    front = [*connections, *_client_rules(settings)]
    for index, rule in enumerate(rules):
        front += _limit_rules(index, rule, tarpit)
    front.append(f"http-request set-header {XFF} %[var(txn.client)]")
    body = "\n".join(f"    {line}" for line in front)
    return f"""# Written by `bot up` (bot/stack/edge.py edge_config); edits are overwritten.
global
    maxconn 4000
    log stderr format raw local0 warning

defaults
    mode http
    log global
    timeout connect 2s
    timeout client 120s
    timeout server 120s
    timeout http-request 10s
    timeout queue 30s
    timeout tarpit {max(1, round(settings.rate_limit_tarpit_seconds * 1000))}ms
    retries 2
    retry-on conn-failure

frontend web
    bind {settings.web_host}:{settings.web_port}
    # HAProxy's own health (200 while it runs)
    monitor-uri {EDGE_HEALTH}
{body}
    default_backend web_app

backend web_app
    server app 127.0.0.1:{app_port(settings)}

{"".join(tables.values())}"""
