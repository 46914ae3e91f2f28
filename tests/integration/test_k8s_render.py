"""The Kubernetes target: site.yml on inventories/examples/kubernetes renders the platform as a GitOps
tree without a cluster; every object validates strictly (core kinds with kubernetes-validate, custom
resources against their CRDs in ../shared/schemas at the version their apiVersion names); policy checks
run as data over the whole render; a second render is byte-identical; no secret value is in the tree;
the Odoo options are the Docker host's. The apply path runs only when KUBECONFIG names a cluster."""

import configparser
import functools
import glob
import hashlib
import json
import os
import re
import subprocess

import pytest
import yaml

from tests.conftest import shared_dir
from tests.harness.crd_schema import CrdSchemas
from tests.harness.playbook import VENV_BIN, run_tasks
from tests.harness.services import REPO_ROOT
from tests.unit.test_example_inventories import group_vars as load_group_vars

INVENTORY = os.path.join(REPO_ROOT, "inventories", "examples", "kubernetes")
KUBERNETES_VERSION = "1.33.0"
CORE_APIS = ("v1", "apps/v1", "policy/v1", "autoscaling/v2", "networking.k8s.io/v1")
# What the target decides itself (addresses, paths) and the secrets, which the ConfigMap never holds.
TARGET_OPTIONS = {"db_host", "db_port", "db_user", "data_dir", "http_interface", "db_password", "admin_passwd"}


