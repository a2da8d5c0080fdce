# Sourced by the project's scripts: a PATH with cargo on it, and helpers to
# install Debian packages only when they are missing (CI runs as root on a
# fresh Debian machine, with no stdin).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ROOT
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
export DEBIAN_FRONTEND=noninteractive

# need_packages PKG...: apt-get install the ones dpkg does not have.
need_packages() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "installing: ${missing[*]}" >&2
    if ! apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; then
        apt-get update >/dev/null
        apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

step() { printf '\n== %s\n' "$*" >&2; }
