"""The demo HR database's tables: column order (the generator's tuples follow it) and DDL for PostgreSQL and SQLite.

:mod:`esteira_extract.demo_data` generates and loads the rows; the extraction reads them through the spec
(``glue_jobs/specs/employees.json``).
"""

from __future__ import annotations

PESSOA_COLUMNS = ("id", "nome", "sexo", "estado_civil", "data_nascimento", "possui_filhos")
FUNCIONARIO_COLUMNS = (
    "id",
    "matricula",
    "pessoa_fisica_id",
    "cargo",
    "departamento",
    "salario",
    "data_admissao",
    "data_desligamento",
    "possui_plano_saude",
    "trabalho_remoto",
    "horas_extras_mes",
    "distancia_casa_km",
    "avaliacao_desempenho",
    "atualizado_em",
)

POSTGRES_DDL = """
CREATE TABLE IF NOT EXISTS pessoas_fisicas (
    id               INTEGER PRIMARY KEY,
    nome             VARCHAR(120) NOT NULL,
    sexo             VARCHAR(2),
    estado_civil     VARCHAR(20),
    data_nascimento  VARCHAR(20),
    possui_filhos    VARCHAR(2)
);
CREATE TABLE IF NOT EXISTS funcionarios (
    id                    INTEGER PRIMARY KEY,
    matricula             VARCHAR(12),
    pessoa_fisica_id      INTEGER NOT NULL REFERENCES pessoas_fisicas (id),
    cargo                 VARCHAR(60) NOT NULL,
    departamento          VARCHAR(60) NOT NULL,
    salario               NUMERIC(12, 2),
    data_admissao         DATE NOT NULL,
    data_desligamento     DATE,
    possui_plano_saude    VARCHAR(2),
    trabalho_remoto       VARCHAR(2),
    horas_extras_mes      INTEGER,
    distancia_casa_km     DOUBLE PRECISION,
    avaliacao_desempenho  INTEGER,
    atualizado_em         TIMESTAMP NOT NULL
);
CREATE INDEX IF NOT EXISTS funcionarios_atualizado_em ON funcionarios (atualizado_em);
"""

SQLITE_DDL = """
CREATE TABLE IF NOT EXISTS pessoas_fisicas (
    id               INTEGER PRIMARY KEY,
    nome             TEXT NOT NULL,
    sexo             TEXT,
    estado_civil     TEXT,
    data_nascimento  TEXT,
    possui_filhos    TEXT
);
CREATE TABLE IF NOT EXISTS funcionarios (
    id                    INTEGER PRIMARY KEY,
    matricula             TEXT,
    pessoa_fisica_id      INTEGER NOT NULL REFERENCES pessoas_fisicas (id),
    cargo                 TEXT NOT NULL,
    departamento          TEXT NOT NULL,
    salario               REAL,
    data_admissao         TEXT NOT NULL,
    data_desligamento     TEXT,
    possui_plano_saude    TEXT,
    trabalho_remoto       TEXT,
    horas_extras_mes      INTEGER,
    distancia_casa_km     REAL,
    avaliacao_desempenho  INTEGER,
    atualizado_em         TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS funcionarios_atualizado_em ON funcionarios (atualizado_em);
"""
