"""The execution environment (meta/execution-environment.yml) built for real with ansible-builder on
the local Docker Engine, cached by its inputs like the other images: the base from the odoo_images
role (ee_base), the collections copied into .cache/ee/collections, the image tagged with a hash of
the definition, the base's tag and the collections' files. Used by scripts/build_ee.py and the test."""

import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
import sys
import time

import yaml

from tests.harness.docker_platform import build_images, image_tasks
from tests.harness.playbook import VENV_BIN
from tests.harness.services import REPO_ROOT

DEFINITION = os.path.join(REPO_ROOT, "meta", "execution-environment.yml")
BUILD = os.path.join(REPO_ROOT, ".cache", "ee", "build")  # what the definition copies in (additional_build_files)
COLLECTIONS = os.path.join(BUILD, "collections")
WHEELS = os.path.join(BUILD, "wheels")
# Every Python package the build installs: the base's (ee_base), ansible-builder's own steps (bindep,
# pyyaml, packaging; dumb-init in the final stage) and the definition's dependencies.python.
BASE_REQUIREMENTS = ("ansible-core>=2.19,<2.20", "ansible-runner>=2.4,<3")
BUILDER_REQUIREMENTS = ("bindep", "pyyaml", "packaging", "dumb-init==1.2.5")
IMAGE = "odoo-ops/ee"
# The collections the playbooks call besides this one (galaxy.yml's dependencies), from the ansible package.
DEPENDENCIES = ("community/docker", "community/postgresql")


def _installed(name):
    import ansible_collections  # pylint: disable=import-outside-toplevel  # the ansible package's collections

    for root in ansible_collections.__path__:
        path = os.path.join(root, name)
        if os.path.isfile(os.path.join(path, "MANIFEST.json")):
            return path
    raise FileNotFoundError("collection %s is not installed in this virtual environment" % name)


def stage_collections(target=COLLECTIONS):
    """target/ansible_collections/<ns>/<name> for this collection (as `ansible-galaxy collection build`
    packs it: build_ignore applied) and its dependencies; returns a hash of every file staged."""
    shutil.rmtree(target, ignore_errors=True)
    base = os.path.join(target, "ansible_collections")
    with tempfile.TemporaryDirectory(prefix="odoo_ops-ee-") as work:
        subprocess.run(
            [os.path.join(VENV_BIN, "ansible-galaxy"), "collection", "build", "--output-path", work, REPO_ROOT], check=True, capture_output=True, timeout=300
        )
        (tarball,) = [n for n in os.listdir(work) if n.endswith(".tar.gz")]
        with tarfile.open(os.path.join(work, tarball)) as archive:
            archive.extractall(os.path.join(base, "sysgenpro", "odoo_ops"))  # noqa: S202  # our own build of this checkout
    for name in DEPENDENCIES:
        shutil.copytree(_installed(name), os.path.join(base, name), ignore=shutil.ignore_patterns("__pycache__"))
    digest = hashlib.sha256()
    for folder, dirs, files in sorted(os.walk(target)):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(folder, name)
            digest.update(os.path.relpath(path, target).encode() + b"\0")
            with open(path, "rb") as handle:
                digest.update(hashlib.sha256(handle.read()).digest())
    return digest.hexdigest()


def definition_requirements():
    with open(DEFINITION, encoding="utf-8") as handle:
        return tuple(yaml.safe_load(handle)["dependencies"]["python"])


def stage_wheels(cache_dir, timeout=1800):
    """WHEELS: every wheel the build installs, built here with `pip wheel` (this host's pip configuration,
    its index and CA) once per set of requirements (cache_dir/wheels/<hash>), as the Odoo image's."""
    requirements = BASE_REQUIREMENTS + BUILDER_REQUIREMENTS + definition_requirements()
    folder = os.path.join(cache_dir, "wheels", hashlib.sha256("|".join(requirements).encode()).hexdigest()[:12])
    if not os.path.exists(folder + ".complete"):
        os.makedirs(folder, exist_ok=True)
        pip = [sys.executable, "-m", "pip", "wheel", "--disable-pip-version-check", "--wheel-dir", folder]
        subprocess.run(pip + list(requirements), check=True, capture_output=True, timeout=timeout)
        open(folder + ".complete", "w", encoding="utf-8").close()
    shutil.rmtree(WHEELS, ignore_errors=True)
    shutil.copytree(folder, WHEELS)
    return folder


def docker(*args, timeout=300):
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)


def build_ee(cache_dir, timeout=3600):
    """{'image': tag, 'base': tag, 'built': bool, 'seconds': {...}}: the EE, built unless its tag exists."""
    seconds = {}
    started = time.monotonic()
    wheels = stage_wheels(cache_dir)
    seconds["wheels"] = time.monotonic() - started
    started = time.monotonic()
    tasks = image_tasks(["ee_base"], cache_dir)
    tasks[0]["vars"]["odoo_images_ee_wheels"] = wheels
    base = build_images(tasks, timeout=timeout)
    if base.returncode != 0:
        raise RuntimeError("the ee_base image did not build: %r" % (base,))
    base_tag = base.results[-1]["odoo_images_built"]["ee_base"]
    seconds["base"] = time.monotonic() - started
    started = time.monotonic()
    files = stage_collections() + "|" + wheels
    with open(DEFINITION, "rb") as handle:
        definition = handle.read()
    tag = "%s:%s" % (IMAGE, hashlib.sha256(definition + b"|" + base_tag.encode() + b"|" + files.encode()).hexdigest()[:12])
    seconds["stage"] = time.monotonic() - started
    started = time.monotonic()
    built = False
    if docker("image", "inspect", tag).returncode != 0:
        with tempfile.TemporaryDirectory(prefix="odoo_ops-ee-context-") as context:
            argv = [os.path.join(VENV_BIN, "ansible-builder"), "build", "--file", DEFINITION, "--context", context, "--tag", tag]
            argv += ["--container-runtime", "docker", "--build-arg", "EE_BASE_IMAGE=%s" % base_tag]
            argv += ["--extra-build-cli-args=--network=host", "-v", "3"]
            done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False, cwd=REPO_ROOT)
        if done.returncode != 0:
            raise RuntimeError("ansible-builder build failed: %s" % (done.stdout[-5000:] + done.stderr[-2000:]))
        built = True
    seconds["build"] = time.monotonic() - started
    size = docker("image", "inspect", "--format", "{{.Size}}", tag).stdout.strip()
    return {"image": tag, "base": base_tag, "built": built, "seconds": seconds, "size_bytes": int(size or 0)}
