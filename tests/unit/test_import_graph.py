"""module_utils imports only downward (scripts/import_graph.py is the rule; this runs it)."""

import os
import subprocess
import sys

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "scripts", "import_graph.py")


def test_module_utils_import_graph_points_down_without_cycles():
    done = subprocess.run([sys.executable, SCRIPT], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "5 verify" in done.stdout


def test_the_checker_names_an_upward_edge():
    sys.path.insert(0, os.path.dirname(SCRIPT))
    try:
        import import_graph  # pylint: disable=import-outside-toplevel
    finally:
        sys.path.pop(0)
    edges = {"postgres.client": {"tenant.lifecycle"}, "tenant.lifecycle": {"postgres.client"}}
    problems = import_graph.violations(edges)
    assert any("postgres (layer 1) may not import tenant (layer 4)" in p for p in problems)
    assert any(p.startswith("import cycle:") for p in problems)
