"""Certificates and keys for the test control plane (kube-apiserver and etcd on 127.0.0.1).

One throw-away certificate authority signs everything: the serving certificates of etcd and
kube-apiserver, the client certificate kube-apiserver presents to etcd, and the client certificates
of every identity the tests use. kube-apiserver trusts that CA for client certificates
(``--client-ca-file``), so a certificate's common name is the user name and its organisations are
the groups, exactly as on a real cluster. Keys are ECDSA P-256: generating one takes microseconds,
where RSA-2048 takes tens of milliseconds, and every component here accepts them.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

LOOPBACK: Final = ipaddress.IPv4Address("127.0.0.1")
# Certificates are backdated a little so a clock that is slightly behind still accepts them, and
# last long enough for any test session.
_NOT_BEFORE_SLACK: Final = datetime.timedelta(minutes=5)
_VALIDITY: Final = datetime.timedelta(days=2)


@dataclass(frozen=True, slots=True)
class CertificatePaths:
    """A PEM certificate and its PEM private key on disk."""

    cert: Path
    key: Path


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.write_bytes(pem)
    path.chmod(0o600)


def _write_cert(cert: x509.Certificate, path: Path) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


class CertificateAuthority:
    """A self-signed CA that issues serving and client certificates into one directory."""

    def __init__(self, directory: Path, common_name: str = "aws-lb-sg-controller-test-ca") -> None:
        self._directory = directory
        self._key = _new_key()
        now = datetime.datetime.now(datetime.UTC)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        self._cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _NOT_BEFORE_SLACK)
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self._key.public_key()), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        directory.mkdir(parents=True, exist_ok=True)
        self.cert_path: Final = directory / "ca.crt"
        _write_cert(self._cert, self.cert_path)

    def issue(
        self,
        file_stem: str,
        common_name: str,
        *,
        organizations: Sequence[str] = (),
        server_hosts: Sequence[str] = (),
        server_ips: Sequence[ipaddress.IPv4Address] = (),
        client: bool = True,
    ) -> CertificatePaths:
        """Issue a leaf certificate; with hosts or IPs it is also valid for serving them."""
        key = _new_key()
        now = datetime.datetime.now(datetime.UTC)
        attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
        attributes += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
        usages = []
        if client:
            usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
        serving = bool(server_hosts or server_ips)
        if serving:
            usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
        if not usages:
            raise ValueError(f"certificate {file_stem!r} would be usable for neither client nor server")
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(attributes))
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _NOT_BEFORE_SLACK)
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False
            )
        )
        if serving:
            alt_names: list[x509.GeneralName] = [x509.DNSName(host) for host in server_hosts]
            alt_names += [x509.IPAddress(ip) for ip in server_ips]
            builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        cert = builder.sign(self._key, hashes.SHA256())
        paths = CertificatePaths(self._directory / f"{file_stem}.crt", self._directory / f"{file_stem}.key")
        _write_key(key, paths.key)
        _write_cert(cert, paths.cert)
        return paths


@dataclass(frozen=True, slots=True)
class ServiceAccountKeys:
    """The key pair kube-apiserver signs and verifies service account tokens with."""

    private_key: Path
    public_key: Path


def write_service_account_keys(directory: Path) -> ServiceAccountKeys:
    key = _new_key()
    keys = ServiceAccountKeys(directory / "service-account.key", directory / "service-account.pub")
    _write_key(key, keys.private_key)
    keys.public_key.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return keys
