#!/usr/bin/env bash
# Set up this checkout on a Debian 12 machine: Debian packages, the Python virtual
# environment (.venv) and the collection installed into .cache/collections.
# Idempotent, and quick when already done: each step is skipped when its inputs are unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

log() { printf '[setup] %s\n' "$*"; }

# 1. Debian packages (only when one is missing: apt-get update is slow).
mapfile -t packages < <(grep -Ev '^\s*(#|$)' scripts/debian-packages.txt)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]})); then
  [ "$(id -u)" = 0 ] || { echo "[setup] need root to install: ${missing[*]}" >&2; exit 1; }
  log "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The Debian packages enable services on install; the harness runs its own private instances.

# 2. Virtual environment from the system Python: a venv made from a Python under root's
#    home cannot be executed by other users (tasks that become postgres need it).
venv=.venv
stamp="$venv/.requirements.sha256"
want=$(sha256sum < requirements.txt | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "building $venv from requirements.txt"
  mkdir -p .cache
  pip_log=.cache/pip-install.log
  { /usr/bin/python3 -m venv "$venv" &&
    "$venv/bin/pip" install --disable-pip-version-check --upgrade pip &&
    "$venv/bin/pip" install --disable-pip-version-check -r requirements.txt; } >"$pip_log" 2>&1 ||
    { tail -n 40 "$pip_log" >&2; echo "[setup] pip failed; full log: $pip_log" >&2; exit 1; }
  echo "$want" > "$stamp"
fi

# 3. The collection, resolvable as sysgenpro.odoo_ops.* from .cache/collections
#    (a link to this checkout, so edits take effect without reinstalling).
link=.cache/collections/ansible_collections/sysgenpro/odoo_ops
mkdir -p "$(dirname "$link")"
[ "$(readlink "$link" 2>/dev/null)" = "$root" ] || ln -sfn "$root" "$link"
log "ready: $venv ($("$venv/bin/ansible" --version | head -1)), collection at $link"
