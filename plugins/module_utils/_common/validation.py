# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Input checks shared by the collection's modules. Each raises ValueError naming the problem.

Every pattern is applied with fullmatch(): `re.match(r"^...$")` also accepts a trailing newline
(`$` matches before one), which then lands in a file name, a YAML value or an SQL identifier.
Character classes are spelled out ([0-9], not \\d, which also matches non-ASCII digits).
"""

import ipaddress
import os
import re

from urllib.parse import urlsplit
from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common.errors import Refused

# Router, middleware and file names: lower case, starts with a letter; `_` allowed because
# tenant ids are database names (see odoo_tenant); never `/`, `.` or upper case.
ROUTE_NAME_RE = re.compile(r"[a-z][a-z0-9_-]{0,62}")
HOST_LABEL_RE = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
K8S_NAME_RE = re.compile(r"[a-z]([a-z0-9-]{0,61}[a-z0-9])?")
# RFC 1123 label (namespaces, label values): may start with a digit.
K8S_LABEL_RE = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
# A tenant id is the database name, and - on a shared fleet (dbfilter ^%d$) - its hosts' first label:
# so '-' inside (acme-staging), never at the end; '_' for ids that no host name serves.
TENANT_NAME_RE = re.compile(r"[a-z]([a-z0-9_-]{0,61}[a-z0-9_])?")
# A fleet name: container, network and volume names derive from it on a Docker host, Kubernetes
# object names (no '_') on Kubernetes - so the RFC 1035 label rule, 31 characters at most to leave
# room for the suffixes (-web-10, -cron, ...). The one rule for the role and odoo_fleet_plan.
FLEET_NAME_RE = re.compile(r"[a-z]([a-z0-9-]{0,29}[a-z0-9])?")
# Names of Traefik's static configuration (entry points, certificate resolvers): keys a person
# chose in traefik.yml, so upper case is allowed; `@` (provider suffix), `.` and space are not.
TRAEFIK_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}")
# A Go duration as time.ParseDuration reads it, restricted to what a person writes: one or more
# <digits>[.<digits>]<unit>, ASCII units only, no sign, no space.
# (Go also writes and reads the micro sign: 1.5\u00b5s, as Traefik's API shows some durations.)
GO_DURATION_PART_RE = re.compile("([0-9]+)(?:\\.([0-9]+))?(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")
GO_DURATION_RE = re.compile("(?:[0-9]+(?:\\.[0-9]+)?(?:ns|us|\u00b5s|\u03bcs|ms|s|m|h))+")
GO_UNITS_NS = {"ns": 1, "us": 10**3, "\u00b5s": 10**3, "\u03bcs": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
INT64_MAX = 2**63 - 1
# RFC 9110 field name (token).
HEADER_NAME_RE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}")
# A field value: visible ASCII and inner spaces only (no CR/LF, tab or other control character).
HEADER_VALUE_RE = re.compile(r"(?:[\x21-\x7e](?:[\x20-\x7e]{0,4094}[\x21-\x7e])?)?")
# An absolute URL path (with an optional query), RFC 3986 characters, escapes well formed.
URL_PATH_RE = re.compile(r"/(?:[A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-Fa-f]{2}){0,1023}")
CONTROL_OR_SPACE_RE = re.compile(r"[\x00-\x20\x7f-\U0010ffff]")
FILE_MODE_RE = re.compile(r"0?[0-7]{3}|[0-7]{4}")
UPPER_INT = 2**31 - 1  # every count Traefik reads fits, whatever integer type it uses


def check_tenant_name(name, what="name"):
    if not isinstance(name, str) or not TENANT_NAME_RE.fullmatch(name):
        raise Refused(
            "%s %r is not a valid tenant id: 1-63 characters, a lower-case letter first, then "
            "lower-case letters, digits, '_' or '-' (not last) - it is the database name" % (what, name)
        )
    return name


def check_route_name(name):
    if not isinstance(name, str) or not ROUTE_NAME_RE.fullmatch(name):
        raise Refused(
            "name %r is not a valid route name: use 1-63 lower-case letters, digits, '-' or '_', "
            "starting with a letter (no '/', '.', '..', upper case, white space or control characters)" % (name,)
        )
    return name


def check_fleet_name(name, what="fleet name"):
    if not isinstance(name, str) or not FLEET_NAME_RE.fullmatch(name):
        raise Refused(
            "%s %r is not a valid fleet name: 1-31 lower-case letters, digits or '-', a letter first and "
            "not '-' last (container and Kubernetes object names derive from it)" % (what, name)
        )
    return name


def check_k8s_name(name, what):
    """A Kubernetes object name (RFC 1035 label: what a Cluster's services need)."""
    if not isinstance(name, str) or not K8S_NAME_RE.fullmatch(name):
        raise Refused("%s %r is not a valid Kubernetes name: 1-63 lower-case letters, digits or '-', starting with a letter" % (what, name))
    return name


def check_k8s_label(name, what):
    """An RFC 1123 label: a Kubernetes namespace, or a label value the collection sets."""
    if not isinstance(name, str) or not K8S_LABEL_RE.fullmatch(name):
        raise Refused("%s %r is not a valid Kubernetes name: 1-63 lower-case letters, digits or '-', starting and ending with a letter or digit" % (what, name))
    return name


def check_k8s_subdomain(name, what):
    """An RFC 1123 subdomain: the name of a Secret (dot-separated labels, 253 characters at most)."""
    if not isinstance(name, str) or not name or len(name) > 253 or not all(K8S_LABEL_RE.fullmatch(label) for label in name.split(".")):
        raise Refused(
            "%s %r is not a valid Kubernetes object name: lower-case letters, digits, '-' and '.', "
            "at most 253 characters, each dot-separated part starting and ending with a letter or "
            "digit" % (what, name)
        )
    return name


def check_traefik_name(name, what):
    """A name from Traefik's static configuration: an entry point or a certificate resolver."""
    if not isinstance(name, str) or not TRAEFIK_NAME_RE.fullmatch(name):
        raise Refused(
            "%s %r is not a valid Traefik name: 1-63 letters, digits, '-' or '_', starting with a "
            "letter or digit (no '@', '.', white space or control characters)" % (what, name)
        )
    return name


def check_hostname(host):
    """A lower-case RFC 1123 host name (no port, no wildcard, no trailing dot)."""
    if not isinstance(host, str) or not host:
        raise Refused("host name %r is empty or not a string" % (host,))
    problem = None
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in host):
        problem = "contains a control character"
    elif host != host.strip() or " " in host:
        problem = "contains white space"
    elif host != host.lower():
        problem = "has upper-case letters (use %r)" % host.lower()
    elif len(host) > 253:
        problem = "is longer than 253 characters"
    else:
        bad = [label for label in host.split(".") if not HOST_LABEL_RE.fullmatch(label)]
        if bad:
            problem = "has an invalid label %r (RFC 1123: a-z, 0-9 and inner '-', 1-63 characters)" % bad[0]
    if problem:
        raise Refused("host name %r %s" % (host, problem))
    return host


