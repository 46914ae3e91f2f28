"""The controller configuration as code (awx/configs/) checked offline: surveys against the rules AWX's
API applies and against the playbooks' own variables, credential types against what the modules read,
workflows and schedules against the templates and the tier policy. What runs is proven by
tests/integration/test_awx_jobs.py (ansible-runner, as AWX runs a job)."""

import glob
import os
import re

import pytest
import yaml

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.backup.tiers import TIERS
from tests.harness.awx import SURVEY_TYPES, by_name, choices_of, inject, injected_extra_vars, load_config, survey_extra_vars
from tests.harness.services import REPO_ROOT

CONFIG = load_config()
TEMPLATES = CONFIG["controller_templates"]
CREDENTIAL_TYPES = CONFIG["controller_credential_types"]
WORKFLOWS = CONFIG["controller_workflows"]
SCHEDULES = CONFIG["controller_schedules"]
SECRET_ID = re.compile(r".*(password|secret|pass|token|signing_key)$")


def playbook_text(template):
    with open(os.path.join(REPO_ROOT, template["playbook"]), encoding="utf-8") as handle:
        return handle.read()


def header(text):
    """The playbook's documented header: its comment lines before the first play."""
    return "\n".join(line for line in text.split("\n- name:", 1)[0].splitlines() if line.startswith("#"))


def questions(entry):
    return (entry.get("survey_spec") or {}).get("spec", [])


def module_env_names():
    """The environment variables the collection's modules fall back to (env_fallback in plugins/), and
    the two the Kubernetes target reads: KUBECONFIG (site.yml, for a cluster to apply to) and
    K8S_AUTH_KUBECONFIG (kubernetes.core's modules)."""
    names = {"KUBECONFIG", "K8S_AUTH_KUBECONFIG"}
    for path in glob.glob(os.path.join(REPO_ROOT, "plugins", "**", "*.py"), recursive=True):
        with open(path, encoding="utf-8") as handle:
            for listed in re.findall(r"env_fallback, \[([^\]]*)\]", handle.read()):
                names.update(re.findall(r'"([A-Z0-9_]+)"', listed))
    return names


def test_config_has_every_key_and_unique_names():
    assert all(
        CONFIG.get(key)
        for key in ("controller_credential_types", "controller_credentials", "controller_templates", "controller_workflows", "controller_schedules")
    )
    for key, entries in CONFIG.items():
        names = [entry["name"] for entry in entries]
        assert len(names) == len(set(names)), key


def test_a_template_for_every_playbook():
    playbooks = sorted("playbooks/" + os.path.basename(p) for p in glob.glob(os.path.join(REPO_ROOT, "playbooks", "*.yml")))
    assert sorted(t["playbook"] for t in TEMPLATES) == playbooks


@pytest.mark.parametrize("entry", TEMPLATES + WORKFLOWS, ids=lambda e: e["name"])
def test_survey_follows_awx_rules(entry):
    """What AWX's API refuses (name, description and spec present, unique variables, known types,
    defaults valid for their type, choices for choice types, no password default) and what this
    collection asks of a survey (no password question at all, prompting for variables off)."""
    assert entry.get("ask_variables_on_launch", False) is False
    if not entry.get("survey_enabled"):
        assert not entry.get("survey_spec")
        return
    spec = entry["survey_spec"]
    assert spec.get("name") and spec.get("description") and spec.get("spec"), entry["name"]
    variables = [q["variable"] for q in spec["spec"]]
    assert len(variables) == len(set(variables))
    for q in spec["spec"]:
        assert q["type"] in SURVEY_TYPES and q.get("question_name") and re.fullmatch(r"[a-z_][a-z0-9_]*", q["variable"]), q
        assert q["type"] != "password", "secrets come from credentials, never a survey: %s" % q["variable"]
        assert isinstance(q.get("required"), bool), q
        default = q.get("default", "")
        if q["type"] in ("multiplechoice", "multiselect"):
            choices = choices_of(q)
            assert choices and len(choices) == len(set(choices)) and all(choices), q
            given = [] if default in ("", None) else (default.split("\n") if q["type"] == "multiselect" else [default])
            assert set(given) <= set(choices), q
        elif q["type"] in ("text", "textarea"):
            assert isinstance(default, str) and (q["min"] <= len(default) <= q["max"] or default == ""), q
            assert 0 <= q["min"] <= q["max"], q
        if q.get("required") and default in ("", None):
            assert q["type"] in ("text", "textarea"), "a required choice needs its safe default: %s" % q


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t["name"])
def test_survey_variables_are_the_playbooks_own(template):
    """Each question sets a variable the playbook reads and documents in its header; each
    confirmation defaults to false and is one the playbook refuses to go without."""
    text = playbook_text(template)
    doc, body = header(text), text.split("\n- name:", 1)[1]
    for q in questions(template):
        name = q["variable"]
        pattern = re.compile(r"\b%s\b" % name)
        assert pattern.search(doc), "%s: %s not in the playbook's header" % (template["playbook"], name)
        assert pattern.search(body), "%s: %s not read by the playbook" % (template["playbook"], name)
        if "confirm" in name:
            assert q["type"] == "multiplechoice" and choices_of(q) == ["false", "true"] and q["default"] == "false", q
            assert "%s | default(false) | bool" % name in body, "%s must refuse without %s" % (template["playbook"], name)
    confirms = set(re.findall(r"\b(\w*confirm\w*) \| default\(false\) \| bool", body))
    assert confirms <= {q["variable"] for q in questions(template)}, "a confirmation the survey does not ask: %s" % confirms


