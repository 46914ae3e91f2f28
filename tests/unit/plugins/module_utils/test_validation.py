import pytest

from ansible_collections.sysgenpro.odoo_ops.plugins.module_utils._common import validation


@pytest.mark.parametrize("host", ["acme.example.com", "a.b", "localhost", "x1-2.y", "a" * 63 + ".com"])
def test_valid_hostnames(host):
    assert validation.check_hostname(host) == host


@pytest.mark.parametrize("host,problem", [
    ("bad host.test", "white space"), (" acme.test", "white space"), ("Acme.test", "upper-case"),
    ("under_score.test", "invalid label"), ("-lead.test", "invalid label"), ("trail-.test", "invalid label"),
    ("a..b", "invalid label"), ("acme.test.", "invalid label"), ("*.acme.test", "invalid label"),
    ("acme.test:8069", "invalid label"), ("a" * 64 + ".com", "invalid label"), ("", "empty"),
    (("a" * 60 + ".") * 5, "longer than 253"),
])
def test_invalid_hostnames_name_the_problem(host, problem):
    with pytest.raises(ValueError, match=problem):
        validation.check_hostname(host)


@pytest.mark.parametrize("name", ["acme", "acme_build", "a-b", "t" + "x" * 62])
def test_valid_route_names(name):
    assert validation.check_route_name(name) == name


@pytest.mark.parametrize("name", ["", "Acme", "a/b", "..", "a.b", "1acme", "_acme", "t" + "x" * 63, None])
def test_invalid_route_names(name):
    with pytest.raises(ValueError, match="not a valid route name"):
        validation.check_route_name(name)


@pytest.mark.parametrize("url,problem", [
    ("127.0.0.1:8069", "needs a scheme"), ("ftp://host", "needs a scheme"), ("http://", "has no host"),
    ("http://host:99999", "invalid port"), ("http://host:8069/web", "path"), ("", "needs a scheme"),
])
def test_invalid_urls(url, problem):
    with pytest.raises(ValueError, match=problem):
        validation.check_url(url, "backend_url")


def test_cidr_is_canonical_and_strict():
    assert validation.check_cidr("192.0.2.7") == "192.0.2.7/32"
    assert validation.check_cidr("2001:db8::/32") == "2001:db8::/32"
    with pytest.raises(ValueError, match="not a valid IP address or CIDR"):
        validation.check_cidr("10.0.0.1/8")
