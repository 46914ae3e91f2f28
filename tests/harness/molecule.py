"""A role's own molecule scenario (molecule/<role>: the default driver, unmanaged, this host as
localhost) run step by step from a test, with the role's variables in a file the scenario reads."""

import os
import re
import subprocess
import sys

import yaml

from .playbook import VENV_BIN
from .services import REPO_ROOT


def molecule_env(**variables):
    """The environment molecule runs in: this checkout's tools first, plain output, the scenario's variables."""
    return dict(
        os.environ,
        PATH=VENV_BIN + os.pathsep + os.environ.get("PATH", ""),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        PY_COLORS="0",
        MOLECULE_NO_LOG="false",
        **variables,
    )


class RoleScenario:
    """molecule/<scenario> with role_vars; prefix names what its cleanup removes (containers, volumes), if it has one."""

    def __init__(self, scenario, folder, role_vars, prefix="", extra_env=None):
        self.scenario = scenario
        self.vars_file = os.path.join(folder, "molecule-%s-vars.yml" % scenario)
        with open(self.vars_file, "w", encoding="utf-8") as handle:
            yaml.safe_dump(role_vars, handle)
        os.chmod(self.vars_file, 0o600)  # the role's secrets
        self.env = molecule_env(
            ODOO_OPS_MOLECULE_VARS=self.vars_file,
            ODOO_OPS_MOLECULE_PREFIX=prefix,
            ODOO_OPS_MOLECULE_PYTHON=sys.executable,
            **(extra_env or {}),
        )

    def run(self, step, timeout=900):
        """molecule <step> -s <scenario>: (return code, output)."""
        done = subprocess.run(
            [os.path.join(VENV_BIN, "molecule"), step, "-s", self.scenario],
            cwd=REPO_ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return done.returncode, done.stdout + done.stderr

    def step(self, step, timeout=900):
        """A step that must succeed; its output."""
        code, output = self.run(step, timeout)
        assert code == 0, "molecule %s -s %s failed:\n%s" % (step, self.scenario, output[-8000:])
        return output

    def converge(self, timeout=900):
        """The converge step, which must succeed and change something (a new host); its output."""
        output = self.step("converge", timeout)
        assert re.search(r"localhost\s*:.*changed=[1-9]", output), output[-4000:]
        return output