def _url_host_ok(host):
    try:
        return "%" not in host and bool(ipaddress.ip_address(host))  # no IPv6 zone: Go's URL parser refuses it
    except ValueError:
        return len(host) <= 253 and all(HOST_LABEL_RE.fullmatch(label) for label in host.split("."))


def check_url(url, what, schemes=("http", "https")):
    """An absolute URL with one of `schemes` and a host; returns its urlsplit() parts.

    Checked on the string itself first: urlsplit() silently drops tabs and newlines, which would
    then be written into the configuration with the rest of the string.
    """
    if not isinstance(url, str):
        raise Refused("%s %r is not a string" % (what, url))
    if CONTROL_OR_SPACE_RE.search(url):
        raise Refused("%s %r contains white space, a control character or a non-ASCII character" % (what, url))
    parts = urlsplit(url)
    if parts.scheme not in schemes:
        raise Refused("%s %r needs a scheme (%s://host:port)" % (what, url, "|".join(schemes)))
    if not parts.hostname:
        raise Refused("%s %r has no host" % (what, url))
    if "@" in parts.netloc:
        raise Refused("%s %r must not carry a user or password" % (what, url))
    try:
        port = parts.port  # raises on a malformed port
    except ValueError:
        raise Refused("%s %r has an invalid port" % (what, url)) from None
    if port == 0 or (parts.netloc.endswith(":") and port is None):
        raise Refused("%s %r has an invalid port" % (what, url))
    if not _url_host_ok(parts.hostname):
        raise Refused("%s %r has an invalid host %r (an IP address or an RFC 1123 host name)" % (what, url, parts.hostname))
    if parts.path not in ("", "/") or parts.query or parts.fragment or "?" in url or "#" in url:
        raise Refused("%s %r must not carry a path, query or fragment" % (what, url))
    return parts


