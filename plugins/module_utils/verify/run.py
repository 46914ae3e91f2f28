# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""backup_verify: its options, and one verification run over its subjects and levels.

Bad parameters are refused before anything runs. What the environment does wrong - a missing
bucket, an unreachable store or repository - is a failed check like any other finding, so the
reports and metrics still say "not verified" to whoever watches them.
"""

import contextlib
import datetime
import socket

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.files import check_writable_dir
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.pgbackrest import PgBackRest
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.pitr.target import normalize_target
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.pitr.restore import pitr_argument_spec
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.postgres.client import Postgres, postgres_argument_spec
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.module import require_library
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.object_store import ObjectStore, s3_argument_spec
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.validation import check_tenant_name
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.backup.layout import signing_argument_spec
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.backup.tiers import verification_policy
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.verify.objects import ObjectsLevel
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.verify.report import Checks, write_reports
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.verify.repository import RepositoryLevel
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.verify.restore import LogicalRestore, PhysicalRestore
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.errors import Refused

LEVELS = ("objects", "repository", "restore")


def _argument_spec():
    spec = pitr_argument_spec()
    spec["target"] = dict(spec["target"], required=False, default={"type": "latest"})
    spec.update(postgres_argument_spec())
    spec.update(s3_argument_spec())
    spec.update(signing_argument_spec())
    spec.update(
        level=dict(type="list", elements="str", choices=list(LEVELS), default=["objects"]),
        name=dict(type="str"),
        bucket=dict(type="str"),
        key_prefix=dict(type="str", default="odoo/", no_log=False),
        key=dict(type="str", no_log=False),
        scope=dict(type="str", choices=["newest", "all"], default="newest"),
        tier=dict(type="int", choices=[1, 2, 3], default=1),
        max_age=dict(type="int"),
        retention=dict(type="dict", options=dict(daily=dict(type="int"), weekly=dict(type="int"), monthly=dict(type="int"))),
        require_object_lock=dict(type="bool"),
        require_encryption=dict(type="bool", default=False),
        databases=dict(type="list", elements="str"),
        port=dict(type="int"),
        work_dir=dict(type="path", default="/var/tmp"),
        jobs=dict(type="int", default=1),
        report_dir=dict(type="path"),
        textfile_dir=dict(type="path"),
        fail_on_error=dict(type="bool", default=True),
    )
    return spec


ARGUMENT_SPEC = _argument_spec()


def free_port():
    with contextlib.closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def check_parameters(p):
    """Refuse what cannot be verified as asked; nothing has run yet."""
    levels = [level for level in LEVELS if level in p["level"]]
    if not levels:
        raise Refused("level is empty: give objects, repository and/or restore")
    if p.get("name"):
        check_tenant_name(p["name"])
        require_library("botocore", "verifying a tenant's backups")
    if "objects" in levels and not p.get("name"):
        raise Refused("level objects verifies a tenant's backups: give name and bucket")
    if "repository" in levels and not p.get("stanza"):
        raise Refused("level repository verifies a pgBackRest repository: give stanza")
    if "restore" in levels and not (p.get("name") or p.get("stanza")):
        raise Refused("level restore needs a tenant's backups (name, bucket) or a pgBackRest stanza (stanza)")
    for key in ("report_dir", "textfile_dir"):
        if p.get(key):
            check_writable_dir(p[key], key)
    if "restore" in levels:
        check_writable_dir(p["work_dir"], "work_dir")
    if p.get("stanza"):
        normalize_target(p["target"])
    pgbackrest = PgBackRest(p) if p.get("stanza") else None
    return levels, pgbackrest


def _secrets_mask(p):
    hidden = [p.get("login_password"), p.get("s3_secret_key"), p.get("s3_access_key"), p.get("backup_signing_key")]
    hidden += list(p.get("backup_previous_signing_keys") or [])
    hidden += [str(v) for v in (p.get("pgbackrest_options") or {}).values()]
    hidden = [h for h in hidden if h and len(h) >= 4]

    def safe(text):
        for secret in hidden:
            text = text.replace(secret, "********")
        return text

    return safe


def _verify_tenant(p, levels, checks, figures):
    tenant = p["name"]
    store, listed = None, None
    with checks.run("objects.listing", tenant) as entry:
        store = ObjectStore(p)
        store.check_bucket(p["bucket"])
        overrides = dict(p.get("retention") or {}, max_age=p.get("max_age"), object_lock=p.get("require_object_lock"))
        listed = ObjectsLevel(store, p, verification_policy(p["tier"], overrides), checks)
        entry["detail"] = "%d backups of %s in %s" % (len(listed.backups), tenant, p["bucket"])
    if not checks.items[-1]["ok"]:
        return
    chosen = listed.run(figures) if "objects" in levels else listed.chosen()
    if "restore" in levels:
        if not chosen:
            checks.add("restore.logical", tenant, False, "no backup of %s to restore" % tenant)
            return
        if "backup_age_seconds" not in figures:  # restore level alone: the RPO of the backup restored
            figures["backup"] = chosen[-1]["key"]
            figures["backup_age_seconds"] = int((datetime.datetime.now(datetime.timezone.utc) - chosen[-1]["created"]).total_seconds())
        pg = Postgres(p)
        try:
            LogicalRestore(pg, store, p, checks).run(chosen[-1], figures)
        finally:
            pg.close()


def _verify_cluster(p, pgbackrest, levels, checks, figures):
    if "repository" in levels:
        info = None
        with checks.run("repository.info", pgbackrest.stanza) as entry:
            info = pgbackrest.info()
            entry["detail"] = "%d backups, archive %s" % (
                len(info.get("backup") or []),
                ", ".join("%s-%s" % (a.get("min"), a.get("max")) for a in info.get("archive") or []),
            )
        if info is not None:
            RepositoryLevel(pgbackrest, checks).run(figures, info)
    if "restore" in levels:
        PhysicalRestore(pgbackrest, p, checks).run(figures, p.get("port") or free_port())


# Levels that check mode leaves out: a restore creates a database or starts a PostgreSQL server.
CHECK_MODE_SKIPS = ("restore",)


def verify(p, check_mode=False):
    """Run the verification; returns the module result (never changed).

    check_mode: the read-only levels run, the restore level is skipped (listed in skipped_levels),
    the verdict is None (not proven either way) and no report or textfile is written - their paths
    are returned."""
    levels, pgbackrest = check_parameters(p)
    skipped = [level for level in levels if check_mode and level in CHECK_MODE_SKIPS]
    levels = [level for level in levels if level not in skipped]
    now = datetime.datetime.now(datetime.timezone.utc)
    checks = Checks(_secrets_mask(p))
    subjects, kinds, figures = [], {}, {}
    if p.get("name"):
        subjects.append(p["name"])
        kinds[p["name"]] = "tenant"
        figures[p["name"]] = {}
        _verify_tenant(p, levels, checks, figures[p["name"]])
    if pgbackrest:
        subjects.append(pgbackrest.stanza)
        kinds[pgbackrest.stanza] = "cluster"
        figures[pgbackrest.stanza] = {}
        _verify_cluster(p, pgbackrest, levels, checks, figures[pgbackrest.stanza])
    restores = [f["restore_seconds"] for f in figures.values() if f.get("restore_seconds") is not None]
    result = {
        "changed": False,
        "verified": None if skipped else checks.verified,
        "skipped_levels": skipped,
        "checks": checks.items,
        "figures": figures,
        "levels": levels,
        "subjects": subjects,
        "restore_seconds": max(restores) if restores else None,
        "verified_at": now.isoformat(timespec="seconds"),
        "verified_epoch": int(now.timestamp()),
        "msg": checks.summary(subjects) + (" (check mode: the %s level not run)" % ", ".join(skipped) if skipped else ""),
    }
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    result["reports"] = write_reports(result, kinds, stamp, p.get("report_dir"), p.get("textfile_dir"), write=not check_mode)
    return result
