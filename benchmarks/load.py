"""The customer's path under load: Locust through the web app's chat gateway, 1 and 2 Rasa replicas.

For each replica count (`--replicas 1,2`, one stack after the other in the same run) it starts the
whole stack with bot.stack.start_stack: the action server, the Rasa server(s), HAProxy when there
are several, and the web app. One replica keeps its conversations in SQLite, as `make run` ships
(`--postgres-for-one`: in PostgreSQL too); several use a fresh PostgreSQL database
(tier0_load_<hex>, dropped at the end) and Redis for the conversation locks. After one warm-up
conversation of each kind (not measured) it runs benchmarks/locustfile.py headless at each level
(`--users 50,200,400,800`): customers typing in the widget with 5-15 s between messages, 2-4
messages per conversation, and the widget's poll (see the locustfile).

The steady window: Locust spawns users/10 users a second (a 10 s ramp); each customer types a
first message for 5-15 s like every later one; the locustfile resets its statistics 15 s after
the last user is spawned (SETTLE_S: by then every customer has sent a first message) and stops
the run `--seconds` later (default 90); this script reads every process's CPU time (/proc utime +
stime, through psutil) at those two moments. So neither the ramp nor the stop counts. (Until
2026-12-03 evening, the first messages went the moment each user was spawned, 400 of them within
the 10 s ramp, and the window began when the last user was spawned, with that burst's backlog
still queued: see benchmarks/README.md.) Per level and replica count it reports
turns/s, polls/s, turn p50/p95/p99, poll p95, errors (the first few messages), and the CPU each
server used in the window (with its children: uvicorn and Sanic workers) as CPU seconds, cores
(CPU s / wall s) and CPU ms per answered turn; PostgreSQL's backends for the run's database and
Redis when the stack uses them; Locust's own CPU (it runs under `nice -n 10`, so it yields to the
servers, and the figure shows how much it took); and the rest of the machine (shared: other work
shows here). Between levels it waits until the servers are idle again (queued turns drained). At
the end of each stack it reads every process's peak resident memory (VmHWM), children listed
separately (uvicorn's and Sanic's workers are spawned interpreters, so the sum is fair but for
shared libraries). Turn percentiles are Locust's, over every turn sent, failed ones included.
The servers' and Locust's logs stay in a temporary folder named in the output.

Writes benchmarks/results/load.json and prints a Markdown table, the replica counts side by side:

    .venv/bin/python benchmarks/load.py                      # 50, 200, 400, 800 users, 90 s each
    .venv/bin/python benchmarks/load.py --quick              # 20 users, 20 s: a smoke check
    .venv/bin/python benchmarks/load.py --users 50,200 --seconds 60 --replicas 2 \\
        --action-workers 2 --web-workers 2

`--abusers N` runs N abusive senders (the locustfile's Abuser) in a Locust process of their own
beside the customers'; `--edge` puts HAProxy in front of the web app (settings' web_edge), and
Locust then goes through it; `--tarpit S` sets rate_limit_tarpit_seconds (default the setting's,
5; 0: repeat refusals answered at once). See benchmarks/README.md, "Abusive senders".

Builds the KB index first (`bot kb build`) when `--index` holds none; trains the model if needed.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import QUESTIONS, save  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.stack import (  # noqa: E402
    Server,
    StackError,
    ensure_model,
    free_port,
    own_stack_settings,
    start_stack,
    wait_all,
)
from bot.stack.edge import EDGE_NAME  # noqa: E402
from bot.store.base import STATUSES  # noqa: E402
from bot.store.demo import DemoStore  # noqa: E402

LOCUST = Path(sys.executable).parent / "locust"
LOCUSTFILE = ROOT / "benchmarks" / "locustfile.py"
THINK_S = (5, 15)
SETTLE_S = THINK_S[1]  # after the last user is spawned, until each has sent a first message
LOCUST_LABEL = "locust (nice 10)"
ABUSERS_LABEL = "abusers' locust"
CLIENTS = (LOCUST_LABEL, ABUSERS_LABEL)  # the load's own processes, not the servers
POSTGRES_LABEL = "PostgreSQL (this run's backends)"
REDIS_LABEL = "Redis (whole server, shared)"
OTHERS_LABEL = "rest of the machine"
IDLE_CORES = 0.1  # the stack's servers count as drained below this
NOT_OURS = (*CLIENTS, REDIS_LABEL)  # Redis is shared: others' work must not hold a drain up
DRAIN_MAX_S = 180


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------- processes: CPU and peak memory ----------


def label_of(server: Server, rasa_seen: int) -> str:
    """A name for the server that is the same in every stack ("Rasa 1", not "Rasa server 4711")."""
    return f"Rasa {rasa_seen}" if server.name.startswith("Rasa server") else server.name


def tree(pid: int) -> list[int]:
    """The process and all its descendants."""
    try:
        process = psutil.Process(pid)
        return [pid, *(c.pid for c in process.children(recursive=True))]
    except psutil.Error:
        return []


class Meter:
    """Which processes belong to what (re-read at every snapshot) and their CPU times."""

    def __init__(self, servers: dict[str, int], database: str | None, redis: bool, admin_url: str):
        self.servers = servers  # label -> pid
        self.database = database
        self.redis = redis
        self.admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT") if database else None
        self.locust: int | None = None
        self.abusers: int | None = None

    def groups(self) -> dict[str, list[int]]:
        groups = {label: tree(pid) for label, pid in self.servers.items()}
        if self.admin is not None:
            with self.admin.connect() as connection:
                groups[POSTGRES_LABEL] = [
                    row[0]
                    for row in connection.execute(
                        sa.text("SELECT pid FROM pg_stat_activity WHERE datname = :db"),
                        {"db": self.database},
                    )
                ]
        if self.redis:
            groups[REDIS_LABEL] = [
                p.pid for p in psutil.process_iter(["name"]) if p.info["name"] == "redis-server"
            ]
        if self.locust:
            groups[LOCUST_LABEL] = [self.locust]
        if self.abusers:
            groups[ABUSERS_LABEL] = [self.abusers]
        return groups

    def snapshot(self) -> dict:
        """CPU seconds (user + system) of every process now, by group; and the machine's."""
        cpu: dict[str, dict[int, float]] = {}
        for label, pids in self.groups().items():
            cpu[label] = {}
            for pid in pids:
                try:
                    times = psutil.Process(pid).cpu_times()
                except psutil.Error:
                    continue
                cpu[label][pid] = times.user + times.system
        machine = psutil.cpu_times()
        idle = machine.idle + getattr(machine, "iowait", 0)
        guests = getattr(machine, "guest", 0) + getattr(machine, "guest_nice", 0)  # in user too
        busy = sum(machine) - idle - guests
        return {"at": time.monotonic(), "cpu": cpu, "machine_busy": busy}

    def dispose(self) -> None:
        if self.admin is not None:
            self.admin.dispose()


