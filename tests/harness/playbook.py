"""Run tasks through a real ansible-playbook and return each task's result (json callback)."""

import json
import os
import pwd
import subprocess
import sys
import tempfile

import yaml

from .services import REPO_ROOT

VENV_BIN = os.path.dirname(os.path.abspath(sys.executable))


class PlaybookRun:
    def __init__(self, returncode, output, stderr):
        self.returncode, self.output, self.stderr = returncode, output, stderr
        start = 0 if output.startswith("{") else output.find("\n{") + 1  # -v prints a banner first
        try:
            self.data = json.loads(output[start:]) if start or output.startswith("{") else {}
        except ValueError:
            self.data = {}

    @property
    def results(self):
        """[result of task 1, task 2, ...] for localhost, in order."""
        found = []
        for play in self.data.get("plays", []):
            for task in play.get("tasks", []):
                found.extend(host for name, host in task.get("hosts", {}).items())
        return found

    @property
    def stats(self):
        return self.data.get("stats", {}).get("localhost", {})

    @property
    def failures(self):
        """The messages of the tasks that failed (also inside loops)."""
        found = []
        for result in self.results:
            for one in [result] + [item for item in result.get("results", []) if isinstance(item, dict)]:
                if one.get("failed") and one.get("msg"):
                    found.append(str(one["msg"]))
        return found

    def __repr__(self):
        return "PlaybookRun(rc=%s)\nfailed: %s\n%s\n%s" % (self.returncode, self.failures, self.output[-4000:], self.stderr[-2000:])


def run_tasks(tasks, check=False, diff=True, as_user=None, verbosity=0, extra_env=None, timeout=300):
    """Run `tasks` on localhost in one play; as_user runs ansible-playbook itself as that OS user."""
    workdir = tempfile.mkdtemp(prefix="odoo_ops-play-")
    try:
        os.chmod(workdir, 0o755)
        playbook = os.path.join(workdir, "play.yml")
        with open(playbook, "w", encoding="utf-8") as handle:
            yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}], handle)
        env = dict(
            os.environ,
            ANSIBLE_CONFIG=os.path.join(REPO_ROOT, "ansible.cfg"),
            ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
            ANSIBLE_LOCAL_TEMP=os.path.join(workdir, "tmp"),
            ANSIBLE_REMOTE_TEMP=os.path.join(workdir, "tmp"),
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO_ROOT, ".cache", "collections"),
            HOME=workdir,
        )
        env.update(extra_env or {})
        argv = [os.path.join(VENV_BIN, "ansible-playbook"), "-i", "localhost,", "-c", "local", "-e", "ansible_python_interpreter=%s" % sys.executable, playbook]
        argv += ["--check"] if check else []
        argv += ["--diff"] if diff else []
        argv += ["-" + "v" * verbosity] if verbosity else []
        if as_user:
            entry = pwd.getpwnam(as_user)
            os.chown(workdir, entry.pw_uid, entry.pw_gid)
            argv = ["runuser", "-u", as_user, "--"] + argv
        done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=workdir, timeout=timeout, check=False)
    finally:  # also after a timeout or a failed set-up: the play, its temporary files and the HOME it was given
        subprocess.run(["rm", "-rf", workdir], check=False)
    return PlaybookRun(done.returncode, done.stdout, done.stderr)


def last_result(*tasks, **kwargs):
    """The result of the last of `tasks`, run in one play by run_tasks (kwargs), asserting that a task ran."""
    run = run_tasks(list(tasks), **kwargs)
    assert run.results, run
    return run.results[-1]
