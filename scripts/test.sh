#!/usr/bin/env bash
# Every test: ruff (lint and format), the module_utils import graph, ansible-lint (production profile), ansible-test sanity, unit and integration tests
# against real services (started and stopped by the tests themselves). Exit status: 0 when all pass.
# Usage: scripts/test.sh [lint|sanity|pytest ...]   (default: all, in that order)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
root=$(pwd)
export PATH="$root/.venv/bin:$PATH" ANSIBLE_CONFIG="$root/ansible.cfg" PYTHONDONTWRITEBYTECODE=1

lint() {
  ruff check . && ruff format --check . && python scripts/import_graph.py >/dev/null &&
    ansible-lint --profile production --offline
}

sanity() {
  # ansible-test needs the collection at .../ansible_collections/<namespace>/<name>:
  # test a copy of exactly what git would ship (tracked and untracked-but-not-ignored files).
  local copy="$root/.cache/sanity/ansible_collections/sysgenpro/odoo_ops"
  rm -rf "$copy" && mkdir -p "$copy"
  git ls-files -z --cached --others --exclude-standard | rsync -a --from0 --files-from=- ./ "$copy/"
  # Its own virtual environment (ansible-test pins pylint, yamllint, ... which must not leak into
  # .venv); --venv cannot be used here: it downloads a pip bootstrap from outside PyPI.
  local venv="$root/.cache/sanity-venv" core
  core=$(python -c 'import ansible; print(ansible.__version__)')
  if [ "$("$venv/bin/python" -c 'import ansible; print(ansible.__version__)' 2>/dev/null)" != "$core" ]; then
    if ! { rm -rf "$venv" && /usr/bin/python3 -m venv "$venv" &&
      "$venv/bin/pip" install -q --disable-pip-version-check "ansible-core==$core" >"$root/.cache/sanity-pip.log" 2>&1; }; then
      tail -20 "$root/.cache/sanity-pip.log"
      return 1
    fi
  fi
  # Per-test environments bootstrap pip from get-pip, downloaded from outside PyPI: give ansible-test
  # our offline stand-in under the cache name it looks for.
  local pip_version
  pip_version=$("$venv/bin/python" -c 'from ansible_test._internal.python_requirements import get_venv_packages
from ansible_test._internal.host_configs import PythonConfig
print(get_venv_packages(PythonConfig(version="3.11"))["pip"])' 2>/dev/null || echo 24.2)
  mkdir -p ~/.ansible/test/cache
  cp scripts/pip_bootstrap.py "$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
  (cd "$copy" && git init -q && git add -A &&
    "$venv/bin/ansible-test" sanity --local --requirements --python 3.11 --color no)
}

unit_and_integration() {
  # Two pytest-xdist workers (ODOO_OPS_TEST_WORKERS; 0 runs in this process): much of the suite waits
  # on containers, Odoo and PostgreSQL. Each module runs whole on one worker (tests/conftest.py).
  python -m pytest -p no:cacheprovider -q --durations=40 -n "${ODOO_OPS_TEST_WORKERS:-2}" --dist loadgroup --no-loadscope-reorder \
    tests/unit tests/integration
}

steps=("${@:-lint sanity pytest}")
read -r -a steps <<< "${steps[*]}"
failed=()
for step in "${steps[@]}"; do
  printf '\n=== %s ===\n' "$step"
  start=$SECONDS
  case "$step" in
    lint) lint ;;
    sanity) sanity ;;
    pytest) unit_and_integration ;;
    *) echo "unknown step $step (lint, sanity, pytest)"; false ;;
  esac || failed+=("$step")
  printf '=== %s: %s in %ss ===\n' "$step" "$([[ " ${failed[*]} " == *" $step "* ]] && echo FAILED || echo ok)" $((SECONDS - start))
done
if ((${#failed[@]})); then
  echo "FAILED steps: ${failed[*]}"
  exit 1
fi
echo "all test steps passed: ${steps[*]}"
