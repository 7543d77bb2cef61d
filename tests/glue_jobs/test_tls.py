"""JDBC reads verify the database's certificate: PostgreSQL over TLS with the test CA, a wrong CA refused with a
clear error, URLs that try to weaken TLS refused, MySQL's trust-store options, and MySQL-safe watermark literals."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from esteira_extract import demo_data
from esteira_extract.jdbc import JdbcSource, incremental_sql, read_source
from esteira_extract.secrets import get_db_credentials
from esteira_extract.spec import load_spec
from esteira_extract.tls import TlsConfigError, TlsVerificationError, verified_url
from esteira_extract.watermark import Watermark
from tests.glue_jobs.conftest import DEMO_SPEC, TEST_CA_BUNDLE, WRONG_CA_BUNDLE, AwsEndpoint, PostgresServer


@pytest.fixture(scope="module")
def tls_db(postgres: PostgresServer) -> str:
    db = postgres.create_database("tls")
    with postgres.connect(db) as conn:
        demo_data.load_postgres(conn, 50, seed=3)
    return db


def source_for(postgres: PostgresServer, aws: AwsEndpoint, db: str, ca_bundle: Path) -> JdbcSource:
    creds = get_db_credentials(aws.secret_id)
    return JdbcSource(postgres.jdbc_url(db), creds.username, creds.password, ca_bundle=str(ca_bundle))


def test_a_read_with_the_servers_ca_runs_over_verified_tls(
    spark: SparkSession, postgres: PostgresServer, aws: AwsEndpoint, tls_db: str
) -> None:
    # GIVEN the TLS-only test server and the CA that signed its certificate
    source = source_for(postgres, aws, tls_db, TEST_CA_BUNDLE)
    # WHEN the job reads
    rows = read_source(spark, source, load_spec(str(DEMO_SPEC)), None).count()
    # THEN it reads every row, over a TLS session the server confirms
    assert rows > 0
    session = (
        source.reader(spark)
        .option("query", "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .load()
        .collect()[0]
    )
    assert session["ssl"] is True and session["version"].startswith("TLS")


def test_a_read_with_a_wrong_ca_fails_with_a_clear_error(
    spark: SparkSession, postgres: PostgresServer, aws: AwsEndpoint, tls_db: str
) -> None:
    # GIVEN a CA that did not sign the server's certificate
    source = source_for(postgres, aws, tls_db, WRONG_CA_BUNDLE)
    # WHEN the job reads  THEN it stops before reading a row, naming the server and the bundle
    with pytest.raises(TlsVerificationError) as raised:
        read_source(spark, source, load_spec(str(DEMO_SPEC)), None)
    message = str(raised.value)
    assert f"127.0.0.1:{postgres.port}" in message and str(WRONG_CA_BUNDLE) in message
    assert "not signed by that CA" in message
    assert "password" not in message.lower().replace("password authentication", "")


@pytest.mark.usefixtures("ca_bundles")
def test_the_postgresql_url_asks_for_verify_full_with_the_bundle() -> None:
    url = verified_url("jdbc:postgresql://db.example.internal:5432/hr", str(TEST_CA_BUNDLE))
    assert url == f"jdbc:postgresql://db.example.internal:5432/hr?sslmode=verify-full&sslrootcert={TEST_CA_BUNDLE}"


@pytest.mark.parametrize(
    "url",
    [
        "jdbc:postgresql://db.example.internal:5432/hr?sslmode=disable",
        "jdbc:postgresql://db.example.internal:5432/hr?ssl=false",
        "jdbc:postgresql://db.example.internal:5432/hr?sslfactory=org.postgresql.ssl.NonValidatingFactory",
        "jdbc:mysql://db.example.internal:3306/hr?sslMode=DISABLED",
        "jdbc:mysql://db.example.internal:3306/hr?useSSL=false",
    ],
)
@pytest.mark.usefixtures("ca_bundles")
def test_a_url_that_sets_its_own_tls_options_is_refused(url: str) -> None:
    with pytest.raises(TlsConfigError, match="--jdbc_url must not set TLS options"):
        verified_url(url, str(TEST_CA_BUNDLE))


def test_a_remote_host_without_a_bundle_is_refused_before_connecting() -> None:
    # GIVEN no bundle given and none packaged (the RDS bundle is added to esteira_extract/certs by the deployer)
    with pytest.raises(TlsConfigError, match=r"no CA bundle to verify db\.example\.internal.*--tls_ca_bundle"):
        verified_url("jdbc:postgresql://db.example.internal:5432/hr", None)


def test_a_missing_bundle_file_is_named() -> None:
    with pytest.raises(TlsConfigError, match=re.escape("--tls_ca_bundle '/nonexistent/ca.pem': no such file")):
        verified_url("jdbc:postgresql://db.example.internal:5432/hr", "/nonexistent/ca.pem")


@pytest.mark.usefixtures("ca_bundles")
def test_mysql_verifies_identity_against_a_trust_store(tmp_path: Path) -> None:
    store = tmp_path / "rds.p12"
    store.write_bytes(b"not parsed here")
    url = verified_url("jdbc:mysql://db.example.internal:3306/hr", str(store))
    assert "sslMode=VERIFY_IDENTITY" in url
    assert f"trustCertificateKeyStoreUrl=file://{store}" in url and "trustCertificateKeyStoreType=PKCS12" in url
    assert "fallbackToSystemTrustStore=false" in url
    # A PEM bundle is refused for MySQL: Connector/J reads trust stores only
    with pytest.raises(TlsConfigError, match="needs a trust store"):
        verified_url("jdbc:mysql://db.example.internal:3306/hr", str(TEST_CA_BUNDLE))


def mysql_string_literal(sql: str, start: int) -> tuple[str, int]:
    """MySQL's default lexing of the quoted literal at `start`: backslash escapes and doubled quotes.

    Returns the value and the index just after the closing quote.
    """
    assert sql[start] == "'"
    value, index = [], start + 1
    while True:
        char = sql[index]
        if char == "\\":
            value.append(sql[index + 1])
            index += 2
        elif char == "'" and sql[index + 1 : index + 2] == "'":
            value.append("'")
            index += 2
        elif char == "'":
            return "".join(value), index + 1
        else:
            value.append(char)
            index += 1


@pytest.mark.parametrize("value", ["O'Brien", "x\\' OR 1=1 -- ", "a\\\\'b", "trailing\\"])
def test_a_string_watermark_stays_one_mysql_literal(value: str) -> None:
    # GIVEN a string watermark carrying quotes and backslashes  WHEN rendered for MySQL
    spec = load_spec(str(DEMO_SPEC))
    sql = incremental_sql(spec, Watermark("c", value, "string"), "jdbc:mysql://db:3306/hr")
    start = sql.rindex(" > '") + 3
    # THEN MySQL reads back exactly the value, and the literal ends the statement
    decoded, end = mysql_string_literal(sql, start)
    assert decoded == value
    assert end == len(sql)
