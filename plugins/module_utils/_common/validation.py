# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Input checks shared by the collection's modules. Each raises ValueError naming the problem."""


import ipaddress
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
