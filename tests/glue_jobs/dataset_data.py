"""Test data for the dataset job: the demo spec with its ``dataset`` section, demo-shaped curated rows, and a
curated lake written the way the extraction job writes it (run folders plus dated manifests)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

from esteira_contracts.dataset import DatasetJobArgs
from esteira_dataset.spec import parse_dataset_spec
from esteira_extract.transforms import output_schema
from stacks.config_base import parse_yaml
from tests.glue_jobs.conftest import DEMO_SPEC, REPO

DEMO_SECTION = REPO / "tests" / "fixtures" / "dataset" / "employees_dataset_section.json"
AS_OF = date(2025, 7, 1)
# The demo features in the model's order (config drop_columns applied to the spec's output columns).
DEMO_FEATURES = [
    "salario",
    "idade_na_admissao",
    "masculino",
    "remoto",
    "plano_saude",
    "filhos",
    "departamento_codigo",
    "horas_extras_mes",
    "distancia_casa_km",
    "avaliacao_desempenho",
]


def demo_document(**section: Any) -> dict[str, Any]:
    """The demo extraction spec plus the demo ``dataset`` section (keys in ``section`` replace or add; None drops)."""
    document: dict[str, Any] = json.loads(DEMO_SPEC.read_text())
    rules = json.loads(DEMO_SECTION.read_text()) | section
    document["dataset"] = {k: v for k, v in rules.items() if v is not None}
    return document


def config_drop_columns(env: str = "dev") -> tuple[str, ...]:
    """The training hyperparameter ``drop_columns`` of an environment's config (what the wiring passes)."""
    config = parse_yaml((REPO / "config" / f"{env}.yaml").read_text())
    text = str(config["training"]["hyperparameters"]["drop_columns"])
    return tuple(c.strip() for c in text.split(",") if c.strip())


def age_band(age: int) -> int:
    """The spec's ``faixa_etaria``: 0 under 25, 1 for 25-34, 2 for 35-44, 3 from 45."""
    return 0 if age < 25 else 1 if age < 35 else 2 if age < 45 else 3


def employee(number: int, *, admitted: date, updated: datetime, label: int = 0, **overrides: Any) -> dict[str, Any]:
    """A curated demo row (the spec's output columns); the key is ``F`` + 7 digits."""
    row: dict[str, Any] = {
        "matricula": f"F{number:07d}",
        "funcionario_id": number,
        "cargo": "analista",
        "departamento": "ti",
        "salario": 5000.0 + number,
        "data_admissao": admitted,
        "idade_na_admissao": 20 + number % 40,
        "faixa_etaria": age_band(20 + number % 40),
        "masculino": number % 2,
        "estado_civil": "casado",
        "possui_filhos": "S",
        "possui_plano_saude": "N",
        "trabalho_remoto": "N",
        "remoto": 0,
        "plano_saude": 0,
        "filhos": 1,
        "departamento_codigo": number % 5,
        "horas_extras_mes": number % 40,
        "distancia_casa_km": 1.5 + number % 7,
        "avaliacao_desempenho": 1 + number % 5,
        "atualizado_em": updated,
        "desligado_em_12_meses": label,
    }
    return row | overrides


@dataclass
class Lake:
    """A temporary lake: the spec file, ``curated/`` as the extraction job leaves it, and ``datasets/``."""

    root: Path
    document: dict[str, Any]

    @property
    def spec_uri(self) -> str:
        path = self.root / "spec.json"
        path.write_text(json.dumps(self.document, indent=2))
        return str(path)

    @property
    def curated(self) -> Path:
        return self.root / "curated"

    @property
    def datasets(self) -> Path:
        return self.root / "datasets"

    def run_dir(self, run_id: str) -> Path:
        return self.datasets / f"run_id={run_id}"

    def write_run(
        self,
        spark: SparkSession,
        dt: str,
        run_id: str,
        rows: list[dict[str, Any]],
        started_at: str = "",
        committed: bool = True,
    ) -> None:
        """One extraction run's curated folder and (when ``committed``) its dated manifest."""
        spec = parse_dataset_spec(self.document).extraction
        names = spec.output_column_names
        frame = spark.createDataFrame([tuple(r.get(n) for n in names) for r in rows], output_schema(spec))
        frame.coalesce(1).write.mode("overwrite").parquet(f"file://{self.curated}/dt={dt}/run_id={run_id}")
        if not committed:
            return
        manifest = {
            "spec_name": spec.name,
            "run_id": run_id,
            "run_date": dt,
            "started_at": started_at or f"{dt}T02:00:00+00:00",
            "rows_written": len(rows),
            "output_schema": [{"name": c.name, "type": c.type} for c in spec.output_columns],
        }
        path = self.curated / "_manifests" / f"dt={dt}" / f"{run_id}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(manifest))
        (self.curated / "_manifests" / "latest.json").write_text(json.dumps(manifest))

    def args(self, run_id: str, **overrides: Any) -> DatasetJobArgs:
        values: dict[str, Any] = {
            "spec_uri": self.spec_uri,
            "curated_uri": str(self.curated),
            "datasets_uri": str(self.datasets),
            "run_id": run_id,
            "drop_columns": config_drop_columns(),
            "as_of_date": AS_OF.isoformat(),
        }
        return DatasetJobArgs(**(values | overrides))

    def manifest(self, run_id: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.run_dir(run_id) / "manifest.json").read_text())
        return data
