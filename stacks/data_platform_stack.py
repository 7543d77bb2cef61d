"""Data platform: the key, the buckets, the catalog, and the daily extraction that feeds training."""

from typing import Any

from aws_cdk import Duration, Stack
from constructs import Construct

from esteira_contracts import layout
from stacks.config import EnvironmentConfig
from stacks.constructs.alerts import Alerts
from stacks.constructs.analytics import AnalyticsCatalog
from stacks.constructs.encryption import DataKey
from stacks.constructs.extraction import ExtractionJob, ExtractionJobSettings
from stacks.constructs.job_events import ExtractionEvents
from stacks.constructs.network import JobNetwork
from stacks.constructs.retention import retention_days
from stacks.constructs.sagemaker_roles import ModelQualityRole, ModelRole, MonitorRole, TrainingRole, TransformRole
from stacks.constructs.storage import DataLake, LifecycleSettings
from stacks.extraction_spec import read_spec_summary


class DataPlatformStack(Stack):
    """Exposes `key`, `lake`, `network`, `alerts_topic`, `extraction_events` and the SageMaker roles."""

    def __init__(self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, **kwargs: Any) -> None:
        self._zones = config.network.availability_zones(config.region)
        super().__init__(scope, construct_id, **kwargs)
        retain = config.retain
        log_retention = retention_days(config.log_retention_days)
        spec = read_spec_summary(config.extraction.spec_path)
        self.curated_extraction_prefix = layout.curated_extraction_prefix(spec.name)

        self.key = DataKey(self, "DataKey", alias=f"alias/{config.resource_name('data')}", retain=retain).key
        self.lake = DataLake(
            self,
            "Lake",
            key=self.key,
            lifecycle=LifecycleSettings(**config.storage.model_dump()),
            retain=retain,
        )
        self.alerts_topic = Alerts(
            self,
            "Alerts",
            topic_name=config.resource_name("alerts"),
            key=self.key,
            emails=config.alerts.emails,
        ).topic
        self.catalog = AnalyticsCatalog(
            self,
            "Analytics",
            database_name=config.resource_name("curated").replace("-", "_"),
            workgroup_name=config.resource_name("analysts"),
            spec=spec,
            curated=self.lake.curated,
            key=self.key,
            retain=retain,
        )
        self.network = JobNetwork(
            self,
            "Network",
            config=config.network,
            database=config.source_database,
            key=self.key,
            log_retention=log_retention,
            retain=retain,
        )
        self.extraction = ExtractionJob(
            self,
            "Extraction",
            settings=ExtractionJobSettings(
                job_name=config.resource_name("extract"),
                connection_name_prefix=config.resource_name("source"),
                security_configuration_name=config.resource_name("glue"),
                secret_name=config.source_database.secret_name,
                jdbc_url=config.source_database.jdbc_url,
                tls_ca_bundle=config.source_database.tls_ca_bundle,
                spec_name=spec.name,
                spec_path=config.extraction.spec_path,
                schedule=config.extraction.schedule,
                worker_type=config.extraction.worker_type,
                number_of_workers=config.extraction.number_of_workers,
                timeout=Duration.minutes(config.extraction.timeout_minutes),
                max_retries=config.extraction.max_retries,
                log_retention=log_retention,
                rotation=config.source_database.rotation,
            ),
            key=self.key,
            raw=self.lake.raw,
            curated=self.lake.curated,
            vpc=self.network.vpc,
            subnets=self.network.subnets,
            security_groups=self.network.security_groups,
            retain=retain,
        )
        endpoint_name = config.resource_name("endpoint")
        self.model_role = ModelRole(
            self, "ModelRole", key=self.key, artifacts=self.lake.artifacts, endpoint_name=endpoint_name
        ).role
        self.training_role = TrainingRole(
            self,
            "TrainingRole",
            key=self.key,
            curated=self.lake.curated,
            artifacts=self.lake.artifacts,
            extraction_prefix=self.curated_extraction_prefix,
            # As the training stack names its jobs.
            job_name_prefix=config.resource_name("").rstrip("-"),
        ).role
        self.transform_role = TransformRole(
            self, "TransformRole", key=self.key, artifacts=self.lake.artifacts, predictions=self.lake.predictions
        ).role
        self.monitor_role = MonitorRole(
            self, "MonitorRole", key=self.key, artifacts=self.lake.artifacts, endpoint_name=endpoint_name
        ).role
        monitoring = config.serving.monitoring
        self.model_quality_role = (
            ModelQualityRole(
                self, "ModelQualityRole", key=self.key, artifacts=self.lake.artifacts, endpoint_name=endpoint_name
            ).role
            if monitoring is not None and monitoring.model_quality.enabled
            else None
        )
        self.extraction_events = ExtractionEvents(
            self,
            "ExtractionEvents",
            job_name=config.resource_name("extract"),
            alerts=self.alerts_topic,
            key=self.key,
            log_retention=log_retention,
            retain=retain,
        )

    @property
    def availability_zones(self) -> list[str]:
        # Overridden so that nothing asks the account for its zones at synth time.
        return self._zones
