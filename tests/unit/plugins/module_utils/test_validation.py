import atexit
import ipaddress
import re
import shutil
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common import validation

# Nothing on disk in the checkout: no example database (database=None), and Hypothesis' own cache
# (written from collection on, and possibly at the end of the session) in a temporary folder removed
# when the interpreter exits.
HYPOTHESIS_HOME = tempfile.mkdtemp(prefix="odoo_ops-hypothesis-")
set_hypothesis_home_dir(HYPOTHESIS_HOME)
atexit.register(shutil.rmtree, HYPOTHESIS_HOME, True)
PROPERTY = settings(database=None, deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])
CONTROL = st.sampled_from([chr(c) for c in range(0x20)] + ["\x7f"])


def names(pattern):
    return st.from_regex(re.compile(pattern), fullmatch=True)


def with_control(valid):
    """A valid value with one control character inserted anywhere (start, middle or end)."""
    return st.tuples(valid, st.integers(min_value=0), CONTROL).map(lambda t: t[0][: t[1] % (len(t[0]) + 1)] + t[2] + t[0][t[1] % (len(t[0]) + 1) :])


def upper_cased(valid):
    """A valid value with one of its letters in upper case (only values that have a letter)."""
    return st.tuples(valid.filter(lambda v: any(c.isalpha() for c in v)), st.integers(min_value=0)).map(lambda t: _upper_one(*t))


def _upper_one(value, index):
    letters = [i for i, c in enumerate(value) if c.isalpha()]
    i = letters[index % len(letters)]
    return value[:i] + value[i].upper() + value[i + 1 :]


def refused(check, value):
    with pytest.raises(ValueError):
        check(value)


