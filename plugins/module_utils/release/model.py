# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The release model and the gates of a promotion, as data (no service is touched here).

A release is what a fleet runs: the Odoo image (by digest when known) and the addons revision (a
path or git ref, plus the content checksum of each addon). Its id hashes the image's digest (or its
name when no digest is known) and the addons' checksums: two fleets run the same release exactly
when their ids are equal, whatever the ref is called.

Evidence is what an environment ran, kept per environment as one JSON file in an evidence folder
(`<environment>.json`: the newest runs first, bounded): the promotion to an environment refuses a
release the previous environment has no successful run of, unless a reason to skip the gate is
given (kept in the evidence and the report)."""

import hashlib
import json
import os
import re

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.errors import Refused
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.files import check_writable_dir, read_file, write_atomic
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.timestamps import utc_now
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.business_calendar import freeze_status

ENVIRONMENT_RE = re.compile(r"[a-z][a-z0-9_-]{0,31}")
ADDON_NAME_RE = re.compile(r"[A-Za-z0-9_]{1,128}")
DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")
MANIFEST = "__manifest__.py"
SKIPPED_DIRS = {"__pycache__", ".git"}
SKIPPED_SUFFIXES = (".pyc", ".pyo")
MAX_ADDONS = 2000  # Odoo 18 ships ~600 addons; a folder with more is not an addons folder
MAX_ADDON_FILES = 20000  # per addon: Odoo's largest (web) has ~2500 files
MAX_EVIDENCE_RUNS = 200  # per environment, newest first: the gate needs the recent ones only
RESULTS = ("succeeded", "failed", "rolled_back")


def check_environment(name, what="environment"):
    if not isinstance(name, str) or not ENVIRONMENT_RE.fullmatch(name):
        raise Refused("%s %r is not a valid environment name: 1-32 lower-case letters, digits, '_' or '-', a letter first" % (what, name))
    return name


def addon_checksum(path):
    """SHA-256 over an addon's files (relative path and content, sorted), byte code left out: the same
    code gives the same checksum on every host, whatever its file times."""
    digest = hashlib.sha256()
    count = 0
    for folder, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
        for name in sorted(files):
            if name.endswith(SKIPPED_SUFFIXES):
                continue
            count += 1
            if count > MAX_ADDON_FILES:
                raise Refused("addon %s has more than %d files: not an Odoo addon" % (path, MAX_ADDON_FILES))
            full = os.path.join(folder, name)
            digest.update(os.path.relpath(full, path).encode("utf-8", "surrogateescape") + b"\0")
            if os.path.islink(full):
                digest.update(b"link:" + os.readlink(full).encode("utf-8", "surrogateescape") + b"\0")
                continue
            with open(full, "rb") as handle:
                for chunk in iter(lambda h=handle: h.read(1024 * 1024), b""):
                    digest.update(chunk)
            digest.update(b"\0")
    return digest.hexdigest()


def addons_checksums(addons_paths):
    """{addon: sha256} of every addon (a folder with a __manifest__.py) in the folders, the first
    folder winning for a name found twice (as Odoo's addons_path does)."""
    found = {}
    for index, folder in enumerate(addons_paths or ()):
        if not os.path.isdir(folder):
            raise Refused("release.addons_path[%d] %s is not a folder" % (index, folder))
        names = sorted(os.listdir(folder))
        if len(names) > MAX_ADDONS:
            raise Refused("release.addons_path[%d] %s holds more than %d entries: not an addons folder" % (index, folder, MAX_ADDONS))
        for name in names:
            path = os.path.join(folder, name)
            if name in found or not ADDON_NAME_RE.fullmatch(name) or not os.path.isfile(os.path.join(path, MANIFEST)):
                continue
            found[name] = addon_checksum(path)
    return found


def release_model(spec):
    """The release of a spec {image, image_digest, addons_ref, addons_path}: the spec's identity, each
    addon's checksum and the id that names both."""
    spec = dict(spec or {})
    unknown = sorted(set(spec) - {"image", "image_digest", "addons_ref", "addons_path"})
    if unknown:
        raise Refused("release has unknown fields: %s (image, image_digest, addons_ref, addons_path)" % ", ".join(unknown))
    image, digest = spec.get("image"), spec.get("image_digest")
    if not image or not isinstance(image, str):
        raise Refused("release.image is required: the Odoo image the fleet runs (name:tag)")
    if digest is not None and not DIGEST_RE.fullmatch(str(digest)):
        raise Refused("release.image_digest %r is not an image digest (sha256: and 64 hex digits)" % (digest,))
    paths = spec.get("addons_path") or []
    if not isinstance(paths, list) or not all(isinstance(p, str) and p.startswith("/") for p in paths):
        raise Refused("release.addons_path must be a list of absolute folders (the release's addons, as in Odoo's addons_path)")
    checksums = addons_checksums(paths)
    identity = {"image": digest or image, "addons": checksums}
    release_id = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    return {
        "id": release_id,
        "image": image,
        "image_digest": digest,
        "addons_ref": spec.get("addons_ref") or (paths[0] if paths else None),
        "addons_path": paths,
        "checksums": checksums,
    }


def addons_to_update(previous_checksums, checksums, installed, update_all=False, install=()):
    """(update, install): the installed addons whose content changed from the tenant's recorded release
    (all installed addons of the release when nothing is recorded, or with update_all), and the addons
    asked to be installed that are not yet."""
    installed = set(installed)
    if update_all:
        update = sorted(installed & set(checksums)) or ["all"]
    else:
        update = sorted(name for name in installed & set(checksums) if (previous_checksums or {}).get(name) != checksums[name])
    missing = sorted(set(install) - set(checksums))
    if missing:
        raise Refused("install names addons the release does not have: %s" % ", ".join(missing))
    return update, sorted(set(install) - installed)


class Evidence:
    """What the environments ran: <folder>/<environment>.json, {"environment", "runs": [newest first]}."""

    def __init__(self, folder):
        self.folder = folder

    def path(self, environment):
        return os.path.join(self.folder, "%s.json" % check_environment(environment))

    def runs(self, environment):
        content, _mode = read_file(self.path(environment))
        if content is None:
            return []
        try:
            data = json.loads(content.decode("utf-8"))
        except ValueError:
            raise Refused("evidence %s is not JSON: repair or move it (the gate cannot read it)" % self.path(environment)) from None
        runs = data.get("runs") if isinstance(data, dict) else None
        if not isinstance(runs, list):
            raise Refused("evidence %s has no list of runs" % self.path(environment))
        return [run for run in runs if isinstance(run, dict)]

    def entry(self, environment, release, result, tenants, skip_gate_reason=None, override_reason=None, at=None):
        if result not in RESULTS:
            raise Refused("result %r is not one of %s" % (result, ", ".join(RESULTS)))
        return {
            "release_id": release["id"],
            "image": release["image"],
            "image_digest": release.get("image_digest"),
            "addons_ref": release.get("addons_ref"),
            "result": result,
            "date": (at or utc_now()).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "tenants": sorted(tenants),
            "environment": environment,
            "skip_gate_reason": skip_gate_reason,
            "override_reason": override_reason,
        }

    def recorded(self, environment, release_id, result, tenants):
        """The newest run of the release with this result and these tenants, or None."""
        for run in self.runs(environment):
            if run.get("release_id") == release_id:
                return run if run.get("result") == result and sorted(run.get("tenants") or []) == sorted(tenants) else None
        return None

    def record(self, entry):
        check_writable_dir(self.folder, "evidence_dir")
        runs = [entry] + self.runs(entry["environment"])
        data = {"environment": entry["environment"], "runs": runs[:MAX_EVIDENCE_RUNS]}
        write_atomic(self.path(entry["environment"]), json.dumps(data, indent=2, sort_keys=True).encode(), 0o644)


def gate(evidence, previous_environment, release, skip_gate_reason=None):
    """The gate: the previous environment's successful run of the release (its evidence), or a
    recorded reason to skip; Refused otherwise, naming what the previous environment last ran."""
    if not previous_environment:
        return {"previous_environment": None, "passed": True, "evidence": None, "skipped_reason": None}
    runs = evidence.runs(previous_environment)
    success = next((run for run in runs if run.get("release_id") == release["id"] and run.get("result") == "succeeded"), None)
    if success:
        return {"previous_environment": previous_environment, "passed": True, "evidence": success, "skipped_reason": None}
    if skip_gate_reason:
        return {"previous_environment": previous_environment, "passed": False, "evidence": None, "skipped_reason": skip_gate_reason}
    last = next((run for run in runs if run.get("release_id") == release["id"]), None) or (runs[0] if runs else None)
    seen = (
        "it last ran release %s there on %s: %s" % (last.get("release_id"), last.get("date"), last.get("result"))
        if last
        else "there is no recorded run there at all (%s)" % evidence.path(previous_environment)
    )
    raise Refused(
        "release %s (%s, addons %s) has not run successfully in %s: %s. Promote it there first, or give "
        "release_promote_skip_gate_reason (recorded in the report and the tenants' metadata)"
        % (release["id"], release.get("image_digest") or release["image"], release.get("addons_ref"), previous_environment, seen)
    )


def freeze_gate(windows, tenants, fleet=None, at=None, override_reason=None):
    """The freeze windows of the tenants at `at`: {frozen, windows, ends, at, overridden}; Refused when
    one is frozen without an override reason, naming each window and when the freeze ends."""
    frozen = {}
    checked_at = None
    for tenant in tenants:
        status = freeze_status(windows or [], at=at, fleet=fleet, tenant=tenant)
        checked_at = status["at"]
        if status["frozen"]:
            frozen[tenant] = status
    if not frozen:
        return {"frozen": False, "at": checked_at, "tenants": {}, "overridden": None}
    if override_reason:
        return {"frozen": True, "at": checked_at, "tenants": frozen, "overridden": override_reason}
    parts = sorted(
        "%s: %s (%s) until %s" % (tenant, ", ".join(w["name"] for w in status["windows"]), "; ".join(w["reason"] for w in status["windows"]), status["ends"])
        for tenant, status in frozen.items()
    )
    raise Refused("inside a freeze window at %s - %s. Wait until the freeze ends, or give release_promote_override_reason" % (checked_at, " / ".join(parts)))
