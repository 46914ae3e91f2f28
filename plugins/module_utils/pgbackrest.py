# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one pgBackRest client of the collection: its options, running it, reading its catalogue.

Repository options may come from a configuration file or as options; the latter go to pgBackRest
as PGBACKREST_* environment variables, so secrets (S3 keys, the cipher passphrase) never appear on
a command line. Ordinary options (`pgbackrest_options`) are shown in results like any parameter;
secret ones (`pgbackrest_secrets`) are no_log, and a secret-looking name among the ordinary ones is
refused, so a passphrase is never shown by mistake. Errors never carry a secret's value.
"""

import glob
import json
import os
import re
import subprocess

from ansible.module_utils.basic import env_fallback

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.errors import OdooOpsError, Refused

OPTION_RE = re.compile(r"[a-z0-9][a-z0-9-]*")
# pgBackRest options whose values are secrets: repoN-cipher-pass, repoN-s3-key, repoN-s3-key-secret,
# repoN-s3-token, repoN-azure-key, repoN-gcs-key, repoN-sftp-private-key-passphrase, and any later
# *-pass, *-passphrase, *-key, *-key-secret, *-secret or *-token option.
SECRET_OPTION_RE = re.compile(r".*-(pass|passphrase|key|key-secret|secret|token)")
MASK = "********"
# Local repository types (their repoN-path is a folder on this host); s3, azure, gcs and sftp are remote.
LOCAL_REPO_TYPES = ("posix", "cifs")
DEFAULT_CONFIG = "/etc/pgbackrest/pgbackrest.conf"
LEGACY_CONFIG = "/etc/pgbackrest.conf"  # read by pgBackRest when the default is absent
DEFAULT_INCLUDE_PATH = "/etc/pgbackrest/conf.d"
DEFAULT_REPO_PATH = "/var/lib/pgbackrest"
DEFAULT_SPOOL_PATH = "/var/spool/pgbackrest"


def pgbackrest_argument_spec():
    return dict(
        stanza=dict(type="str"),
        pgbackrest_config=dict(type="path", fallback=(env_fallback, ["PGBACKREST_CONFIG"])),
        pgbackrest_options=dict(type="dict", default={}),
        pgbackrest_secrets=dict(type="dict", default={}, no_log=True),
        pgbackrest_path=dict(type="path"),
    )


def is_secret_option(name):
    return bool(SECRET_OPTION_RE.fullmatch(str(name)))


def misplaced_secrets(params):
    """Values of secret-looking options given among the ordinary pgbackrest_options: a module adds
    them to its no_log values before refusing them, so the refusal does not show them either."""
    return [str(value) for name, value in (params.get("pgbackrest_options") or {}).items() if is_secret_option(name) and value not in (None, "")]


def option_value(value):
    """pgBackRest's spelling of an option value: booleans as y/n (YAML reads `yes` as true)."""
    if isinstance(value, bool):
        return "y" if value else "n"
    return str(value)


class PgBackRestError(OdooOpsError):
    """A pgBackRest command failed; the message holds its own error lines (never the options)."""


