#!/usr/bin/env bash
# Check that kaioken still compiles for the release targets the tests do not build:
# Windows and static Linux (musl) always, macOS when CROSS_MACOS=1. Lints too
# (`clippy -D warnings`; for Windows every target: tests and benches), since code
# that only Linux uses is a warning elsewhere. Nothing is linked or run (see
# README, "Platforms").
#
# Windows: the x86_64-pc-windows-gnu target with Debian's MinGW-w64 C compiler
# (ring's and Lua's build scripts compile C), installed with apt-get and rustup when
# missing. musl: x86_64-unknown-linux-musl, what the x86_64 Linux release binary is
# built for, with Debian's musl-gcc (mimalloc's build script compiles C too; the
# libc crate's types for musl differ from glibc's in places, e.g. `msghdr`'s
# fields); the libraries and binaries only, not the tests. macOS:
# aarch64-apple-darwin with zig as the C compiler, through cargo-zigbuild (both from
# PyPI, installed with pip when missing). `--install` installs what is missing and
# checks nothing.
set -euo pipefail

case "$*" in
  "" | --install) ;;
  *)
    echo "usage: scripts/cross-check.sh [--install]" >&2
    exit 1
    ;;
esac

cd "$(dirname "$0")/.."

# shellcheck source=scripts/lib.sh
source scripts/lib.sh

add_target() {
  if ! rustup target list --installed | grep -qx "$1"; then
    rustup target add "$1"
  fi
}

# A target's C compiler (command $1), installed from the Debian package $2 when missing.
add_compiler() {
  command -v "$1" >/dev/null && return
  install_for "$1" "$2"
}

windows=x86_64-pc-windows-gnu
add_compiler x86_64-w64-mingw32-gcc gcc-mingw-w64-x86-64
add_target "$windows"

musl=x86_64-unknown-linux-musl
add_compiler musl-gcc musl-tools
add_target "$musl"

macos=aarch64-apple-darwin
if [[ "${CROSS_MACOS:-0}" == 1 ]]; then
  if ! command -v cargo-zigbuild >/dev/null || ! "$python" -m ziglang version >/dev/null 2>&1; then
    echo "installing zig and cargo-zigbuild" >&2
    pip_install --quiet ziglang cargo-zigbuild
  fi
  add_target "$macos"
fi

if [[ "${1:-}" == --install ]]; then
  exit 0
fi

echo "==> cargo clippy --workspace --all-targets --target $windows -- -D warnings"
cargo clippy --workspace --all-targets --target "$windows" -- -D warnings

echo "==> cargo clippy --workspace --target $musl -- -D warnings"
cargo clippy --workspace --target "$musl" -- -D warnings

if [[ "${CROSS_MACOS:-0}" == 1 ]]; then
  echo "==> cargo zigbuild clippy --workspace --all-targets --target $macos -- -D warnings"
  cargo-zigbuild clippy --workspace --all-targets --target "$macos" -- -D warnings
fi
