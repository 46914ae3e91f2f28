#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: odoo_k8s_render
short_description: Render the Odoo platform for Kubernetes as a GitOps tree, from the same inventory as the Docker host
version_added: 0.1.0
description:
  - Renders every Kubernetes object of the platform described by O(fleets) and O(tenants) (the
    inventory's C(odoo_ops_fleets) and C(odoo_ops_tenants), as the Docker host reads them) into
    O(output_dir) - one folder per namespace with one file per object and a C(kustomization.yaml), a
    top-level C(kustomization.yaml), and C(secrets.yaml), the list of the Secrets the objects name.
  - "Per fleet (shared or dedicated) a namespace with Pod Security Admission C(restricted), a
    ResourceQuota and LimitRange sized from the workloads at their maximum, a default-deny
    NetworkPolicy (ingress and egress) and the allows (DNS, Traefik to Odoo's 8069 and 8072, Odoo to
    its PostgreSQL and Redis, CloudNativePG's operator and replication, object storage, Prometheus)."
  - "PostgreSQL on CloudNativePG: a C(Cluster) per fleet (or shared, C(postgres) of a fleet) by tier
    (tier 1: 3 instances, required zone anti-affinity, synchronous replication C(dataDurability: required);
    tier 2: 2, C(preferred); tier 3: 1), C(walStorage), data checksums, WAL archiving and backups through the
    barman-cloud plugin's C(ObjectStore) with the tier's retention, a C(ScheduledBackup) (6-field cron,
    C(method: plugin)), the fleets' roles as managed roles with their connection limit (the plan's worst case)."
  - "Odoo, sized by the same model as M(sysgenpro.odoo_ops.odoo_fleet_plan) (the HPA's maximum counts in
    the connection budget): a web Deployment (C(max_cron_threads = 0), startup, readiness with the database
    check, liveness without it, rolling update with C(maxUnavailable: 0), PodDisruptionBudget, HPA on CPU,
    topology spread), a cron Deployment (one replica, C(Recreate), C(--no-http), a liveness probe that fails
    when crons are overdue), C(odoo.conf) in a ConfigMap without secrets - the same options as the Docker
    host's - joined at start with the Secret's C(admin_passwd) hash; every container hardened."
  - "Redis (a StatefulSet without persistence) where a fleet sets C(redis: true); the tenants' IngressRoutes and
    Middlewares as M(sysgenpro.odoo_ops.traefik_route) renders them; a cert-manager C(Certificate) per tenant;
    PodMonitor and PrometheusRule when C(enabled) in O(monitoring)."
  - No secret value is ever written or returned; nothing is contacted. The same input always gives the same
    bytes, so a second run reports no change. Files a render wrote (their first line says so) that the render
    no longer holds are removed; other files are left alone.
author:
  - sysgenpro odoo_ops maintainers (@sysgenpro)
extends_documentation_fragment:
  - sysgenpro.odoo_ops.attributes
attributes:
  check_mode:
    support: full
    details: The same plan; nothing is written.
  diff_mode:
    support: full
    details: The files written and removed.
