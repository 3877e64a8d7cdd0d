"""The bot's servers: what runs (plan), in what environment (env), and running it (supervisor).

- `plan`: pure; from the settings and the roles, each server's command, environment, address,
  log, files and ready check (ServerSpec), the ports, HAProxy's configuration.
- `env`: the one rule for a child process's environment, and settings for a stack of its own.
- `process`: one server's process: start, wait until ready, restart, stop its process group.
- `supervisor`: prepare, check, start the planned stack, restart what dies, record it.
- `model`: train the Rasa model when its data changed. `evaluation`: a throwaway stack.
- `production`: what production mode demands of the settings before anything starts.
- `ports`, `paths`: free ports and where things are.

The names below are the package's API (`from bot.stack import start_stack`).
"""

from __future__ import annotations

from bot.stack.catalog import CatalogSchedule
from bot.stack.env import child_env, own_stack_settings, rasa_env, settings_env
from bot.stack.evaluation import evaluation_stack
from bot.stack.model import ensure_model, model_fingerprint, model_path
from bot.stack.paths import RASA_BIN, RASA_PYTHON, ROOT
from bot.stack.plan import (
    ROLES,
    ServerSpec,
    StackError,
    conversations_where,
    haproxy_config,
    listeners,
    lock_store_endpoint,
    plan_stack,
    replica_ports,
    scaled_out,
    tracker_store_endpoint,
)
from bot.stack.ports import free_port, port_in_use
from bot.stack.process import Server, wait_all, wait_ready
from bot.stack.production import production_problems
from bot.stack.supervisor import (
    check_scale_out,
    create_database,
    private_data_dir,
    running_stack,
    servers_file,
    start_action_server,
    start_edge,
    start_haproxy,
    start_rasa,
    start_stack,
    start_web,
    supervise,
    write_servers_file,
)

__all__ = [
    "CatalogSchedule",
    "RASA_BIN",
    "RASA_PYTHON",
    "ROLES",
    "ROOT",
    "Server",
    "ServerSpec",
    "StackError",
    "check_scale_out",
    "child_env",
    "conversations_where",
    "create_database",
    "ensure_model",
    "evaluation_stack",
    "free_port",
    "haproxy_config",
    "listeners",
    "lock_store_endpoint",
    "model_fingerprint",
    "model_path",
    "own_stack_settings",
    "plan_stack",
    "port_in_use",
    "production_problems",
    "private_data_dir",
    "rasa_env",
    "running_stack",
    "replica_ports",
    "scaled_out",
    "servers_file",
    "settings_env",
    "start_action_server",
    "start_edge",
    "start_haproxy",
    "start_rasa",
    "start_stack",
    "start_web",
    "supervise",
    "tracker_store_endpoint",
    "wait_all",
    "wait_ready",
    "write_servers_file",
]
