"""A throwaway test CA and a server certificate for loopback services.

The certificate names `localhost` (and 127.0.0.1) in its SAN: pgBackRest matches host names,
not IP addresses, so clients connect to https://localhost:<port>.
"""

import datetime
import ipaddress
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "odoo_ops test harness"), x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write(path, data, mode):
    with open(path, "wb") as handle:
        handle.write(data)
    os.chmod(path, mode)


def make_test_ca(directory, hosts=("localhost",), days=30):
    """Write ca.crt, server.crt and server.key into directory; return their paths."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("odoo_ops test CA"))
        .issuer_name(_name("odoo_ops test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    alt_names = [x509.DNSName(h) for h in hosts] + [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(hosts[0]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = {name: os.path.join(directory, name) for name in ("ca.crt", "server.crt", "server.key")}
    pem = serialization.Encoding.PEM
    _write(paths["ca.crt"], ca_cert.public_bytes(pem), 0o644)
    _write(paths["server.crt"], cert.public_bytes(pem), 0o644)
    _write(paths["server.key"], key.private_bytes(pem, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()), 0o600)
    return paths


def reuse_test_ca(directory, margin=datetime.timedelta(days=1)):
    """The paths of a CA and certificate make_test_ca wrote into directory earlier, while the
    certificate is valid for at least `margin` more; otherwise None."""
    paths = {name: os.path.join(directory, name) for name in ("ca.crt", "server.crt", "server.key")}
    try:
        with open(paths["server.crt"], "rb") as handle:
            cert = x509.load_pem_x509_certificate(handle.read())
    except (OSError, ValueError):
        return None
    if not all(os.path.isfile(path) for path in paths.values()):
        return None
    if cert.not_valid_after_utc - datetime.datetime.now(datetime.timezone.utc) < margin:
        return None
    return paths