class PgBackRest:
    def __init__(self, params):
        self.stanza = params["stanza"]
        self.config = params.get("pgbackrest_config")
        self.binary = params.get("pgbackrest_path") or "pgbackrest"
        options = params.get("pgbackrest_options") or {}
        secrets = params.get("pgbackrest_secrets") or {}
        for what, given in (("pgbackrest_options", options), ("pgbackrest_secrets", secrets)):
            bad = sorted(str(name) for name in given if not OPTION_RE.fullmatch(str(name)))
            if bad:
                raise Refused("%s has names that are not pgBackRest options: %s" % (what, ", ".join(bad)))
        shown = sorted(name for name in options if is_secret_option(name))
        if shown:
            raise Refused(
                "pgbackrest_options %s: secret options go in pgbackrest_secrets (no_log), in the "
                "configuration file or in PGBACKREST_* environment variables; pgbackrest_options is "
                "shown in results" % ", ".join("%s looks like a secret" % name for name in shown)
            )
        both = sorted(set(options) & set(secrets))
        if both:
            raise Refused("%s given in both pgbackrest_options and pgbackrest_secrets: give each option once" % ", ".join(both))
        if not self.stanza:
            raise Refused("stanza is required: the pgBackRest stanza of the source cluster")
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", self.stanza):
            raise Refused("stanza %r is not a valid stanza name" % self.stanza)
        if self.config and not os.path.isfile(self.config):
            raise Refused("pgbackrest_config %s does not exist" % self.config)
        if self.config and not os.access(self.config, os.R_OK):
            raise Refused(
                "pgbackrest_config %s cannot be read by this user (run the module as the PostgreSQL "
                "OS user, become_user: postgres, and let it read the file)" % self.config
            )
        self.options = dict((name, option_value(value)) for name, value in options.items())
        self.options.update((name, option_value(value)) for name, value in secrets.items())
        self.secrets = sorted({option_value(v) for v in secrets.values() if v not in (None, "")}, key=len, reverse=True)
        self.env = dict(os.environ)
        self.env.update(("PGBACKREST_" + name.upper().replace("-", "_"), value) for name, value in self.options.items())

    def mask(self, text):
        """text without any secret's value (longest first, so no part of one is left)."""
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text

    def command(self, name, *args, operands=()):
        """argv of one pgBackRest command (also what restore_command runs)."""
        argv = [self.binary, "--stanza=%s" % self.stanza]
        if self.config:
            argv.append("--config=%s" % self.config)
        return argv + list(args) + [name] + list(operands)

    def run(self, name, *args, timeout=3600, operands=()):
        try:
            done = subprocess.run(self.command(name, *args, operands=operands), capture_output=True, text=True, env=self.env, timeout=timeout, check=False)
        except FileNotFoundError:
            raise PgBackRestError("pgBackRest is not installed (%s not found)" % self.binary) from None
        except PermissionError:
            raise PgBackRestError("pgBackRest (%s) cannot be run by this user: permission denied" % self.binary) from None
        except subprocess.TimeoutExpired:
            raise PgBackRestError("pgbackrest %s did not finish within %d s" % (name, timeout)) from None
        if done.returncode != 0:
            lines = [line for line in (done.stderr + done.stdout).splitlines() if "ERROR" in line or "WARN" in line]
            raise PgBackRestError(self.mask("pgbackrest %s failed (exit %d): %s" % (name, done.returncode, " ".join(lines[-5:]) or done.stderr.strip()[-500:])))
        return done.stdout

    def info(self):
        """The stanza's entry of `pgbackrest info --output=json` (backups oldest first, archive ranges)."""
        try:
            answer = json.loads(self.run("info", "--output=json", timeout=300) or "[]")
        except ValueError:
            raise PgBackRestError("pgbackrest info did not answer JSON (is %s pgBackRest?)" % self.binary) from None
        stanza = next((entry for entry in answer if entry.get("name") == self.stanza), None)
        if not stanza or stanza.get("status", {}).get("code") not in (0, 2):
            message = (stanza or {}).get("status", {}).get("message", "not found")
            # The stanza's own status says "other" when a repository failed: each repository's says why.
            failed = [
                "repo%s: %s" % (repo.get("key"), repo["status"].get("message"))
                for repo in (stanza or {}).get("repo") or []
                if (repo.get("status") or {}).get("code") not in (None, 0, 2)
            ]
            raise PgBackRestError(self.mask("stanza %s cannot be read from the repository: %s" % (self.stanza, "; ".join(failed) if failed else message)))
        return stanza

    # --- local folders ------------------------------------------------------------------------
    def _config_files(self):
        """The configuration files pgBackRest reads: --config (or its default) and the include folder's
        *.conf (its default is read only when --config is not given, as pgBackRest does)."""
        default = DEFAULT_CONFIG if os.path.exists(DEFAULT_CONFIG) or not os.path.exists(LEGACY_CONFIG) else LEGACY_CONFIG
        files = [self.config or default]
        include = self.options.get("config-include-path") or os.environ.get("PGBACKREST_CONFIG_INCLUDE_PATH")
        if include or not self.config:
            files += sorted(glob.glob(os.path.join(include or DEFAULT_INCLUDE_PATH, "*.conf")))
        return files

    def _configured(self):
        """{option: [values]} of every section that applies to this stanza's commands (global, stanza,
        and their command sections), from the files, then the environment, then the options."""
        found = {}
        sections = re.compile(r"(global|%s)(:[a-z-]+)?" % re.escape(self.stanza))
        for path in self._config_files():
            try:
                with open(path, encoding="utf-8", errors="replace") as handle:
                    lines = handle.read().splitlines()
            except OSError:
                continue  # absent or unreadable: pgBackRest itself will say so when it matters
            applies = False
            for line in lines:
                line = line.strip()
                if line.startswith("[") and line.endswith("]"):
                    applies = bool(sections.fullmatch(line[1:-1].strip()))
                elif applies and "=" in line and not line.startswith("#"):
                    name, value = line.split("=", 1)
                    found.setdefault(name.strip(), []).append(value.strip())
        for key, value in os.environ.items():
            if key.startswith("PGBACKREST_"):
                found[key[len("PGBACKREST_") :].lower().replace("_", "-")] = [value]
        for name, value in self.options.items():
            found[name] = [value]
        return found

    def local_paths(self):
        """[(description, folder)] of the repository paths on this host (posix or cifs repositories) and
        of the spool path: folders a restore must stay apart from."""
        found = self._configured()
        repos = {"1"} | {m.group(1) for m in (re.fullmatch(r"repo([0-9]+)-.*", name) for name in found) if m}
        paths = []
        for repo in sorted(repos, key=int):
            if any(kind in LOCAL_REPO_TYPES for kind in found.get("repo%s-type" % repo) or ["posix"]):
                paths += [("the pgBackRest repository repo%s" % repo, path) for path in found.get("repo%s-path" % repo) or [DEFAULT_REPO_PATH]]
        paths += [("the pgBackRest spool path", path) for path in found.get("spool-path") or [DEFAULT_SPOOL_PATH]]
        return [(description, path) for description, path in paths if path.startswith("/")]
