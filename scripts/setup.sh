#!/usr/bin/env bash
# Create or update the two virtual environments; quick no-op when the dependency files did not change.
#   .venv       Python 3.11: requirements.txt (locked), then the bot package (editable)
#   .venv-rasa  Python 3.10: requirements-rasa.txt (locked: rasa==3.6.21 and everything under it)
# Both are installed from lock files with hashes (`make lock` writes them; docs/dependencies.md).
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
    rm -f "${venv}/.stamp"  # a failed install is never taken for a finished one
    "$@"
    echo "${stamp}" > "${venv}/.stamp"
    echo "setup: ${venv} is ready"
}

pip_quiet() {  # pip's local-index warnings are noise; keep errors
    local venv="$1"; shift
    "${venv}/bin/python" -m pip install --quiet "$@" 2>&1 | { grep -v "is ignored: it is neither" || true; }
    return "${PIPESTATUS[0]}"
}

install_locked() {  # venv lock: install exactly the lock (every pin with its hash), drop the rest
    local venv="$1" lock="$2"
    pip_quiet "${venv}" --require-hashes --no-deps -r "${lock}"
    # As pip-sync does: uninstall what the lock no longer lists (pip's own tools and the bot stay).
    local extra
    extra="$("${venv}/bin/python" - "${lock}" <<'EOF'
import re
import sys
from importlib.metadata import distributions

def norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()

pin = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)==")
with open(sys.argv[1]) as lock:
    keep = {norm(m.group(1)) for m in map(pin.match, lock) if m}
keep |= {"pip", "setuptools", "wheel", "tier0-bot"}
names = {d.metadata["Name"] for d in distributions()}
print(" ".join(sorted(name for name in names if norm(name) not in keep)))
EOF
)"
    if [ -n "${extra}" ]; then
        echo "setup: removing from ${venv} what ${lock} no longer lists: ${extra}"
        # shellcheck disable=SC2086
        "${venv}/bin/python" -m pip uninstall --quiet --yes ${extra}
    fi
}

check_venv() {  # venv lock input requirement...: the lock must hold what the input asks for
    local venv="$1" lock="$2" input="$3"; shift 3
    local problems
    if ! problems="$("${venv}/bin/python" -m pip check 2>&1)"; then
        echo "${problems}" >&2
        echo "setup: ${venv} is inconsistent (pip check above); run \`make lock\` and commit ${lock}" >&2
        return 1
    fi
    if ! problems="$("${venv}/bin/python" - "$@" <<'EOF'
import sys
from importlib.metadata import PackageNotFoundError, version

try:
    from packaging.requirements import Requirement
except ImportError:  # pip always carries a copy
    from pip._vendor.packaging.requirements import Requirement

for line in sys.argv[1:]:
    req = Requirement(line)
    if req.marker and not req.marker.evaluate({"extra": "dev"}):
        continue
    try:
        have = version(req.name)
    except PackageNotFoundError:
        print(f"  {line}: not in the lock")
        continue
    if not req.specifier.contains(have, prereleases=True):
        print(f"  {line}: the lock has {have}")
EOF
)" || [ -n "${problems}" ]; then
        echo "setup: ${lock} does not match ${input}:" >&2
        echo "${problems}" >&2
        echo "setup: run \`make lock\` and commit ${lock}" >&2
        return 1
    fi
}

install_main() {
    # torch is pinned in the lock as the CPU build (torch==2.13.0+cpu) that is served locally.
    install_locked .venv requirements.txt
    # The bot itself: editable, its dependencies and build backend already installed from the lock.
    PYTHONWARNINGS=ignore pip_quiet .venv --no-deps --no-build-isolation -e .
    local reqs
    mapfile -t reqs < <(.venv/bin/python -c \
        'from importlib.metadata import requires; print("\n".join(requires("tier0-bot")))')
    check_venv .venv requirements.txt "pyproject.toml (with the dev extra)" "${reqs[@]}"
}
install_rasa() {
    install_locked .venv-rasa requirements-rasa.txt
    local reqs
    mapfile -t reqs < <(sed -e 's/\s*#.*//' -e '/^\s*\(-.*\)\?$/d' requirements-rasa.in)
    check_venv .venv-rasa requirements-rasa.txt requirements-rasa.in "${reqs[@]}"
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
# A venv is set up again when its lock, its input or this script changes.
setup_venv .venv 3.11 "$(stamp_of requirements.txt pyproject.toml scripts/setup.sh)" install_main
setup_venv .venv-rasa 3.10 \
    "$(stamp_of requirements-rasa.txt requirements-rasa.in scripts/setup.sh)" install_rasa
