"""Headless Chromium (Debian's `chromium`, scripts/debian-packages.txt) looking at a page as a person
would: a PNG screenshot and the DOM after its scripts ran. Chromium resolves every *.localhost name to
the loopback address itself, so a tenant host through Traefik needs no /etc/hosts entry."""

import os
import shutil
import subprocess
import tempfile

from .services import REPO_ROOT

# Screenshots are evidence for a person, kept outside git (.cache is ignored) and named in the test output.
EVIDENCE_DIR = os.path.join(REPO_ROOT, ".cache", "evidence")
# One page, bounded: Chromium's own budget for the page's scripts, and a hard limit on the process.
VIRTUAL_TIME_BUDGET_MS = 5000
PROCESS_TIMEOUT = 90


def chromium():
    """The Chromium binary, or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _run(url, *mode):
    with tempfile.TemporaryDirectory(prefix="odoo_ops-chromium-") as profile:
        done = subprocess.run(
            [
                chromium(),
                "--headless",
                "--no-sandbox",  # the tests run as root, where Chromium's sandbox refuses to start
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--user-data-dir=" + profile,
                "--window-size=1280,900",
                "--virtual-time-budget=%d" % VIRTUAL_TIME_BUDGET_MS,
                *mode,
                url,
            ],
            capture_output=True,
            text=True,
            timeout=PROCESS_TIMEOUT,
            check=False,
        )
    return done


def screenshot(url, name):
    """Save url's page as EVIDENCE_DIR/name (PNG); return (path, the page's DOM after its scripts)."""
    os.makedirs(EVIDENCE_DIR, exist_ok=True)
    path = os.path.join(EVIDENCE_DIR, name)
    if os.path.exists(path):
        os.unlink(path)
    shot = _run(url, "--screenshot=" + path)
    assert shot.returncode == 0 and os.path.exists(path), (shot.returncode, shot.stderr[-2000:])
    dom = _run(url, "--dump-dom")
    assert dom.returncode == 0, (dom.returncode, dom.stderr[-2000:])
    return path, dom.stdout
