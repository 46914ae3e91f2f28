# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One tenant's file in Traefik's file-provider directory: plan, apply, confirm live.

The plan is computed from the observed file and the directory's other files, the same way in
check mode and in a real run; only apply() writes.
"""

import glob
import os
import traceback

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.files import (
    check_writable_dir, read_file, write_atomic)
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.traefik.config import (
    claimed_hosts, file_config, file_header)

try:
    import yaml
    SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available
    HAS_YAML, YAML_IMPORT_ERROR = True, None
except ImportError:
    HAS_YAML, YAML_IMPORT_ERROR = False, traceback.format_exc()


def render(spec, config):
    return file_header(spec) + yaml.safe_dump(config, default_flow_style=False, sort_keys=True, width=4096)


def _parse(text):
    try:
        return yaml.load(text, Loader=SafeLoader) or {}
    except yaml.YAMLError:
        return None


class Plan:
    def __init__(self, path, before, after, mode_before, mode_after, config, routers, warnings):
        self.path, self.before, self.after = path, before, after
        self.mode_before, self.mode_after = mode_before, mode_after
        self.config, self.routers, self.warnings = config, routers, warnings

    @property
    def changed(self):
        if self.after is None:
            return self.before is not None
        return self.before != self.after or self.mode_before != self.mode_after

    def qualified_routers(self):
        return ["%s@file" % name for name in self.routers]

    def diff(self):
        return {"before": self.before or "", "after": self.after or "",
                "before_header": self.path, "after_header": self.path}


class FileRoute:
    def __init__(self, directory, name, mode):
        try:
            self.mode = int(mode, 8)
        except (TypeError, ValueError):
            raise ValueError("mode %r is not an octal permission string such as '0644'" % (mode,)) from None
        self.directory = directory
        self.name = name
        self.path = os.path.join(directory, "%s.yml" % name)

    def plan(self, spec):
        """What to do for `spec` (None: remove the tenant's file). Raises ValueError on refusal."""
        check_writable_dir(self.directory, "dynamic_dir")
        content, mode_before = read_file(self.path)
        before = content.decode("utf-8", "replace") if content is not None else None
        if spec is None:
            routers = sorted(((_parse(before) or {}).get("http") or {}).get("routers") or {}) if before else []
            return Plan(self.path, before, None, mode_before, None, None, routers, [])
        warnings = self._refuse_claimed_hosts(spec)
        config = file_config(spec)
        return Plan(self.path, before, render(spec, config), mode_before, self.mode, config,
                    sorted(config["http"]["routers"]), warnings)

    def _refuse_claimed_hosts(self, spec):
        """Refuse a host another file already routes; return warnings for files we cannot read.

        Only files whose bytes mention one of our host names are parsed: with a thousand tenants
        a full parse of every file would dominate the module's run time.
        """
        warnings = []
        wanted = [host.encode("utf-8") for host in spec.hosts]
        for other in sorted(glob.glob(os.path.join(self.directory, "*.y*ml"))):
            if os.path.abspath(other) == os.path.abspath(self.path):
                continue
            content, _mode = read_file(other)
            if content is None or not any(host in content for host in wanted):
                continue
            parsed = _parse(content)
            if parsed is None or not isinstance(parsed, dict):
                warnings.append("%s mentions %s but is not valid YAML; its routes were not checked"
                                % (other, ", ".join(spec.hosts)))
                continue
            taken = sorted(claimed_hosts(parsed) & set(spec.hosts))
            if taken:
                raise ValueError("host name(s) %s already routed by %s; remove them there first"
                                 % (", ".join(taken), other))
        return warnings

    def apply(self, plan):
        if plan.after is None:
            os.unlink(self.path)
        else:
            write_atomic(self.path, plan.after.encode("utf-8"), self.mode)

    def wait_live(self, plan, api, timeout):
        if plan.after is None:
            return api.wait_gone(plan.routers, timeout=timeout)
        return api.wait(plan.config["http"]["routers"], timeout=timeout)

    def not_live_message(self, plan, api, timeout, report):
        what = "removal of" if plan.after is None else "routes in"
        detail = report.get("api_error") or ""
        for name, router in sorted((report.get("routers") or {}).items()):
            detail += " %s: %s" % (name, "not known to Traefik" if router is None else
                                   "status %s%s" % (router.get("status"), ", errors: %s" % "; ".join(
                                       router["error"]) if router.get("error") else ""))
        if report.get("still_present"):
            detail += " still present: %s" % ", ".join(report["still_present"])
        return ("Traefik did not confirm the %s %s within %ss, so the route is not confirmed live "
                "(API %s):%s" % (what, self.path, timeout, api.url, detail or " no details"))