def cpu_used(start: dict, end: dict, answered: int) -> dict:
    """CPU of each group between two snapshots: seconds, cores and ms per answered turn.

    A process that appeared in between counts from zero (it started in the window); one that
    ended in between is missing (none should: the servers run throughout).
    """
    wall = end["at"] - start["at"]
    groups: dict[str, dict] = {}
    for label, now in end["cpu"].items():
        before = start["cpu"].get(label, {})
        by_pid = {pid: max(0.0, seconds - before.get(pid, 0.0)) for pid, seconds in now.items()}
        groups[label] = _cpu_figures(sum(by_pid.values()), wall, answered)
        groups[label]["processes"] = len(by_pid)
        if len(by_pid) > 1 and label not in (POSTGRES_LABEL, REDIS_LABEL):
            groups[label]["by_pid"] = {str(pid): round(s, 2) for pid, s in by_pid.items()}
    servers = sum(g["cpu_s"] for label, g in groups.items() if label not in CLIENTS)
    measured = sum(g["cpu_s"] for g in groups.values())
    machine = end["machine_busy"] - start["machine_busy"]
    return {
        "wall_s": round(wall, 2),
        "groups": groups,
        "servers_total": _cpu_figures(servers, wall, answered),
        OTHERS_LABEL: _cpu_figures(max(0.0, machine - measured), wall, answered),
        "machine_busy_cores": round(machine / wall, 2),
        "machine_cores": psutil.cpu_count(),
    }


def _cpu_figures(seconds: float, wall: float, answered: int) -> dict:
    return {
        "cpu_s": round(seconds, 2),
        "cores": round(seconds / wall, 3),
        "ms_per_turn": round(seconds * 1000 / answered, 1) if answered else None,
    }


