#!/usr/bin/env bash
# Create or update the two virtual environments; quick no-op when the dependency files did not change.
#   .venv       Python 3.11: the bot package (editable) with its dependencies, pytest, ruff
#   .venv-rasa  Python 3.10: rasa==3.6.21 only (Rasa Open Source supports Python up to 3.10)
set -euo pipefail
cd "$(dirname "$0")/.."

stamp_of() { cat "$@" | sha256sum | cut -c1-16; }

setup_venv() {   # name python-version stamp install-command...
    local venv="$1" version="$2" stamp="$3"; shift 3
    if [ -f "${venv}/.stamp" ] && [ "$(cat "${venv}/.stamp")" = "${stamp}" ]; then
        return 0
    fi
    local python
    python="$(scripts/find_python.sh "${version}")"
    echo "setup: preparing ${venv} with ${python}"
    if [ ! -x "${venv}/bin/python" ] || ! "${venv}/bin/python" -c 'import sys' 2>/dev/null \
        || [ "$("${venv}/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" != "${version}" ]; then
        rm -rf "${venv}"
        "${python}" -m venv "${venv}"
    fi
    "${venv}/bin/python" -m pip install --quiet --upgrade pip 2>&1 | grep -v "is ignored" || true
    "$@"
    echo "${stamp}" > "${venv}/.stamp"
    echo "setup: ${venv} is ready"
}

pip_quiet() {  # pip's local-index warnings are noise; keep errors
    local venv="$1"; shift
    "${venv}/bin/python" -m pip install --quiet "$@" 2>&1 | { grep -v "is ignored: it is neither" || true; }
    return "${PIPESTATUS[0]}"
}

install_main() {
    # torch first, pinned: the CPU wheel is served locally for Python 3.11.
    pip_quiet .venv "torch==2.13.0"
    pip_quiet .venv -e ".[dev]"
}
install_rasa() {
    pip_quiet .venv-rasa -r requirements-rasa.txt
}

debian_package() {  # package command: install a Debian package when its command is missing
    local package="$1" command="$2"
    command -v "${command}" >/dev/null 2>&1 && return 0
    echo "setup: installing Debian's ${package} (for ${command})"
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo -n"
    if ! { ${sudo} apt-get update -qq && DEBIAN_FRONTEND=noninteractive ${sudo} apt-get install -y -qq \
            --no-install-recommends "${package}" >/dev/null; }; then
        echo "setup: could not install ${package}; install it with: sudo apt-get install ${package}" >&2
        return 1
    fi
}

# The browser tests drive Debian's chromium (never a downloaded browser); BOT_CHROMIUM names
# another one. Without it the rest still sets up, and the browser tests say what is missing.
if [ -z "${BOT_CHROMIUM:-}" ]; then
    debian_package chromium chromium || echo "setup: warning: the browser tests need chromium" >&2
fi
# HAProxy balances several Rasa servers (rasa_replicas > 1) and the scale-out tests use it.
debian_package haproxy haproxy || echo "setup: warning: rasa_replicas > 1 needs haproxy" >&2
setup_venv .venv 3.11 "$(stamp_of pyproject.toml scripts/setup.sh)" install_main
setup_venv .venv-rasa 3.10 "$(stamp_of requirements-rasa.txt scripts/setup.sh)" install_rasa
