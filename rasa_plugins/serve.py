"""Start `rasa run` with its API token from the environment, never from the command line.

`rasa run --auth-token T` would put the token in the process list, where any local user can read
it (`ps -eo args`). `bot up` starts `python -m rasa_plugins.serve run ...` with the token in
TIER0_RASA_AUTH_TOKEN instead (a process's environment is readable only by its owner); this
hands it to Rasa's own command-line entry point inside the process, after putting
rasa_plugins/speedups.py in place (unless TIER0_RASA_SPEEDUPS is "0": settings' rasa_speedups).
"""

from __future__ import annotations

import os
import sys

TOKEN_VARIABLE = "TIER0_RASA_AUTH_TOKEN"
SPEEDUPS_VARIABLE = "TIER0_RASA_SPEEDUPS"


def main() -> None:
    """Run Rasa's CLI with the token added to its arguments in this process only."""
    token = os.environ.pop(TOKEN_VARIABLE, "")
    if not token:
        sys.exit(f"rasa_plugins.serve: {TOKEN_VARIABLE} is not set; refusing to start an open API")
    # one argument with '=': a token that starts with '-' is not taken for an option
    sys.argv = ["rasa", *sys.argv[1:], f"--auth-token={token}"]
    from rasa.__main__ import main as rasa_main

    if os.environ.get(SPEEDUPS_VARIABLE, "1") != "0":  # settings' rasa_speedups
        from rasa_plugins import speedups

        speedups.install()
    rasa_main()


if __name__ == "__main__":
    main()
