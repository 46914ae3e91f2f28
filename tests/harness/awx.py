"""The controller configuration as code (awx/configs/) read as AWX reads it, and a job prepared as AWX
prepares one: survey answers as extra vars, credentials injected from their credential type's
injectors (environment variables, and files named by tower.filename), nothing else."""

import os

import jinja2.sandbox
import yaml

from tests.harness.services import REPO_ROOT

CONFIG_DIR = os.path.join(REPO_ROOT, "awx", "configs")
KEYS = ("controller_credential_types", "controller_credentials", "controller_templates", "controller_workflows", "controller_schedules")
# AWX's survey question types (awx/api/views/__init__.py SurveySpec validation)
SURVEY_TYPES = ("text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect")


class _Loader(yaml.SafeLoader):
    """YAML as Ansible reads these files: !unsafe marks a string Ansible never templates."""


_Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def load_config():
    """{key: [entries]} of every controller_* list in awx/configs/."""
    found = {}
    for name in sorted(os.listdir(CONFIG_DIR)):
        with open(os.path.join(CONFIG_DIR, name), encoding="utf-8") as handle:
            found.update(yaml.load(handle, Loader=_Loader))  # noqa: S506  # a SafeLoader subclass
    return found


def by_name(entries):
    return {entry["name"]: entry for entry in entries}


def choices_of(question):
    """A question's choices as a list (AWX also takes them as one string, a choice per line)."""
    choices = question.get("choices") or []
    return choices.split("\n") if isinstance(choices, str) else [str(c) for c in choices]


def survey_extra_vars(template, answers=None):
    """The extra vars AWX gives a job launched with `answers` (question variable: answer), other
    questions taking their default; an optional question without answer or default is left out."""
    answers = answers or {}
    extra = {}
    for question in (template.get("survey_spec") or {}).get("spec", []):
        name = question["variable"]
        value = answers.get(name, question.get("default", ""))
        if value in ("", None, []):
            if question.get("required"):
                raise ValueError("%s: required question %s has no answer" % (template["name"], name))
            continue
        if question["type"] == "multiselect" and isinstance(value, str):
            value = value.split("\n")
        extra[name] = value
    return extra


def inject(credential_type, inputs, private_dir):
    """(environment, {file name: path}) as AWX injects a credential of `credential_type` with `inputs`:
    each file template rendered into a file of its own in private_dir (0600), its path as
    tower.filename.<name>; then each environment variable's template rendered with the inputs."""
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined)
    fields = {field["id"]: field for field in credential_type["inputs"]["fields"]}
    values = {name: inputs.get(name, field.get("default", "")) for name, field in fields.items()}
    files = {}
    for key, template in (credential_type["injectors"].get("file") or {}).items():
        name = key.split(".", 1)[1]
        path = os.path.join(private_dir, "%s_%s" % (credential_type["name"].replace(" ", "_"), name))
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as handle:
            handle.write(env.from_string(template).render(**values))
        files[name] = path
    context = dict(values, tower={"filename": files}, awx={"filename": files})
    environment = {name: env.from_string(template).render(**context) for name, template in (credential_type["injectors"].get("env") or {}).items()}
    return environment, files


def injected_extra_vars(credential_type, inputs):
    """The extra variables a credential of `credential_type` with `inputs` adds to a job (its extra_vars injectors)."""
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined)
    values = {field["id"]: inputs.get(field["id"], field.get("default", "")) for field in credential_type["inputs"]["fields"]}
    return {name: env.from_string(template).render(**values) for name, template in (credential_type["injectors"].get("extra_vars") or {}).items()}
