# Sourced by scripts/serve and scripts/test: makes .venv with Ringfort in it.
# Works on a fresh Debian 12: installs python3-venv when the venv module is missing.

ringfort_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=""
apt_install() {
    # Installs the Debian packages named, if any is missing. With --lean first, without
    # the packages they only recommend (a browser's recommends bring desktop services).
    local lean=()
    if [ "${1:-}" = --lean ]; then
        lean=(--no-install-recommends)
        shift
    fi
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "==> installing Debian packages: ${missing[*]}"
    if [ -z "$apt_updated" ]; then
        as_root apt-get update -qq
        apt_updated=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${lean[@]}" "${missing[@]}" >/dev/null
}

ensure_venv() {
    # $1: "dev" to include test and lint tools.
    local python="${PYTHON:-python3}"
    if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        echo "Ringfort needs Python 3.11 or newer (found: $("$python" --version 2>&1))." >&2
        exit 1
    fi
    if [ ! -x "$ringfort_root/.venv/bin/python" ]; then
        if ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then
            apt_install python3-venv
        fi
        echo "==> creating $ringfort_root/.venv"
        "$python" -m venv "$ringfort_root/.venv"
    fi
    local pip=("$ringfort_root/.venv/bin/python" -m pip --disable-pip-version-check -q)
    local stamp="$ringfort_root/.venv/.ringfort-installed-$1"
    local lock="$ringfort_root/requirements.lock"
    if [ "$1" != dev ]; then lock="$ringfort_root/requirements-run.lock"; fi
    if [ ! -f "$stamp" ] || [ "$lock" -nt "$stamp" ] || [ "$ringfort_root/pyproject.toml" -nt "$stamp" ]; then
        echo "==> installing Python dependencies from $(basename "$lock")"
        "${pip[@]}" install -r "$lock"
        "${pip[@]}" install --no-deps -e "$ringfort_root"
        touch "$stamp"
    fi
    # Byte-compile the sources now: a checkout installed in editable mode is otherwise
    # compiled again by every process that starts (each CLI command, about 0.3 s)
    # wherever PYTHONDONTWRITEBYTECODE is set. Python recompiles in memory any module
    # changed since, so this never serves stale code; and where it cannot be done (a
    # read-only checkout) Ringfort only starts more slowly, so that is no reason to stop.
    if ! "$ringfort_root/.venv/bin/python" -m compileall -q -j 0 "$ringfort_root/src" >/dev/null; then
        echo "note: could not byte-compile $ringfort_root/src; each command will start more slowly" >&2
    fi
}
