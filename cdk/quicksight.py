"""`LivePanels`: the QuickSight dashboard of the real-time aggregates (created only with `quicksightPrincipalArn`).

QuickSight has no DynamoDB data source, so the live path is Athena's DynamoDB connector (federated query):

    aggregates table <- Athena DynamoDB connector (Lambda, from the Serverless Application Repository)
                     <- Athena data catalog (type LAMBDA) <- QuickSight Athena data source (the lake workgroup)
                     <- five DIRECT_QUERY datasets (custom SQL, one per panel) <- one dashboard

DIRECT_QUERY means every dashboard load or refresh queries the table through the connector: the panels are
as fresh as the aggregates (seconds). The SQL reads the items by their `kind`/`dimension` attributes and sort
keys (featurepulse/realtime/items.py); the connector turns key conditions into Query and others into Scan of
the (small, TTL-bounded) table.

Prerequisites outside this stack (docs/realtime.md): a QuickSight Enterprise subscription in the account, the
principal named by `quicksightPrincipalArn`, and QuickSight's service role allowed to use Athena (QuickSight
console, Security & permissions); this construct adds what the role needs for the connector and the spill data.
"""

from __future__ import annotations

from aws_cdk import Annotations, CfnOutput, Names, Stack
from aws_cdk import aws_athena as athena
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_quicksight as quicksight
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sam as sam
from cdk_nag import RegexAppliesTo
from constructs import Construct

from cdk.nag import suppress
from featurepulse.constants import OUTPUT_QUICKSIGHT_DASHBOARD
from featurepulse.realtime.quicksight_panels import PANEL_QUERIES, dashboard_definition

CONNECTOR_APPLICATION_ID = "arn:aws:serverlessrepo:us-east-1:292517598671:applications/AthenaDynamoDBConnector"
SPILL_PREFIX = "athena-spill/realtime"
SCHEMA = "default"  # the connector lists every DynamoDB table of the region under this schema

DATA_SOURCE_ACTIONS = [
    "quicksight:DescribeDataSource",
    "quicksight:DescribeDataSourcePermissions",
    "quicksight:PassDataSource",
    "quicksight:UpdateDataSource",
    "quicksight:DeleteDataSource",
    "quicksight:UpdateDataSourcePermissions",
]
DATA_SET_ACTIONS = [
    "quicksight:DescribeDataSet",
    "quicksight:DescribeDataSetPermissions",
    "quicksight:PassDataSet",
    "quicksight:DescribeIngestion",
    "quicksight:ListIngestions",
    "quicksight:UpdateDataSet",
    "quicksight:DeleteDataSet",
    "quicksight:CreateIngestion",
    "quicksight:CancelIngestion",
    "quicksight:UpdateDataSetPermissions",
]
DASHBOARD_ACTIONS = [
    "quicksight:DescribeDashboard",
    "quicksight:ListDashboardVersions",
    "quicksight:UpdateDashboardPermissions",
    "quicksight:QueryDashboard",
    "quicksight:UpdateDashboard",
    "quicksight:DeleteDashboard",
    "quicksight:DescribeDashboardPermissions",
    "quicksight:UpdateDashboardPublishedVersion",
]


