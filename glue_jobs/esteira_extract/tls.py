"""TLS for JDBC reads: the server's certificate is verified against a CA bundle shipped with the job.

PostgreSQL reads use ``sslmode=verify-full`` (chain and host name) with ``sslrootcert=<PEM bundle>``; MySQL reads use
Connector/J's ``sslMode=VERIFY_IDENTITY`` with a trust store (PKCS12 or JKS: Connector/J reads no PEM). The bundle
is ``--tls_ca_bundle``: an absolute path, or the name of a file in this package's ``certs/`` folder (the Glue
library zip), by default the RDS bundle ``rds-global-bundle.pem``. The URL may not carry TLS options of its own, so
a job argument can never turn verification off.

A database on the loopback interface with no bundle given is read in plain text (``make pipeline``'s local server):
that traffic never leaves the machine. Every other host needs a bundle, or the read stops before connecting.
"""

from __future__ import annotations

import functools
import importlib.resources
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

log = logging.getLogger(__name__)

DEFAULT_CA_BUNDLE = "rds-global-bundle.pem"
RDS_BUNDLE_SOURCE = "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"
TRUST_STORE_SUFFIXES = {".p12": "PKCS12", ".pfx": "PKCS12", ".jks": "JKS"}
# A trust store holds public certificates only; its password guards integrity, not secrecy.
TRUST_STORE_PASSWORD_ENV = "ESTEIRA_TRUST_STORE_PASSWORD"
DEFAULT_TRUST_STORE_PASSWORD = "changeit"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
# Options that would weaken or replace ours; matched case-insensitively against the URL's parameters.
TLS_URL_OPTIONS = frozenset(
    {
        "ssl",
        "sslmode",
        "sslrootcert",
        "sslfactory",
        "sslcert",
        "sslkey",
        "usessl",
        "requiressl",
        "verifyservercertificate",
        "trustcertificatekeystoreurl",
        "trustcertificatekeystoretype",
        "trustcertificatekeystorepassword",
        "fallbacktosystemkeystore",
        "fallbacktosystemtruststore",
    }
)
TLS_ENGINES = ("postgresql", "mysql")


class TlsConfigError(ValueError):
    """The TLS settings of a read are missing or unsafe. The message names the argument to fix."""


class TlsVerificationError(RuntimeError):
    """The database's certificate did not verify against the CA bundle (or the server offers no TLS)."""


@dataclass(frozen=True)
class JdbcTarget:
    engine: str
    host: str
    port: str


def parse_target(url: str) -> JdbcTarget:
    """Engine, host and port of ``jdbc:<engine>://host[:port]/...`` (empty host for other shapes)."""
    engine = url.split(":", 2)[1] if url.count(":") >= 2 else ""
    rest = url.split("://", 1)[1] if "://" in url else ""
    authority = rest.split("/", 1)[0].split("?", 1)[0]
    host, port = authority, ""
    if authority.startswith("["):
        host, _, tail = authority.partition("]")
        host, port = host + "]", tail.lstrip(":")
    elif ":" in authority:
        host, port = authority.rsplit(":", 1)
    return JdbcTarget(engine=engine, host=host.lower(), port=port)


def _url_options(url: str) -> set[str]:
    query = url.split("?", 1)[1] if "?" in url else ""
    return {pair.split("=", 1)[0].strip().lower() for pair in query.replace(";", "&").split("&") if pair}


def resolve_bundle(setting: str | None) -> Path | None:
    """The bundle's filesystem path: `setting` as an absolute path, or a file of ``certs/`` (copied out of the
    Glue library zip, which the JDBC driver cannot read into); None when no packaged bundle exists."""
    if setting and Path(setting).is_absolute():
        path = Path(setting)
        if not path.is_file():
            raise TlsConfigError(f"--tls_ca_bundle {setting!r}: no such file")
        return path
    name = setting or DEFAULT_CA_BUNDLE
    if "/" in name or name.startswith("."):
        raise TlsConfigError(f"--tls_ca_bundle {name!r}: give an absolute path or a file name in esteira_extract/certs")
    copy = _packaged_copy(name)
    if copy is None and setting:
        raise TlsConfigError(
            f"--tls_ca_bundle {name!r} is not in esteira_extract/certs: add it to the job's library "
            f"(the RDS bundle: {RDS_BUNDLE_SOURCE}), or give an absolute path"
        )
    return copy


