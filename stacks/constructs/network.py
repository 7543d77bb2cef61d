"""Where the workloads' ENIs live: a new isolated VPC (dev) or subnets and groups named in config.

In an existing network, the groups named in config are the extraction job's (the database admits them); serving,
training and batch each get a group of their own, so that no rule opened for one workload reaches another.

Every group made here lets out only what its workload needs, in every environment; none allows all traffic:
- the dev job's group: the other workers, the database's port (its CIDR or group, from config), HTTPS to the
  interface endpoints' groups and HTTPS to S3's prefix list;
- the interface endpoints' groups (dev): nothing (they only answer);
- the SageMaker workloads' groups (existing network): HTTPS to S3's prefix list. SageMaker moves the model, the
  channels, the batch input and output between S3 and the instances through these ENIs; the containers call no AWS
  API (batch models are network-isolated), and SageMaker pulls images and ships logs outside them;
- training's group also lets HTTPS out to the groups named in `network.sagemaker_endpoint_security_group_ids`: the
  Clarify jobs (which run with training's group) create and call a shadow endpoint through the VPC's SageMaker API
  and Runtime interface endpoints. Those endpoints are the VPC owner's (a second private-DNS endpoint would collide);
  their groups must admit HTTPS from this one or from the subnets.
"""

from aws_cdk import Annotations, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import custom_resources as cr
from constructs import Construct

from stacks.config import NetworkConfig
from stacks.nag import acknowledge, acknowledge_hardcoded_zones
from stacks.source_database import SourceDatabaseConfig

# The workloads that join an existing network besides the extraction job, each with its own group.
VPC_WORKLOADS = {
    "serving": "SageMaker endpoint instances of this environment",
    "training": "SageMaker training and tuning jobs of this environment",
    "batch": "SageMaker batch transform jobs of this environment",
}


