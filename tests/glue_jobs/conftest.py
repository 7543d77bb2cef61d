"""Session-scoped infrastructure for the extraction job tests: one SparkSession, one real
PostgreSQL server (initdb + pg_ctl on a free loopback port, TLS only, with a test CA made here)
and one moto server for Secrets Manager / S3. Nothing is mocked in-process: the job talks to
them over the network.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pyspark.sql import SparkSession

from esteira_extract import demo_data
from pipeline.glue_runner import DRIVER_HEAP_OPTIONS, import_hot_jvm_classes
from pipeline.moto_http import MotoHTTPServer

# Debian 12 ships PostgreSQL 15, Ubuntu 22.04 (CodeBuild standard:7.0) 14: newest first.
PG_BIN_DIRS = (
    *sorted((str(p) for p in Path("/usr/lib/postgresql").glob("*/bin")), reverse=True),
    "/usr/local/bin",
    "/usr/bin",
)
JDBC_JARS = ("/usr/share/java/postgresql.jar", "/usr/share/java/sqlite-jdbc.jar")
REPO = Path(__file__).resolve().parents[2]
JIT_OPTIONS = "-XX:CompileThresholdScaling=3"
DEMO_SPEC = REPO / "glue_jobs" / "specs" / "employees.json"
READER_USER = "esteira_reader"
READER_PASSWORD = "n0t-in-any-log-" + uuid.uuid4().hex[:12]
# The test CA that signs the server's certificate, and another CA that signed nothing the server shows. One pair per
# test process (pytest-xdist workers each start their own server), at paths tests can name before the server starts.
TLS_DIR = Path(tempfile.gettempdir()) / f"esteira-test-tls-{os.getpid()}"
TEST_CA_BUNDLE = TLS_DIR / "test-ca.pem"
WRONG_CA_BUNDLE = TLS_DIR / "wrong-ca.pem"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_bin(name: str) -> str:
    for d in PG_BIN_DIRS:
        candidate = Path(d) / name
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"PostgreSQL binary {name!r} not found in {PG_BIN_DIRS} or PATH; install postgresql-15")
    return found


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # The Python workers run the tests' own interpreter (pyspark reads this variable), not whatever `python3` is first
    # on PATH: the daemon module imports pyspark from this venv.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    missing = [j for j in JDBC_JARS if not Path(j).exists()]
    if missing:
        pytest.fail(f"JDBC driver jars missing: {missing}")
    session = (
        SparkSession.builder.master("local[2]")
        .appName("esteira-extract-tests")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.default.parallelism", "4")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.jars", ",".join(JDBC_JARS))
        .config("spark.sql.legacy.timeParserPolicy", "CORRECTED")
        # The local Glue runner's heap sizing: the serial collector paused this session 181 times for 2.8 s in all
        # over tests/glue_jobs with the default sizing, 51 times for 1.4 s with it. And the JIT compiles a method only
        # after three times as many calls as by default: C1 alone took ~15 s of this JVM's CPU, much of it on methods
        # these few rows barely run (tests/glue_jobs alone, interleaved: 133.3, 132.2, 143.1 -> 128.5, 120.7,
        # 135.4 s of CPU; ten times as many cost more).
        .config("spark.driver.extraJavaOptions", f"{DRIVER_HEAP_OPTIONS} {JIT_OPTIONS}")
        # Expressions interpreted, not compiled: on these tests' few rows Janino compiling each new plan's Java cost
        # more than running it (test_job.py and test_dataset_job.py: 74 -> 65 s of CPU). The local runs the tests
        # start (tests/pipeline, tests/examples) keep Spark's code generation, as Glue runs it.
        .config("spark.sql.codegen.wholeStage", "false")
        .config("spark.sql.codegen.factoryMode", "NO_CODEGEN")
        # Nor re-planned at run time (adaptive query execution): on a few rows it has nothing to adapt to, and its
        # re-optimisation after each shuffle cost CPU (tests/glue_jobs: 101.5 and 98.1 -> 93.6 and 92.7 s of CPU,
        # interleaved). The results are the same plans' results; the local runs keep it, as Glue 5.0 runs it.
        .config("spark.sql.adaptive.enabled", "false")
        # Python workers (for frames made from local rows) through a daemon that skips Python 3.11's zip directory
        # re-read on every task (spark_worker_daemon.py), found on the repository's path.
        .config("spark.python.daemon.module", "tests.glue_jobs.spark_worker_daemon")
        .config("spark.executorEnv.PYTHONPATH", str(REPO))
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    import_hot_jvm_classes(session)  # as the local Glue runner's session: 7 failed class lookups -> 1 per F.* call
    yield session
    session.stop()


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[str, ec.EllipticCurvePrivateKey] | None,
    san_ip: str | None = None,
) -> x509.Certificate:
    """A CA (no issuer: self-signed) or a server certificate for `san_ip`, valid for a day."""
    now = datetime.now(UTC)
    issuer_name, signing_key = issuer if issuer else (subject, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if san_ip:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(IPv4Address(san_ip))]), False)
    return builder.sign(signing_key, hashes.SHA256())


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def make_test_tls(server_dir: Path, host: str) -> tuple[Path, Path]:
    """Write TEST_CA_BUNDLE, WRONG_CA_BUNDLE and a server certificate for `host` signed by the test CA.

    Returns the server's (certificate, key) files.
    """
    TLS_DIR.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    TEST_CA_BUNDLE.write_bytes(_pem(_certificate("esteira test CA", ca_key, None)))
    WRONG_CA_BUNDLE.write_bytes(_pem(_certificate("esteira wrong CA", ec.generate_private_key(ec.SECP256R1()), None)))
    server_key = ec.generate_private_key(ec.SECP256R1())
    cert_file, key_file = server_dir / "server.crt", server_dir / "server.key"
    cert_file.write_bytes(_pem(_certificate(host, server_key, ("esteira test CA", ca_key), san_ip=host)))
    key_file.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_file.chmod(0o600)
    return cert_file, key_file


@pytest.fixture(scope="session")
def ca_bundles() -> Iterator[None]:
    """TEST_CA_BUNDLE and WRONG_CA_BUNDLE on disk, for tests that only name them: the postgres fixture writes them
    (with its server's certificate), and a test must not depend on some other test having started the server first."""
    if TEST_CA_BUNDLE.exists() and WRONG_CA_BUNDLE.exists():
        yield
        return
    server_dir = Path(tempfile.mkdtemp(prefix="esteira-tls-"))
    make_test_tls(server_dir, "127.0.0.1")
    try:
        yield
    finally:  # the postgres fixture, if it starts later, writes (and removes) its own
        shutil.rmtree(server_dir, ignore_errors=True)
        shutil.rmtree(TLS_DIR, ignore_errors=True)


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    socket_dir: str
    admin_user: str

    def jdbc_url(self, db: str) -> str:
        return f"jdbc:postgresql://{self.host}:{self.port}/{db}"

    def admin(self, db: str = "postgres") -> psycopg.Connection[Any]:
        """A superuser connection over the unix socket (trust auth, set-up only)."""
        return psycopg.connect(host=self.socket_dir, port=self.port, user=self.admin_user, dbname=db, autocommit=True)

    def create_database(self, prefix: str = "esteira") -> str:
        """A fresh database readable by the reader role. Returns its name."""
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        with self.admin() as conn:
            conn.execute(f"CREATE DATABASE {name} OWNER {READER_USER}")
        return name

    def connect(self, db: str) -> psycopg.Connection[Any]:
        """A password-authenticated TCP connection as the reader role (what the job uses)."""
        return psycopg.connect(host=self.host, port=self.port, user=READER_USER, password=READER_PASSWORD, dbname=db)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    base = Path(tempfile.mkdtemp(prefix="esteira-pg-"))
    data, sock, log = base / "data", base / "sock", base / "postgres.log"
    sock.mkdir()
    port = _free_port()
    prefix: list[str] = []
    admin = pwd.getpwuid(os.getuid()).pw_name
    if os.geteuid() == 0:
        # initdb refuses to run as root: run the server as an unprivileged user.
        runner = "nobody"
        uid, gid = pwd.getpwnam(runner).pw_uid, pwd.getpwnam(runner).pw_gid
        base.chmod(0o755)
        for p in (base, sock):
            os.chown(p, uid, gid)
        prefix = ["runuser", "-u", runner, "--"]
        admin = "postgres"
    subprocess.run(
        [
            *prefix,
            initdb,
            "-D",
            str(data),
            "-U",
            admin,
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
        ],
        check=True,
        capture_output=True,
    )
    # TLS only: every TCP connection must use TLS (hostssl), with a certificate for 127.0.0.1 from the test CA.
    tls = base / "tls"
    tls.mkdir()
    cert_file, key_file = make_test_tls(tls, "127.0.0.1")
    if prefix:
        for p in (tls, cert_file, key_file):
            os.chown(p, uid, gid)
    hba = data / "pg_hba.conf"
    hba.write_text(
        "\n".join(
            "hostssl" + line[len("host") :] if line.startswith("host ") else line
            for line in hba.read_text().splitlines()
        )
        + "\n"
    )
    options = (
        f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off "
        f"-c ssl=on -c ssl_cert_file={cert_file} -c ssl_key_file={key_file}"
    )
    started = subprocess.run(
        [*prefix, pg_ctl, "-D", str(data), "-o", options, "-l", str(log), "-w", "-t", "60", "start"],
        capture_output=True,
        text=True,
    )
    if started.returncode != 0:
        log_text = log.read_text() if log.exists() else ""
        pytest.fail(f"pg_ctl start failed: {started.stderr}\n{log_text}")
    server = PostgresServer(host="127.0.0.1", port=port, socket_dir=str(sock), admin_user=admin)
    try:
        with server.admin() as conn:
            conn.execute(f"CREATE ROLE {READER_USER} LOGIN PASSWORD '{READER_PASSWORD}'")
        yield server
    finally:
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(TLS_DIR, ignore_errors=True)


@dataclass(frozen=True)
class AwsEndpoint:
    url: str
    secret_id: str
    bad_secret_id: str


@pytest.fixture(scope="session")
def aws() -> Iterator[AwsEndpoint]:
    """A moto server on a free port; the env points boto3 at it for the whole session."""
    port = _free_port()
    server = MotoHTTPServer(port)  # the local run's keep-alive server
    server.start()
    url = f"http://127.0.0.1:{port}"
    env = {
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        mp.delenv("AWS_PROFILE", raising=False)
        sm = boto3.client("secretsmanager")
        secret = sm.create_secret(
            Name="esteira/source-db",
            SecretString=json.dumps({"username": READER_USER, "password": READER_PASSWORD, "engine": "postgres"}),
        )
        bad = sm.create_secret(
            Name="esteira/wrong-password",
            SecretString=json.dumps({"username": READER_USER, "password": "wrong-password"}),
        )
        try:
            yield AwsEndpoint(url=url, secret_id=secret["ARN"], bad_secret_id=bad["ARN"])
        finally:
            with contextlib.suppress(Exception):
                server.stop()


@pytest.fixture()
def small_db(postgres: PostgresServer) -> str:
    """A fresh PostgreSQL database with 300 demo employees."""
    db = postgres.create_database("inc")
    with postgres.connect(db) as conn:
        demo_data.load_postgres(conn, 300, seed=11)
    return db