def test_dangerous_templates_default_to_the_safe_answer():
    """With only their survey defaults, the dangerous templates' confirmations are false."""
    dangerous = [t for t in TEMPLATES if any("confirm" in q["variable"] for q in questions(t))]
    assert {t["playbook"] for t in dangerous} == {
        "playbooks/tenant_remove.yml",
        "playbooks/incident_db_corruption.yml",
        "playbooks/incident_zone_failover.yml",
        "playbooks/incident_credential_compromise.yml",
        "playbooks/release_promote.yml",
        "playbooks/release_rollback.yml",
    }
    for template in dangerous:
        answers = {q["variable"]: "x" for q in questions(template) if q.get("required") and q.get("default") in ("", None)}
        extra = survey_extra_vars(template, answers)
        assert all(extra[v] == "false" for v in extra if "confirm" in v), extra


def test_credential_types_inject_what_the_modules_read():
    """Every injected name is one a module falls back to, or a PGBACKREST_* option pgBackRest reads
    itself (the modules hand their environment to pgbackrest); every secret input is secret: true,
    none has a default, and each is injected under a name the module treats as no_log."""
    read = module_env_names()
    assert {"PGHOST", "PGPASSWORD", "AWS_SECRET_ACCESS_KEY", "ODOO_OPS_BACKUP_SIGNING_KEY", "TRAEFIK_API_PASSWORD"} <= read
    injected = set()
    for ctype in CREDENTIAL_TYPES:
        assert ctype["kind"] in ("cloud", "net")
        fields = {f["id"]: f for f in ctype["inputs"]["fields"]}
        for field in fields.values():
            if SECRET_ID.fullmatch(field["id"]) or field.get("secret"):
                assert field.get("secret") is True and "default" not in field, (ctype["name"], field)
            assert field.get("type") == "string", field
        assert set(ctype["inputs"].get("required", [])) <= set(fields)
        for name, template in (ctype["injectors"].get("env") or {}).items():
            assert name in read or re.fullmatch(r"PGBACKREST_(CONFIG|REPO1_[A-Z0-9_]+)", name), (ctype["name"], name)
            used = set(re.findall(r"\{\{\s*([a-z0-9_]+)", template)) - {"tower"}
            assert used <= set(fields), (name, used)
            injected.add(name)
        for name, template in (ctype["injectors"].get("extra_vars") or {}).items():
            # a variable site.yml documents and takes (no module reads it from the environment)
            assert name in header(playbook_text({"playbook": "playbooks/site.yml"})), (ctype["name"], name)
            assert set(re.findall(r"\{\{\s*([a-z0-9_]+)", template)) <= set(fields), (name, template)
        for key in ctype["injectors"].get("file") or {}:
            assert key.startswith("template.") and any("tower.filename.%s" % key[9:] in t for t in ctype["injectors"]["env"].values())
    assert injected >= read - {"ODOO_OPS_PG_UNIX_SOCKET", "AWS_DEFAULT_REGION"}, "a module fallback no credential injects"


