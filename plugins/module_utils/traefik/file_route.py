# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One tenant's file in Traefik's file-provider directory: plan, apply, confirm live, or undo.

The plan is computed from the observed file and the directory's other files, the same way in
check mode and in a real run; only apply() writes. The directory is shared by every tenant and
Traefik's file provider refuses all of it when one file is bad, so a file Traefik does not confirm
is replaced by the previous one (or removed when there was none) before the task fails.
"""

import glob
import os
import stat
import traceback

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.errors import OdooOpsError, Refused
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.files import check_writable_dir, read_file, write_atomic
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.validation import check_file_mode, check_route_name
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.traefik.api import TraefikApiError
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.traefik.config import claimed_hosts, defined_names, file_config, file_header

try:
    import yaml

    SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available
    HAS_YAML, YAML_IMPORT_ERROR = True, None
except ImportError:
    HAS_YAML, YAML_IMPORT_ERROR = False, traceback.format_exc()

BROKEN_DIRECTORY_HINT = (
    "Traefik's file provider refuses the whole directory when one file in it is invalid (its log says "
    "'collecting file configs: <file>: ...'); then no route change takes effect for any tenant"
)


class RouteFailed(OdooOpsError):
    """A run that did not end as planned: the message, and the result to report with it."""

    def __init__(self, msg, result, warnings=()):
        super().__init__(msg)
        self.result, self.warnings = result, list(warnings)


def render(spec, config):
    return file_header(spec.name) + yaml.safe_dump(config, default_flow_style=False, sort_keys=True, width=4096)


def _parse(text):
    try:
        return yaml.load(text, Loader=SafeLoader) or {}
    except yaml.YAMLError:
        return None


def _others_can_write(mode):
    return mode is not None and bool(mode & stat.S_IWOTH)


class Plan:
    def __init__(self, path, before, after, mode_before, mode_after, config, routers, warnings):
        self.path, self.before, self.after = path, before, after  # before: bytes as read; after: text
        self.mode_before, self.mode_after = mode_before, mode_after
        self.config, self.routers, self.warnings = config, routers, warnings

    @property
    def before_text(self):
        return self.before.decode("utf-8", "replace") if self.before is not None else None

    @property
    def changed(self):
        if self.after is None:
            return self.before is not None
        return self.before_text != self.after or self.mode_before != self.mode_after

    def steps(self):
        """What applying it does, in the collection's plan shape (none when nothing changes)."""
        if not self.changed:
            return []
        return ["remove %s" % self.path] if self.after is None else ["write %s" % self.path]

    def qualified_routers(self):
        return ["%s@file" % name for name in self.routers]

    def diff(self):
        return {"before": self.before_text or "", "after": self.after or "", "before_header": self.path, "after_header": self.path}


