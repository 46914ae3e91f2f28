"""pg_pitr_restore with engine=cloudnativepg: a recovery Cluster validated against CloudNativePG's
own CRD schema, and applied for real when KUBECONFIG names a cluster."""

import os

import pytest

from tests.conftest import shared_dir
from tests.harness.crd_schema import CrdSchemas
from tests.harness.playbook import run_tasks

PLUGIN = {"cluster_name": "erp-pitr", "namespace": "erp", "source_cluster": "erp", "barman_object_name": "erp-store"}
IN_TREE = {
    "cluster_name": "erp-pitr",
    "namespace": "erp",
    "source_cluster": "erp",
    "destination_path": "s3://erp-backups/cnpg",
    "endpoint_url": "https://s3.example.com",
    "endpoint_ca_secret": "s3-ca",
    "credentials_secret": "s3-creds",
}


@pytest.fixture(scope="module")
def schemas():
    return CrdSchemas(os.path.join(shared_dir(), "schemas", "cloudnative-pg-v1.30"))


def render(cnpg, target, **args):
    run = run_tasks([{"sysgenpro.odoo_ops.pg_pitr_restore": dict(engine="cloudnativepg", cnpg=cnpg, target=target, **args)}])
    assert run.results, run
    return run.results[0]


@pytest.mark.parametrize("cnpg", [PLUGIN, IN_TREE], ids=["plugin", "in-tree"])
@pytest.mark.parametrize(
    "target, backup_set, expected",
    [
        ({"type": "time", "value": "2026-11-23T10:15:00+01:00"}, None, {"targetTime": "2026-11-23 09:15:00+00", "exclusive": False}),
        (
            {"type": "time", "value": "2026-11-23T10:15:00Z", "inclusive": False, "timeline": "2"},
            None,
            {"targetTime": "2026-11-23 10:15:00+00", "exclusive": True, "targetTLI": "2"},
        ),
        ({"type": "lsn", "value": "0/3000060"}, None, {"targetLSN": "0/3000060", "exclusive": False}),
        ({"type": "xid", "value": "1234"}, "20261123T010000", {"targetXID": "1234", "exclusive": False, "backupID": "20261123T010000"}),
        ({"type": "name", "value": "before_upgrade"}, "20261123T010000", {"targetName": "before_upgrade", "exclusive": False, "backupID": "20261123T010000"}),
        ({"type": "immediate"}, None, {"targetImmediate": True}),
        ({"type": "latest"}, None, None),
    ],
    ids=["time", "time-exclusive-tli", "lsn", "xid", "name", "immediate", "latest"],
)
def test_recovery_cluster_is_valid_for_the_cnpg_crd(schemas, cnpg, target, backup_set, expected):
    result = render(cnpg, target, backup_set=backup_set)
    assert result["changed"] is False and not result.get("failed"), result
    (cluster,) = result["resources"]
    assert schemas.errors(cluster) == [], cluster
    recovery = cluster["spec"]["bootstrap"]["recovery"]
    assert recovery["source"] == "erp" and cluster["metadata"]["name"] == "erp-pitr"
    assert recovery.get("recoveryTarget") == expected
    assert [e["name"] for e in cluster["spec"]["externalClusters"]] == ["erp"]


@pytest.mark.parametrize(
    "cnpg, target, message",
    [
        (PLUGIN, {"type": "time", "value": "2026-11-23 10:15:00"}, "has no time zone"),
        (PLUGIN, {"type": "xid", "value": "42"}, "give backup_set"),
        (dict(PLUGIN, cluster_name="erp"), {"type": "latest"}, "must differ from the source cluster"),
        (dict(PLUGIN, cluster_name="ERP_pitr"), {"type": "latest"}, "is not a valid Kubernetes name"),
        ({"cluster_name": "x", "namespace": "erp", "source_cluster": "erp"}, {"type": "latest"}, "needs barman_object_name"),
    ],
)
def test_bad_input_is_refused(cnpg, target, message):
    result = render(cnpg, target)
    assert result.get("failed") and message in result["msg"], result


@pytest.mark.skipif(not os.environ.get("KUBECONFIG"), reason="applied only when KUBECONFIG names a cluster")
def test_cluster_applies_to_a_cluster():
    result = render(PLUGIN, {"type": "latest"})
    run = run_tasks([{"kubernetes.core.k8s": {"definition": "{{ item }}", "state": "present"}, "loop": result["resources"]}])
    assert run.returncode == 0, run