@functools.cache
def _packaged_copy(name: str) -> Path | None:
    """One copy per run of a packaged bundle on the filesystem, or None when the package has no such file."""
    packaged = importlib.resources.files("esteira_extract").joinpath("certs", name)
    if not packaged.is_file():
        return None
    with tempfile.NamedTemporaryFile(prefix="esteira-ca-", suffix=Path(name).suffix, delete=False) as copy:
        copy.write(packaged.read_bytes())
    return Path(copy.name)


def verified_url(url: str, ca_bundle: str | None) -> str:
    """`url` with the options that make its driver verify the server against the bundle.

    Raises TlsConfigError when the URL carries TLS options, or when a non-loopback host has no bundle.
    """
    target = parse_target(url)
    if target.engine not in TLS_ENGINES:
        return url
    overridden = sorted(_url_options(url) & TLS_URL_OPTIONS)
    if overridden:
        raise TlsConfigError(
            f"--jdbc_url must not set TLS options ({', '.join(overridden)}): the job always verifies the server's "
            "certificate; give the CA with --tls_ca_bundle"
        )
    bundle = resolve_bundle(ca_bundle)
    if bundle is None:
        if target.host in LOOPBACK_HOSTS:
            log.warning("reading %s on the loopback interface without TLS: no --tls_ca_bundle given", target.host)
            return url
        raise TlsConfigError(
            f"no CA bundle to verify {target.host}: add esteira_extract/certs/{DEFAULT_CA_BUNDLE} (from "
            f"{RDS_BUNDLE_SOURCE}) to the job's library, or give --tls_ca_bundle"
        )
    separator = "&" if "?" in url else "?"
    if target.engine == "postgresql":
        if bundle.suffix not in (".pem", ".crt"):
            raise TlsConfigError(f"--tls_ca_bundle {bundle.name!r}: PostgreSQL needs a PEM bundle (.pem or .crt)")
        return f"{url}{separator}sslmode=verify-full&sslrootcert={quote(str(bundle), safe='/')}"
    store_type = TRUST_STORE_SUFFIXES.get(bundle.suffix)
    if store_type is None:
        raise TlsConfigError(
            f"--tls_ca_bundle {bundle.name!r}: MySQL Connector/J needs a trust store (.p12 or .jks), not PEM; "
            "convert with `keytool -importcert -storetype PKCS12 -keystore rds.p12 -file <bundle.pem>`"
        )
    password = os.environ.get(TRUST_STORE_PASSWORD_ENV, DEFAULT_TRUST_STORE_PASSWORD)
    return (
        f"{url}{separator}sslMode=VERIFY_IDENTITY&trustCertificateKeyStoreUrl={quote(bundle.as_uri(), safe=':/')}"
        f"&trustCertificateKeyStoreType={store_type}&trustCertificateKeyStorePassword={quote(password, safe='')}"
        "&fallbackToSystemTrustStore=false"
    )


TLS_FAILURE_MARKERS = (
    "PKIX path",
    "SSL",
    "certificate",
    "hostname",
    "does not support SSL",
    "unable to find valid certification path",
)


def describe_tls_failure(error: BaseException, url: str, ca_bundle: str | None) -> TlsVerificationError | None:
    """A clear error when `error` is the driver refusing the server's certificate; None for any other error."""
    text = str(error)
    if not any(marker in text for marker in TLS_FAILURE_MARKERS):
        return None
    target = parse_target(url)
    cause = next((line.strip() for line in text.splitlines() if any(m in line for m in TLS_FAILURE_MARKERS)), "")
    return TlsVerificationError(
        f"TLS verification of {target.engine} server {target.host}:{target.port or 'default port'} failed against "
        f"CA bundle {ca_bundle or DEFAULT_CA_BUNDLE!r}: the server's certificate is not signed by that CA, names "
        f"another host, or the server offers no TLS. Driver said: {cause[:300]}"
    )
