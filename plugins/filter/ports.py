# -*- coding: utf-8 -*-
# Copyright: sysgenpro odoo_ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter port_conflicts: what is wrong with a plan of listening port ranges on one host.

Containers with host networking bind their ports when they start, which may be long after the
plan was made (a rolling update starts a web container in its other port slot). Two ranges that
overlap, or a range inside the kernel's ephemeral range (net.ipv4.ip_local_port_range, the local
ports of outgoing connections), make such a start fail at random with "address already in use"."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils.odoo.sizing import fleet_port_range


def _parse_ranges(text):
    """'18100-18143,20000' (the text of ip_local_reserved_ports) -> [(first, last), ...]."""
    ranges = []
    for part in str(text or "").replace(",", " ").split():
        first, _sep, last = part.partition("-")
        ranges.append((int(first), int(last or first)))
    return ranges


def _bounds(claim, span):
    """A port, [first, last], or a mapping with port_base (or first) and count; without count, `span`
    ports, or a fleet's entry: the range odoo_fleet_plan lays its containers out in."""
    if isinstance(claim, dict):
        first = int(claim.get("first", claim.get("port_base")))
        if "count" in claim or span:
            return first, first + int(claim.get("count", span)) - 1
        return tuple(fleet_port_range(first))
    if isinstance(claim, (list, tuple)):
        return int(claim[0]), int(claim[-1])
    return int(claim), int(claim)


def _label(name, first, last):
    return "%s (%d-%d)" % (name, first, last)


def port_conflicts(claims, local_port_range="", reserved_ports="", span=None):
    """Messages naming each problem of `claims` ({owner: port, [first, last] or {port_base, count}}): an invalid range, two
    owners whose ranges overlap, ports in the ephemeral range `local_port_range` (the text of
    /proc/sys/net/ipv4/ip_local_port_range) that `reserved_ports` (ip_local_reserved_ports) does
    not reserve. A mapping without count covers `span` ports, by default a fleet's port range
    (module_utils/odoo/sizing.py). No message: the plan is sound."""
    problems = []
    ranges = []
    for name, claim in sorted(claims.items()):
        first, last = _bounds(claim, span)
        if not 1 <= first <= last <= 65535:
            problems.append("%s: ports %d-%d are not a range of valid ports" % (name, first, last))
            continue
        ranges.append((first, last, name))
    ranges.sort()
    for index, (first, last, name) in enumerate(ranges):
        for other_first, other_last, other in ranges[index + 1 :]:
            if other_first <= last:
                problems.append("%s overlaps %s" % (_label(name, first, last), _label(other, other_first, other_last)))
    ephemeral = str(local_port_range or "").split()
    if ephemeral:
        low, high = int(ephemeral[0]), int(ephemeral[-1])
        reserved = _parse_ranges(reserved_ports)
        for first, last, name in ranges:
            exposed = [port for port in range(max(first, low), min(last, high) + 1) if not any(r_first <= port <= r_last for r_first, r_last in reserved)]
            if exposed:
                problems.append(
                    "%s: %d of its ports lie in the kernel's ephemeral range %d-%d (net.ipv4.ip_local_port_range), "
                    "where an outgoing connection can hold one and a container starting later cannot bind it; "
                    "choose ports below %d or reserve them in net.ipv4.ip_local_reserved_ports" % (_label(name, first, last), len(exposed), low, high, low)
                )
    return problems


class FilterModule(object):
    def filters(self):
        return {"port_conflicts": port_conflicts}