def check_cidr(cidr):
    """An IPv4/IPv6 address or network, returned in canonical form (host bits must be zero)."""
    if not isinstance(cidr, str) or "%" in cidr:  # Python accepts an IPv6 zone (fe80::1%eth0); Traefik does not
        raise Refused("source range %r is not a valid IP address or CIDR" % (cidr,))
    try:
        return str(ipaddress.ip_network(cidr, strict=True))
    except ValueError as exc:
        raise Refused("source range %r is not a valid IP address or CIDR: %s" % (cidr, exc)) from None


def go_duration_ns(value):
    """Nanoseconds of a Go duration written as check_go_duration() accepts it (sign aside), or None."""
    if not isinstance(value, str) or len(value) > 64 or not GO_DURATION_RE.fullmatch(value):
        return None
    total = 0
    for whole, fraction, unit in GO_DURATION_PART_RE.findall(value):
        scale = GO_UNITS_NS[unit]
        total += int(whole) * scale + (int(fraction[:18]) * scale // 10 ** len(fraction[:18]) if fraction else 0)
    return total


def check_go_duration(value, what):
    """A positive Go duration such as 1s, 1m30s, 500ms or 1.5h (what Traefik's parser accepts)."""
    total = go_duration_ns(value)
    if total is None:
        raise Refused(
            "%s %r is not a Go duration: a number and a unit (ns, us, ms, s, m, h), possibly "
            "repeated, such as 1s, 1m30s or 500ms - no sign, no space" % (what, value)
        )
    if total <= 0:
        raise Refused("%s %r must be longer than zero" % (what, value))
    if total > INT64_MAX:
        raise Refused("%s %r is longer than a Go duration can be (about 292 years)" % (what, value))
    return value


def check_int(value, what, minimum, maximum=UPPER_INT):
    """An integer (not a bool) within [minimum, maximum]."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise Refused("%s %r is not an integer" % (what, value))
    if not minimum <= value <= maximum:
        raise Refused("%s %s is out of range: %s to %s" % (what, value, minimum, maximum))
    return value


def check_header_name(name, what="header name"):
    if not isinstance(name, str) or not HEADER_NAME_RE.fullmatch(name):
        raise Refused("%s %r is not a valid HTTP header name (letters, digits and !#$%%&'*+-.^_`|~, no space, ':' or control characters)" % (what, name))
    return name


def check_header_value(value, what):
    """An HTTP header value: visible ASCII and inner spaces; empty is allowed (Traefik: remove the header)."""
    if not isinstance(value, str) or not HEADER_VALUE_RE.fullmatch(value):
        raise Refused(
            "%s %r is not a valid header value: visible ASCII characters and inner spaces only, at "
            "most 4096 (no CR, LF, tab, other control characters, or leading/trailing space)" % (what, value)
        )
    return value


def check_url_path(path, what):
    """An absolute URL path, e.g. /web/health (RFC 3986 characters, an optional query, no fragment)."""
    if not isinstance(path, str) or not URL_PATH_RE.fullmatch(path):
        raise Refused(
            "%s %r is not a URL path: it must start with '/' and hold only RFC 3986 characters "
            "(no space, '#', control characters or malformed %%-escapes), at most 1024" % (what, path)
        )
    return path


def check_file_mode(mode, what="mode"):
    """An octal permission string ('0644') for a file other processes read: returns the int.

    Refused: write for group or others (anyone could then rewrite what Traefik loads), execute
    bits, setuid/setgid/sticky. An unquoted YAML 0644 arrives as the decimal string '420' and is
    refused as well (it reads as 0420, group-writable).
    """
    if not isinstance(mode, str) or not FILE_MODE_RE.fullmatch(mode):
        raise Refused("%s %r is not an octal permission string such as '0644' (quote it in YAML)" % (what, mode))
    value = int(mode, 8)
    problems = [
        text
        for bits, text in ((0o7000, "setuid, setgid or sticky bits"), (0o022, "write permission for group or others"), (0o111, "execute permission"))
        if value & bits
    ]
    if problems:
        raise Refused("%s %r grants %s: a route file must not (use e.g. '0644' or '0640')" % (what, mode, " and ".join(problems)))
    return value


# --- Ports and destination folders (pg_pitr_restore, pg_pitr_tenant, backup_verify's restores) -----

# What a PostgreSQL data directory holds at its top, never a place for another one: not descended
# into when looking for a data directory nested below a destination.
PG_DATA_SUBDIRS = frozenset(
    (
        "base",
        "global",
        "pg_commit_ts",
        "pg_dynshmem",
        "pg_logical",
        "pg_multixact",
        "pg_notify",
        "pg_replslot",
        "pg_serial",
        "pg_snapshots",
        "pg_stat",
        "pg_stat_tmp",
        "pg_subtrans",
        "pg_tblspc",
        "pg_twophase",
        "pg_wal",
        "pg_xact",
    )
)


def check_port(port, what="port"):
    """A TCP port number, 1-65535 (0 would let the kernel choose one, above 65535 there are none).
    The one port bound of the collection's modules."""
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise Refused("%s %r is not a port: give a number from 1 to 65535" % (what, port))
    return port


def check_absolute_path(path, what):
    """An absolute path, normalised (no `..`, `.` or doubled `/`). A relative one is refused: a module
    runs in Ansible's temporary folder, so it would name a different place than the operator meant."""
    if not isinstance(path, str) or not path.strip():
        raise Refused("%s is empty: give an absolute path" % what)
    if "\0" in path or "\n" in path:
        raise Refused("%s %r contains a NUL or newline character" % (what, path))
    if not path.startswith("/"):
        raise Refused(
            "%s %r is a relative path: give an absolute one (a module runs in Ansible's temporary "
            "folder, so a relative path would name another place)" % (what, path)
        )
    return os.path.normpath(path)


def is_pg_data_dir(path):
    """Whether path is a PostgreSQL data directory: a postmaster.pid (running), or PG_VERSION and global/."""
    return os.path.isfile(os.path.join(path, "postmaster.pid")) or (
        os.path.isfile(os.path.join(path, "PG_VERSION")) and os.path.isdir(os.path.join(path, "global"))
    )


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
                children = [e.path for e in entries if e.is_dir(follow_symlinks=False) and not (inside_data_dir and e.name in PG_DATA_SUBDIRS)]
        except OSError:
            continue  # unreadable: nothing can be restored into it by this user either
        for child in children:
            if is_pg_data_dir(child):
                return child
            seen += 1
            if seen > max_dirs:
                raise Refused(
                    "%s has more than %d folders below it: too many to prove that no PostgreSQL data "
                    "directory lies within; give a new or empty folder" % (top, max_dirs)
                )
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
        raise Refused("%s %s is a PostgreSQL data directory: give a new or empty folder outside every cluster's data directory" % (what, shown))
    current = os.path.dirname(real)
    for _level in range(real.count("/") + 1):  # bounded by the path's depth
        if is_pg_data_dir(current):
            raise Refused(
                "%s %s is inside the PostgreSQL data directory %s: a cluster's data directory must "
                "hold nothing else (give a folder outside it)" % (what, shown, current)
            )
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    if os.path.isdir(real):
        nested = _data_dir_below(real, max_dirs, max_depth)
        if nested:
            raise Refused("%s %s holds the PostgreSQL data directory %s: give a folder that contains no cluster" % (what, shown, nested))
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
            raise Refused("%s %s %s %s %s: give a folder apart from it" % (what, path, where, description, folder))
    return real
