# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The platform on Kubernetes as objects (plain dicts), from the same inventory as the Docker host.

One namespace per fleet (shared or dedicated), each with its quota, limit range, default-deny
network policy and the explicit allows; PostgreSQL on CloudNativePG (a Cluster per fleet unless the
fleet names a shared one, backups through the barman-cloud plugin's ObjectStore); Odoo's web and
cron Deployments sized by the one sizing model (odoo/sizing.plan_fleets, as odoo_fleet_plan sizes the
Docker host), Redis, the tenants' routes (traefik/config's kubernetes objects, as traefik_route renders
them) and certificates, monitoring objects. Pure logic: no cluster, no file, no secret value - every
Secret is named (`secrets`) and created by the apply step or an external secret manager.
"""

import copy

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.errors import Refused
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.validation import check_k8s_label, check_k8s_name
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.backup.tiers import tier as tier_policy
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.odoo.sizing import odoo_conf, plan_fleets
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.traefik.config import RouteSpec, kubernetes_objects

MANAGED_BY = {"app.kubernetes.io/managed-by": "sysgenpro.odoo_ops", "app.kubernetes.io/part-of": "odoo-ops"}
PSA = {"pod-security.kubernetes.io/%s" % mode: "restricted" for mode in ("enforce", "audit", "warn")}
BARMAN_PLUGIN = "barman-cloud.cloudnative-pg.io"
ODOO_UID = 101  # the odoo user of the official image
REDIS_UID = 999  # the redis user of the official image
CONFIG_DIR = "/etc/odoo-ops"  # the ConfigMap (odoo.conf without secrets, the cron probe)
SECRET_DIR = "/etc/odoo-ops/secret"  # the Secret's admin_passwd.conf (the master password's hash)
RUN_DIR = "/run/odoo"  # odoo.conf as Odoo reads it: the ConfigMap's, plus the Secret's line
DATA_DIR = "/var/lib/odoo"
HTTP_PORT, GEVENT_PORT, PG_PORT, REDIS_PORT, PG_METRICS_PORT = 8069, 8072, 5432, 6379, 9187
ADMIN_ROLE = "odoo_ops_admin"
# By tier: instances, synchronous replication (CloudNativePG's dataDurability) and anti-affinity.
TOPOLOGY = {
    1: {"instances": 3, "synchronous": {"method": "any", "number": 1, "dataDurability": "required"}, "anti_affinity": "required"},
    2: {"instances": 2, "synchronous": {"method": "any", "number": 1, "dataDurability": "preferred"}, "anti_affinity": "preferred"},
    3: {"instances": 1, "synchronous": None, "anti_affinity": "preferred"},
}
# The cron liveness probe: crons progress when no active job of any of the fleet's databases is
# overdue by more than the grace; a live process whose crons stall fails it (and is restarted).
CRON_PROBE = '''"""Fails when a cron job of one of this fleet's databases is overdue (crons do not progress)."""
import configparser
import sys

import psycopg2

conf = configparser.RawConfigParser()
conf.read(sys.argv[1])
options = conf["options"]
grace = int(sys.argv[2])
connect = dict(host=options.get("db_host"), port=options.get("db_port"), user=options.get("db_user"), connect_timeout=5,
               options="-c statement_timeout=5000")
with psycopg2.connect(dbname="postgres", **connect) as conn, conn.cursor() as cur:
    cur.execute("SELECT datname FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba "
                "WHERE r.rolname = current_user AND d.datallowconn AND NOT d.datistemplate ORDER BY 1 LIMIT 500")
    names = [row[0] for row in cur.fetchall()]
late = []
for name in names:
    with psycopg2.connect(dbname=name, **connect) as conn, conn.cursor() as cur:
        cur.execute("SELECT to_regclass('ir_cron') IS NOT NULL")
        if not cur.fetchone()[0]:
            continue
        cur.execute("SELECT count(*) FROM ir_cron WHERE active AND nextcall < (now() AT TIME ZONE 'UTC') - make_interval(secs => %s)", (grace,))
        if cur.fetchone()[0]:
            late.append(name)
if late:
    sys.exit("crons overdue by more than %d s in: %s" % (grace, ", ".join(late)))