def vmhwm_mb(pid: int) -> float | None:
    """Peak resident memory of one process (VmHWM), MB."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    kb = next((int(line.split()[1]) for line in status.splitlines() if line[:6] == "VmHWM:"), None)
    return round(kb / 1024, 1) if kb is not None else None


def peak_rss(servers: dict[str, int]) -> dict:
    """Each server's peak RSS, its children's listed separately, and the sum."""
    out = {}
    for label, pid in servers.items():
        children = []
        for child in tree(pid)[1:]:
            try:
                name = " ".join(psutil.Process(child).cmdline())[:80]
            except psutil.Error:
                name = "?"
            children.append({"pid": child, "command": name, "peak_rss_mb": vmhwm_mb(child)})
        own = vmhwm_mb(pid)
        total = (own or 0) + sum(c["peak_rss_mb"] or 0 for c in children)
        out[label] = {
            "pid": pid,
            "peak_rss_mb": own,
            "children": children,
            "total_mb": round(total, 1),
        }
    return out


def drain(meter: Meter) -> float:
    """Wait until the servers are idle (turns still queued from the last level answered)."""
    started = time.monotonic()
    while time.monotonic() - started < DRAIN_MAX_S:
        before = meter.snapshot()
        time.sleep(2)
        groups = cpu_used(before, meter.snapshot(), 0)["groups"]
        ours = sum(g["cores"] for label, g in groups.items() if label not in NOT_OURS)
        if ours < IDLE_CORES:
            break
    return round(time.monotonic() - started, 1)


# ---------- Locust ----------


def run_level(
    web: str,
    users: int,
    seconds: int,
    env: dict,
    folder: Path,
    meter: Meter,
    abusers: int = 0,
    nice: int = 10,
) -> dict:
    """One load level: Locust headless (niced) with `users` customers (and `abusers` abusive
    senders beside them, in a Locust process of their own); the window's figures."""
    result_path = folder / f"locust-{users}.json"
    result_path.unlink(missing_ok=True)
    rate = max(users / 10, 1.0)
    backstop = f"{int(users / rate + SETTLE_S + seconds + 120)}s"  # the locustfile stops it
    command = [
        "nice", "-n", "10", str(LOCUST), "-f", str(LOCUSTFILE), "--headless",
        "--host", web, "-u", str(users), "-r", f"{rate:g}", "-t", backstop,
        "--only-summary", "--loglevel", "WARNING",
    ]  # fmt: skip
    abuse = start_abusers(web, abusers, backstop, env, folder, nice) if abusers else None
    meter.abusers = abuse[0].pid if abuse else None
    level_env = {
        **os.environ,
        **env,
        "LOAD_ABUSERS": "0",  # the customers' process times customers only
        "LOAD_WINDOW_SECONDS": str(seconds),
        "LOAD_SETTLE_SECONDS": str(SETTLE_S),
        "LOAD_RESULT": str(result_path),
        "PYTHONUNBUFFERED": "1",
    }
    start = end = None
    abused: dict = {}
    locust_rss = None
    with open(folder / f"locust-{users}.log", "a") as out:
        process = subprocess.Popen(
            command,
            cwd=ROOT / "benchmarks",
            env=level_env,
            stdout=subprocess.PIPE,
            stderr=out,
            text=True,
        )
        meter.locust = process.pid  # `nice` execs Locust: the same process
        try:
            for line in process.stdout:
                if line.startswith("LOAD-WINDOW start"):
                    start = meter.snapshot()
                    abused = abuse_counts(abuse)
                    log(f"  {users} users spawned; measuring {seconds} s")
                elif line.startswith("LOAD-WINDOW end"):
                    end = meter.snapshot()
                    abused = abuse_counts(abuse, abused)
                    locust_rss = vmhwm_mb(process.pid)
                out.write(line)
                out.flush()
            process.wait()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            meter.locust = None
            if abuse:
                stop_abusers(abuse[0])
                meter.abusers = None
    if start is None or end is None or not result_path.exists():
        raise RuntimeError(
            f"Locust ended (exit {process.returncode}) without measuring a window; "
            f"see {folder / f'locust-{users}.log'}"
        )
    figures = json.loads(result_path.read_text())
    figures["cpu"] = cpu_used(start, end, figures["turn"]["ok"])
    figures["locust_peak_rss_mb"] = locust_rss
    figures["errors"] = figures["errors"][:5]
    if abuse:
        figures["abuse"] = {
            "abusers": abusers,
            "addresses": int(env.get("LOAD_ABUSER_ADDRESSES", "1")),
            "process": f"a Locust process of their own (nice {nice}), beside the customers'",
            **abused,
        }
    return figures