class LivePanels(Construct):
    """`connector` (SAR application), `catalog`, `data_source`, `data_sets` (by panel), `dashboard`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        table: dynamodb.ITable,
        encryption_key: kms.IKey,
        principal_arn: str,
        workgroup_name: str,
        spill_bucket: s3.IBucket,
        connector_version: str,
        service_role_name: str,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        # The connector's function name is also the Athena catalog name: ^[a-z0-9-_]{1,64}$.
        self.catalog_name = Names.unique_resource_name(self, max_length=48).lower().replace(".", "-")
        function_arn = f"arn:{stack.partition}:lambda:{stack.region}:{stack.account}:function:{self.catalog_name}"

        # The connector's own role, least privilege: read the aggregates table, spill to one prefix, log.
        self.connector_role = iam.Role(
            self,
            "ConnectorRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Athena DynamoDB connector of the featurepulse live panels",
        )
        table.grant(self.connector_role, "dynamodb:DescribeTable", "dynamodb:Query", "dynamodb:Scan")
        encryption_key.grant(self.connector_role, "kms:Decrypt", "kms:GenerateDataKey")
        spill_bucket.grant_read_write(self.connector_role, f"{SPILL_PREFIX}/*")
        self.connector_role.add_to_principal_policy(
            iam.PolicyStatement(
                # The connector resolves Athena's lower-case table names by listing the tables (no resource scope)
                # and reads optional Glue schema overrides of the `default` database.
                actions=[
                    "dynamodb:ListTables",
                    "glue:GetDatabase",
                    "glue:GetDatabases",
                    "glue:GetTable",
                    "glue:GetTables",
                    "athena:GetQueryExecution",
                ],
                resources=["*"],
            )
        )
        self.connector_role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[
                    f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:log-group:/aws/lambda/{self.catalog_name}:*"
                ],
            )
        )
        self.connector = sam.CfnApplication(
            self,
            "Connector",
            location=sam.CfnApplication.ApplicationLocationProperty(
                application_id=CONNECTOR_APPLICATION_ID, semantic_version=connector_version
            ),
            parameters={
                "AthenaCatalogName": self.catalog_name,
                "SpillBucket": spill_bucket.bucket_name,
                "SpillPrefix": SPILL_PREFIX,
                "LambdaRole": self.connector_role.role_arn,
                "KMSKeyId": encryption_key.key_id,
                "LambdaMemory": "1024",
                "LambdaTimeout": "300",
            },
        )
        self.catalog = athena.CfnDataCatalog(
            self,
            "Catalog",
            name=self.catalog_name,
            type="LAMBDA",
            description="featurepulse aggregates (DynamoDB) for the QuickSight live panels",
            parameters={"function": function_arn},
        )
        self.catalog.node.add_dependency(self.connector)

        # What QuickSight's service role needs for this source (Athena access itself is granted in QuickSight).
        quicksight_role = iam.Role.from_role_name(self, "QuickSightServiceRole", service_role_name)
        policy = iam.Policy(
            self,
            "QuickSightAccess",
            roles=[quicksight_role],
            statements=[
                iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[function_arn]),
                iam.PolicyStatement(
                    actions=["s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation"],
                    resources=[spill_bucket.bucket_arn, spill_bucket.arn_for_objects(f"{SPILL_PREFIX}/*")],
                ),
                iam.PolicyStatement(actions=["kms:Decrypt"], resources=[encryption_key.key_arn]),
            ],
        )

        self.data_source = quicksight.CfnDataSource(
            self,
            "DataSource",
            aws_account_id=stack.account,
            data_source_id=Names.unique_resource_name(self, max_length=100, separator="-") + "-athena",
            name="featurepulse live aggregates (Athena)",
            type="ATHENA",
            data_source_parameters=quicksight.CfnDataSource.DataSourceParametersProperty(
                athena_parameters=quicksight.CfnDataSource.AthenaParametersProperty(work_group=workgroup_name)
            ),
            permissions=[
                quicksight.CfnDataSource.ResourcePermissionProperty(
                    principal=principal_arn, actions=DATA_SOURCE_ACTIONS
                )
            ],
        )
        self.data_source.node.add_dependency(self.catalog, policy)

        table_ref = f'"{self.catalog_name}"."{SCHEMA}"."{table.table_name}"'
        self.data_sets: dict[str, quicksight.CfnDataSet] = {}
        for name, (sql, columns) in PANEL_QUERIES.items():
            data_set = quicksight.CfnDataSet(
                self,
                f"DataSet-{name}",
                aws_account_id=stack.account,
                data_set_id=Names.unique_resource_name(self, max_length=80, separator="-") + f"-{name}",
                name=f"featurepulse live: {name}",
                import_mode="DIRECT_QUERY",
                physical_table_map={
                    name: quicksight.CfnDataSet.PhysicalTableProperty(
                        custom_sql=quicksight.CfnDataSet.CustomSqlProperty(
                            data_source_arn=self.data_source.attr_arn,
                            name=name,
                            sql_query=sql.replace("{table}", table_ref),
                            columns=[
                                quicksight.CfnDataSet.InputColumnProperty(name=column, type=kind)
                                for column, kind in columns
                            ],
                        )
                    )
                },
                permissions=[
                    quicksight.CfnDataSet.ResourcePermissionProperty(principal=principal_arn, actions=DATA_SET_ACTIONS)
                ],
            )
            self.data_sets[name] = data_set

        self.dashboard = quicksight.CfnDashboard(
            self,
            "Dashboard",
            aws_account_id=stack.account,
            dashboard_id=Names.unique_resource_name(self, max_length=100, separator="-") + "-live",
            name="featurepulse: feature launch, live",
            permissions=[
                quicksight.CfnDashboard.ResourcePermissionProperty(principal=principal_arn, actions=DASHBOARD_ACTIONS)
            ],
            dashboard_publish_options=quicksight.CfnDashboard.DashboardPublishOptionsProperty(
                ad_hoc_filtering_option=quicksight.CfnDashboard.AdHocFilteringOptionProperty(
                    availability_status="ENABLED"
                )
            ),
        )
        self.dashboard.add_property_override(
            "Definition", dashboard_definition({n: d.attr_arn for n, d in self.data_sets.items()})
        )

        suppress(
            self.connector_role,
            rule="AwsSolutions-IAM5",
            reason="The Athena DynamoDB connector lists tables (dynamodb:ListTables has no resource scope) to map "
            "Athena's lower-case names to the table, reads optional Glue schemas, spills results to one prefix of "
            "the results bucket (prefix wildcard), and logs to its own log group's streams.",
            applies_to=[
                "Resource::*",
                RegexAppliesTo(regex=r"/^Action::s3:(GetObject|GetBucket|List|DeleteObject|Abort)\*$/"),
                RegexAppliesTo(regex=r"/^Action::kms:(ReEncrypt|GenerateDataKey)\*$/"),
                RegexAppliesTo(regex=r"/^Resource::.*athena-spill\/realtime\/\*$/"),
                RegexAppliesTo(regex=r"/^Resource::arn:(<AWS::Partition>|aws[a-z-]*):logs:.*:\*$/"),
            ],
            apply_to_children=True,
        )
        suppress(
            policy,
            rule="AwsSolutions-IAM5",
            reason="QuickSight reads the connector's spilled results under one prefix of the results bucket.",
            applies_to=[RegexAppliesTo(regex=r"/^Resource::.*athena-spill\/realtime\/\*$/")],
        )


def add_live_panels(
    scope: Construct,
    *,
    table: dynamodb.ITable,
    encryption_key: kms.IKey,
    principal_arn: str | None,
    workgroup_name: str,
    spill_bucket: s3.IBucket,
    connector_version: str,
    service_role_name: str,
) -> LivePanels | None:
    """The live panels when a QuickSight principal is named, else None and a synth-time message saying why."""
    if not principal_arn:
        Annotations.of(scope).add_info(
            "QuickSight live panels skipped: no QuickSight user or group given. Deploy with "
            "-c quicksightPrincipalArn=arn:aws:quicksight:<region>:<account>:user/default/<name> (or group/...) "
            "to create them (docs/realtime.md); the local dashboard (`make run`) shows the same panels."
        )
        return None
    panels = LivePanels(
        scope,
        "LivePanels",
        table=table,
        encryption_key=encryption_key,
        principal_arn=principal_arn,
        workgroup_name=workgroup_name,
        spill_bucket=spill_bucket,
        connector_version=connector_version,
        service_role_name=service_role_name,
    )
    CfnOutput(scope, OUTPUT_QUICKSIGHT_DASHBOARD, value=panels.dashboard.dashboard_id)
    return panels