class JobNetwork(Construct):
    """Exposes `subnets` (one Glue connection each, for AZ failover), `security_groups` (the extraction job's) and
    `workload_groups` (one group per entry of VPC_WORKLOADS, in an existing network; empty when none joins it).

    Nothing is looked up: existing ids come from config, so synth needs no AWS call.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: NetworkConfig,
        database: SourceDatabaseConfig,
        key: kms.IKey,
        log_retention: logs.RetentionDays,
        retain: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        self._key, self._log_retention, self._retain = key, log_retention, retain
        self.subnets: list[ec2.ISubnet]
        self.security_groups: list[ec2.ISecurityGroup]
        self.workload_groups: dict[str, ec2.ISecurityGroup] = {}
        if config.mode == "existing":
            self.subnets = []
            for index, subnet in enumerate(config.subnets):
                imported = ec2.Subnet.from_subnet_attributes(
                    self, f"Subnet{index}", subnet_id=subnet.id, availability_zone=subnet.availability_zone
                )
                Annotations.of(imported).acknowledge_warning(
                    "@aws-cdk/aws-ec2:noSubnetRouteTableId",
                    "A Glue connection needs only the subnet id and zone; nothing here reads the route table.",
                )
                self.subnets.append(imported)
            self.security_groups = [
                ec2.SecurityGroup.from_security_group_id(self, f"SecurityGroup{index}", group_id, mutable=False)
                for index, group_id in enumerate(config.security_group_ids)
            ]
            if config.vpc_id is None:  # NetworkConfig refuses this; the check narrows the type
                raise ValueError("network.vpc_id is required in mode 'existing'")
            vpc = ec2.Vpc.from_vpc_attributes(
                self,
                "ExistingVpc",
                vpc_id=config.vpc_id,
                availability_zones=config.availability_zones(Stack.of(self).region),
            )
            self.vpc: ec2.IVpc = vpc
            s3_prefix_list = self._s3_prefix_list_id()
            for workload, description in VPC_WORKLOADS.items():
                # Fixed descriptions: a changed description replaces the group.
                group = self._group(
                    f"{workload.capitalize()}SecurityGroup", vpc, f"Esteira {workload}: {description}; no inbound rule"
                )
                self._https_to(
                    group,
                    f"{workload.capitalize()}ReachesS3",
                    "S3 through its gateway endpoint",
                    prefix_list=s3_prefix_list,
                )
                self.workload_groups[workload] = group
            for index, endpoints_group_id in enumerate(config.sagemaker_endpoint_security_group_ids):
                self._https_to(
                    self.workload_groups["training"],
                    f"TrainingReachesSageMakerEndpoints{index}",
                    "SageMaker API and Runtime interface endpoints (Clarify)",
                    peer_group=endpoints_group_id,
                )
            return

        flow_logs = logs.LogGroup(
            self,
            "FlowLogs",
            encryption_key=key,
            retention=log_retention,
            removal_policy=RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY,
        )
        vpc = ec2.Vpc(
            self,
            "Vpc",
            availability_zones=config.availability_zones(Stack.of(self).region),
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="jobs", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=22)
            ],
            flow_logs={"all": ec2.FlowLogOptions(destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs))},
            restrict_default_security_group=True,
        )
        acknowledge_hardcoded_zones(vpc)
        # Isolated subnets reach AWS only through endpoints: S3 for data, the rest for the job's API calls.
        vpc.add_gateway_endpoint("S3", service=ec2.GatewayVpcEndpointAwsService.S3)
        endpoint_groups: dict[str, ec2.SecurityGroup] = {}
        for endpoint_id, service in (
            ("SecretsManager", ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER),
            ("Kms", ec2.InterfaceVpcEndpointAwsService.KMS),
            ("Glue", ec2.InterfaceVpcEndpointAwsService.GLUE),
            ("Logs", ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS),
        ):
            # Our own group, with a fixed description: the default one is described by its construct path, which
            # differs in a pipeline stage, and a new description replaces the group.
            endpoint_group = self._group(
                f"{endpoint_id}EndpointSecurityGroup",
                vpc,
                f"HTTPS from the VPC to the {endpoint_id} interface endpoint",
            )
            endpoint_groups[endpoint_id] = endpoint_group
            vpc.add_interface_endpoint(
                endpoint_id, service=service, private_dns_enabled=True, security_groups=[endpoint_group]
            )
            acknowledge(
                endpoint_group,
                "EC23",
                "The endpoint's security group admits HTTPS from the VPC CIDR only; the CIDR is a token "
                "the rule cannot evaluate.",
            )

        group = self._group(
            "JobSecurityGroup", vpc, "Glue job workers: talk to each other, to the source database and to VPC endpoints"
        )
        self._restrict_job_egress(group, database, endpoint_groups)
        # Glue requires a self-referencing rule so the driver and executors can reach each other. An L1 with a fixed
        # id: add_ingress_rule names the rule after the group's path, which differs in a pipeline stage.
        ec2.CfnSecurityGroupIngress(
            self,
            "JobWorkersTalkToEachOther",
            group_id=group.security_group_id,
            source_security_group_id=group.security_group_id,
            ip_protocol="tcp",
            from_port=0,
            to_port=65535,
            description="Glue workers talk to each other",
        )
        self.vpc = vpc
        self.subnets = list(vpc.isolated_subnets)
        self.security_groups = [group]

    def _group(self, construct_id: str, vpc: ec2.IVpc, description: str) -> ec2.SecurityGroup:
        """A group that lets nothing out until a rule says so (CDK then writes no allow-all egress rule)."""
        return ec2.SecurityGroup(self, construct_id, vpc=vpc, description=description, allow_all_outbound=False)

    def _egress(
        self,
        group: ec2.ISecurityGroup,
        rule_id: str,
        description: str,
        *,
        from_port: int,
        to_port: int,
        peer_group: str | None = None,
        prefix_list: str | None = None,
    ) -> None:
        """One TCP egress rule to a group or a prefix list. An L1 with a fixed id: add_egress_rule names a rule to a
        group after the group's path, which differs in a pipeline stage."""
        ec2.CfnSecurityGroupEgress(
            self,
            rule_id,
            group_id=group.security_group_id,
            destination_security_group_id=peer_group,
            destination_prefix_list_id=prefix_list,
            ip_protocol="tcp",
            from_port=from_port,
            to_port=to_port,
            description=description,
        )

    def _https_to(
        self,
        group: ec2.ISecurityGroup,
        rule_id: str,
        what: str,
        *,
        peer_group: str | None = None,
        prefix_list: str | None = None,
    ) -> None:
        self._egress(
            group,
            rule_id,
            f"HTTPS to {what}",
            from_port=443,
            to_port=443,
            peer_group=peer_group,
            prefix_list=prefix_list,
        )

    def _restrict_job_egress(
        self, group: ec2.SecurityGroup, database: SourceDatabaseConfig, endpoint_groups: dict[str, ec2.SecurityGroup]
    ) -> None:
        """Out only to: the other workers (Glue requires it), the database's port, HTTPS to the interface endpoints
        and HTTPS to S3 through its gateway endpoint (S3's prefix list). Nothing else is reachable anyway: the
        subnets are isolated."""
        workers = group.security_group_id
        self._egress(
            group,
            "JobWorkersReachEachOther",
            "Glue workers talk to each other",
            from_port=0,
            to_port=65535,
            peer_group=workers,
        )
        if database.security_group_id is not None:
            port = database.port
            self._egress(
                group,
                "JobReachesDatabase",
                "The source database's port",
                from_port=port,
                to_port=port,
                peer_group=database.security_group_id,
            )
        elif database.cidr is not None:
            group.add_egress_rule(
                ec2.Peer.ipv4(database.cidr), ec2.Port.tcp(database.port), "The source database's port"
            )
        for endpoint_id, endpoint_group in endpoint_groups.items():
            self._https_to(
                group,
                f"JobReaches{endpoint_id}Endpoint",
                f"the {endpoint_id} interface endpoint",
                peer_group=endpoint_group.security_group_id,
            )
        self._https_to(group, "JobReachesS3", "S3 through its gateway endpoint", prefix_list=self._s3_prefix_list_id())

    def _s3_prefix_list_id(self) -> str:
        """S3's managed prefix list in this region, read at deploy time (synth makes no AWS call).

        Why not a static ``ec2.PrefixList.from_prefix_list_id`` with an id from config: AWS-managed prefix list ids
        differ per region (and partition), so each environment's config would carry an opaque ``pl-`` id that
        nothing checks until CloudFormation fails on it; ``ec2.PrefixList.from_lookup`` asks the account at synth,
        which Esteira never does. The lookup below finds the right id wherever the stack deploys."""
        region = Stack.of(self).region
        lookup = cr.AwsCustomResource(
            self,
            "S3PrefixList",
            on_update=cr.AwsSdkCall(
                service="EC2",
                action="describeManagedPrefixLists",
                parameters={"Filters": [{"Name": "prefix-list-name", "Values": [f"com.amazonaws.{region}.s3"]}]},
                physical_resource_id=cr.PhysicalResourceId.of(f"s3-prefix-list-{region}"),
                output_paths=["PrefixLists.0.PrefixListId"],
            ),
            policy=cr.AwsCustomResourcePolicy.from_sdk_calls(resources=cr.AwsCustomResourcePolicy.ANY_RESOURCE),
            install_latest_aws_sdk=False,
            log_group=logs.LogGroup(
                self,
                "S3PrefixListLogs",
                encryption_key=self._key,
                retention=self._log_retention,
                removal_policy=RemovalPolicy.RETAIN if self._retain else RemovalPolicy.DESTROY,
            ),
        )
        acknowledge(
            lookup,
            "IAM5[Resource::*]",
            "ec2:DescribeManagedPrefixLists has no resource-level permission; the call only reads S3's prefix list id.",
        )
        # The lookup's function is a stack-wide singleton of CDK's, with CDK's fixed id.
        provider = Stack.of(self).node.find_child("AWS" + cr.AwsCustomResource.PROVIDER_FUNCTION_UUID.replace("-", ""))
        acknowledge(
            provider.node.find_child("ServiceRole"),
            "IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
            "CDK's AwsCustomResource function only writes its own logs with the basic execution policy.",
        )
        return lookup.get_response_field("PrefixLists.0.PrefixListId")
