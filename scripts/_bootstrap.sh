# Sourced by the entry-point scripts: makes sure uv exists and the locked environment
# (trtl, ai-dynamo 1.6.1 without aisimulate, the dev tools) is installed in .venv.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! command -v uv >/dev/null 2>&1; then
    # PyPI is reachable where trtl is developed and tested; uv's own installer site may not be.
    python3 -m pip install --quiet --disable-pip-version-check uv
    export PATH="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$HOME/.local/bin:$PATH"
fi
# Use the system's CA store, as pip and curl do here; uv's bundled roots may not know the
# certificate of a package proxy. uv 0.13 renamed the switch to UV_SYSTEM_CERTS and warns on
# every call that reads the old UV_NATIVE_TLS; an older uv knows only the old name.
if [[ -z ${UV_NATIVE_TLS:-} && -z ${UV_SYSTEM_CERTS:-} ]]; then
    if uv sync --help 2>/dev/null | grep -q -- --system-certs; then
        export UV_SYSTEM_CERTS=true
    else
        export UV_NATIVE_TLS=true
    fi
fi
uv sync --quiet --locked --all-extras
