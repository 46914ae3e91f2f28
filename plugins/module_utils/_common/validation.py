# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Input checks shared by the collection's modules. Each raises ValueError naming the problem."""


import ipaddress
import os
import re

from urllib.parse import urlsplit

# Router, middleware and file names: lower case, starts with a letter; `_` allowed because
# tenant ids are database names (see odoo_tenant); never `/`, `.` or upper case.
ROUTE_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
HOST_LABEL_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
K8S_NAME_RE = re.compile(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")
TENANT_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def check_tenant_name(name, what="name"):
    if not isinstance(name, str) or not TENANT_NAME_RE.match(name):
        raise ValueError("%s %r is not a valid tenant id: 1-63 characters, a lower-case letter first, then "
                         "lower-case letters, digits or '_' (it is the database name)" % (what, name))
    return name


def check_route_name(name):
    if not isinstance(name, str) or not ROUTE_NAME_RE.match(name):
        raise ValueError(
            "name %r is not a valid route name: use 1-63 lower-case letters, digits, '-' or '_', "
            "starting with a letter (no '/', '.', '..' or upper case)" % (name,))
    return name


def check_k8s_name(name, what):
    """A Kubernetes object name (RFC 1035 label: what a Cluster's services need)."""
    if not isinstance(name, str) or not K8S_NAME_RE.match(name):
        raise ValueError("%s %r is not a valid Kubernetes name: 1-63 lower-case letters, digits or '-', starting "
                         "with a letter" % (what, name))
    return name


def check_hostname(host):
    """A lower-case RFC 1123 host name (no port, no wildcard, no trailing dot)."""
    if not isinstance(host, str) or not host:
        raise ValueError("host name %r is empty or not a string" % (host,))
    problem = None
    if host != host.strip() or " " in host:
        problem = "contains white space"
    elif host != host.lower():
        problem = "has upper-case letters (use %r)" % host.lower()
    elif len(host) > 253:
        problem = "is longer than 253 characters"
    else:
        bad = [label for label in host.split(".") if not HOST_LABEL_RE.match(label)]
        if bad:
            problem = "has an invalid label %r (RFC 1123: a-z, 0-9 and inner '-', 1-63 characters)" % bad[0]
    if problem:
        raise ValueError("host name %r %s" % (host, problem))
    return host


def check_url(url, what, schemes=("http", "https")):
    """An absolute URL with one of `schemes` and a host; returns its urlsplit() parts."""
    parts = urlsplit(url or "")
    if parts.scheme not in schemes:
        raise ValueError("%s %r needs a scheme (%s://host:port)" % (what, url, "|".join(schemes)))
    if not parts.hostname:
        raise ValueError("%s %r has no host" % (what, url))
    try:
        _port = parts.port  # raises on a malformed port
    except ValueError:
        raise ValueError("%s %r has an invalid port" % (what, url)) from None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("%s %r must not carry a path, query or fragment" % (what, url))
    return parts


def check_cidr(cidr):
    """An IPv4/IPv6 address or network, returned in canonical form (host bits must be zero)."""
    try:
        return str(ipaddress.ip_network(str(cidr), strict=True))
    except ValueError as exc:
        raise ValueError("source range %r is not a valid IP address or CIDR: %s" % (cidr, exc)) from None


# --- Ports and destination folders (pg_pitr_restore, pg_pitr_tenant, backup_verify's restores) -----

# What a PostgreSQL data directory holds at its top, never a place for another one: not descended
# into when looking for a data directory nested below a destination.
PG_DATA_SUBDIRS = frozenset((
    "base", "global", "pg_commit_ts", "pg_dynshmem", "pg_logical", "pg_multixact", "pg_notify", "pg_replslot",
    "pg_serial", "pg_snapshots", "pg_stat", "pg_stat_tmp", "pg_subtrans", "pg_tblspc", "pg_twophase", "pg_wal",
    "pg_xact"))


def check_port(port, what="port"):
    """A TCP port number, 1-65535 (0 would let the kernel choose one, above 65535 there are none).
    The one port bound of the collection's modules."""
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError("%s %r is not a port: give a number from 1 to 65535" % (what, port))
    return port


def check_absolute_path(path, what):
    """An absolute path, normalised (no `..`, `.` or doubled `/`). A relative one is refused: a module
    runs in Ansible's temporary folder, so it would name a different place than the operator meant."""
    if not isinstance(path, str) or not path.strip():
        raise ValueError("%s is empty: give an absolute path" % what)
    if "\0" in path or "\n" in path:
        raise ValueError("%s %r contains a NUL or newline character" % (what, path))
    if not path.startswith("/"):
        raise ValueError("%s %r is a relative path: give an absolute one (a module runs in Ansible's temporary "
                         "folder, so a relative path would name another place)" % (what, path))
    return os.path.normpath(path)


def is_pg_data_dir(path):
    """Whether path is a PostgreSQL data directory: a postmaster.pid (running), or PG_VERSION and global/."""
    return os.path.isfile(os.path.join(path, "postmaster.pid")) or (
        os.path.isfile(os.path.join(path, "PG_VERSION")) and os.path.isdir(os.path.join(path, "global")))


def _data_dir_below(top, max_dirs, max_depth):
    """The first PostgreSQL data directory strictly below top (symlinks not followed), or None.
    Bounded: ValueError when more than max_dirs folders would have to be looked at."""
    seen = 0
    pending = [(top, 0)]
    while pending:
        folder, depth = pending.pop()
        inside_data_dir = is_pg_data_dir(folder)
        try:
            with os.scandir(folder) as entries:
                children = [e.path for e in entries if e.is_dir(follow_symlinks=False)
                            and not (inside_data_dir and e.name in PG_DATA_SUBDIRS)]
        except OSError:
            continue  # unreadable: nothing can be restored into it by this user either
        for child in children:
            if is_pg_data_dir(child):
                return child
            seen += 1
            if seen > max_dirs:
                raise ValueError("%s has more than %d folders below it: too many to prove that no PostgreSQL data "
                                 "directory lies within; give a new or empty folder" % (top, max_dirs))
            if depth + 1 < max_depth:
                pending.append((child, depth + 1))
    return None


def check_outside_data_directories(path, what, own=False, max_dirs=10000, max_depth=4):
    """Refuse a destination inside, equal to or a parent of a PostgreSQL data directory (a folder with a
    postmaster.pid, or PG_VERSION and global/), every parent looked at, symlinks resolved. own=True lets
    path itself be one (the stopped cluster of an in-place restore, an earlier restore being replaced)."""
    real = os.path.realpath(path)
    shown = path if real == path else "%s (%s)" % (path, real)
    if not own and is_pg_data_dir(real):
        raise ValueError("%s %s is a PostgreSQL data directory: give a new or empty folder outside every cluster's "
                         "data directory" % (what, shown))
    current = os.path.dirname(real)
    for _level in range(real.count("/") + 1):  # bounded by the path's depth
        if is_pg_data_dir(current):
            raise ValueError("%s %s is inside the PostgreSQL data directory %s: a cluster's data directory must "
                             "hold nothing else (give a folder outside it)" % (what, shown, current))
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    if os.path.isdir(real):
        nested = _data_dir_below(real, max_dirs, max_depth)
        if nested:
            raise ValueError("%s %s holds the PostgreSQL data directory %s: give a folder that contains no cluster"
                             % (what, shown, nested))
    return real


def check_apart_from(path, what, others):
    """Refuse path when it is inside, equal to or a parent of one of others ([(description, folder)])."""
    real = os.path.realpath(path)
    for description, other in others or ():
        if not other:
            continue
        folder = os.path.realpath(other)
        if os.path.commonpath([real, folder]) in (real, folder):
            where = "is" if real == folder else ("is inside" if real.startswith(folder.rstrip("/") + "/") else "holds")
            raise ValueError("%s %s %s %s %s: give a folder apart from it" % (what, path, where, description, folder))
    return real
