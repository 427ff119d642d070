"""The test CA issues certificates that kube-apiserver and etcd accept for their roles."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from framework.testing.controlplane_pki import CertificateAuthority, write_service_account_keys


def _load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_client_certificate_carries_user_and_groups_signed_by_the_ca(tmp_path: Path) -> None:
    ca = CertificateAuthority(tmp_path)
    paths = ca.issue("alice", "alice", organizations=["team-a", "team-b"])

    cert = _load(paths.cert)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "alice"
    assert [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == [
        "team-a",
        "team-b",
    ]
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH
    ]
    cert.verify_directly_issued_by(_load(ca.cert_path))
    assert paths.key.stat().st_mode & 0o077 == 0, "private keys must not be readable by others"


def test_serving_certificate_names_its_hosts_and_addresses(tmp_path: Path) -> None:
    ca = CertificateAuthority(tmp_path)
    loopback = ipaddress.IPv4Address("127.0.0.1")
    paths = ca.issue("server", "server", server_hosts=["localhost"], server_ips=[loopback], client=False)

    cert = _load(paths.cert)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert names.get_values_for_type(x509.IPAddress) == [loopback]
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH
    ]


def test_a_certificate_without_any_use_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="neither client nor server"):
        CertificateAuthority(tmp_path).issue("useless", "useless", client=False)


def test_service_account_keys_are_a_matching_pair(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    keys = write_service_account_keys(tmp_path)
    private = serialization.load_pem_private_key(keys.private_key.read_bytes(), password=None)
    public = serialization.load_pem_public_key(keys.public_key.read_bytes())
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    assert private.public_key().public_numbers() == public.public_numbers()  # type: ignore[union-attr]