def test_pgbackrest_names_are_pgbackrest_options(tmp_path):
    """PGBACKREST_REPO1_* are options pgBackRest knows, and secret ones per the collection's own rule."""
    from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.pgbackrest import is_secret_option

    (ctype,) = [c for c in CREDENTIAL_TYPES if "pgBackRest" in c["name"]]
    secret_fields = {f["id"] for f in ctype["inputs"]["fields"] if f.get("secret")}
    for name, template in ctype["injectors"]["env"].items():
        option = name[len("PGBACKREST_") :].lower().replace("_", "-")
        field = re.search(r"\{\{\s*([a-z0-9_]+)", template).group(1)
        assert is_secret_option(option) == (field in secret_fields), (option, field)
        assert option in ("config", "repo1-s3-key", "repo1-s3-key-secret", "repo1-cipher-pass"), option


def test_injected_files_and_environment_render_as_awx_renders_them(tmp_path):
    pg = by_name(CREDENTIAL_TYPES)["odoo_ops PostgreSQL admin role"]
    env, files = inject(pg, {"host": "db", "username": "odoo_ops_admin", "password": "s3cr3t", "ca_cert": "-----BEGIN CERTIFICATE-----"}, str(tmp_path))
    assert env == {
        "PGHOST": "db",
        "PGPORT": "5432",
        "PGUSER": "odoo_ops_admin",
        "PGPASSWORD": "s3cr3t",
        "PGSSLMODE": "verify-full",
        "PGSSLROOTCERT": files["ca_cert"],
    }
    assert open(files["ca_cert"]).read().startswith("-----BEGIN") and os.stat(files["ca_cert"]).st_mode & 0o077 == 0
    env = inject(pg, {"host": "db", "username": "u", "password": "p"}, str(tmp_path))[0]
    assert env["PGSSLROOTCERT"] == ""  # no CA given: the module's ca_cert stays unset


def test_redis_and_kubernetes_credentials_inject_what_site_yml_takes(tmp_path):
    types = by_name(CREDENTIAL_TYPES)
    assert injected_extra_vars(types["odoo_ops Redis"], {"password": "r3d1s"}) == {"odoo_ops_redis_password": "r3d1s"}
    env, files = inject(types["odoo_ops Kubernetes cluster"], {"kubeconfig": "apiVersion: v1\nkind: Config\n"}, str(tmp_path))
    assert env == {"KUBECONFIG": files["kubeconfig"], "K8S_AUTH_KUBECONFIG": files["kubeconfig"]}
    assert open(files["kubeconfig"]).read().startswith("apiVersion: v1") and os.stat(files["kubeconfig"]).st_mode & 0o077 == 0
    assert "lookup('ansible.builtin.env', 'KUBECONFIG')" in playbook_text({"playbook": "playbooks/site.yml"})


def test_credentials_are_placeholders_without_secrets():
    types = by_name(CREDENTIAL_TYPES)
    for credential in CONFIG["controller_credentials"]:
        ctype = types[credential["credential_type"]]
        secret = {f["id"] for f in ctype["inputs"]["fields"] if f.get("secret")}
        assert not secret & set(credential["inputs"]), credential["name"]
    names = {c["name"] for c in CONFIG["controller_credentials"]}
    for template in TEMPLATES:
        assert set(template["credentials"]) <= names, template["name"]
        assert len({by_name(CONFIG["controller_credentials"])[c]["credential_type"] for c in template["credentials"]}) == len(template["credentials"])


