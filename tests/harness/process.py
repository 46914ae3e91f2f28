"""Start, watch and stop one service process: bounded waits, kept logs, stop by PID."""

import contextlib
import fcntl
import os
import random
import signal
import socket
import shutil
import subprocess
import tempfile
import time


class ServiceError(RuntimeError):
    """A service did not start or answer; the message carries the tail of its log."""


def free_port(low=20000, high=55000, attempts=200):
    """A TCP port on 127.0.0.1 that nothing listens on right now, below 55000: SeaweedFS derives
    some gRPC ports as port + 10000, which must stay a valid port."""
    for _attempt in range(attempts):
        port = random.randint(low, high)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise ServiceError("no free port between %d and %d after %d attempts" % (low, high, attempts))


def log_tail(path, lines=30):
    try:
        with open(path, "rb") as handle:
            return b"".join(handle.readlines()[-lines:]).decode("utf-8", "replace")
    except OSError:
        return "(no log at %s)" % path


def wait_until(check, timeout, what, log_path=None, interval=0.1, alive=None):
    """Call check() until it returns a true value, at most `timeout` seconds.

    alive(), when given, is asked first on every round so that a crashed process fails fast.
    """
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            raise ServiceError("%s exited during start-up\n%s" % (what, log_tail(log_path) if log_path else ""))
        try:
            result = check()
            if result:
                return result
        except Exception as exc:  # pylint: disable=broad-except  # any failure means "not ready yet"
            last_error = exc
        time.sleep(interval)
    raise ServiceError("%s not ready after %ss (last error: %s)\n%s" % (what, timeout, last_error, log_tail(log_path) if log_path else ""))


def spawn(argv, log_path, env=None, cwd=None, user=None):
    """Start argv in its own session with stdout/stderr appended to log_path; return the PID."""
    if user:
        argv = ["runuser", "-u", user, "--"] + list(argv)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(  # pylint: disable=consider-using-with  # runs detached on purpose
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=cwd, start_new_session=True
        )
    return proc.pid


def pid_alive(pid):
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); reap it if it is ours.
    try:
        done, _status = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return _not_zombie(pid)


def _not_zombie(pid):
    try:
        with open("/proc/%d/stat" % pid, "rb") as handle:
            return handle.read().split(b") ", 1)[1][:1] != b"Z"
    except (OSError, IndexError):
        return False


def _signal(pid, sig, group):
    """Send sig to pid's process group (group=True and pid leads one) or to pid alone; returns
    whether the group was signalled, or None when pid is gone."""
    if group:
        try:
            os.killpg(pid, sig)
            return True
        except (ProcessLookupError, PermissionError):
            pass  # not a group leader: pid alone
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return None
    return False


def stop_pid(pid, timeout=15.0, sig=signal.SIGTERM, group=True):
    """Signal the process group of pid (pid alone with group=False: a daemon that stops its own
    children), wait at most `timeout` s, then SIGKILL what was signalled - the group, or pid alone
    (never its children with group=False)."""
    if not pid_alive(pid):
        return
    whole_group = _signal(pid, sig, group)
    if whole_group is None:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return
        time.sleep(0.1)
    _signal(pid, signal.SIGKILL, whole_group)
    deadline = time.monotonic() + 5
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)


def tcp_open(port, host="127.0.0.1"):
    with socket.create_connection((host, port), timeout=1):
        return True


@contextlib.contextmanager
def file_lock(path, timeout, what=None):
    """An exclusive lock on the file at path (created when missing), waited for at most timeout s:
    what two test sessions - or two pytest-xdist workers - must never do at once."""
    with open(path, "w", encoding="utf-8") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ServiceError("%s stayed locked for %ss" % (what or path, timeout)) from None
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def scratch_dirs(*prefixes, mode=0o755):
    """Temporary folders (one per prefix), removed on the way out - also when a fixture's setup fails."""
    paths = [tempfile.mkdtemp(prefix=prefix) for prefix in prefixes]
    try:
        for path in paths:
            os.chmod(path, mode)
        yield paths
    finally:
        for path in paths:
            shutil.rmtree(path, ignore_errors=True)