options:
  output_dir:
    description: The tree's root (made when missing).
    type: path
    required: true
  fleets:
    description:
      - The fleets, as C(odoo_ops_fleets) (C(name), C(kind), C(tenants), C(cpus), C(memory_mb), C(web_containers),
        C(workers), C(cron_threads), C(db_maxconn), C(image)), and for Kubernetes C(namespace) (default
        O(namespace_prefix) + name), C(postgres) (the CloudNativePG cluster; default C(<fleet>-pg)),
        C(max_web_replicas) (the HPA's maximum, default C(web_containers)), C(redis) (bool), C(filestore_size).
    type: list
    elements: dict
    required: true
  tenants:
    description: The tenants, as C(odoo_ops_tenants) (C(name), C(hosts), C(tier), C(rate_limit), C(inflight_limit), C(database_manager_allow)).
    type: list
    elements: dict
    required: true
  images:
    description: C(odoo), C(redis), C(postgres) (CloudNativePG's operand image); each pinned to a tag or digest, never C(latest).
    type: dict
    required: true
  odoo_options:
    description: More C(odoo.conf) options of every fleet (as C(odoo_ops_odoo_options) on the Docker host).
    type: dict
    default: {}
  odoo_command:
    description:
      - The Odoo image's server command (the pods run it directly, with C(--config) pointing at the joined C(odoo.conf)).
      - The official image's C(odoo); its entrypoint script is bypassed, since it would add C(--db_host db) and a default password.
    type: list
    elements: str
    default: [odoo]
  odoo_python:
    description: The Odoo image's Python with psycopg2 (runs the cron pods' progress probe).
    type: str
    default: python3
  namespace_prefix:
    description: Prefix of the fleets' namespaces.
    type: str
    default: odoo-
  postgres:
    description:
      - C(max_connections) (default 200), C(storage_size), C(wal_storage_size), C(storage_class), C(cpus), C(memory_mb)
        of every cluster, and C(clusters) - per cluster name, the same keys and C(tier), C(instances).
    type: dict
    default: {}
  backups:
    description:
      - C(destination_path) (C(s3://bucket/prefix); each cluster below it), C(endpoint_url), C(credentials_secret)
        (default C(odoo-ops-s3)), C(endpoint_ca_secret).
    type: dict
    default: {}
  filestore:
    description: The fleets' shared filestore, a ReadWriteMany claim - C(storage_class), C(size) (default 50Gi).
    type: dict
    default: {}
  tls:
    description: C(issuer_name) and C(issuer_kind) (default ClusterIssuer) of cert-manager; without C(issuer_name), no TLS.
    type: dict
    default: {}
  traefik:
    description: C(namespace) (default traefik), C(pod_labels) (default C(app.kubernetes.io/name=traefik)), C(entrypoints).
    type: dict
    default: {}
  redis:
    description: C(cpus) and C(memory_mb) of each fleet's Redis.
    type: dict
    default: {}
  monitoring:
    description:
      - C(enabled) (the cluster has the Prometheus operator), C(namespace) (Prometheus's, default monitoring),
        C(rules_namespace) (where the PrometheusRule goes, default odoo-ops), C(rule_groups) (the alert rules' groups).
    type: dict
    default: {}
  egress_cidrs:
    description: Where CloudNativePG's pods may open port 443/6443 (the API server, the object store).
    type: list
    elements: str
    default: [0.0.0.0/0]
  odoo_egress:
    description: More egress of Odoo's pods - a list of C(cidr) and C(ports) (mail, payment providers).
    type: list
    elements: dict
    default: []
  zone_key:
    description: The node label of zones (topology spread and anti-affinity).
    type: str
    default: topology.kubernetes.io/zone
  cnpg_namespace:
    description: The namespace of CloudNativePG's operator (allowed to reach the instances).
    type: str
    default: cnpg-system
  cron_overdue_seconds:
    description: A cron job overdue by more than this fails the cron pod's liveness probe.
    type: int
    default: 3600
requirements:
  - PyYAML
"""

EXAMPLES = r"""
- name: Render the platform (no cluster needed)
  sysgenpro.odoo_ops.odoo_k8s_render:
    output_dir: /srv/gitops/odoo
    fleets: "{{ odoo_ops_fleets }}"
    tenants: "{{ odoo_ops_tenants }}"
    images: {odoo: "odoo:18.0", redis: "redis:7.4", postgres: "ghcr.io/cloudnative-pg/postgresql:15.13"}
    backups: {destination_path: "s3://erp-cnpg", endpoint_url: "https://s3.example.com"}
    tls: {issuer_name: letsencrypt}
  register: render
"""

RETURN = r"""
output_dir:
  description: The tree's root.
  returned: success
  type: str
namespaces:
  description: The namespaces rendered.
  returned: success
  type: list
  elements: str
objects:
  description: How many objects were rendered.
  returned: success
  type: int
manifests:
  description: The objects' files, relative to O(output_dir), in apply order (namespaces first, custom resources last).
  returned: success
  type: list
  elements: str
secrets:
  description: The Secrets the objects name (namespace, name, type, keys, source) - never their values.
  returned: success
  type: list
  elements: dict
odoo_conf_options:
  description: Per fleet and container role (web, cron), the C(odoo.conf) options in the ConfigMap.
  returned: success
  type: dict
steps:
  description: The files written (C(write <path>)) and removed (C(remove <path>)); empty when the tree is as rendered.
  returned: always
  type: list
  elements: str
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.module import run_module
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.plan import Plan
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.kubernetes.manifests import render_platform
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.kubernetes.tree import apply_tree, layout, plan_tree

SETTINGS = ("images", "odoo_options", "namespace_prefix", "postgres", "backups", "filestore", "tls", "traefik", "redis", "monitoring")
SETTINGS += ("odoo_command", "odoo_python", "egress_cidrs", "odoo_egress", "zone_key", "cnpg_namespace", "cron_overdue_seconds")
ARGUMENT_SPEC = dict(
    output_dir=dict(type="path", required=True),
    fleets=dict(type="list", elements="dict", required=True),
    tenants=dict(type="list", elements="dict", required=True),
    images=dict(type="dict", required=True),
    odoo_options=dict(type="dict", default={}),
    namespace_prefix=dict(type="str", default="odoo-"),
    odoo_command=dict(type="list", elements="str", default=["odoo"]),
    odoo_python=dict(type="str", default="python3"),
    postgres=dict(type="dict", default={}),
    backups=dict(type="dict", default={}),
    filestore=dict(type="dict", default={}),
    tls=dict(type="dict", default={}),
    traefik=dict(type="dict", default={}),
    redis=dict(type="dict", default={}),
    monitoring=dict(type="dict", default={}),
    egress_cidrs=dict(type="list", elements="str", default=["0.0.0.0/0"]),
    odoo_egress=dict(type="list", elements="dict", default=[]),
    zone_key=dict(type="str", default="topology.kubernetes.io/zone", no_log=False),
    cnpg_namespace=dict(type="str", default="cnpg-system"),
    cron_overdue_seconds=dict(type="int", default=3600),
)
# Apply order: what others live in or refer to first, custom resources once their operators' kinds exist.
CORE_APIS = ("v1", "apps/v1", "policy/v1", "autoscaling/v2", "networking.k8s.io/v1")
ORDER = ("Namespace", "ResourceQuota", "LimitRange", "NetworkPolicy", "ConfigMap", "PersistentVolumeClaim", "Service")


def apply_rank(obj):
    if obj["kind"] in ORDER:
        return ORDER.index(obj["kind"])
    return len(ORDER) + (0 if obj["apiVersion"] in CORE_APIS else 1)


def render(params, check_mode):
    import yaml  # checked by run_module (needs)

    settings = {key: params[key] for key in SETTINGS}
    objects, secrets, options = render_platform(params["fleets"], params["tenants"], settings)
    root = params["output_dir"]
    files = layout(yaml, objects, secrets)
    writes, removals = plan_tree(root, files)
    steps = ["write %s" % p for p in writes] + ["remove %s" % p for p in removals]
    if not check_mode and steps:
        os.makedirs(root, mode=0o755, exist_ok=True)
        apply_tree(root, files, writes, removals)
    ordered = sorted(objects, key=lambda o: (apply_rank(o), o["metadata"].get("namespace") or "", o["kind"], o["metadata"]["name"]))
    manifests = ["%s/%s-%s.yaml" % (o["metadata"].get("namespace") or o["metadata"]["name"], o["kind"].lower(), o["metadata"]["name"]) for o in ordered]
    namespaces = sorted(o["metadata"]["name"] for o in objects if o["kind"] == "Namespace")
    report = dict(output_dir=root, namespaces=namespaces, objects=len(objects), manifests=manifests, secrets=secrets, odoo_conf_options=options)
    return Plan(before={"removed": removals}, after={"written": writes}, steps=steps, report=report).result()


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run_module(module, lambda resources: render(module.params, module.check_mode), needs=["PyYAML"])


if __name__ == "__main__":
    main()