def test_no_secret_default_anywhere():
    """No survey default, extra_data value or credential input holds anything that looks like a secret."""
    text = yaml.safe_dump(CONFIG)
    assert not re.search(r"(password|secret_key|cipher_pass|signing_key|token)\s*:\s*['\"]?[A-Za-z0-9+/]{6,}", text), "a secret-looking default"


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda w: w["name"])
def test_workflow_nodes_link_and_answer_surveys(workflow):
    templates = by_name(TEMPLATES)
    nodes = {node["identifier"]: node for node in workflow["workflow_nodes"]}
    assert len(nodes) == len(workflow["workflow_nodes"])
    for node in nodes.values():
        target = node["unified_job_template"]
        assert target["type"] in ("job_template", "workflow_approval"), target
        for kind in ("success_nodes", "failure_nodes", "always_nodes"):
            assert {link["identifier"] for link in node.get("related", {}).get(kind, [])} <= set(nodes)
        if target["type"] == "job_template":
            spec = {q["variable"]: q for q in questions(templates[target["name"]])}
            for name, value in (node.get("extra_data") or {}).items():
                assert name in spec and (spec[name]["type"] not in ("multiplechoice",) or value in choices_of(spec[name])), (name, value)
        else:
            assert target.get("timeout", 0) > 0 and not node.get("extra_data")
    workflow_vars = {q["variable"] for q in questions(workflow)}
    asked = set()
    for node in nodes.values():
        if node["unified_job_template"]["type"] == "job_template":
            asked |= {q["variable"] for q in questions(templates[node["unified_job_template"]["name"]])}
    assert workflow_vars <= asked


def test_dangerous_workflow_is_gated_by_an_approval():
    (incident,) = [w for w in WORKFLOWS if any(n["unified_job_template"]["name"] == "odoo_ops incident db corruption" for n in w["workflow_nodes"])]
    nodes = {n["identifier"]: n for n in incident["workflow_nodes"]}
    (restore,) = [i for i, n in nodes.items() if n["unified_job_template"]["name"] == "odoo_ops incident db corruption"]
    parents = [n for n in nodes.values() if restore in [link["identifier"] for link in n.get("related", {}).get("success_nodes", [])]]
    assert [p["unified_job_template"]["type"] for p in parents] == ["workflow_approval"]


def rrule_period_seconds(rrule):
    match = re.fullmatch(r"DTSTART;TZID=UTC:\d{8}T\d{6} RRULE:FREQ=(DAILY|WEEKLY);INTERVAL=(\d+)(;BYDAY=[A-Z]{2})?", rrule)
    assert match, rrule
    return {"DAILY": 86400, "WEEKLY": 7 * 86400}[match.group(1)] * int(match.group(2))


def test_schedules_follow_the_tier_policy():
    """Each tier's tenants are backed up and then verified at least as often as its logical backups
    may age (max_age), and drilled every drill_days where the tier has a drill - none elsewhere."""
    templates, workflows = by_name(TEMPLATES), by_name(WORKFLOWS)
    backed, verified, drilled = {}, {}, {}
    for schedule in SCHEDULES:
        period = rrule_period_seconds(schedule["rrule"])
        target = schedule["unified_job_template"]
        assert target in templates or target in workflows, target
        runs = [(target, schedule.get("extra_data") or {})]
        if target in workflows:
            runs = [(n["unified_job_template"]["name"], n.get("extra_data") or {}) for n in workflows[target]["workflow_nodes"]]
        for name, data in runs:
            if name == "odoo_ops backup":
                backed[int(data["tenant_backup_tier"])] = period
            elif name == "odoo_ops backup verify":
                verified[int(data["backup_verify_tier"])] = period
            elif name == "odoo_ops DR drill":
                drilled[int(data["dr_drill_tier"])] = period
    for number, policy in TIERS.items():
        assert backed[number] < policy["logical"]["max_age"] and verified[number] <= backed[number], number
        assert drilled.get(number) == (policy["drill_days"] * 86400 if policy["drill_days"] else None), number


def test_apply_playbook_refuses_without_a_controller():
    """awx/apply.yml names what is missing and sends nothing: its first task is the refusal."""
    with open(os.path.join(REPO_ROOT, "awx", "apply.yml"), encoding="utf-8") as handle:
        (play,) = yaml.safe_load(handle)
    first = play["tasks"][0]
    assert "ansible.builtin.assert" in first and "odoo_ops_awx_token | length > 0" in first["ansible.builtin.assert"]["that"]
    modules = [next(k for k in task if k.startswith("awx.awx.")) for task in play["tasks"][1:]]
    assert modules == ["awx.awx.credential_type", "awx.awx.credential", "awx.awx.job_template", "awx.awx.workflow_job_template", "awx.awx.schedule"]
