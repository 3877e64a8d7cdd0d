"""Start `rasa run` with its API's key from the environment, never from the command line.

`rasa run --jwt-secret T` would put the key in the process list, where any local user can read
it (`ps -eo args`). `bot up` starts `python -m rasa_plugins.serve run ...` with the key in
TIER0_RASA_AUTH_TOKEN instead (a process's environment is readable only by its owner); this
hands it to Rasa's own command-line entry point inside the process as the HS256 key of the JWTs
its API accepts (bot.rasa_auth: callers send a signed, expiring token in a header). Rasa's
`--auth-token` (a token in the URL's query, where logs keep it) is not used. This runs after
putting the patches
of rasa_plugins/speedups.py in place: none when TIER0_RASA_SPEEDUPS is "0" (settings'
rasa_speedups), all but those named in TIER0_RASA_SPEEDUPS_OFF (comma-separated; settings'
rasa_speedups_off) otherwise, and of those only the ones written for the installed versions.
"""

from __future__ import annotations

import logging
import os
import sys

from bot.rasa_auth import ALGORITHM

TOKEN_VARIABLE = "TIER0_RASA_AUTH_TOKEN"
SPEEDUPS_VARIABLE = "TIER0_RASA_SPEEDUPS"
SPEEDUPS_OFF_VARIABLE = "TIER0_RASA_SPEEDUPS_OFF"
# Rasa's own log format; Rasa's logging set-up replaces this handler with its own
LOG_FORMAT = "%(asctime)s %(levelname)-8s %(name)s  - %(message)s"


def main() -> None:
    """Run Rasa's CLI with the JWT key added to its arguments in this process only."""
    token = os.environ.pop(TOKEN_VARIABLE, "")
    if not token:
        sys.exit(f"rasa_plugins.serve: {TOKEN_VARIABLE} is not set; refusing to start an open API")
    # one argument with '=': a token that starts with '-' is not taken for an option
    sys.argv = ["rasa", *sys.argv[1:], f"--jwt-secret={token}", f"--jwt-method={ALGORITHM}"]
    from rasa.__main__ import main as rasa_main

    # the patches' install report is logged before Rasa sets its logging up
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    if os.environ.get(SPEEDUPS_VARIABLE, "1") != "0":  # settings' rasa_speedups
        from rasa_plugins import speedups

        off = os.environ.get(SPEEDUPS_OFF_VARIABLE, "")  # settings' rasa_speedups_off
        try:
            speedups.install(name.strip() for name in off.split(",") if name.strip())
        except ValueError as exc:  # a name that is no speedup's
            sys.exit(f"rasa_plugins.serve: {SPEEDUPS_OFF_VARIABLE}: {exc}")
    else:
        logging.getLogger(__name__).info("speedups: none installed (rasa_speedups is false)")
    rasa_main()


if __name__ == "__main__":
    main()
