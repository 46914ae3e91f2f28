"""port_conflicts: a plan of listening port ranges refused when ranges overlap or lie where
outgoing connections take their local ports (the cause of a web container that could not bind
its port slot during a rolling update)."""

from ansible_collections.sysgenpro.odoo_ops.plugins.filter.ports import FilterModule, port_conflicts

LINUX_DEFAULT = "32768\t60999\n"  # /proc/sys/net/ipv4/ip_local_port_range


def test_a_sound_plan_has_no_conflicts():
    claims = {
        "fleet shared1": [18100, 18143],
        "fleet initech": {"name": "initech", "port_base": 18150, "count": 44},
        "Traefik web": 18080,
        "Traefik API": "18081",
    }
    assert port_conflicts(claims, LINUX_DEFAULT, "") == []
    assert FilterModule().filters()["port_conflicts"] is port_conflicts
    # A fleet entry without count covers the span the role passes (its 44-port layout).
    assert port_conflicts({"fleet a": {"port_base": 18100}, "fleet b": {"port_base": 18140}}, span=44) == [
        "fleet a (18100-18143) overlaps fleet b (18140-18183)"
    ]
    assert port_conflicts({"fleet a": {"port_base": 18100}, "fleet b": {"port_base": 18144}}, span=44) == []


def test_overlapping_ranges_are_named():
    problems = port_conflicts({"fleet a": [18100, 18143], "fleet b": {"port_base": 18140, "count": 44}, "traefik web": 18150})
    assert problems == ["fleet a (18100-18143) overlaps fleet b (18140-18183)", "fleet b (18140-18183) overlaps traefik web (18150-18150)"]


def test_the_ephemeral_range_is_refused_unless_reserved():
    problems = port_conflicts({"fleet shared1": [32750, 32793]}, LINUX_DEFAULT, "")
    assert len(problems) == 1 and "26 of its ports lie in the kernel's ephemeral range 32768-60999" in problems[0]
    assert "below 32768" in problems[0] and "ip_local_reserved_ports" in problems[0]
    assert port_conflicts({"fleet shared1": [32750, 32793]}, LINUX_DEFAULT, "32768-32800,40000\n") == []
    assert len(port_conflicts({"fleet shared1": [32750, 32793]}, LINUX_DEFAULT, "32768-32790")) == 1


def test_invalid_ranges_are_refused():
    assert port_conflicts({"fleet x": [65530, 65573]}) == ["fleet x: ports 65530-65573 are not a range of valid ports"]
    assert port_conflicts({"fleet x": [0, 43]}) == ["fleet x: ports 0-43 are not a range of valid ports"]
