#!/usr/bin/env bash
# Print the path of a working Python X.Y interpreter: PATH first, then pyenv's versions.
# Usage: scripts/find_python.sh 3.10
set -euo pipefail
want="$1"
candidates=("python${want}")
if command -v pyenv >/dev/null 2>&1; then
    root="$(pyenv root)"
    for dir in "${root}"/versions/"${want}".*; do
        [ -x "${dir}/bin/python${want}" ] && candidates+=("${dir}/bin/python${want}")
    done
fi
for dir in "${HOME}"/.pyenv/versions/"${want}".* /usr/local/bin /usr/bin; do
    [ -x "${dir}/bin/python${want}" ] && candidates+=("${dir}/bin/python${want}")
    [ -x "${dir}/python${want}" ] && candidates+=("${dir}/python${want}")
done
for py in "${candidates[@]}"; do
    if out="$("${py}" -c 'import sys; print(sys.executable, "%d.%d" % sys.version_info[:2])' 2>/dev/null)"; then
        exe="${out% *}"; ver="${out##* }"
        if [ "${ver}" = "${want}" ]; then
            echo "${exe}"
            exit 0
        fi
    fi
done
echo "error: Python ${want} was not found (tried python${want} on PATH and pyenv's versions)." >&2
echo "       Install it, for example: pyenv install ${want}" >&2
exit 1
