#!/usr/bin/env bash
# Installs jitguard: scripts/install.sh [--prefix DIR]   (default /usr/local)
#
#   PREFIX/bin/jitguard                       the CLI
#   PREFIX/lib/jitguard/libjitguard.so        the preload library
#   PREFIX/share/man/man1/jitguard.1          man jitguard
#   PREFIX/share/doc/jitguard/                README, SECURITY, the built-in
#                                             profiles, jitguard.conf.example
#
# Builds the release binaries first when cargo is available (a no-op when
# they are up to date); without cargo it installs the ones already built.
# `jitguard run` finds the library at PREFIX/lib/jitguard/ by itself.
# DESTDIR is honoured for packaging.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prefix=/usr/local
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) prefix="${2:?--prefix needs a directory}"; shift 2 ;;
        --prefix=*) prefix="${1#--prefix=}"; shift ;;
        -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "install.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
done
case "$prefix" in /*) ;; *) prefix="$(pwd)/$prefix" ;; esac

cargo="${CARGO:-cargo}"
if ! command -v "$cargo" >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    cargo="$HOME/.cargo/bin/cargo"
fi
target="${CARGO_TARGET_DIR:-$ROOT/target}/release"
if command -v "$cargo" >/dev/null 2>&1; then
    (cd "$ROOT" && "$cargo" build --release --workspace --quiet)
elif [ ! -x "$target/jitguard" ] || [ ! -f "$target/libjitguard.so" ]; then
    echo "install.sh: no cargo to build with and no release build in $target" >&2
    exit 1
fi

dest="${DESTDIR:-}$prefix"
install -d "$dest/bin" "$dest/lib/jitguard" "$dest/share/man/man1" "$dest/share/doc/jitguard/profiles"
install -m 0755 "$target/jitguard" "$dest/bin/jitguard"
install -m 0644 "$target/libjitguard.so" "$dest/lib/jitguard/libjitguard.so"
install -m 0644 "$ROOT/doc/jitguard.1" "$dest/share/man/man1/jitguard.1"
install -m 0644 "$ROOT/README.md" "$ROOT/SECURITY.md" "$ROOT/doc/jitguard.conf.example" \
    "$dest/share/doc/jitguard/"
install -m 0644 "$ROOT"/profiles/*.profile "$dest/share/doc/jitguard/profiles/"
echo "installed jitguard into $dest:"
echo "  $prefix/bin/jitguard, $prefix/lib/jitguard/libjitguard.so, man jitguard"
echo "  settings: /etc/jitguard.conf (example: $prefix/share/doc/jitguard/jitguard.conf.example)"