def start_abusers(
    web: str, abusers: int, backstop: str, env: dict, folder: Path, nice: int
) -> tuple[subprocess.Popen, Path]:
    """The abusive senders in a Locust process of their own (niced like the customers' unless
    told), so their sending does not hold up the customers' timings; its running totals go to
    a file."""
    counts = folder / "abuse-counts.json"
    counts.unlink(missing_ok=True)
    command = [
        "nice", "-n", str(nice), str(LOCUST), "-f", str(LOCUSTFILE), "--headless",
        "--host", web, "-u", str(abusers), "-r", str(abusers), "-t", backstop,
        "--only-summary", "--loglevel", "WARNING", "Abuser",
    ]  # fmt: skip
    abuse_env = {
        **os.environ,
        **env,
        "LOAD_ABUSERS": str(abusers),
        "LOAD_ABUSE_COUNTS": str(counts),
        "PYTHONUNBUFFERED": "1",
    }
    with open(folder / "locust-abusers.log", "a") as out:
        process = subprocess.Popen(
            command, cwd=ROOT / "benchmarks", env=abuse_env, stdout=out, stderr=out
        )
    deadline = time.monotonic() + 60
    while not counts.exists():  # sending: the process is up and its users spawned
        if process.poll() is not None or time.monotonic() > deadline:
            stop_abusers(process)
            raise RuntimeError(f"the abusers' Locust did not start; see {out.name}")
        time.sleep(0.2)
    return process, counts


def abuse_counts(abuse: tuple | None, since: dict | None = None) -> dict:
    """The abusers' answers by status so far; with since, those after it and their rate."""
    if abuse is None:
        return {}
    now = json.loads(abuse[1].read_text())
    if since is None:
        return now
    answers = {
        key: n - since["answers"].get(key, 0)
        for key, n in sorted(now["answers"].items())
        if n - since["answers"].get(key, 0)
    }
    seconds = now["at"] - since["at"]
    return {"answers": answers, "requests_per_s": round(sum(answers.values()) / seconds, 1)}