class FileRoute:
    def __init__(self, directory, name, mode):
        self.mode = check_file_mode(mode)
        self.directory = directory
        self.name = check_route_name(name)
        self.path = os.path.join(directory, "%s.yml" % name)

    def _check_directory(self):
        check_writable_dir(self.directory, "dynamic_dir")
        mode = stat.S_IMODE(os.stat(self.directory).st_mode)
        if _others_can_write(mode):
            raise Refused(
                "dynamic_dir %s is writable by others (mode %04o): anyone on the host could add a "
                "file that takes routing away from every tenant; make it writable only by its "
                "owner (and group), e.g. chmod o-w" % (self.directory, mode)
            )
        if os.path.lexists(self.path) and not stat.S_ISREG(os.lstat(self.path).st_mode):
            raise Refused("%s is not a regular file (a symbolic link or something else): refusing to read or replace it" % self.path)

    def plan(self, spec, api=None):
        """What to do for `spec` (None: remove the tenant's file). Raises ValueError on refusal.

        With `api`, the entry points the routes name are checked against Traefik's own list.
        """
        self._check_directory()
        try:
            before, mode_before = read_file(self.path)
        except OSError as exc:
            raise Refused("cannot read %s: %s" % (self.path, exc)) from None
        if _others_can_write(mode_before):
            raise Refused(
                "%s is writable by others (mode %04o): it may have been changed by someone else; "
                "check its content, then chmod o-w it (or remove it) and run again" % (self.path, mode_before)
            )
        if before is not None and not before.startswith(file_header(self.name).encode("utf-8")):
            # Another file of the directory (the platform's TLS options or shared middlewares, an
            # operator's route) that only shares the name: replacing or removing it would take it away.
            raise Refused(
                "%s exists and was not written by traefik_route for route %s (its first line is not %r): "
                "refusing to %s it; choose another route name, or move that file away first"
                % (self.path, self.name, file_header(self.name).strip(), "remove" if spec is None else "replace")
            )
        if spec is None:
            parsed = _parse(before) if before is not None else None
            routers = sorted(defined_names(parsed)["routers"]) if parsed else []
            return Plan(self.path, before, None, mode_before, None, None, routers, [])
        config = file_config(spec)
        warnings = self._refuse_claimed(spec, config)
        if api is not None:
            warnings += self._check_entrypoints(spec, api)
        return Plan(self.path, before, render(spec, config), mode_before, self.mode, config, sorted(config["http"]["routers"]), warnings)

    @staticmethod
    def _check_entrypoints(spec, api):
        try:
            known = api.entrypoints()
        except TraefikApiError as exc:
            return ["entry points %s not checked against Traefik: %s" % (", ".join(spec.entrypoint_names()), exc)]
        unknown = [name for name in spec.entrypoint_names() if name not in known]
        if unknown:
            raise Refused("entry point(s) %s unknown to Traefik (%s); it has: %s" % (", ".join(unknown), api.url, ", ".join(known) or "none"))
        return []

    def _refuse_claimed(self, spec, config):
        """Refuse a host another file already routes, or a router, service or middleware name another
        file already defines (Traefik drops both definitions and disables the routers using them).
        Returns warnings for files that cannot be checked or that others can write.

        Only files whose bytes mention one of our host names or object names are parsed: with a
        thousand tenants a full parse of every file would dominate the module's run time.
        """
        warnings = []
        ours = {kind: set(names) for kind, names in defined_names(config).items()}
        wanted = [host.encode("utf-8") for host in spec.hosts]
        wanted += sorted({name.encode("utf-8") for names in ours.values() for name in names})
        for other in sorted(glob.glob(os.path.join(self.directory, "*.y*ml"))):
            if os.path.abspath(other) == os.path.abspath(self.path):
                continue
            try:
                content, mode = read_file(other)
            except OSError as exc:
                raise Refused("cannot read %s, which the host and name checks need: %s" % (other, exc)) from None
            if _others_can_write(mode):
                warnings.append("%s is writable by others (mode %04o): anyone could make the directory unloadable" % (other, mode))
            if content is None or not any(word in content for word in wanted):
                continue
            parsed = _parse(content)
            if parsed is None or not isinstance(parsed, dict):
                warnings.append(
                    "%s mentions this tenant's hosts or names but is not valid YAML; it was not "
                    "checked (and may keep Traefik from loading the directory)" % other
                )
                continue
            taken = sorted(claimed_hosts(parsed) & set(spec.hosts))
            if taken:
                raise Refused("host name(s) %s already routed by %s; remove them there first" % (", ".join(taken), other))
            theirs = defined_names(parsed)
            clash = sorted("%s %s" % (kind[:-1], name) for kind in ours for name in ours[kind] & theirs[kind])
            if clash:
                raise Refused("%s already defined by %s: Traefik would drop both definitions; remove them there first" % (", ".join(clash), other))
        return warnings

    def apply(self, plan):
        if plan.after is None:
            os.unlink(self.path)
        else:
            write_atomic(self.path, plan.after.encode("utf-8"), self.mode)

    def restore(self, plan):
        """Put the directory back as the plan found it: the previous bytes and mode, or no file."""
        if plan.before is None:
            if os.path.lexists(self.path):
                os.unlink(self.path)
        else:
            write_atomic(self.path, plan.before, plan.mode_before)

    def wait_live(self, plan, api, timeout):
        if plan.after is None:
            return api.wait_gone(plan.routers, timeout=timeout)
        return api.wait(plan.config["http"], timeout=timeout)

    def ensure(self, spec, api, check_mode=False, wait=True, timeout=30, check_entrypoints=True):
        """Plan, then (unless check mode) apply and confirm. Returns (result, warnings).

        Raises ValueError for a refusal (nothing changed) and RouteFailed when the change was not
        confirmed or could not be made; a write Traefik did not confirm has been undone then.
        """
        plan = self.plan(spec, api if check_entrypoints else None)
        result = dict(changed=plan.changed, steps=plan.steps(), path=self.path, routers=plan.qualified_routers(), diff=plan.diff(), live=False, restored=False)
        if plan.config is not None:
            result["config"] = plan.config
        if check_mode:
            return result, plan.warnings
        if plan.changed:
            try:
                self.apply(plan)
            except OSError as exc:
                raise RouteFailed(
                    "could not %s %s: %s" % ("remove" if plan.after is None else "write", self.path, exc), dict(result, changed=False), plan.warnings
                ) from None
        if not wait:
            return result, plan.warnings
        live, report = self.wait_live(plan, api, timeout)
        if live:
            return dict(result, live=True), plan.warnings
        message = self.not_live_message(plan, api, timeout, report)
        result["traefik"] = report
        if plan.after is not None and plan.changed:
            try:
                self.restore(plan)
            except OSError as exc:
                raise RouteFailed("%s; restoring the previous file failed too: %s" % (message, exc), result, plan.warnings) from None
            message += "; the previous file was restored" if plan.before is not None else "; the new file was removed (there was none before)"
            result.update(changed=False, restored=True)
        raise RouteFailed(message, result, plan.warnings)

    def _invalid_files(self):
        bad = []
        for other in sorted(glob.glob(os.path.join(self.directory, "*.y*ml"))):
            content, _mode = read_file(other)
            parsed = _parse(content) if content is not None else {}
            if parsed is None or not isinstance(parsed, dict):
                bad.append(other)
        return bad

    def not_live_message(self, plan, api, timeout, report):
        what = "removal of" if plan.after is None else "routes in"
        detail = report.get("api_error") or ""
        for item in report.get("pending") or []:
            kind, name = item.split("/", 1)
            seen = (report.get(kind) or {}).get(name)
            detail += " %s %s: %s;" % (
                kind[:-1],
                name,
                "not known to Traefik"
                if seen is None
                else "status %s%s" % (seen.get("status"), ", errors: %s" % "; ".join(seen["error"]) if seen.get("error") else "")
                if seen.get("status") != "enabled"
                else "not as written (an older version)",
            )
        if report.get("still_present"):
            detail += " still present: %s" % ", ".join(report["still_present"])
        if report.get("refused"):
            verdict = "Traefik refused %s" % ", ".join(report["refused"])
        elif report.get("api_error"):
            verdict = "Traefik's API did not answer"
        else:
            verdict = "Traefik did not load it within %ss. %s" % (timeout, BROKEN_DIRECTORY_HINT)
            invalid = self._invalid_files()
            if invalid:
                verdict += "; not valid YAML: %s" % ", ".join(invalid)
        return "Traefik did not confirm the %s %s, so the route is not confirmed live (API %s): %s.%s" % (
            what,
            self.path,
            api.url,
            verdict,
            (" Details:" + detail.rstrip(";")) if detail else "",
        )
