# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""CloudNativePG point-in-time recovery: a *new* Cluster that bootstraps from the source's object
store with a recovery target (the operator does the restore; we never re-implement it).

The target is the one pg_pitr_restore normalises for pgBackRest, so both engines refuse the same
bad input. The source's backups are read either through the in-tree `barmanObjectStore` or through
the Barman Cloud plugin (`plugin.parameters.barmanObjectName`), as the source cluster is set up.
"""

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.validation import check_k8s_name
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.errors import Refused

PLUGIN = "barman-cloud.cloudnative-pg.io"


def recovery_target(target, backup_id=None):
    """CloudNativePG's recoveryTarget for a normalised target (None for the end of the archive)."""
    kind = target["type"]
    if kind in ("xid", "name") and not backup_id:
        raise Refused("a %s target cannot choose a backup by itself: give backup_set (the backup ID)" % kind)
    spec = {}
    if kind == "time":
        spec["targetTime"] = target["value"]
    elif kind == "lsn":
        spec["targetLSN"] = target["value"]
    elif kind == "xid":
        spec["targetXID"] = target["value"]
    elif kind == "name":
        spec["targetName"] = target["value"]
    elif kind == "immediate":
        spec["targetImmediate"] = True
    if kind not in ("latest", "immediate"):
        spec["exclusive"] = not target["inclusive"]
    if target["timeline"] != "current":
        spec["targetTLI"] = target["timeline"]
    if backup_id:
        spec["backupID"] = backup_id
    return spec or None


def recovery_cluster(target, options, backup_id=None):
    """The Cluster manifest (a dict) that restores options['source_cluster'] to the target."""
    name, source, namespace = options["cluster_name"], options["source_cluster"], options["namespace"]
    for value, what in ((name, "cnpg.cluster_name"), (source, "cnpg.source_cluster"), (namespace, "cnpg.namespace")):
        check_k8s_name(value, what)
    if name == source:
        raise Refused("cnpg.cluster_name must differ from the source cluster: recovery always makes a new cluster")
    external = {"name": source}
    if options.get("barman_object_name"):
        external["plugin"] = {"name": PLUGIN, "parameters": {"barmanObjectName": options["barman_object_name"], "serverName": source}}
    else:
        if not options.get("destination_path") or not options.get("credentials_secret"):
            raise Refused("cnpg needs barman_object_name (Barman Cloud plugin), or destination_path and credentials_secret (in-tree object store)")
        store = {
            "destinationPath": options["destination_path"],
            "serverName": source,
            "s3Credentials": {
                "accessKeyId": {"name": options["credentials_secret"], "key": "ACCESS_KEY_ID"},
                "secretAccessKey": {"name": options["credentials_secret"], "key": "ACCESS_SECRET_KEY"},
            },
            "wal": {"maxParallel": options.get("wal_max_parallel") or 8},
        }
        if options.get("endpoint_url"):
            store["endpointURL"] = options["endpoint_url"]
        if options.get("endpoint_ca_secret"):
            store["endpointCA"] = {"name": options["endpoint_ca_secret"], "key": "ca.crt"}
        external["barmanObjectStore"] = store
    recovery = {"source": source}
    spec_target = recovery_target(target, backup_id)
    if spec_target:
        recovery["recoveryTarget"] = spec_target
    spec = {
        "instances": options.get("instances") or 1,
        "storage": {"size": options.get("storage_size") or "10Gi"},
        "bootstrap": {"recovery": recovery},
        "externalClusters": [external],
    }
    if options.get("image_name"):
        spec["imageName"] = options["image_name"]
    return {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Cluster",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": "sysgenpro.odoo_ops", "odoo-ops.sysgenpro.io/restored-from": source},
        },
        "spec": spec,
    }