'''


def k8s_name(name):
    return name.replace("_", "-")


def quantity_cpu(cpus):
    return "%dm" % int(round(float(cpus) * 1000))


def hardened(uid):
    """The container security context every container gets (PSA restricted, and more)."""
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_security(uid):
    return {"runAsNonRoot": True, "runAsUser": uid, "runAsGroup": uid, "fsGroup": uid, "seccompProfile": {"type": "RuntimeDefault"}}


def resources(cpu, memory_mb):
    """Requests equal to limits (Guaranteed QoS: the fleet gets what the plan sized)."""
    amount = {"cpu": cpu, "memory": "%dMi" % memory_mb}
    return {"requests": dict(amount), "limits": dict(amount)}


def check_image(image, what):
    """An image pinned to a tag or digest, never latest."""
    if not isinstance(image, str) or not image or image.endswith(":latest") or ("@" not in image and ":" not in image.rsplit("/", 1)[-1]):
        raise Refused("%s %r is not pinned: name a tag or a digest (never latest)" % (what, image))
    return image


def six_field_cron(cron):
    """CloudNativePG's schedule (seconds first) from the tier policy's 5-field cron."""
    fields = cron.split()
    if len(fields) != 5:
        raise Refused("cron %r has not 5 fields" % cron)
    return "0 " + cron


def barman_retention(policy):
    """barman's retention (a recovery window) from the tier policy: days, or a count of weekly fulls."""
    retention = policy["cluster"]["retention"]
    return "%dd" % (retention["full"] if retention["full_type"] == "time" else 7 * retention["full"])


class Platform:
    """Every object of the platform from the inventory's fleets and tenants and the settings."""

    def __init__(self, fleets, tenants, settings):
        self.settings = settings = copy.deepcopy(settings)
        self.images = {key: check_image(settings["images"].get(key), "images.%s" % key) for key in ("odoo", "redis", "postgres")}
        self.tenants = {t["name"]: t for t in tenants}
        self.zone_key = settings.get("zone_key") or "topology.kubernetes.io/zone"
        self.monitoring = settings.get("monitoring") or {}
        self.objects, self.secrets, self.fleet_options = [], [], {}
        self.fleets = []
        for fleet in fleets:
            name = k8s_name(fleet["name"])
            check_k8s_name(name, "fleet %s (as a Kubernetes name)" % fleet["name"])
            namespace = check_k8s_label(fleet.get("namespace") or settings.get("namespace_prefix", "odoo-") + name, "fleet %s namespace" % fleet["name"])
            cluster = check_k8s_name(k8s_name(fleet.get("postgres") or name + "-pg"), "fleet %s postgres" % fleet["name"])
            for tenant in fleet.get("tenants") or []:
                if tenant not in self.tenants:
                    raise Refused("fleet %s lists tenant %s, which odoo_ops_tenants does not define" % (fleet["name"], tenant))
                labels = {host[4:] if host.startswith("www.") else host for host in self.tenants[tenant].get("hosts") or []}
                if fleet.get("kind", "shared") == "shared" and {label.split(".")[0] for label in labels} != {tenant}:
                    raise Refused(
                        'tenant %s on shared fleet %s (dbfilter ^%%d$): each host must start with "%s." (after an optional www.), got %s'
                        % (tenant, fleet["name"], tenant, ", ".join(self.tenants[tenant].get("hosts") or []))
                    )
            self.fleets.append(dict(fleet, k8s=name, namespace=namespace, cluster=cluster))
        self.clusters = self._clusters()
        self.plans = self._plans()

    # --- inputs ---------------------------------------------------------------------------------

    def _clusters(self):
        """{cluster: {namespace, tier, fleets, max_connections, ...}}; fleets sharing one share its namespace."""
        given = self.settings.get("postgres", {}).get("clusters") or {}
        found = {}
        for fleet in self.fleets:
            tiers = [int(self.tenants[t].get("tier", 1)) for t in fleet.get("tenants") or []] or [1]
            entry = found.setdefault(
                fleet["cluster"], dict(given.get(fleet["cluster"]) or {}, name=fleet["cluster"], namespace=fleet["namespace"], fleets=[], tiers=[])
            )
            if entry["namespace"] != fleet["namespace"]:
                raise Refused(
                    "fleet %s uses PostgreSQL %s in namespace %s, but the cluster is in %s: fleets sharing a cluster share its namespace"
                    % (fleet["name"], fleet["cluster"], fleet["namespace"], entry["namespace"])
                )
            entry["fleets"].append(fleet)
            entry["tiers"].extend(tiers)
        defaults = self.settings.get("postgres") or {}
        for entry in found.values():
            entry["tier"] = int(entry.get("tier") or min(entry["tiers"]))
            tier_policy(entry["tier"])  # refuses a tier that is not one
            entry["max_connections"] = int(entry.get("max_connections") or defaults.get("max_connections") or 200)
            for key, default in (("storage_size", "20Gi"), ("wal_storage_size", "5Gi"), ("cpus", 1), ("memory_mb", 2048)):
                entry[key] = entry.get(key) or defaults.get(key) or default
        return found

    def _plans(self):
        """The one sizing model (as odoo_fleet_plan): HPA's maximum counts in the connection budget."""
        sizing_keys = ("name", "kind", "tenants", "cpus", "memory_mb", "web_containers", "workers", "cron_threads", "db_maxconn")
        fleets = []
        for fleet in self.fleets:
            entry = dict({"kind": "shared"}, **{k: fleet[k] for k in sizing_keys if fleet.get(k) is not None})
            entry["web_containers"] = fleet.get("max_web_replicas") or fleet.get("web_containers", 1)
            entry["postgres"] = fleet["cluster"]
            fleets.append(entry)
        budgets = {name: {"max_connections": c["max_connections"], "reserved_connections": 10} for name, c in self.clusters.items()}
        planned, _budgets = plan_fleets(fleets, budgets)
        return {plan["name"]: plan for plan in planned}

    # --- objects --------------------------------------------------------------------------------

    def add(self, kind, api, name, namespace, spec_key, body, labels=None, annotations=None):
        meta = {"name": name, "labels": dict(MANAGED_BY, **(labels or {}))}
        if namespace:
            meta["namespace"] = namespace
        if annotations:
            meta["annotations"] = annotations
        obj = {"apiVersion": api, "kind": kind, "metadata": meta}
        if spec_key:
            obj[spec_key] = body
        self.objects.append(obj)
        return obj

    def secret(self, namespace, name, kind, keys, source, purpose, fleet=None):
        """A Secret the objects name: purpose says which values the apply step puts in it (never here)."""
        entry = {"namespace": namespace, "name": name, "type": kind, "keys": sorted(keys), "source": source, "purpose": purpose}
        if fleet:
            entry["fleet"] = fleet
        if not any(s["namespace"] == namespace and s["name"] == name for s in self.secrets):  # clusters sharing a namespace share it
            self.secrets.append(entry)

    def render(self):
        namespaces = []
        for fleet in self.fleets:
            if fleet["namespace"] not in namespaces:
                namespaces.append(fleet["namespace"])
        for namespace in namespaces:
            self.namespace(namespace)
        for cluster in self.clusters.values():
            self.postgres(cluster)
        for fleet in self.fleets:
            self.odoo(fleet)
            if fleet.get("redis"):
                self.redis(fleet)
            for tenant in fleet.get("tenants") or []:
                self.route(fleet, self.tenants[tenant])
        if self.monitoring.get("enabled"):
            platform_ns = self.monitoring.get("rules_namespace") or "odoo-ops"
            if platform_ns not in namespaces:
                self.namespace(platform_ns)
                namespaces.append(platform_ns)
            groups = self.monitoring.get("rule_groups") or []
            self.add("PrometheusRule", "monitoring.coreos.com/v1", "odoo-ops-alerts", platform_ns, "spec", {"groups": groups})
        for namespace in namespaces:
            self.budget(namespace)
        return self.objects

    def namespace(self, namespace):
        self.add("Namespace", "v1", namespace, None, None, None, labels=dict(PSA, **{"pod-security.kubernetes.io/enforce-version": "latest"}))
        deny = {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
        self.add("NetworkPolicy", "networking.k8s.io/v1", "default-deny", namespace, "spec", deny)
        dns = {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [
                        {
                            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                        }
                    ],
                    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                }
            ],
        }
        self.add("NetworkPolicy", "networking.k8s.io/v1", "allow-dns", namespace, "spec", dns)

    def budget(self, namespace):
        """ResourceQuota and LimitRange from what the namespace's workloads need at their maximum
        (HPA's maxReplicas, one surge pod per Deployment, CloudNativePG's instances and one job)."""
        cpu_m, memory_mi, pods, largest = 0, 0, 0, {"cpu": 100, "memory": 128}
        for obj in self.objects:
            if obj["metadata"].get("namespace") != namespace:
                continue
            count, containers = 0, []
            if obj["kind"] in ("Deployment", "StatefulSet"):
                count = obj["spec"]["replicas"] + (1 if obj["kind"] == "Deployment" else 0)
                hpa = obj.get("_max_replicas")
                count = max(count, (hpa or 0) + 1)
                containers = obj["spec"]["template"]["spec"]["containers"]
            elif obj["kind"] == "Cluster":
                count = obj["spec"]["instances"] + 1
                containers = [{"resources": obj["spec"]["resources"]}]
            for container in containers:
                limits = container["resources"]["limits"]
                cpu, mem = int(limits["cpu"].rstrip("m")), int(limits["memory"].rstrip("Mi"))
                cpu_m += count * cpu
                memory_mi += count * mem
                largest = {"cpu": max(largest["cpu"], cpu), "memory": max(largest["memory"], mem)}
            pods += count
        hard = {
            "pods": str(pods),
            "requests.cpu": "%dm" % cpu_m,
            "limits.cpu": "%dm" % cpu_m,
            "requests.memory": "%dMi" % memory_mi,
            "limits.memory": "%dMi" % memory_mi,
        }
        self.add("ResourceQuota", "v1", "odoo-ops", namespace, "spec", {"hard": hard})
        limits = {
            "type": "Container",
            "default": {"cpu": "500m", "memory": "512Mi"},
            "defaultRequest": {"cpu": "100m", "memory": "128Mi"},
            "max": {"cpu": "%dm" % max(largest["cpu"], 500), "memory": "%dMi" % max(largest["memory"], 512)},
        }
        self.add("LimitRange", "v1", "odoo-ops", namespace, "spec", {"limits": [limits]})
        for obj in self.objects:
            obj.pop("_max_replicas", None)

    def postgres(self, cluster):
        name, namespace, tier = cluster["name"], cluster["namespace"], cluster["tier"]
        policy, topology = tier_policy(tier), TOPOLOGY[tier]
        instances = int(cluster.get("instances") or topology["instances"])
        backups = self.settings.get("backups") or {}
        store = name + "-store"
        roles = [
            {
                "name": ADMIN_ROLE,
                "ensure": "present",
                "login": True,
                "createdb": True,
                "createrole": True,
                "superuser": False,
                "inRoles": ["pg_signal_backend"],
                "passwordSecret": {"name": name + "-admin"},
            }
        ]
        self.secret(namespace, name + "-admin", "kubernetes.io/basic-auth", ["username", "password"], "odoo_ops_pg_admin_password", "admin")
        for fleet in cluster["fleets"]:
            role, plan = "odoo_" + fleet["name"], self.plans[fleet["name"]]
            roles.append(
                {
                    "name": role,
                    "ensure": "present",
                    "login": True,
                    "createdb": False,
                    "createrole": False,
                    "superuser": False,
                    "connectionLimit": plan["connections"],
                    "passwordSecret": {"name": fleet["k8s"] + "-db"},
                }
            )
            self.secret(
                namespace,
                fleet["k8s"] + "-db",
                "kubernetes.io/basic-auth",
                ["username", "password"],
                "odoo_ops_fleet_db_passwords[%s]" % fleet["name"],
                "fleet_db",
                fleet["name"],
            )
        parameters = {"max_connections": str(cluster["max_connections"]), "archive_timeout": "%ds" % policy["cluster"]["archive_timeout"]}
        spec = {
            "instances": instances,
            "imageName": self.images["postgres"],
            "primaryUpdateStrategy": "unsupervised",
            "enableSuperuserAccess": False,
            "postgresql": {"parameters": parameters},
            "bootstrap": {"initdb": {"database": "odoo_ops", "owner": ADMIN_ROLE, "secret": {"name": name + "-admin"}, "dataChecksums": True}},
            "storage": {"size": cluster["storage_size"]},
            "walStorage": {"size": cluster["wal_storage_size"]},
            "affinity": {"enablePodAntiAffinity": True, "podAntiAffinityType": topology["anti_affinity"], "topologyKey": self.zone_key},
            "resources": resources(quantity_cpu(cluster["cpus"]), int(cluster["memory_mb"])),
            "managed": {"roles": roles},
            "plugins": [{"name": BARMAN_PLUGIN, "isWALArchiver": True, "parameters": {"barmanObjectName": store}}],
        }
        if self.settings.get("postgres", {}).get("storage_class"):
            spec["storage"]["storageClass"] = spec["walStorage"]["storageClass"] = self.settings["postgres"]["storage_class"]
        if topology["synchronous"] and instances > 1:
            spec["postgresql"]["synchronous"] = dict(topology["synchronous"])
        self.add("Cluster", "postgresql.cnpg.io/v1", name, namespace, "spec", spec, labels={"odoo-ops.sysgenpro.io/tier": str(tier)})
        configuration = {
            "destinationPath": "%s/%s" % (backups.get("destination_path", "s3://odoo-ops-cnpg").rstrip("/"), name),
            "s3Credentials": {
                "accessKeyId": {"name": backups.get("credentials_secret", "odoo-ops-s3"), "key": "ACCESS_KEY_ID"},
                "secretAccessKey": {"name": backups.get("credentials_secret", "odoo-ops-s3"), "key": "ACCESS_SECRET_KEY"},
            },
            "wal": {"compression": "gzip", "maxParallel": 8},
            "data": {"compression": "gzip"},
        }
        if backups.get("endpoint_url"):
            configuration["endpointURL"] = backups["endpoint_url"]
        if backups.get("endpoint_ca_secret"):
            configuration["endpointCA"] = {"name": backups["endpoint_ca_secret"], "key": "ca.crt"}
            self.secret(namespace, backups["endpoint_ca_secret"], "Opaque", ["ca.crt"], "odoo_ops_k8s_backups.endpoint_ca", "s3_ca")
        self.secret(
            namespace,
            backups.get("credentials_secret", "odoo-ops-s3"),
            "Opaque",
            ["ACCESS_KEY_ID", "ACCESS_SECRET_KEY"],
            "odoo_ops_s3 s3_access_key/s3_secret_key",
            "s3",
        )
        self.add(
            "ObjectStore", "barmancloud.cnpg.io/v1", store, namespace, "spec", {"configuration": configuration, "retentionPolicy": barman_retention(policy)}
        )
        self.add(
            "ScheduledBackup",
            "postgresql.cnpg.io/v1",
            name + "-full",
            namespace,
            "spec",
            {
                "schedule": six_field_cron(policy["cluster"]["schedule"]["full"]["cron"]),
                "cluster": {"name": name},
                "method": "plugin",
                "pluginConfiguration": {"name": BARMAN_PLUGIN},
                "backupOwnerReference": "self",
                "immediate": True,
                "target": "prefer-standby" if instances > 1 else "primary",
            },
        )
        pg_pods = {"matchLabels": {"cnpg.io/cluster": name}}
        odoo_pods = {"matchExpressions": [{"key": "odoo-ops.sysgenpro.io/fleet", "operator": "In", "values": sorted(f["k8s"] for f in cluster["fleets"])}]}
        ingress = [
            {"from": [{"podSelector": odoo_pods}], "ports": [{"protocol": "TCP", "port": PG_PORT}]},
            {"from": [{"podSelector": pg_pods}], "ports": [{"protocol": "TCP", "port": PG_PORT}]},
            {
                "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": self.settings.get("cnpg_namespace", "cnpg-system")}}}],
                "ports": [{"protocol": "TCP", "port": 8000}, {"protocol": "TCP", "port": PG_PORT}],
            },
        ]
        if self.monitoring.get("enabled"):
            ingress.append({"from": [self._monitoring_peer()], "ports": [{"protocol": "TCP", "port": PG_METRICS_PORT}]})
        egress = [
            {"to": [{"podSelector": pg_pods}], "ports": [{"protocol": "TCP", "port": PG_PORT}]},
            # the instance manager talks to the API server; barman-cloud to the object store
            {
                "to": [{"ipBlock": {"cidr": cidr}} for cidr in self.settings.get("egress_cidrs") or ["0.0.0.0/0"]],
                "ports": [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 6443}],
            },
        ]
        self.add(
            "NetworkPolicy",
            "networking.k8s.io/v1",
            name + "-postgres",
            namespace,
            "spec",
            {"podSelector": pg_pods, "policyTypes": ["Ingress", "Egress"], "ingress": ingress, "egress": egress},
        )
        if self.monitoring.get("enabled"):
            self.add("PodMonitor", "monitoring.coreos.com/v1", name, namespace, "spec", {"selector": pg_pods, "podMetricsEndpoints": [{"port": "metrics"}]})

    def _monitoring_peer(self):
        return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": self.monitoring.get("namespace") or "monitoring"}}}

    def odoo_options(self, fleet, container):
        """odoo.conf's options for one container: the Docker host's (the same plan, the same extra
        options), with what the target decides - addresses, paths - and without secrets."""
        options = dict(self.settings.get("odoo_options") or {})
        options.update(container["options"])
        options.update(db_host="%s-rw" % fleet["cluster"], db_port=PG_PORT, db_user="odoo_" + fleet["name"], data_dir=DATA_DIR, http_interface="0.0.0.0")
        return options

    def odoo(self, fleet):
        name, namespace, plan = fleet["k8s"], fleet["namespace"], self.plans[fleet["name"]]
        labels = {"app.kubernetes.io/name": "odoo", "odoo-ops.sysgenpro.io/fleet": name}
        conf = {}
        self.fleet_options[fleet["name"]] = {}
        for container in plan["containers"]:
            options = self.odoo_options(fleet, container)
            self.fleet_options[fleet["name"]][container["role"]] = options
            conf["%s.conf" % container["role"]] = odoo_conf(options)
        conf["cron_probe.py"] = CRON_PROBE
        self.add("ConfigMap", "v1", name + "-odoo", namespace, "data", conf, labels=labels)
        self.secret(
            namespace,
            name + "-odoo",
            "Opaque",
            ["admin_passwd.conf"],
            "odoo_ops_admin_passwd (hashed: admin_passwd = $pbkdf2-sha512$...)",
            "odoo_admin_passwd",
            fleet["name"],
        )
        filestore = self.settings.get("filestore") or {}
        claim = {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": fleet.get("filestore_size") or filestore.get("size", "50Gi")}}}
        if filestore.get("storage_class"):
            claim["storageClassName"] = filestore["storage_class"]
        self.add("PersistentVolumeClaim", "v1", name + "-filestore", namespace, "spec", claim, labels=labels)
        web_plan = next(c for c in plan["containers"] if c["role"] == "web")
        replicas = int(fleet.get("web_containers", 1))
        web = self._deployment(fleet, "web", web_plan, replicas, labels)
        web["_max_replicas"] = web_plan["count"]
        for container in plan["containers"]:
            if container["role"] == "cron":
                self._deployment(fleet, "cron", container, 1, labels)
        web_labels = dict(labels, **{"app.kubernetes.io/component": "web"})
        ports = [
            {"name": "http", "port": HTTP_PORT, "targetPort": "http", "protocol": "TCP"},
            {"name": "websocket", "port": GEVENT_PORT, "targetPort": "websocket", "protocol": "TCP"},
        ]
        self.add("Service", "v1", name + "-web", namespace, "spec", {"selector": web_labels, "ports": ports}, labels=labels)
        self.add(
            "PodDisruptionBudget", "policy/v1", name + "-web", namespace, "spec", {"maxUnavailable": 1, "selector": {"matchLabels": web_labels}}, labels=labels
        )
        hpa = {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name + "-web"},
            "minReplicas": replicas,
            "maxReplicas": web_plan["count"],
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}],
        }
        self.add("HorizontalPodAutoscaler", "autoscaling/v2", name + "-web", namespace, "spec", hpa, labels=labels)
        traefik = self.settings.get("traefik") or {}
        from_traefik = {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": traefik.get("namespace", "traefik")}},
            "podSelector": {"matchLabels": traefik.get("pod_labels") or {"app.kubernetes.io/name": "traefik"}},
        }
        self.add(
            "NetworkPolicy",
            "networking.k8s.io/v1",
            name + "-web-from-traefik",
            namespace,
            "spec",
            {
                "podSelector": {"matchLabels": web_labels},
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [from_traefik], "ports": [{"protocol": "TCP", "port": p} for p in (HTTP_PORT, GEVENT_PORT)]}],
            },
        )
        egress = [{"to": [{"podSelector": {"matchLabels": {"cnpg.io/cluster": fleet["cluster"]}}}], "ports": [{"protocol": "TCP", "port": PG_PORT}]}]
        if fleet.get("redis"):
            egress.append(
                {
                    "to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "redis", "odoo-ops.sysgenpro.io/fleet": name}}}],
                    "ports": [{"protocol": "TCP", "port": REDIS_PORT}],
                }
            )
        for rule in self.settings.get("odoo_egress") or []:
            egress.append({"to": [{"ipBlock": {"cidr": rule["cidr"]}}], "ports": [{"protocol": "TCP", "port": int(p)} for p in rule["ports"]]})
        self.add(
            "NetworkPolicy",
            "networking.k8s.io/v1",
            name + "-odoo-egress",
            namespace,
            "spec",
            {"podSelector": {"matchLabels": labels}, "policyTypes": ["Egress"], "egress": egress},
        )

    def _deployment(self, fleet, role, container, replicas, labels):
        name, namespace = fleet["k8s"], fleet["namespace"]
        pod_labels = dict(labels, **{"app.kubernetes.io/component": role})
        image = check_image(fleet.get("image") or self.images["odoo"], "fleet %s image" % fleet["name"])
        args = ["--config=%s/odoo.conf" % RUN_DIR] + (["--no-http"] if role == "cron" else [])
        odoo = {
            "name": "odoo",
            "image": image,
            "command": list(self.settings.get("odoo_command") or ["odoo"]),
            "args": args,
            "env": [{"name": "PGPASSWORD", "valueFrom": {"secretKeyRef": {"name": name + "-db", "key": "password"}}}],
            "resources": resources(quantity_cpu(fleet["cpus"]), int(fleet["memory_mb"])),
            "securityContext": hardened(ODOO_UID),
            "volumeMounts": [
                {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
                {"name": "run", "mountPath": RUN_DIR, "readOnly": True},
                {"name": "tmp", "mountPath": "/tmp"},
                {"name": "filestore", "mountPath": DATA_DIR},
            ],
        }
        if role == "web":
            odoo["ports"] = [
                {"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"},
                {"name": "websocket", "containerPort": GEVENT_PORT, "protocol": "TCP"},
            ]
            health = {"path": "/web/health", "port": "http"}
            odoo["startupProbe"] = {"httpGet": health, "periodSeconds": 5, "timeoutSeconds": 3, "failureThreshold": 60}
            # the database check for readiness only: a failover takes pods out of rotation, never restarts them
            odoo["readinessProbe"] = {
                "httpGet": dict(health, path="/web/health?db_server_status=1"),
                "periodSeconds": 10,
                "timeoutSeconds": 5,
                "failureThreshold": 3,
            }
            odoo["livenessProbe"] = {"httpGet": health, "periodSeconds": 20, "timeoutSeconds": 5, "failureThreshold": 3}
        else:
            grace = int(self.settings.get("cron_overdue_seconds") or 3600)
            odoo["livenessProbe"] = {
                "exec": {"command": [self.settings.get("odoo_python") or "python3", "%s/cron_probe.py" % CONFIG_DIR, "%s/odoo.conf" % RUN_DIR, str(grace)]},
                "initialDelaySeconds": 300,
                "periodSeconds": 300,
                "timeoutSeconds": 60,
                "failureThreshold": 3,
            }
        # odoo.conf: the ConfigMap's options and the Secret's admin_passwd line, joined into an emptyDir
        config = {
            "name": "odoo-conf",
            "image": image,
            "command": [
                "/bin/sh",
                "-c",
                'cat "$0" "$1" > "$2"',
                "%s/%s.conf" % (CONFIG_DIR, role),
                "%s/admin_passwd.conf" % SECRET_DIR,
                "%s/odoo.conf" % RUN_DIR,
            ],
            "resources": resources("50m", 64),
            "securityContext": hardened(ODOO_UID),
            "volumeMounts": [
                {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
                {"name": "secret", "mountPath": SECRET_DIR, "readOnly": True},
                {"name": "run", "mountPath": RUN_DIR},
            ],
        }
        pod = {
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "securityContext": pod_security(ODOO_UID),
            "terminationGracePeriodSeconds": 120 if role == "web" else 300,
            "initContainers": [config],
            "containers": [odoo],
            "volumes": [
                {"name": "config", "configMap": {"name": name + "-odoo"}},
                {"name": "secret", "secret": {"secretName": name + "-odoo", "defaultMode": 0o440}},
                {"name": "run", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
                {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}},
                {"name": "filestore", "persistentVolumeClaim": {"claimName": name + "-filestore"}},
            ],
        }
        if role == "web":
            pod["topologySpreadConstraints"] = [
                {"maxSkew": 1, "topologyKey": self.zone_key, "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": pod_labels}},
                {"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": pod_labels}},
            ]
            strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
        else:
            strategy = {"type": "Recreate"}  # never two cron processes on one fleet's databases
        spec = {
            "replicas": replicas,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": pod_labels},
            "strategy": strategy,
            "template": {"metadata": {"labels": pod_labels}, "spec": pod},
        }
        return self.add("Deployment", "apps/v1", "%s-%s" % (name, role), namespace, "spec", spec, labels=pod_labels)

    def redis(self, fleet):
        name, namespace = fleet["k8s"], fleet["namespace"]
        labels = {"app.kubernetes.io/name": "redis", "odoo-ops.sysgenpro.io/fleet": name}
        settings = self.settings.get("redis") or {}
        memory = int(settings.get("memory_mb") or 256)
        lines = ["port %d" % REDIS_PORT, "bind 0.0.0.0", "protected-mode yes", 'save ""', "appendonly no"]
        lines += ["maxmemory %dmb" % int(memory * 0.8), "maxmemory-policy allkeys-lru", "include /etc/redis/secret/auth.conf"]
        conf = "\n".join(lines) + "\n"
        self.add("ConfigMap", "v1", name + "-redis", namespace, "data", {"redis.conf": conf}, labels=labels)
        self.secret(namespace, name + "-redis", "Opaque", ["auth.conf", "password"], "odoo_ops_redis_password (auth.conf: requirepass <password>)", "redis")
        container = {
            "name": "redis",
            "image": self.images["redis"],
            "command": ["redis-server", "/etc/redis/redis.conf"],
            "ports": [{"name": "redis", "containerPort": REDIS_PORT, "protocol": "TCP"}],
            "readinessProbe": {"tcpSocket": {"port": "redis"}, "periodSeconds": 10},
            "livenessProbe": {"tcpSocket": {"port": "redis"}, "periodSeconds": 20},
            "resources": resources(quantity_cpu(settings.get("cpus") or 0.2), memory),
            "securityContext": hardened(REDIS_UID),
            "volumeMounts": [
                {"name": "config", "mountPath": "/etc/redis", "readOnly": True},
                {"name": "secret", "mountPath": "/etc/redis/secret", "readOnly": True},
                {"name": "data", "mountPath": "/data"},
            ],
        }
        pod = {
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "securityContext": pod_security(REDIS_UID),
            "containers": [container],
            "volumes": [
                {"name": "config", "configMap": {"name": name + "-redis"}},
                {"name": "secret", "secret": {"secretName": name + "-redis", "defaultMode": 0o440}},
                {"name": "data", "emptyDir": {"sizeLimit": "64Mi"}},  # no persistence: cache and sessions
            ],
        }
        spec = {"serviceName": name + "-redis", "replicas": 1, "selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": pod}}
        self.add("StatefulSet", "apps/v1", name + "-redis", namespace, "spec", spec, labels=labels)
        self.add(
            "Service",
            "v1",
            name + "-redis",
            namespace,
            "spec",
            {"selector": labels, "ports": [{"name": "redis", "port": REDIS_PORT, "targetPort": "redis", "protocol": "TCP"}]},
            labels=labels,
        )
        odoo_pods = {"matchLabels": {"app.kubernetes.io/name": "odoo", "odoo-ops.sysgenpro.io/fleet": name}}
        self.add(
            "NetworkPolicy",
            "networking.k8s.io/v1",
            name + "-redis",
            namespace,
            "spec",
            {
                "podSelector": {"matchLabels": labels},
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [{"podSelector": odoo_pods}], "ports": [{"protocol": "TCP", "port": REDIS_PORT}]}],
            },
        )

    def route(self, fleet, tenant):
        name, namespace = fleet["k8s"], fleet["namespace"]
        tls = self.settings.get("tls") or {}
        secret = "%s-tls" % k8s_name(tenant["name"])
        params = {
            "name": tenant["name"],
            "namespace": namespace,
            "hosts": tenant["hosts"],
            "backend_url": ["http://%s-web.%s:%d" % (name, namespace, HTTP_PORT)],
            "websocket_url": ["http://%s-web.%s:%d" % (name, namespace, GEVENT_PORT)],
            "tls": {"secret_name": secret, "redirect_from": ["web"]} if tls.get("issuer_name") else None,
            "entrypoints": (self.settings.get("traefik") or {}).get("entrypoints"),
            "rate_limit": tenant.get("rate_limit"),
            "inflight_limit": tenant.get("inflight_limit"),
            "database_manager_allow": tenant.get("database_manager_allow") or [],
            "headers": {"enabled": True},
        }
        self.objects.extend(kubernetes_objects(RouteSpec(params), namespace))
        if tls.get("issuer_name"):
            certificate = {
                "secretName": secret,
                "dnsNames": list(tenant["hosts"]),
                "issuerRef": {"name": tls["issuer_name"], "kind": tls.get("issuer_kind", "ClusterIssuer"), "group": "cert-manager.io"},
                "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
            }
            self.add("Certificate", "cert-manager.io/v1", secret, namespace, "spec", certificate, labels={"sysgenpro.io/tenant": k8s_name(tenant["name"])})
            self.secret(namespace, secret, "kubernetes.io/tls", ["tls.crt", "tls.key"], "cert-manager (Certificate %s)" % secret, "tls")


def render_platform(fleets, tenants, settings):
    """(objects, secrets, {fleet: {role: odoo.conf options}}) of the whole platform."""
    platform = Platform(fleets, tenants, settings)
    objects = platform.render()
    return objects, platform.secrets, platform.fleet_options
