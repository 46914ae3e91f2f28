"""A set of harness services under one root directory, described by <root>/state.json."""

import json
import os
import shutil
import subprocess

from .process import ServiceError, log_tail
from .services import SERVICES, allocate_ports

# Start order; stop runs in reverse. Docker Engine last: when it starts it restarts the containers
# with restart policies, whose PostgreSQL archives WAL to the object store, which must be up then
# and still up while dockerd stops them.
ORDER = ("postgres", "s3", "redis", "backend", "traefik", "docker")

# Fixed loopback ports of the local platform (./run.sh site), so its URLs stay the same.
LOCAL_PLATFORM_PORTS = {
    "postgres": {"port": 15432},
    "s3": {"s3_https": 18333, "s3_http": 18334},
    "redis": {"port": 16379},
    "backend": {"http": 18069, "websocket": 18072},
    "traefik": {"web": 18080, "websecure": 18443, "api": 18081},
}


def stop_owned_containers(owner):
    """Stop the containers a deployment made with this owner label (the local platform's: its root):
    stopped by hand, Docker does not start them again with the engine (restart policy unless-stopped).
    Returns the errors, if any."""
    try:
        listed = subprocess.run(["docker", "ps", "-q", "--filter", "label=odoo_ops_owner=%s" % owner], capture_output=True, text=True, timeout=60, check=False)
        ids = listed.stdout.split()
        if ids:
            done = subprocess.run(["docker", "stop", "--time", "60"] + ids, capture_output=True, text=True, timeout=600, check=False)
            if done.returncode:
                return ["docker stop: %s" % done.stderr.strip()[-300:]]
    except (OSError, subprocess.TimeoutExpired) as exc:
        return ["stopping the platform's containers: %s" % exc]
    return []


class Platform:
    def __init__(self, root, fixed_ports=None):
        self.root = os.path.abspath(root)
        self.state_file = os.path.join(self.root, "state.json")
        self.fixed_ports = fixed_ports or {}
        os.makedirs(self.root, exist_ok=True)
        # The postgres OS user must be able to reach its data directory below this root.
        os.chmod(self.root, 0o755)

    def load(self):
        try:
            with open(self.state_file, encoding="utf-8") as handle:
                return json.load(handle)
        except (OSError, ValueError):
            return {}

    def save(self, state):
        tmp = self.state_file + ".tmp"
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as handle:
            json.dump(state, handle, indent=2, sort_keys=True)
        os.replace(tmp, self.state_file)

    def up(self, names):
        """Start the named services that are not already running and healthy; return the state."""
        state = self.load()
        for name in sorted(names, key=ORDER.index):
            service = SERVICES[name](self.root)
            current = state.get(name)
            if current and service.healthy(current):
                continue
            if current:
                service.stop(current)  # stale entry from an earlier run
                state.pop(name)
            os.makedirs(service.dir, exist_ok=True)
            state[name] = service.start(allocate_ports(SERVICES[name], self.fixed_ports.get(name)))
            self.save(state)
        return state

    def restart(self, name):
        """Stop one running service by its PID and start it again on the same folder and ports (a
        Traefik restart re-reads its dynamic directory from scratch); returns the new state."""
        state = self.load()
        current = state.get(name)
        if not current or not current.get("ports"):
            raise ServiceError("%s is not running under %s, or its ports were not recorded" % (name, self.root))
        service = SERVICES[name](self.root)
        service.stop(current)
        state[name] = service.start(dict(current["ports"]))
        self.save(state)
        return state

    def down(self, names=None):
        state = self.load()
        errors = []
        if (names is None or "docker" in names) and shutil.which("docker"):
            errors += stop_owned_containers(os.path.realpath(self.root))  # also when another dockerd runs them
        for name in reversed(ORDER):
            if name in state and (names is None or name in names):
                try:
                    SERVICES[name](self.root).stop(state[name])
                except (OSError, ServiceError) as exc:
                    errors.append("%s: %s" % (name, exc))
                state.pop(name)
        self.save(state)
        if errors:
            raise ServiceError("; ".join(errors))

    def logs(self):
        """The tail of every service log, for a failure report."""
        return "\n".join("== %s (%s)\n%s" % (name, entry["log"], log_tail(entry["log"])) for name, entry in self.load().items() if entry.get("log"))
