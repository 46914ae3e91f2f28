#!/usr/bin/env bash
# The project's entry points. Each first sets up this machine (Debian packages, .venv, the
# collection under .cache/collections); see scripts/setup.sh.
#
#   ./run.sh site   start the local platform's services on 127.0.0.1 and run playbooks/site.yml
#   ./run.sh test   run every test: ansible-lint, ansible-test sanity, unit, integration
#   ./run.sh down   stop the local platform's services
set -euo pipefail
cd "$(dirname "$0")"
action=${1:-}
shift || true
case "$action" in
  site)
    scripts/setup.sh
    .venv/bin/python -m tests.harness up --root .cache/platform --local-ports --services docker,s3 \
      --bucket odoo-ops-backups >/dev/null
    exec .venv/bin/ansible-playbook playbooks/site.yml "$@"
    ;;
  test)
    scripts/setup.sh
    exec scripts/test.sh "$@"
    ;;
  down)
    exec .venv/bin/python -m tests.harness down --root .cache/platform
    ;;
  *)
    sed -n '2,8p' "$0" >&2
    exit 2
    ;;
esac
