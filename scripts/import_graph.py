#!/usr/bin/env python
"""Print the import graph of plugins/module_utils by package and check that it only points down.

Packages sit in layers (LAYERS, lowest first). A package may import from its own package and from
packages of lower layers, never from its own layer or above; and no two files may import each other
in a cycle. Exit status 1 names every violation.

Usage: scripts/import_graph.py [--files]   (--files: the file-level edges too)
"""

import ast
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "plugins", "module_utils")
PREFIX = "ansible_collections.sysgenpro.odoo_ops.plugins.module_utils."

# Lowest first. What each package owns is in the README's layout section.
LAYERS = (
    ("_common",),
    ("postgres", "object_store", "pgbackrest", "traefik", "business_calendar"),
    ("odoo",),
    ("backup",),
    ("tenant", "pitr"),
    ("verify",),
)
RANK = {package: rank for rank, layer in enumerate(LAYERS) for package in layer}


def module_name(path):
    relative = os.path.relpath(path, ROOT)[: -len(".py")].replace(os.sep, ".")
    return relative[: -len(".__init__")] if relative.endswith(".__init__") else relative


def package_of(module):
    return module.split(".")[0]


def file_edges():
    """{importing module: {imported module, ...}} over every file of module_utils."""
    edges = {}
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            with open(path, encoding="utf-8") as handle:
                tree = ast.parse(handle.read(), path)
            found = set()
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PREFIX):
                    found.add(node.module[len(PREFIX) :])
                elif isinstance(node, ast.Import):
                    found.update(a.name[len(PREFIX) :] for a in node.names if a.name.startswith(PREFIX))
            edges[module_name(path)] = found
    return edges


def cycles(edges):
    """Every cycle among the files, each as a list of modules (depth-first search, iterative)."""
    found, state = [], {}
    for start in sorted(edges):
        if state.get(start):
            continue
        stack = [(start, iter(sorted(edges.get(start, ()))))]
        path, state[start] = [start], "open"
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                path.pop()
                state[node] = "done"
            elif state.get(child) == "open":
                found.append(path[path.index(child) :] + [child])
            elif not state.get(child):
                state[child] = "open"
                path.append(child)
                stack.append((child, iter(sorted(edges.get(child, ())))))
    return found


def violations(edges):
    problems = []
    for source, targets in sorted(edges.items()):
        for target in sorted(targets):
            src, dst = package_of(source), package_of(target)
            if src == dst:
                continue
            if src not in RANK or dst not in RANK:
                problems.append("%s -> %s: package %s has no layer in LAYERS" % (source, target, src if src not in RANK else dst))
            elif RANK[dst] >= RANK[src]:
                problems.append("%s -> %s: %s (layer %d) may not import %s (layer %d)" % (source, target, src, RANK[src], dst, RANK[dst]))
    problems += ["import cycle: %s" % " -> ".join(cycle) for cycle in cycles(edges)]
    return problems


def main(argv):
    edges = file_edges()
    packages = {}
    for source, targets in edges.items():
        packages.setdefault(package_of(source), set()).update(package_of(t) for t in targets if package_of(t) != package_of(source))
    for rank, layer in enumerate(LAYERS):
        for package in layer:
            print("%d %-13s -> %s" % (rank, package, ", ".join(sorted(packages.get(package, ()))) or "-"))
    if "--files" in argv:
        for source in sorted(edges):
            print("  %s -> %s" % (source, ", ".join(sorted(edges[source])) or "-"))
    problems = violations(edges)
    for problem in problems:
        print("VIOLATION " + problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