# Each validator: (check, generator of valid values, upper case refused?, (too short, too long) values).
TENANT = names(r"[a-z]([a-z0-9_-]{0,61}[a-z0-9_])?")
ROUTE = names(r"[a-z][a-z0-9_-]{0,62}")
K8S_NAME = names(r"[a-z]([a-z0-9-]{0,61}[a-z0-9])?")
FLEET = names(r"[a-z]([a-z0-9-]{0,29}[a-z0-9])?")
K8S_LABEL = names(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
LABEL = names(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?")
HOST = st.lists(LABEL, min_size=1, max_size=6).map(".".join)
SUBDOMAIN = st.lists(K8S_LABEL, min_size=1, max_size=3).map(".".join)
TRAEFIK = names(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}")
HEADER_NAME = names(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}")
HEADER_VALUE = names(r"([\x21-\x7e]([\x20-\x7e]{0,60}[\x21-\x7e])?)?")
URL_PATH = names(r"/([A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-Fa-f]{2}){0,40}")
# At most 4 parts of 10**5 h: always within a Go duration (int64 nanoseconds, about 292 years).
DURATION = st.lists(st.tuples(st.integers(1, 10**5), st.sampled_from(["ns", "us", "ms", "s", "m", "h"])), min_size=1, max_size=4).map(
    lambda parts: "".join("%d%s" % p for p in parts)
)
URL_HOST = st.one_of(HOST, st.ip_addresses(v=4).map(str), st.ip_addresses(v=6).map(lambda a: "[%s]" % a))
URL = st.builds(
    lambda scheme, host, port: "%s://%s%s" % (scheme, host, ":%d" % port if port else ""),
    st.sampled_from(["http", "https"]),
    URL_HOST,
    st.one_of(st.none(), st.integers(1, 65535)),
)
FILE_MODE = st.builds(
    lambda owner, group, other: "0%o%o%o" % (owner, group, other), st.sampled_from([0, 4, 6]), st.sampled_from([0, 4]), st.sampled_from([0, 4])
)

VALIDATORS = {
    "tenant": (validation.check_tenant_name, TENANT, True, ["", "a" * 64]),
    "route": (validation.check_route_name, ROUTE, True, ["", "a" * 64]),
    "k8s_name": (lambda v: validation.check_k8s_name(v, "service name"), K8S_NAME, True, ["", "a" * 64]),
    "fleet": (validation.check_fleet_name, FLEET, True, ["", "a" * 32]),
    "k8s_label": (lambda v: validation.check_k8s_label(v, "namespace"), K8S_LABEL, True, ["", "a" * 64]),
    "k8s_subdomain": (lambda v: validation.check_k8s_subdomain(v, "tls.secret_name"), SUBDOMAIN, True, ["", ("a" * 60 + ".") * 4 + "a" * 20]),
    "hostname": (validation.check_hostname, HOST, True, ["", "a" * 64 + ".test", ("a" * 60 + ".") * 5]),
    "traefik": (lambda v: validation.check_traefik_name(v, "entrypoints"), TRAEFIK, False, ["", "a" * 64]),
    "header_name": (validation.check_header_name, HEADER_NAME, False, ["", "a" * 257]),
    "header_value": (lambda v: validation.check_header_value(v, "headers.referrer_policy"), HEADER_VALUE, False, ["a" * 4097]),
    "url_path": (lambda v: validation.check_url_path(v, "health_check_path"), URL_PATH, False, ["", "/" + "a" * 1024]),
    "go_duration": (lambda v: validation.check_go_duration(v, "rate_limit.period"), DURATION, True, ["", "1" * 60 + "s" + "1s"]),
    "url": (lambda v: validation.check_url(v, "backend_url"), URL, False, ["", "http://" + "a" * 254]),
    "file_mode": (validation.check_file_mode, FILE_MODE, False, ["", "00644"]),
}
IDS = sorted(VALIDATORS)


@pytest.mark.parametrize("kind", IDS)
@PROPERTY
@given(data=st.data())
def test_generated_valid_values_are_accepted(kind, data):
    check, valid, _upper, _lengths = VALIDATORS[kind]
    value = data.draw(valid)
    check(value)  # raises on refusal


@pytest.mark.parametrize("kind", IDS)
@PROPERTY
@given(data=st.data())
def test_a_control_character_anywhere_is_refused(kind, data):
    check, valid, _upper, _lengths = VALIDATORS[kind]
    refused(check, data.draw(with_control(valid)))


@pytest.mark.parametrize("kind", IDS)
@PROPERTY
@given(data=st.data())
def test_a_trailing_newline_is_refused(kind, data):
    """What re.match(r"^...$") lets through: `$` matches before a final newline."""
    check, valid, _upper, _lengths = VALIDATORS[kind]
    value = data.draw(valid)
    refused(check, value + "\n")
    refused(check, value + "\r\n")
    refused(check, " " + value)


@pytest.mark.parametrize("kind", sorted(k for k, v in VALIDATORS.items() if v[2]))
@PROPERTY
@given(data=st.data())
def test_upper_case_is_refused_where_names_are_lower_case(kind, data):
    check, valid, _upper, _lengths = VALIDATORS[kind]
    refused(check, data.draw(upper_cased(valid)))


@pytest.mark.parametrize("kind,value", [(k, v) for k in IDS for v in VALIDATORS[k][3]])
def test_bad_lengths_are_refused(kind, value):
    refused(VALIDATORS[kind][0], value)


@pytest.mark.parametrize("kind", IDS)
def test_non_strings_are_refused(kind):
    for value in (None, 1, ["a"], b"a"):
        refused(VALIDATORS[kind][0], value)


@PROPERTY
@given(address=st.ip_addresses())
def test_cidr_accepts_addresses_and_refuses_decorations(address):
    canonical = validation.check_cidr(str(address))
    assert ipaddress.ip_network(canonical).num_addresses == 1
    for bad in (str(address) + "\n", " " + str(address), str(address) + "\x00", str(address) + "/129"):
        refused(validation.check_cidr, bad)


@PROPERTY
@given(value=st.integers(-(10**20), 10**20))
def test_integers_in_range(value):
    if 1 <= value <= validation.UPPER_INT:
        assert validation.check_int(value, "rate_limit.average", 1) == value
    else:
        refused(lambda v: validation.check_int(v, "rate_limit.average", 1), value)


@PROPERTY
@given(parts=st.lists(st.tuples(st.integers(0, 10**4), st.sampled_from(sorted(validation.GO_UNITS_NS))), min_size=1, max_size=4))
def test_go_duration_value_is_the_sum_of_its_parts(parts):
    text = "".join("%d%s" % part for part in parts)
    assert validation.go_duration_ns(text) == sum(n * validation.GO_UNITS_NS[unit] for n, unit in parts)


# Examples the issue names, beside the properties.
@pytest.mark.parametrize("value", ["1s", "1m30s", "500ms", "1.5h", "2h45m", "100us", "1.5\u00b5s"])
def test_go_durations_accepted(value):
    assert validation.check_go_duration(value, "period") == value


@pytest.mark.parametrize("value", ["abc", "1", "-1s", "+1s", " 1s", "1s\n", "1s ", "0s", "0", "1S", "1d", ".5s", "1.s", "1 s", "9999999999h", "", "1s1"])
def test_go_durations_refused(value):
    with pytest.raises(ValueError, match="period"):
        validation.check_go_duration(value, "period")


@pytest.mark.parametrize(
    "mode,problem",
    [
        ("0666", "write permission for group or others"),
        ("0646", "write permission"),
        ("0664", "write permission"),
        ("0755", "execute permission"),
        ("0744", "execute"),
        ("4644", "setuid"),
        ("1644", "sticky"),
        ("abc", "octal"),
        ("420", "write permission"),
        ("0644\n", "octal"),
        ("0o644", "octal"),
        ("", "octal"),
        ("0888", "octal"),
    ],
)
def test_file_modes_refused(mode, problem):
    with pytest.raises(ValueError, match=problem):
        validation.check_file_mode(mode)


@pytest.mark.parametrize("mode,value", [("0644", 0o644), ("644", 0o644), ("0640", 0o640), ("0600", 0o600), ("0444", 0o444), ("0400", 0o400)])
def test_file_modes_accepted(mode, value):
    assert validation.check_file_mode(mode) == value


@pytest.mark.parametrize("host", ["acme.example.com", "a.b", "localhost", "x1-2.y", "a" * 63 + ".com"])
def test_valid_hostnames(host):
    assert validation.check_hostname(host) == host


@pytest.mark.parametrize(
    "host,problem",
    [
        ("bad host.test", "white space"),
        (" acme.test", "white space"),
        ("Acme.test", "upper-case"),
        ("under_score.test", "invalid label"),
        ("-lead.test", "invalid label"),
        ("trail-.test", "invalid label"),
        ("a..b", "invalid label"),
        ("acme.test.", "invalid label"),
        ("*.acme.test", "invalid label"),
        ("acme.test:8069", "invalid label"),
        ("a" * 64 + ".com", "invalid label"),
        ("", "empty"),
        (("a" * 60 + ".") * 5, "longer than 253"),
        ("acme.test\n", "control character"),
        ("acme\x00.test", "control character"),
        ("caf\u00e9.test", "invalid label"),
    ],
)
def test_invalid_hostnames_name_the_problem(host, problem):
    with pytest.raises(ValueError, match=problem):
        validation.check_hostname(host)


@pytest.mark.parametrize("name", ["acme", "acme_build", "a-b", "t" + "x" * 62])
def test_valid_route_names(name):
    assert validation.check_route_name(name) == name


@pytest.mark.parametrize("name", ["", "Acme", "a/b", "..", "a.b", "1acme", "_acme", "t" + "x" * 63, None, "acme\n", "acme\r\n", "acme ", "ac\tme"])
def test_invalid_route_names(name):
    with pytest.raises(ValueError, match="not a valid route name"):
        validation.check_route_name(name)


@pytest.mark.parametrize(
    "url,problem",
    [
        ("127.0.0.1:8069", "needs a scheme"),
        ("ftp://host", "needs a scheme"),
        ("http://", "has no host"),
        ("http://host:99999", "invalid port"),
        ("http://host:8069/web", "path"),
        ("", "needs a scheme"),
        ("http://127.0.0.1:8069\n", "control character"),
        ("http://127.0.0.1:80\t69", "control character"),
        ("http://a b:80", "white space"),
        ("http://user:secret@host:80", "user or password"),
        ("http://host:0", "invalid port"),
        ("http://host:", "invalid port"),
        ("http://ho_st:80", "invalid host"),
        ("http://[fe80::1%25eth0]:80", "invalid host"),
        ("http://host:80?x", "path, query"),
        ("http://host:80#x", "path, query"),
    ],
)
def test_invalid_urls(url, problem):
    with pytest.raises(ValueError, match=problem):
        validation.check_url(url, "backend_url")


def test_cidr_is_canonical_and_strict():
    assert validation.check_cidr("192.0.2.7") == "192.0.2.7/32"
    assert validation.check_cidr("2001:db8::/32") == "2001:db8::/32"
    for bad in ("10.0.0.1/8", "fe80::1%eth0", "10.0.0.0/8\n"):
        with pytest.raises(ValueError, match="not a valid IP address or CIDR"):
            validation.check_cidr(bad)


@pytest.mark.parametrize("value", ["a\r\nSet-Cookie: x=1", "a\nb", "a\tb", "caf\u00e9", " a", "a "])
def test_header_values_refused(value):
    with pytest.raises(ValueError, match="not a valid header value"):
        validation.check_header_value(value, "headers.custom_response[X-A]")


@pytest.mark.parametrize("path", ["web/health", "/web health", "/web/health\n", "/a#b", "/a%zz", "/a%2"])
def test_url_paths_refused(path):
    with pytest.raises(ValueError, match="health_check_path"):
        validation.check_url_path(path, "health_check_path")


@pytest.mark.parametrize("name", ["eu_1", "eu-", "1eu", "Eu1", "eu.1", "eu 1", "a" * 32])
def test_the_fleet_name_rule_is_the_same_for_the_role_and_the_module(name):
    """One rule (the role's filter is this function): names both used to disagree on are refused alike."""
    from ansible_collections.sysgenpro.odoo_ops.plugins.filter.names import fleet_name_problem

    refused(validation.check_fleet_name, name)
    assert "is not a valid fleet name" in fleet_name_problem(name)
    assert fleet_name_problem("eu-1") == "" and fleet_name_problem("shared1") == ""
