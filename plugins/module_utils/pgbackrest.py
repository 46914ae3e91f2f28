# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one pgBackRest client of the collection: its options, running it, reading its catalogue.

Repository options may come from a configuration file or as options; the latter go to pgBackRest
as PGBACKREST_* environment variables, so secrets (S3 keys, the cipher passphrase) never appear on
a command line.
"""

import json
import os
import re
import subprocess

from ansible.module_utils.basic import env_fallback

OPTION_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def pgbackrest_argument_spec():
    return dict(
        stanza=dict(type="str"),
        pgbackrest_config=dict(type="path", fallback=(env_fallback, ["PGBACKREST_CONFIG"])),
        pgbackrest_options=dict(type="dict", default={}, no_log=True),
        pgbackrest_path=dict(type="path"),
    )


class PgBackRestError(Exception):
    """A pgBackRest command failed; the message holds its own error lines (never the options)."""


class PgBackRest:
    def __init__(self, params):
        self.stanza = params["stanza"]
        self.config = params.get("pgbackrest_config")
        self.binary = params.get("pgbackrest_path") or "pgbackrest"
        options = params.get("pgbackrest_options") or {}
        bad = sorted(name for name in options if not OPTION_RE.match(name))
        if bad:
            raise ValueError("pgbackrest_options has names that are not pgBackRest options: %s" % ", ".join(bad))
        if not self.stanza:
            raise ValueError("stanza is required: the pgBackRest stanza of the source cluster")
        if not re.match(r"^[A-Za-z0-9_.-]+$", self.stanza):
            raise ValueError("stanza %r is not a valid stanza name" % self.stanza)
        if self.config and not os.path.isfile(self.config):
            raise ValueError("pgbackrest_config %s does not exist" % self.config)
        self.env = dict(os.environ)
        self.env.update(("PGBACKREST_" + name.upper().replace("-", "_"), str(value)) for name, value in options.items())

    def command(self, name, *args, operands=()):
        """argv of one pgBackRest command (also what restore_command runs)."""
        argv = [self.binary, "--stanza=%s" % self.stanza]
        if self.config:
            argv.append("--config=%s" % self.config)
        return argv + list(args) + [name] + list(operands)

    def run(self, name, *args, timeout=3600, operands=()):
        try:
            done = subprocess.run(self.command(name, *args, operands=operands), capture_output=True, text=True,
                                  env=self.env, timeout=timeout, check=False)
        except FileNotFoundError:
            raise PgBackRestError("pgBackRest is not installed (%s not found)" % self.binary) from None
        except subprocess.TimeoutExpired:
            raise PgBackRestError("pgbackrest %s did not finish within %d s" % (name, timeout)) from None
        if done.returncode != 0:
            lines = [line for line in (done.stderr + done.stdout).splitlines() if "ERROR" in line or "WARN" in line]
            raise PgBackRestError("pgbackrest %s failed (exit %d): %s" % (
                name, done.returncode, " ".join(lines[-5:]) or done.stderr.strip()[-500:]))
        return done.stdout

    def info(self):
        """The stanza's entry of `pgbackrest info --output=json` (backups oldest first, archive ranges)."""
        answer = json.loads(self.run("info", "--output=json", timeout=300) or "[]")
        stanza = next((entry for entry in answer if entry.get("name") == self.stanza), None)
        if not stanza or stanza.get("status", {}).get("code") not in (0, 2):
            message = (stanza or {}).get("status", {}).get("message", "not found")
            raise PgBackRestError("stanza %s cannot be read from the repository: %s" % (self.stanza, message))
        return stanza
