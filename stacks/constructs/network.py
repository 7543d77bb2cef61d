"""Where the workloads' ENIs live: a new isolated VPC (dev) or subnets and groups named in config.

In an existing network, the groups named in config are the extraction job's (the database admits them); serving,
training and batch each get a group of their own, so that no rule opened for one workload reaches another.
"""

from aws_cdk import Annotations, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.config import NetworkConfig
from stacks.nag import acknowledge, acknowledge_hardcoded_zones

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
        key: kms.IKey,
        log_retention: logs.RetentionDays,
        retain: bool,
    ) -> None:
        super().__init__(scope, construct_id)
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
            for workload, description in VPC_WORKLOADS.items():
                # Fixed descriptions: a changed description replaces the group.
                self.workload_groups[workload] = ec2.SecurityGroup(
                    self,
                    f"{workload.capitalize()}SecurityGroup",
                    vpc=vpc,
                    description=f"Esteira {workload}: {description}; no inbound rule",
                    allow_all_outbound=True,
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
        for endpoint_id, service in (
            ("SecretsManager", ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER),
            ("Kms", ec2.InterfaceVpcEndpointAwsService.KMS),
            ("Glue", ec2.InterfaceVpcEndpointAwsService.GLUE),
            ("Logs", ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS),
        ):
            # Our own group, with a fixed description: the default one is described by its construct path, which
            # differs in a pipeline stage, and a new description replaces the group.
            endpoint_group = ec2.SecurityGroup(
                self,
                f"{endpoint_id}EndpointSecurityGroup",
                vpc=vpc,
                description=f"HTTPS from the VPC to the {endpoint_id} interface endpoint",
                allow_all_outbound=False,
            )
            vpc.add_interface_endpoint(
                endpoint_id, service=service, private_dns_enabled=True, security_groups=[endpoint_group]
            )
            acknowledge(
                endpoint_group,
                "EC23",
                "The endpoint's security group admits HTTPS from the VPC CIDR only; the CIDR is a token "
                "the rule cannot evaluate.",
            )

        group = ec2.SecurityGroup(
            self,
            "JobSecurityGroup",
            vpc=vpc,
            description="Glue job workers: talk to each other, to the source database and to VPC endpoints",
            allow_all_outbound=True,
        )
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
