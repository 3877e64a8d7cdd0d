"""The stack's plan, checked without starting anything: which servers run, on which ports, with
which command, files and ready check, for one machine and for replicas behind HAProxy."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.stack.env import own_stack_settings
from bot.stack.paths import ROOT
from bot.stack.plan import (
    ServerSpec,
    StackError,
    Tokens,
    check_rasa_stores,
    check_tracker_store,
    listeners,
    plan_stack,
)

TOKENS = Tokens(rasa="rasa-secret", action="action-secret")
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/tier0"


def _plan(tmp_path: Path, roles: tuple[str, ...] | None = None, **fields) -> list[ServerSpec]:
    settings = own_stack_settings(tmp_path, **fields)
    extra = {"roles": roles} if roles else {}
    return plan_stack(settings, tmp_path / "model.tar.gz", tmp_path / "logs", TOKENS, **extra)


def test_one_machine_runs_the_action_server_rasa_and_the_web_app_on_their_ports(
    tmp_path: Path,
) -> None:
    settings = own_stack_settings(tmp_path)
    specs = plan_stack(settings, tmp_path / "model.tar.gz", tmp_path / "logs", TOKENS)
    assert [s.name for s in specs] == ["action server", "Rasa server", "mail worker", "web app"]
    assert [s.port for s in specs] == [
        settings.action_port, settings.rasa_port, settings.mail_port, settings.web_port
    ]  # fmt: skip
    assert [s.log.name for s in specs] == ["actions.log", "rasa.log", "mail.log", "web.log"]
    assert all(s.cwd == ROOT and s.url.startswith("http://127.0.0.1:") for s in specs)
    actions, rasa, mail, web = specs
    assert mail.argv[1:] == ("-m", "bot.cli", "mail", "worker") and mail.ready_path == "/health"
    assert actions.argv[1:] == ("-m", "bot.action_server") and actions.ready_path == "/health"
    assert web.argv[1:] == ("-m", "bot.cli", "serve", "--demo")
    assert "--model" in rasa.argv and str(tmp_path / "model.tar.gz") in rasa.argv
    assert rasa.ready_check is check_tracker_store
    assert rasa.ready_params == {} and rasa.ready_token == "rasa-secret"  # a JWT, in a header
    assert "rasa-secret" not in " ".join(rasa.argv) and "rasa-secret" not in repr(rasa)
    # every server gets the stack's settings; nothing was written or started to plan it
    for spec in specs:
        assert spec.env["BOT_DATA_DIR"] == str(tmp_path / "var")
        assert spec.env["BOT_SETTINGS_FILE"] == str(tmp_path / "none.toml")
    assert not list(tmp_path.iterdir())


def test_rasa_gets_its_tokens_in_private_files_and_its_environment_never_its_arguments(
    tmp_path: Path,
) -> None:
    rasa = _plan(tmp_path)[1]
    assert not any("secret" in arg for arg in rasa.argv)
    assert rasa.env["TIER0_RASA_AUTH_TOKEN"] == "rasa-secret"
    assert rasa.env["PYTHONPATH"] == str(ROOT)
    files = {f.path.name: yaml.safe_load(f.text) for f in rasa.files}
    folder = (tmp_path / "var" / "run" / f"rasa-{rasa.port}").resolve()
    assert {f.path.parent for f in rasa.files} == {folder}
    endpoints, credentials = files["endpoints.yml"], files["credentials.yml"]
    assert endpoints["action_endpoint"]["headers"] == {"Authorization": "Bearer action-secret"}
    assert endpoints["tracker_store"]["type"] == "rasa_plugins.tracker_store.MaskingSQLTrackerStore"
    assert "lock_store" not in endpoints  # one Rasa server needs no locks
    assert credentials == {"rasa_plugins.channels.TokenRestInput": {"token": "rasa-secret"}}


def test_two_replicas_run_behind_haproxy_with_redis_locks(tmp_path: Path) -> None:
    specs = _plan(tmp_path, rasa_replicas=2, rasa_port=7000, tracker_store_url=POSTGRES)
    names = [s.name for s in specs]
    assert names == [
        "action server", "Rasa server 7001", "Rasa server 7002", "HAProxy", "mail worker", "web app"
    ]  # fmt: skip
    replicas, haproxy = specs[1:3], specs[3]
    assert [s.log.name for s in replicas] == ["rasa-7001.log", "rasa-7002.log"]
    assert all(s.ready_check is check_rasa_stores for s in replicas)
    for replica in replicas:
        endpoints = yaml.safe_load(replica.files[0].text)
        assert endpoints["lock_store"]["type"] == "rasa_plugins.lock_store.CheckedRedisLockStore"
    assert haproxy.port == 7000 and haproxy.ready_path == "/haproxy-health"
    config = haproxy.files[0].text
    assert "server rasa1 127.0.0.1:7001 check" in config
    assert "server rasa2 127.0.0.1:7002 check" in config
    assert haproxy.config_check[-1] == str(haproxy.files[0].path)


def test_a_front_machine_plans_haproxy_over_rasa_servers_elsewhere(tmp_path: Path) -> None:
    specs = _plan(
        tmp_path, roles=("haproxy", "web"), rasa_port=7000, rasa_backends=["10.0.0.7:5005"]
    )
    assert [s.name for s in specs] == ["HAProxy", "web app"]
    config = specs[0].files[0].text
    assert "server rasa1 10.0.0.7:5005 check" in config and "127.0.0.1:7001" not in config


def test_roles_are_checked_and_an_empty_plan_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StackError, match="unknown role rasaa: choose among actions, rasa"):
        _plan(tmp_path, roles=("rasaa",))
    with pytest.raises(StackError, match="nothing to start for --only haproxy"):
        _plan(tmp_path, roles=("haproxy",))


def test_the_listeners_are_the_ports_bot_up_checks_before_starting(tmp_path: Path) -> None:
    one = own_stack_settings(tmp_path)
    assert listeners(one) == {
        "web_port": ("127.0.0.1", one.web_port),
        "action_port": ("127.0.0.1", one.action_port),
        "mail_port": ("127.0.0.1", one.mail_port),
        "rasa_port": ("127.0.0.1", one.rasa_port),
    }
    two = own_stack_settings(tmp_path, rasa_replicas=2, rasa_port=7000)
    assert listeners(two, ("rasa",)) == {
        "rasa_replica_ports[0]": ("127.0.0.1", 7001),
        "rasa_replica_ports[1]": ("127.0.0.1", 7002),
    }
    assert listeners(two, ("haproxy",)) == {"rasa_port": ("127.0.0.1", 7000)}


def test_rasas_ready_check_refuses_a_fall_back_to_memory(tmp_path: Path) -> None:
    rasa = _plan(tmp_path)[1]
    with pytest.raises(StackError, match="fell back to an in-memory tracker store"):
        check_tracker_store(rasa, "... InMemoryTrackerStore ...\ntier0 tracker store ready\n")
    with pytest.raises(StackError, match="without opening its conversation store"):
        check_tracker_store(rasa, "Rasa server is up and running.\n")
    check_tracker_store(rasa, "tier0 tracker store ready\n")
    with pytest.raises(StackError, match="without its Redis lock store"):
        check_rasa_stores(rasa, "tier0 tracker store ready\n")
