#!/usr/bin/env bash
# Regenerate the lock files from the top-level inputs (`make lock`); commit what changes.
#   requirements.txt       .venv (Python 3.11): pyproject.toml's dependencies, its dev extra and
#                          its build backend (for the editable install)
#   requirements-rasa.txt  .venv-rasa (Python 3.10): requirements-rasa.in and everything under it
# Every package is pinned with its hashes. Pins already in a lock are kept while they still fit;
# arguments go to pip-compile: `scripts/lock.sh --upgrade-package aiohttp`, `scripts/lock.sh --upgrade`.
# pip-compile resolves for the Python that runs it, so each lock is made in a throwaway tool
# environment of its own Python version (.venv-lock/3.11, .venv-lock/3.10), with this machine's
# pip configuration (the local torch CPU wheel and package mirrors), as `make setup` installs.
set -euo pipefail
cd "$(dirname "$0")/.."

PIP_TOOLS="pip-tools==7.6.2"

tool_venv() {  # version: print the path of a tool environment with pip-tools, made if missing
    local version="$1" venv=".venv-lock/$1"
    if ! "${venv}/bin/python" -c "import piptools" 2>/dev/null; then
        local python
        python="$(scripts/find_python.sh "${version}")"
        echo "lock: preparing ${venv} (${PIP_TOOLS}) with ${python}" >&2
        rm -rf "${venv}"
        "${python}" -m venv "${venv}"
        "${venv}/bin/python" -m pip install --quiet "${PIP_TOOLS}" 2>&1 \
            | { grep -v "is ignored: it is neither" || true; } >&2
    fi
    echo "${venv}"
}

compile() {  # version output input [pip-compile options...]
    local version="$1" output="$2" input="$3"; shift 3
    local venv
    venv="$(tool_venv "${version}")"
    echo "lock: ${input} -> ${output} (Python ${version})"
    # The header names the command to run again; mirrors on file:// URLs stay out of the lock.
    CUSTOM_COMPILE_COMMAND="make lock" "${venv}/bin/pip-compile" --quiet \
        --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
        --output-file "${output}" "$@" "${input}" 2>&1 \
        | { grep -v "is ignored: it is neither" || true; }
    return "${PIPESTATUS[0]}"
}

compile 3.11 requirements.txt pyproject.toml --extra dev --build-deps-for editable "$@"
compile 3.10 requirements-rasa.txt requirements-rasa.in "$@"
echo "lock: done; commit the lock files (git diff --stat requirements*.txt)"