def stop_abusers(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def warm_up(web: str, orders: list[tuple[str, str]], customers: list[str]) -> None:
    """One conversation of each kind through the gateway (first requests load models): each
    turn must be answered, and the flows must end where the load's conversations expect (the
    order's status, the reset email sent), or the run stops here."""
    scripts = [
        (["hi", QUESTIONS[0], QUESTIONS[1]], None),
        (["where is my order?", *orders[0]], orders[0][0]),
        (["I forgot my password", customers[0]], "If an account exists"),
    ]
    with httpx.Client(base_url=web, timeout=120) as client:
        for script, expected in scripts:
            made = client.post("/api/chat/conversations")  # as the widget asks for one
            if made.status_code != 201:
                raise RuntimeError(f"warm-up: no conversation id: HTTP {made.status_code}")
            conversation, cursor, seen = made.json()["conversation_id"], 0.0, set()
            for text in script:
                reply = client.post(
                    f"/api/chat/{conversation}/messages",
                    params={"after": cursor},
                    json={"text": text},
                )
                if reply.status_code != 200:
                    raise RuntimeError(f"warm-up turn {text!r}: HTTP {reply.status_code}")
                body = reply.json()
                cursor = body["cursor"]
                new = [i for i in body["items"] if i["from"] == "bot" and i["id"] not in seen]
                seen.update(i["id"] for i in body["items"])
                said = " ".join(i["text"] for i in new)
                if not new:
                    raise RuntimeError(f"warm-up turn {text!r}: no bot message in {body}")
            if expected and expected not in said:
                raise RuntimeError(f"warm-up {script}: the last answer lacks {expected!r}: {said}")


# ---------- a stack ----------


def run_stack(replicas: int, args: argparse.Namespace, model: Path) -> dict:
    """Start the stack with `replicas` Rasa servers, run every level against it, stop it."""
    folder = Path(tempfile.mkdtemp(prefix=f"bot-load-{replicas}r-"))
    log(f"{replicas} replica(s): starting the stack (logs in {folder})")
    fields: dict = {
        "index_dir": args.index,
        "action_workers": args.action_workers,
        "web_workers": args.web_workers,
        "web_edge": args.edge,
        "rate_limit_tarpit_seconds": args.tarpit,
    }
    tag = secrets.token_hex(4)
    database = None
    if replicas > 1 or args.postgres_for_one:
        database = f"tier0_load_{tag}"
        url = f"{args.postgres}/{database}"
        fields.update(tracker_store_url=url, database_url=url)
    if replicas > 1:
        fields.update(
            rasa_replicas=replicas,
            rasa_replica_ports=[free_port() for _ in range(replicas)],
            redis_url=args.redis,
            lock_key_prefix=f"load{tag}",
        )
    settings = own_stack_settings(folder, **fields)
    record: dict = {
        "replicas": replicas,
        "conversations": "postgresql" if database else "sqlite",
        "logs": str(folder),
    }
    servers: list[Server] = []
    labels: dict[str, int] = {}
    meter = None
    try:
        servers = start_stack(settings, model, folder)
        wait_all(servers)
        rasa_seen = 0
        for server in servers:
            rasa_seen += server.name.startswith("Rasa server")
            labels[label_of(server, rasa_seen)] = server.process.pid
        record["processes"] = {
            label: {"pid": s.process.pid, "name": s.name, "url": s.url}
            for label, s in zip(labels, servers, strict=True)
        }
        # the customers' way in: HAProxy at the edge when there is one
        urls = {s.name: s.url for s in servers}
        web = urls.get(EDGE_NAME, urls["web app"])
        store = DemoStore(settings.data_dir / "demo_store.db")
        orders = [store.sample(status) for status in STATUSES]
        customers = store.customer_emails(500)
        warm_up(web, orders, customers)
        meter = Meter(labels, database, replicas > 1, f"{args.postgres}/postgres")
        env = {
            "LOAD_ORDERS": ",".join(f"{number} {email}" for number, email in orders),
            "LOAD_CUSTOMERS": ",".join(customers),
            "LOAD_THINK_MIN": str(THINK_S[0]),
            "LOAD_THINK_MAX": str(THINK_S[1]),
            "LOAD_LINGER": str(args.linger),
            "LOAD_ABUSERS": str(args.abusers),
            "LOAD_ABUSER_ADDRESSES": str(args.abuser_addresses),
            # a 429 this slow was tarpitted: a hold is at least min(tarpit, Retry-After >= 1 s)
            "LOAD_HELD_SECONDS": str(0.9 * min(args.tarpit, 1.0) if args.tarpit else 1e9),
        }
        record["levels"] = []
        for users in args.users:
            drained = drain(meter)
            log(f"{replicas} replica(s), {users} users: ramp (servers idle after {drained} s)")
            level = run_level(
                web, users, args.seconds, env, folder, meter, args.abusers, args.abuser_nice
            )
            level["drain_before_s"] = drained
            record["levels"].append(level)
            turn = level["turn"]
            log(
                f"  {turn['ok_per_s']} turns/s, p95 {turn['ms']['p95']} ms, "
                f"{turn['failures']} failed turns, {level['poll']['requests']} polls"
                + (f"; abuse: {level['abuse']}" if "abuse" in level else "")
            )
    except (StackError, RuntimeError, httpx.HTTPError, sa.exc.SQLAlchemyError) as exc:
        record["error"] = f"{type(exc).__name__}: {exc}"
        log(f"{replicas} replica(s) failed: {record['error']}")
    finally:
        dead = [s.name for s in servers if s.process.poll() is not None]
        if dead:
            record["died"] = dead
        if labels:
            record["peak_rss_mb"] = peak_rss(labels)
        if meter is not None:
            meter.dispose()
        for server in reversed(servers):
            server.stop()
        if database:
            drop_database(args.postgres, database)
    return record


def drop_database(base_url: str, database: str) -> None:
    admin = sa.create_engine(f"{base_url}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
    finally:
        admin.dispose()


# ---------- the report ----------


def _order(label: str) -> tuple:
    fixed = ["action server", "Rasa", "HAProxy", "web app", POSTGRES_LABEL, REDIS_LABEL]
    head = label.split(" ")[0] if label.startswith("Rasa ") else label
    rank = fixed.index(head) if head in fixed else len(fixed)
    return rank, label


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1000:.1f} s" if value >= 10_000 else f"{value:,.0f}"


def _cpu_cell(figures: dict | None) -> str:
    if not figures:
        return "-"
    per_turn = figures["ms_per_turn"]
    return f"{figures['cores']:.2f}" + (f" ({per_turn:,.0f} ms/turn)" if per_turn else "")


def markdown(stacks: list[dict], users: list[int]) -> str:
    heads = [f"{s['replicas']} replica{'s' if s['replicas'] > 1 else ''}" for s in stacks]
    lines: list[str] = []
    for s in stacks:
        if "error" in s:
            lines.append(f"**{s['replicas']} replica(s) failed:** {s['error']}\n")

    def table(title: str, rows: list[tuple[str, list[str]]]) -> None:
        lines.append(f"### {title}\n")
        lines.append("| | " + " | ".join(heads) + " |")
        lines.append("|---|" + "---|" * len(heads))
        lines.extend(f"| {name} | " + " | ".join(cells) + " |" for name, cells in rows)
        lines.append("")

    for n in users:
        levels = [
            next((lv for lv in s.get("levels", []) if lv["users"] == n), None) for s in stacks
        ]
        if not any(levels):
            continue

        def cells(fn, levels=levels) -> list[str]:
            return [fn(lv) if lv else "-" for lv in levels]

        rows = [
            ("turns/s (answered)", cells(lambda lv: f"{lv['turn']['ok_per_s']:.2f}")),
            (
                "turn p50 / p95 / p99 ms",
                cells(lambda lv: " / ".join(_ms(lv["turn"]["ms"][f"p{q}"]) for q in (50, 95, 99))),
            ),
            (
                "turns answered / failed",
                cells(lambda lv: f"{lv['turn']['ok']:,} / {lv['turn']['failures']:,}"),
            ),
            (
                "polls/s, poll p95 ms, failed",
                cells(
                    lambda lv: (
                        f"{lv['poll']['requests_per_s']:.2f}, "
                        f"{_ms(lv['poll']['ms']['p95'])}, {lv['poll']['failures']}"
                    )
                ),
            ),
        ]
        groups = sorted(
            {g for lv in levels if lv for g in lv["cpu"]["groups"] if g not in CLIENTS},
            key=_order,
        )
        for group in groups:
            rows.append(
                (
                    f"CPU cores: {group}",
                    cells(lambda lv, g=group: _cpu_cell(lv["cpu"]["groups"].get(g))),
                )
            )
        rows += [
            ("CPU cores: all servers", cells(lambda lv: _cpu_cell(lv["cpu"]["servers_total"]))),
            (
                "CPU cores: Locust (load generator)",
                cells(
                    lambda lv: (
                        _cpu_cell(lv["cpu"]["groups"].get(LOCUST_LABEL))
                        + (
                            f", {lv['locust_cpu_warnings']} CPU warnings"
                            if lv["locust_cpu_warnings"]
                            else ""
                        )
                    )
                ),
            ),
            (
                f"CPU cores: {OTHERS_LABEL}",
                cells(lambda lv: f"{lv['cpu'][OTHERS_LABEL]['cores']:.2f}"),
            ),
            (
                "machine busy (cores of N)",
                cells(
                    lambda lv: (
                        f"{lv['cpu']['machine_busy_cores']:.2f} of {lv['cpu']['machine_cores']}"
                    )
                ),
            ),
            ("window s", cells(lambda lv: f"{lv['window_s']:.0f}")),
        ]
        table(f"{n} conversations", rows)
        for head, level in zip(heads, levels, strict=True):
            for error in (level or {}).get("errors", [])[:3]:
                lines.append(f"- {head}: {error['occurrences']}× {error['name']}: {error['error']}")
        if any((lv or {}).get("errors") for lv in levels):
            lines.append("")

    labels = sorted({g for s in stacks for g in s.get("peak_rss_mb", {})}, key=_order)
    rows = []
    for label in labels:
        row = []
        for s in stacks:
            rss = s.get("peak_rss_mb", {}).get(label)
            if not rss:
                row.append("-")
            elif rss["children"]:
                kids = " + ".join(f"{c['peak_rss_mb']:,.0f}" for c in rss["children"])
                row.append(f"{rss['total_mb']:,.0f} ({rss['peak_rss_mb']:,.0f} + {kids})")
            else:
                row.append(f"{rss['total_mb']:,.0f}")
        rows.append((label, row))
    locust = [
        max((lv.get("locust_peak_rss_mb") or 0 for lv in s.get("levels", [])), default=0)
        for s in stacks
    ]
    rows.append(("Locust", [f"{m:,.0f}" if m else "-" for m in locust]))
    table("Peak RSS, MB (VmHWM; a process + its children)", rows)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--users", help="Concurrent conversations per level (default 50,200,400,800)."
    )
    parser.add_argument(
        "--seconds", type=int, help="Measured seconds per level, after the ramp (90)."
    )
    parser.add_argument("--replicas", help="Rasa replica counts, one stack each (default 1,2).")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="A smoke check: --users 20 --seconds 20 --replicas 1,2.",
    )
    parser.add_argument("--action-workers", type=int, default=1, help="Settings' action_workers.")
    parser.add_argument("--web-workers", type=int, default=1, help="Settings' web_workers.")
    parser.add_argument(
        "--linger",
        type=float,
        default=0,
        help="Seconds a customer keeps the chat open (polling) after the last answer (0).",
    )
    parser.add_argument(
        "--postgres-for-one",
        action="store_true",
        help="Keep one replica's conversations in PostgreSQL too (default: SQLite, as shipped).",
    )
    parser.add_argument(
        "--abusers",
        type=int,
        default=0,
        help="Abusive senders beside the customers (benchmarks/locustfile.py's Abuser): each "
        "sends as fast as it is answered and ignores Retry-After (0).",
    )
    parser.add_argument(
        "--abuser-addresses",
        type=int,
        default=1,
        help="How many client addresses the abusers come from (1: one script's).",
    )
    parser.add_argument(
        "--abuser-nice",
        type=int,
        default=10,
        help="The abusers' Locust's niceness (10, as the customers'; 19 stands for abusers on "
        "machines of their own, whose sending takes this machine's CPU only when it is idle).",
    )
    parser.add_argument(
        "--tarpit",
        type=float,
        default=Settings.model_fields["rate_limit_tarpit_seconds"].default,
        help="Settings' rate_limit_tarpit_seconds: a repeat refusal (sent again before its "
        "Retry-After) is answered after this delay, at the edge and in the app (0: at once, as "
        "before the tarpit).",
    )
    parser.add_argument(
        "--edge",
        action="store_true",
        help="Settings' web_edge: HAProxy in front of the web app refuses addresses over the "
        "per-address limits before the app.",
    )
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/1")
    parser.add_argument("--index", type=Path, default=ROOT / "index")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/load.json")
    args = parser.parse_args()
    quick = args.quick
    args.users = [int(u) for u in (args.users or ("20" if quick else "50,200,400,800")).split(",")]
    args.seconds = args.seconds or (20 if quick else 90)
    args.replicas = [int(r) for r in (args.replicas or "1,2").split(",")]
    args.index = args.index.resolve()

    if not (args.index / "CURRENT").exists():
        log(f"building the KB index into {args.index}")
        bot = Path(sys.executable).parent / "bot"
        subprocess.run([str(bot), "kb", "build", "--index", str(args.index)], cwd=ROOT, check=True)
    model, _ = ensure_model()
    stacks = [run_stack(replicas, args, model) for replicas in args.replicas]
    result = {
        "users": args.users,
        "seconds_per_level": args.seconds,
        "replicas": args.replicas,
        "think_time_s": list(THINK_S),
        "settle_s": SETTLE_S,
        "messages_per_conversation": [2, 4],
        "poll_s": {"idle": 20, "handoff": 2},
        "linger_s": args.linger,
        "window": "Locust spawns users/10 per s, each customer typing 5-15 s before a first "
        "message too; the window starts settle_s after the last user is spawned (stats reset, "
        "CPU read) and lasts seconds_per_level",
        "percentiles": "Locust's (approximated: 2 significant digits above 100 ms), over every "
        "request, failed ones included; turns/s counts answered turns",
        "action_workers": args.action_workers,
        "web_workers": args.web_workers,
        "abusers": args.abusers,
        "abuser_addresses": args.abuser_addresses,
        "abuser_nice": args.abuser_nice,
        "web_edge": args.edge,
        "rate_limit_tarpit_seconds": args.tarpit,
        "stacks": stacks,
    }
    save(result, "python benchmarks/load.py " + " ".join(sys.argv[1:]), args.out)
    print()
    print(markdown(stacks, args.users))
    if any("error" in s for s in stacks):
        sys.exit(1)


if __name__ == "__main__":
    main()
