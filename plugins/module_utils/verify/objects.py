# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""backup_verify's `objects` level: a tenant's logical backups (made by odoo_backup) as they sit in
object storage - their sidecars signed with the platform's key, each object present at the version
its sidecar records and that version still the newest (a newer one means someone rewrote the
backup), with the size and SHA-256 recorded, young enough for the tier's RPO, the retention classes
held, object lock (on the recorded version) and server-side encryption where the tier needs them.
Reads only."""

import concurrent.futures
import datetime

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.backup.layout import (
    SIDECAR_SUFFIX,
    HashingReader,
    filestore_tar_key,
    format_of,
    list_backups,
    list_objects,
    recorded_objects,
    signing_keys,
)
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.object_store import version_args
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.backup.retention import retention_gaps
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.verify.report import CheckFailed
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.errors import Refused


def sha256_of(store, bucket, key, version_id=None):
    """{sha256, size} of an object (at a version), streamed."""
    return HashingReader(store.call("read %s" % key, "get_object", Bucket=bucket, Key=key, **version_args(version_id))["Body"]).drain()


class ObjectsLevel:
    def __init__(self, store, params, policy, checks):
        self.store, self.p, self.policy, self.checks = store, params, policy, checks
        self.bucket, self.tenant = params["bucket"], params["name"]
        self.now = datetime.datetime.now(datetime.timezone.utc)
        self.objects = list_objects(store, self.bucket, params["key_prefix"], self.tenant)
        self.backups = list_backups(store, self.bucket, params["key_prefix"], self.tenant, signing_keys(params), objects=self.objects)

    def chosen(self):
        """The backups whose objects are read: the given key, the newest, or all."""
        if self.p.get("key"):
            found = [b for b in self.backups if b["key"] == self.p["key"]]
            if not found:
                raise Refused("key %s is not a backup of %s in bucket %s" % (self.p["key"], self.tenant, self.bucket))
            return found
        return self.backups if self.p["scope"] == "all" else self.backups[-1:]

    def run(self, figures):
        with self.checks.run("objects.present", self.tenant) as entry:
            entry["detail"] = self._present()
        chosen = self.chosen() if self.backups else []
        figures["backup"] = chosen[-1]["key"] if chosen else None
        with self.checks.run("objects.integrity", self.tenant) as entry:
            entry["detail"] = self._integrity(chosen)
        with self.checks.run("objects.age", self.tenant) as entry:
            entry["detail"] = self._age(figures)
        with self.checks.run("objects.retention", self.tenant) as entry:
            entry["detail"] = self._retention()
        if self.policy["object_lock"] or self.p.get("require_encryption"):
            with self.checks.run("objects.protection", self.tenant) as entry:
                entry["detail"] = self._protection(chosen)
        return chosen

    def _present(self):
        if not self.backups:
            where = "s3://%s/%s%s/" % (self.bucket, self.p["key_prefix"], self.tenant)
            raise CheckFailed("no backups of %s under %s" % (self.tenant, where))
        missing = []
        for key in sorted(k for k in self.objects if k.endswith(SIDECAR_SUFFIX)):
            backup_key = key[: -len(SIDECAR_SUFFIX)]
            needed = [backup_key] + ([filestore_tar_key(backup_key)] if format_of(backup_key) == "custom" else [])
            missing += [k for k in needed if k not in self.objects]
        if missing:
            raise CheckFailed("missing object(s) that a sidecar manifest records: %s" % ", ".join(missing))
        return "%d backups, each with its objects" % len(self.backups)

    def _integrity(self, chosen):
        if not chosen:
            raise CheckFailed("no backup to check")
        with concurrent.futures.ThreadPoolExecutor(8, thread_name_prefix="verify") as pool:
            problems = [p for found in pool.map(self._backup_problems, chosen) for p in found]
        if problems:
            raise CheckFailed("; ".join(problems))
        return "%d backup(s): every object has the size and SHA-256 its sidecar records" % len(chosen)

    def _backup_problems(self, backup):
        sidecar = backup["manifest"]
        if not sidecar:
            return ["%s cannot be trusted: %s" % (backup["key"], backup["problem"])]
        problems = []
        for entry in recorded_objects(sidecar):
            key = entry["key"]
            if key not in self.objects:
                problems.append("%s is missing" % key)
                continue
            if entry["version_id"]:
                rewritten = self._rewritten(key, entry["version_id"])
                if rewritten:
                    problems.append(rewritten)
                    continue
            size = self.objects[key]["Size"]
            if size != entry["size"]:
                problems.append("%s is %d bytes, its sidecar records %d (%s)" % (key, size, entry["size"], "truncated" if size < entry["size"] else "grown"))
                continue
            digest = sha256_of(self.store, self.bucket, key, entry["version_id"])["sha256"]
            if digest != entry["sha256"]:
                problems.append("%s has SHA-256 %s, its sidecar records %s (the object or its sidecar was altered)" % (key, digest, entry["sha256"]))
        return problems

    def _rewritten(self, key, recorded):
        """Why the newest version of key is not the one its sidecar records, or None."""
        versions = self.store.versions(self.bucket, key)
        newest = next((v for v in versions if v["latest"]), versions[0] if versions else None)
        if newest and newest["version_id"] == recorded:
            return None
        if not any(v["version_id"] == recorded for v in versions):
            return "%s: the version its sidecar records (%s) is gone" % (key, recorded)
        return "%s has a newer version %s%s than the one its sidecar records (%s): someone rewrote the backup; restores read the recorded version" % (
            key,
            newest["version_id"] if newest else "?",
            " (a delete marker)" if newest and newest["delete_marker"] else "",
            recorded,
        )

    def _age(self, figures):
        if not self.backups:
            raise CheckFailed("no backup")
        newest = self.backups[-1]
        age = int((self.now - newest["created"]).total_seconds())
        figures["backup_age_seconds"] = age
        if age > self.policy["max_age"]:
            raise CheckFailed(
                "the newest backup %s is %d s old, older than the RPO of %d s (tier %d)" % (newest["key"], age, self.policy["max_age"], self.p["tier"])
            )
        return "newest backup %d s old (RPO %d s)" % (age, self.policy["max_age"])

    def _retention(self):
        classes = (self.policy["daily"], self.policy["weekly"], self.policy["monthly"])
        gaps = retention_gaps(self.backups, *classes)
        if gaps:
            raise CheckFailed(
                "retention classes violated: %s" % "; ".join("%s: no backup in %s" % (label, ", ".join(periods)) for label, periods in sorted(gaps.items()))
            )
        return "%d daily / %d weekly / %d monthly held" % classes

    def _protection(self, chosen):
        problems = []
        for backup in chosen:
            versions = {o["key"]: o["version_id"] for o in recorded_objects(backup["manifest"] or {})}
            for key in (o for o in backup["objects"] if not o.endswith(SIDECAR_SUFFIX)):
                protection = self.store.protection(self.bucket, key, versions.get(key))
                if self.policy["object_lock"] and not protection["retain_until"]:
                    problems.append("%s has no object lock retention (tier %d requires immutable backups)" % (key, self.p["tier"]))
                if self.p.get("require_encryption") and not protection["encryption"]:
                    problems.append("%s is not encrypted server-side" % key)
        if problems:
            raise CheckFailed("; ".join(problems))
        return "object lock%s present" % (" and server-side encryption" if self.p.get("require_encryption") else "")