def site(output_dir, *args):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO_ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    env.pop("KUBECONFIG", None)  # the render contacts nothing, whatever the environment names
    argv = [os.path.join(VENV_BIN, "ansible-playbook"), "-i", INVENTORY, "playbooks/site.yml", "-e", "odoo_ops_k8s_output_dir=%s" % output_dir] + list(args)
    done = subprocess.run(argv, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    return done.stdout


def tree_digest(root):
    found = {}
    for path in sorted(glob.glob(os.path.join(root, "**", "*"), recursive=True)):
        if os.path.isfile(path):
            with open(path, "rb") as handle:
                found[os.path.relpath(path, root)] = hashlib.sha256(handle.read()).hexdigest()
    return found


class Render:
    def __init__(self, root, first_output, second_output, digests):
        self.root, self.first_output, self.second_output, self.digests = root, first_output, second_output, digests
        self.objects, self.kustomizations = [], {}
        for path in sorted(glob.glob(os.path.join(root, "*", "*.yaml"))):
            with open(path, encoding="utf-8") as handle:
                obj = yaml.safe_load(handle)
            if obj["kind"] == "Kustomization":
                self.kustomizations[os.path.basename(os.path.dirname(path))] = obj
            else:
                self.objects.append(dict(obj, _path=os.path.relpath(path, root)))
        with open(os.path.join(root, "secrets.yaml"), encoding="utf-8") as handle:
            self.secrets = yaml.safe_load(handle)["secrets"]
        with open(os.path.join(root, "kustomization.yaml"), encoding="utf-8") as handle:
            self.top = yaml.safe_load(handle)

    def of(self, kind, namespace=None):
        return [o for o in self.objects if o["kind"] == kind and (namespace is None or o["metadata"].get("namespace") == namespace)]


@pytest.fixture(scope="module")
def render(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("k8s-render") / "tree")
    first = site(root)
    digests = tree_digest(root)
    second = site(root)
    return Render(root, first, second, digests)


def strip(obj):
    return {k: v for k, v in obj.items() if not k.startswith("_")}


def pod_templates(render):
    for obj in render.objects:
        if obj["kind"] in ("Deployment", "StatefulSet"):
            yield obj, obj["spec"]["template"]


def containers(template):
    spec = template["spec"]
    return [("init", c) for c in spec.get("initContainers", [])] + [("main", c) for c in spec["containers"]]


# --- the interface --------------------------------------------------------------------------------


def test_render_is_a_gitops_tree_and_a_second_render_changes_nothing(render):
    assert re.search(r"erp-cluster-1\s+: ok=\d+\s+changed=0 ", render.second_output), render.second_output[-1500:]
    assert tree_digest(render.root) == render.digests  # byte-identical
    namespaces = sorted(o["metadata"]["name"] for o in render.of("Namespace"))
    assert namespaces == ["odoo-initech", "odoo-ops", "odoo-shared1"]
    assert render.top["resources"] == namespaces
    for namespace in namespaces:  # each folder's kustomization lists exactly its files
        files = sorted(os.path.basename(o["_path"]) for o in render.objects if o["_path"].startswith(namespace + "/"))
        assert render.kustomizations[namespace]["resources"] == files
        assert all(o["metadata"].get("namespace", namespace) == namespace for o in render.objects if o["_path"].startswith(namespace + "/"))


def test_objects_validate_strictly(render, monkeypatch):
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    # The package re-reads its (large) definitions file for every object: read each file once.
    monkeypatch.setattr(kubernetes_validate.utils, "schema_contents", functools.lru_cache(maxsize=None)(kubernetes_validate.utils.schema_contents))
    schemas_dir = os.path.join(shared_dir(), "schemas")
    if not os.path.isdir(schemas_dir):
        pytest.skip("%s is absent: the CRD schemas are read from there" % schemas_dir)
    crds = CrdSchemas(*sorted(glob.glob(os.path.join(schemas_dir, "*"))), strict=True)
    problems, kinds = [], set()
    for obj in render.objects:
        kinds.add((obj["apiVersion"], obj["kind"]))
        if obj["apiVersion"] in CORE_APIS:
            try:
                kubernetes_validate.validate(strip(obj), KUBERNETES_VERSION, strict=True)
            except Exception as exc:  # pylint: disable=broad-exception-caught  # collected, all shown
                problems.append("%s: %s" % (obj["_path"], str(exc).splitlines()[0]))
        else:
            problems.extend("%s: %s" % (obj["_path"], e) for e in crds.errors(strip(obj)))
        name = obj["metadata"]["name"]
        if not re.fullmatch(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?", name):
            problems.append("%s: name %r" % (obj["_path"], name))
    assert problems == []
    expected = {"Cluster", "ObjectStore", "ScheduledBackup", "IngressRoute", "Middleware", "Certificate", "PodMonitor", "PrometheusRule"}
    assert expected <= {kind for _api, kind in kinds}
    print("validated %d objects of %d kinds (Kubernetes %s, strict)" % (len(render.objects), len(kinds), KUBERNETES_VERSION))


# --- policy checks over the whole render (data: one function per rule, every violation listed) ----


def check_container_hardening(render):
    for obj, template in pod_templates(render):
        pod = template["spec"]
        if pod.get("automountServiceAccountToken") is not False:
            yield "%s: service-account token mounted" % obj["_path"]
        for _where, c in containers(template):
            sc, pod_sc = c.get("securityContext") or {}, pod.get("securityContext") or {}
            where = "%s container %s" % (obj["_path"], c["name"])
            if sc.get("allowPrivilegeEscalation") is not False:
                yield where + ": allowPrivilegeEscalation"
            if sc.get("readOnlyRootFilesystem") is not True:
                yield where + ": root filesystem writable"
            if not (sc.get("runAsNonRoot") or pod_sc.get("runAsNonRoot")):
                yield where + ": may run as root"
            if (sc.get("capabilities") or {}).get("drop") != ["ALL"]:
                yield where + ": capabilities not dropped"
            if (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
                yield where + ": seccomp"
            for kind in ("requests", "limits"):
                if set((c.get("resources") or {}).get(kind) or {}) != {"cpu", "memory"}:
                    yield where + ": %s incomplete" % kind
            if c["image"].endswith(":latest") or ":" not in c["image"].rsplit("/", 1)[-1]:
                yield where + ": image %s not pinned" % c["image"]
        odoo = [c for c in pod["containers"] if c["name"] == "odoo"]
        if odoo and "/tmp" not in [m["mountPath"] for m in odoo[0]["volumeMounts"]]:
            yield "%s: no writable /tmp" % obj["_path"]
    for cluster in render.of("Cluster"):
        if ":" not in cluster["spec"]["imageName"] or cluster["spec"]["imageName"].endswith(":latest"):
            yield "%s: image not pinned" % cluster["_path"]


def check_namespace_baseline(render):
    for ns in render.of("Namespace"):
        name, labels = ns["metadata"]["name"], ns["metadata"]["labels"]
        for mode in ("enforce", "audit", "warn"):
            if labels.get("pod-security.kubernetes.io/" + mode) != "restricted":
                yield "%s: PSA %s is not restricted" % (name, mode)
        if len(render.of("ResourceQuota", name)) != 1 or len(render.of("LimitRange", name)) != 1:
            yield "%s: no ResourceQuota or LimitRange" % name
        deny = [
            p
            for p in render.of("NetworkPolicy", name)
            if p["spec"]["podSelector"] == {}
            and sorted(p["spec"]["policyTypes"]) == ["Egress", "Ingress"]
            and not p["spec"].get("ingress")
            and not p["spec"].get("egress")
        ]
        if not deny:
            yield "%s: no default-deny NetworkPolicy" % name


def check_one_cron_per_fleet(render):
    fleets = {
        o["metadata"]["labels"]["odoo-ops.sysgenpro.io/fleet"]
        for o in render.of("Deployment")
        if o["metadata"]["labels"].get("app.kubernetes.io/name") == "odoo"
    }
    for fleet in sorted(fleets):
        crons = [
            o
            for o in render.of("Deployment")
            if o["metadata"]["labels"] == dict(o["metadata"]["labels"], **{"odoo-ops.sysgenpro.io/fleet": fleet, "app.kubernetes.io/component": "cron"})
        ]
        if len(crons) != 1 or crons[0]["spec"]["replicas"] != 1 or crons[0]["spec"]["strategy"] != {"type": "Recreate"}:
            yield "fleet %s: not exactly one cron Deployment of one replica, Recreate" % fleet
            continue
        odoo = crons[0]["spec"]["template"]["spec"]["containers"][0]
        if "--no-http" not in odoo["args"] or "exec" not in odoo.get("livenessProbe", {}):
            yield "fleet %s: cron without --no-http or without its progress probe" % fleet
        if any(h["spec"]["scaleTargetRef"]["name"] == crons[0]["metadata"]["name"] for h in render.of("HorizontalPodAutoscaler")):
            yield "fleet %s: the cron Deployment is autoscaled" % fleet


def check_web_deployments(render):
    for web in render.of("Deployment"):
        if web["metadata"]["labels"].get("app.kubernetes.io/component") != "web":
            continue
        namespace, labels = web["metadata"]["namespace"], web["spec"]["template"]["metadata"]["labels"]
        if not any(set(p["spec"]["selector"]["matchLabels"].items()) <= set(labels.items()) for p in render.of("PodDisruptionBudget", namespace)):
            yield "%s: no PodDisruptionBudget" % web["_path"]
        if not any(h["spec"]["scaleTargetRef"]["name"] == web["metadata"]["name"] for h in render.of("HorizontalPodAutoscaler", namespace)):
            yield "%s: no HorizontalPodAutoscaler" % web["_path"]
        if web["spec"]["strategy"].get("rollingUpdate", {}).get("maxUnavailable") != 0:
            yield "%s: rolling update may take a pod away first" % web["_path"]
        odoo = web["spec"]["template"]["spec"]["containers"][0]
        probes = {kind: odoo.get(kind, {}).get("httpGet", {}).get("path") for kind in ("startupProbe", "readinessProbe", "livenessProbe")}
        if probes != {"startupProbe": "/web/health", "readinessProbe": "/web/health?db_server_status=1", "livenessProbe": "/web/health"}:
            yield "%s: probes %s" % (web["_path"], probes)
        if {p["name"]: p["containerPort"] for p in odoo["ports"]} != {"http": 8069, "websocket": 8072}:
            yield "%s: ports" % web["_path"]
        if not web["spec"]["template"]["spec"].get("topologySpreadConstraints"):
            yield "%s: no topology spread" % web["_path"]


def check_services_select_pods(render):
    for service in render.of("Service"):
        namespace, selector = service["metadata"]["namespace"], service["spec"]["selector"]
        pods = [
            t for o, t in pod_templates(render) if o["metadata"]["namespace"] == namespace and set(selector.items()) <= set(t["metadata"]["labels"].items())
        ]
        if not pods:
            yield "%s: selects no pod" % service["_path"]
            continue
        ports = {p["name"] for _w, c in containers(pods[0]) for p in c.get("ports", [])}
        for port in service["spec"]["ports"]:
            if port["targetPort"] not in ports:
                yield "%s: target port %s is not a port of its pods" % (service["_path"], port["targetPort"])


def check_references_exist(render):
    secrets = {(s["namespace"], s["name"]): set(s["keys"]) for s in render.secrets}
    config_maps = {(o["metadata"]["namespace"], o["metadata"]["name"]): o["data"] for o in render.of("ConfigMap")}
    for obj, template in pod_templates(render):
        namespace = obj["metadata"]["namespace"]
        for volume in template["spec"].get("volumes", []):
            if "configMap" in volume and (namespace, volume["configMap"]["name"]) not in config_maps:
                yield "%s: ConfigMap %s neither rendered nor external" % (obj["_path"], volume["configMap"]["name"])
            if "secret" in volume and (namespace, volume["secret"]["secretName"]) not in secrets:
                yield "%s: Secret %s not listed in secrets.yaml" % (obj["_path"], volume["secret"]["secretName"])
            if "persistentVolumeClaim" in volume and not [
                c for c in render.of("PersistentVolumeClaim", namespace) if c["metadata"]["name"] == volume["persistentVolumeClaim"]["claimName"]
            ]:
                yield "%s: claim %s not rendered" % (obj["_path"], volume["persistentVolumeClaim"]["claimName"])
        for _w, c in containers(template):
            for env in c.get("env", []):
                ref = (env.get("valueFrom") or {}).get("secretKeyRef")
                if ref and ref["key"] not in secrets.get((namespace, ref["name"]), ()):
                    yield "%s: env %s from %s/%s, not in secrets.yaml" % (obj["_path"], env["name"], ref["name"], ref["key"])
    for cluster in render.of("Cluster"):
        namespace = cluster["metadata"]["namespace"]
        names = [r["passwordSecret"]["name"] for r in cluster["spec"]["managed"]["roles"]] + [cluster["spec"]["bootstrap"]["initdb"]["secret"]["name"]]
        for name in names:
            if secrets.get((namespace, name)) != {"username", "password"}:
                yield "%s: role secret %s" % (cluster["_path"], name)
    for store in render.of("ObjectStore"):
        for key, ref in store["spec"]["configuration"]["s3Credentials"].items():
            if ref["key"] not in secrets.get((store["metadata"]["namespace"], ref["name"]), ()):
                yield "%s: %s" % (store["_path"], key)
    for route in render.of("IngressRoute"):
        tls = route["spec"].get("tls", {}).get("secretName")
        if tls and (route["metadata"]["namespace"], tls) not in secrets:
            yield "%s: TLS secret %s" % (route["_path"], tls)


def check_postgres_by_tier(render):
    tiers = {1: (3, "required", "required"), 2: (2, "preferred", "preferred"), 3: (1, "preferred", None)}
    for cluster in render.of("Cluster"):
        spec, tier = cluster["spec"], int(cluster["metadata"]["labels"]["odoo-ops.sysgenpro.io/tier"])
        instances, anti, durability = tiers[tier]
        found = (spec["instances"], spec["affinity"]["podAntiAffinityType"], spec["postgresql"].get("synchronous", {}).get("dataDurability"))
        if found != (instances, anti, durability):
            yield "%s: tier %d gives %s" % (cluster["_path"], tier, found)
        if not spec.get("walStorage") or spec["bootstrap"]["initdb"].get("dataChecksums") is not True:
            yield "%s: no walStorage or no data checksums" % cluster["_path"]
        if "backup" in spec or spec["plugins"] != [
            {"name": "barman-cloud.cloudnative-pg.io", "isWALArchiver": True, "parameters": {"barmanObjectName": cluster["metadata"]["name"] + "-store"}}
        ]:
            yield "%s: backups not through the barman-cloud plugin alone" % cluster["_path"]
        backups = [b for b in render.of("ScheduledBackup") if b["spec"]["cluster"]["name"] == cluster["metadata"]["name"]]
        if len(backups) != 1 or len(backups[0]["spec"]["schedule"].split()) != 6 or backups[0]["spec"]["method"] != "plugin":
            yield "%s: no ScheduledBackup with a 6-field cron through the plugin" % cluster["_path"]
        if any("connectionLimit" not in r for r in spec["managed"]["roles"] if r["name"].startswith("odoo_") and r["name"] != "odoo_ops_admin"):
            yield "%s: a fleet role without connection limit" % cluster["_path"]
    if any("barmanObjectStore" in json.dumps(strip(o)) for o in render.objects):
        yield "the deprecated barmanObjectStore is used"


def check_routes_and_certificates(render):
    values = load_group_vars(INVENTORY)
    for tenant in values["odoo_ops_tenants"]:
        routes = [r for r in render.of("IngressRoute") if r["metadata"]["labels"].get("sysgenpro.io/tenant") == tenant["name"]]
        rules = [rule for r in routes for rule in r["spec"]["routes"]]
        websocket = [r for r in rules if "Path(`/websocket`)" in r["match"]]
        if not websocket or websocket[0]["services"][0]["port"] != 8072:
            yield "tenant %s: /websocket does not go to 8072" % tenant["name"]
        if not [r for r in rules if "web/database" in r["match"] and any(m["name"].endswith("dbmanager-allow") for m in r["middlewares"])]:
            yield "tenant %s: the database manager is not blocked" % tenant["name"]
        certificates = [c for c in render.of("Certificate") if c["metadata"]["labels"].get("sysgenpro.io/tenant") == tenant["name"]]
        if len(certificates) != 1 or certificates[0]["spec"]["dnsNames"] != tenant["hosts"]:
            yield "tenant %s: no Certificate for its hosts" % tenant["name"]


POLICIES = [
    check_container_hardening,
    check_namespace_baseline,
    check_one_cron_per_fleet,
    check_web_deployments,
    check_services_select_pods,
    check_references_exist,
    check_postgres_by_tier,
    check_routes_and_certificates,
]


@pytest.mark.parametrize("policy", POLICIES, ids=[p.__name__[len("check_") :] for p in POLICIES])
def test_policy(render, policy):
    assert list(policy(render)) == []


def test_no_secret_value_under_the_tree(render):
    vault = load_group_vars(INVENTORY)
    values = set()
    for key, value in vault.items():
        if key.startswith("vault_"):
            values.update(value.values() if isinstance(value, dict) else [value])
    assert len(values) >= 6
    from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.odoo.passwords import master_password_hash  # pylint: disable=import-outside-toplevel

    values.update(master_password_hash(vault["vault_odoo_ops_admin_passwd"], fleet["name"]) for fleet in vault["odoo_ops_fleets"])
    found = []
    for path in glob.glob(os.path.join(render.root, "**", "*"), recursive=True):
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
            found.extend("%s holds %s..." % (path, v[:6]) for v in values if v in text)
    assert found == []
    assert "Secret" not in {o["kind"] for o in render.objects}


def refusals(values):
    return [
        ({"images": dict(values["odoo_ops_k8s_images"], odoo="odoo:latest")}, "is not pinned"),
        ({"tenants": [dict(values["odoo_ops_tenants"][0], hosts=["erp.acme.com"])] + values["odoo_ops_tenants"][1:]}, 'must start with "acme."'),
        ({"fleets": [dict(values["odoo_ops_fleets"][0], tenants=["acme", "nobody"])]}, "which odoo_ops_tenants does not define"),
        ({"fleets": [dict(f, postgres="one") for f in values["odoo_ops_fleets"]]}, "fleets sharing a cluster share its namespace"),
        ({"fleets": [dict(values["odoo_ops_fleets"][0], cpus=64, memory_mb=600)], "tenants": values["odoo_ops_tenants"][:2]}, "memory"),
    ]


def test_module_contract_and_the_same_odoo_options_as_the_docker_host(tmp_path):
    """One playbook: bad input refused, changing nothing; check mode, apply, check mode again, apply again
    (the amazon.aws order) with the same plan; and odoo.conf from the same inventory on both targets - the
    Docker host's template (its role's odoo.conf.j2 on odoo_fleet_plan's plan, as site.yml calls it) and
    the ConfigMap's options."""
    values = load_group_vars(INVENTORY)
    # One cluster, as on the Docker host; without the HPA's larger maximum, which the budget counts on Kubernetes only.
    fleets = [dict({k: v for k, v in f.items() if k != "max_web_replicas"}, namespace="odoo", postgres="main") for f in values["odoo_ops_fleets"]]
    docker_fleets = [{k: v for k, v in f.items() if k in ("name", "kind", "tenants", "cpus", "memory_mb", "web_containers")} for f in values["odoo_ops_fleets"]]
    template = os.path.join(REPO_ROOT, "roles", "docker_odoo_fleet", "templates", "odoo.conf.j2")
    render_args = {
        "output_dir": str(tmp_path / "tree"),
        "fleets": fleets,
        "tenants": values["odoo_ops_tenants"],
        "images": values["odoo_ops_k8s_images"],
        "odoo_options": values["odoo_ops_odoo_options"],
        "postgres": {"max_connections": 300},
    }
    cases = refusals(values)
    bad = [{"sysgenpro.odoo_ops.odoo_k8s_render": dict(render_args, **override), "ignore_errors": True} for override, _message in cases]
    contract = [{"sysgenpro.odoo_ops.odoo_k8s_render": render_args, "check_mode": check} for check in (True, False, True, False)]
    run = run_tasks(
        bad
        + contract
        + [
            {
                "sysgenpro.odoo_ops.odoo_fleet_plan": {
                    "fleets": docker_fleets,
                    "postgres_clusters": {"main": {"max_connections": 300, "reserved_connections": 10}},
                },
                "register": "plan",
            },
            {
                "ansible.builtin.set_fact": {
                    "confs": "{{ confs | default({}) | combine({item.0.name ~ '/' ~ item.1.role: lookup('ansible.builtin.template', '%s') }) }}" % template
                },
                "loop": "{{ plan.fleets | subelements('containers') }}",
                "vars": {
                    "docker_odoo_fleet": "{{ item.0 }}",
                    "__docker_odoo_fleet_container": "{{ item.1 }}",
                    "docker_odoo_fleet_options": values["odoo_ops_odoo_options"],
                    "docker_odoo_fleet_db_host": "postgres",
                    "docker_odoo_fleet_db_port": 5432,
                    "docker_odoo_fleet_db_user": "odoo_x",
                    "docker_odoo_fleet_db_password": "x",
                    "docker_odoo_fleet_admin_passwd": "x",
                    "__docker_odoo_fleet_interface": "0.0.0.0",
                    "ansible_managed": "test",
                },
            },
            {"ansible.builtin.debug": {"var": "confs"}},
        ]
    )
    assert run.returncode == 0, run
    results = run.results
    for result, (_override, message) in zip(results, cases):
        assert result.get("failed") and message in result["msg"] and not result.get("changed"), result
    # the check run wrote nothing: the real run after it had every file still to write
    check, first, check_again, again = results[len(cases) : len(cases) + 4]
    assert check["changed"] and first["changed"] and check["steps"] == first["steps"] and check["diff"] == first["diff"]
    assert not check_again["changed"] and not again["changed"] and check_again["steps"] == again["steps"] == []
    assert {k: v for k, v in check.items() if k not in ("changed", "steps", "diff")} == {
        k: v for k, v in again.items() if k not in ("changed", "steps", "diff")
    }
    docker_confs, k8s = results[-1]["confs"], first
    assert sorted(docker_confs) == sorted("%s/%s" % (f, role) for f, roles in k8s["odoo_conf_options"].items() for role in roles)
    for key, text in docker_confs.items():
        parser = configparser.RawConfigParser()
        parser.read_string(text)
        docker = {k: v for k, v in parser["options"].items() if k not in TARGET_OPTIONS}
        fleet, role = key.split("/")
        on_k8s = {k: str(v) for k, v in k8s["odoo_conf_options"][fleet][role].items() if k not in TARGET_OPTIONS}
        assert on_k8s == docker, key
        assert {"workers", "db_maxconn", "limit_memory_hard", "dbfilter", "list_db", "proxy_mode"} <= set(docker)


@pytest.mark.skipif(not os.environ.get("KUBECONFIG"), reason="applied only when KUBECONFIG names a cluster (none can run on these machines)")
def test_apply_to_a_cluster(tmp_path):
    """Server-side dry run first (check mode), then the apply, the Secrets and the readiness waits."""
    root = str(tmp_path / "tree")
    env_kube = os.environ["KUBECONFIG"]
    for args in (["--check", "--diff"], []):
        env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO_ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1", KUBECONFIG=env_kube)
        argv = [os.path.join(VENV_BIN, "ansible-playbook"), "-i", INVENTORY, "playbooks/site.yml", "-e", "odoo_ops_k8s_output_dir=%s" % root] + args
        done = subprocess.run(argv, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=1800, check=False)
        assert done.returncode == 0, done.stdout[-4000:]
