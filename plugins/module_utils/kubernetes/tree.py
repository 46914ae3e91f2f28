# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The GitOps tree: one folder per namespace (one file per object and a kustomization.yaml), a
top-level kustomization.yaml, and secrets.yaml - the Secrets the objects name, which the tree never
holds (the apply step creates them, or an external secret manager). Byte-stable: the same objects
always give the same bytes, so a re-render changes nothing."""

import os

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.files import read_file, write_atomic
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.errors import Refused

HEADER = "# Rendered by sysgenpro.odoo_ops (odoo_k8s_render) from the inventory: change the inventory, not this file.\n"
KUSTOMIZATION = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization"}
MAX_FILES = 100000  # a bound on what one render writes or removes


_DUMPERS = {}


def dump(yaml, obj):
    """YAML text, keys sorted, no anchors (an object reads the same in any tool, and diffs stay plain)."""
    dumper = _DUMPERS.get(yaml)
    if dumper is None:
        base = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml's emitter when there: 5x faster
        dumper = _DUMPERS[yaml] = type("PlainDumper", (base,), {"ignore_aliases": lambda self, data: True})
        # odoo.conf and scripts as literal blocks, as a person would write them
        dumper.add_representer(str, lambda d, text: d.represent_scalar("tag:yaml.org,2002:str", text, style="|" if "\n" in text else None))
    return HEADER + yaml.dump(obj, Dumper=dumper, sort_keys=True, default_flow_style=False, width=4096, allow_unicode=True)


def layout(yaml, objects, secrets):
    """{relative path: bytes} of the whole tree."""
    files, folders = {}, {}
    for obj in objects:
        namespace = obj["metadata"].get("namespace") or obj["metadata"]["name"]  # a Namespace sits in its own folder
        name = "%s-%s.yaml" % (obj["kind"].lower(), obj["metadata"]["name"])
        path = "%s/%s" % (namespace, name)
        if path in files:
            raise Refused("two objects would be written to %s: %s %s is rendered twice" % (path, obj["kind"], obj["metadata"]["name"]))
        files[path] = dump(yaml, obj).encode("utf-8")
        folders.setdefault(namespace, []).append(name)
    for namespace, names in folders.items():
        files["%s/kustomization.yaml" % namespace] = dump(yaml, dict(KUSTOMIZATION, resources=sorted(names))).encode("utf-8")
    files["kustomization.yaml"] = dump(yaml, dict(KUSTOMIZATION, resources=sorted(folders))).encode("utf-8")
    files["secrets.yaml"] = dump(yaml, {"secrets": sorted(secrets, key=lambda s: (s["namespace"], s["name"]))}).encode("utf-8")
    if len(files) > MAX_FILES:
        raise Refused("the render has %d files, more than %d" % (len(files), MAX_FILES))
    return files


def rendered_files(root):
    """Relative paths of the files a render wrote under root (their first line is HEADER)."""
    found = []
    marker = HEADER.encode("utf-8")
    for folder, dirs, names in os.walk(root):
        dirs.sort()
        for name in sorted(names):
            if not name.endswith(".yaml"):
                continue
            path = os.path.join(folder, name)
            with open(path, "rb") as handle:
                if handle.read(len(marker)) == marker:
                    found.append(os.path.relpath(path, root).replace(os.sep, "/"))
            if len(found) > MAX_FILES:
                raise Refused("more than %d rendered files under %s" % (MAX_FILES, root))
    return found


def plan_tree(root, files):
    """(writes, removals): the files whose bytes differ, and rendered files no longer in the render."""
    writes = sorted(path for path, content in files.items() if read_file(os.path.join(root, path))[0] != content)
    removals = sorted(path for path in (rendered_files(root) if os.path.isdir(root) else []) if path not in files)
    return writes, removals


def apply_tree(root, files, writes, removals):
    for path in writes:
        target = os.path.join(root, path)
        os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
        write_atomic(target, files[path], 0o644)
    for path in removals:
        os.unlink(os.path.join(root, path))
        folder = os.path.dirname(os.path.join(root, path))
        if folder != root and not os.listdir(folder):
            os.rmdir(folder)
