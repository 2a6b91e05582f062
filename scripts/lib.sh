# shellcheck shell=bash
# Sourced by scripts/test.sh and scripts/cross-check.sh: how they install what they
# need from Debian's packages (apt-get, through sudo unless root) and from PyPI
# (pip, for $PYTHON or python3).

set -o pipefail

python="${PYTHON:-python3}"

sudo=()
if [[ "$(id -u)" != 0 ]]; then
  sudo=(sudo)
fi

# Install Debian packages; the package lists are fetched once, before the first.
apt_updated=
apt_install() {
  if [[ -z "$apt_updated" ]]; then
    "${sudo[@]}" apt-get update
    apt_updated=1
  fi
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
}

# Install the Debian packages $2... for $1, what is missing without them (as an
# error names it when apt-get is unavailable).
install_for() {
  local missing=$1
  shift
  if ! command -v apt-get >/dev/null; then
    echo "error: $missing is not installed and apt-get is unavailable" >&2
    exit 1
  fi
  echo "installing $* (for $missing)" >&2
  apt_install "$@"
}

# Install Python packages for $python. Debian's own Python is "externally managed"
# (PEP 668): pip refuses to install beside apt's packages unless told to; only then,
# tell it.
pip_install() {
  local log
  log="$(mktemp)"
  if "$python" -m pip install "$@" 2>&1 | tee "$log"; then
    rm -f "$log"
  elif grep -q externally-managed-environment "$log"; then
    rm -f "$log"
    "$python" -m pip install "$@" --break-system-packages
  else
    rm -f "$log"
    return 1
  fi
}
