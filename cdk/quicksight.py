"""`LivePanels`: the QuickSight dashboard of the real-time aggregates (created only with `quicksightPrincipalArn`).

QuickSight has no DynamoDB data source, so the live path is Athena's DynamoDB connector (federated query):

    aggregates table <- Athena DynamoDB connector (Lambda, from the Serverless Application Repository;
                        its schema of the table is the Glue table `<stack>_live.aggregates`)
                     <- Athena data catalog (type LAMBDA) <- QuickSight Athena data source (the lake workgroup)
                     <- five DIRECT_QUERY datasets (custom SQL, one per panel) <- one dashboard

The Glue table is the schema: without it the connector infers one from a few items, and a column absent from
those items (a NULL attribute is skipped) is absent from the panels. Its columns are generated from
featurepulse/realtime/items.py ITEM_COLUMNS, the same list the Flink sink table is generated from.

DIRECT_QUERY means every dashboard load or refresh queries the table through the connector: the panels are
as fresh as the aggregates (seconds). The SQL reads the items by their `kind`/`dimension` attributes and sort
keys (featurepulse/realtime/items.py); the connector turns key conditions into Query and others into Scan of
the (small, TTL-bounded) table.

Prerequisites outside this stack (docs/quicksight.md): a QuickSight Enterprise subscription in the account, the
principal named by `quicksightPrincipalArn`, and QuickSight's service role allowed to use Athena (QuickSight
console, Security & permissions); this construct adds what the role needs for the connector, the spill data and
the workgroup's encrypted query results.
"""

from __future__ import annotations

import re

from aws_cdk import Annotations, CfnOutput, Names, RemovalPolicy, Stack
from aws_cdk import aws_athena as athena
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_quicksight as quicksight
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sam as sam
from cdk_nag import RegexAppliesTo
from constructs import Construct

from cdk.athena_connector import CONNECTOR_RELEASES, REQUIRED_PARAMETERS
from cdk.nag import suppress
from featurepulse.constants import OUTPUT_QUICKSIGHT_DASHBOARD
from featurepulse.realtime.items import ITEM_COLUMNS, ColumnType
from featurepulse.realtime.quicksight_panels import PANEL_QUERIES, dashboard_definition

CONNECTOR_APPLICATION_ID = "arn:aws:serverlessrepo:us-east-1:292517598671:applications/AthenaDynamoDBConnector"
SPILL_PREFIX = "athena-spill/realtime"
SCHEMA_TABLE_NAME = "aggregates"
# The connector reads a Glue table as the schema of a DynamoDB table when the table says it describes one
# (`classification` = dynamodb) and, outside the `default` database, when the database's location URI contains
# this flag (Athena DynamoDB connector docs, "Setting up databases and tables in AWS Glue").
DYNAMODB_DATABASE_FLAG = "dynamo-db-flag"
GLUE_TYPES: dict[ColumnType, str] = {"string": "string", "bigint": "bigint", "map": "map<string,string>"}

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


def live_database_name(stack_name: str) -> str:
    """`<stack>_live` in Glue's alphabet (Glue and Athena know only lower-case names)."""
    return re.sub(r"[^a-z0-9_]", "_", stack_name.lower()) + "_live"


def glue_columns() -> list[tuple[str, str]]:
    """The aggregates table's columns as Glue declares them (name, type), in ITEM_COLUMNS order."""
    return [(name, GLUE_TYPES[kind]) for name, kind in ITEM_COLUMNS]


def connector_parameters(
    *,
    version: str,
    catalog_name: str,
    spill_bucket_name: str,
    role_arn: str,
    key_id: str,
) -> dict[str, str]:
    """The SAR template parameters of the connector release: only what its template declares, every required one."""
    release = CONNECTOR_RELEASES[version]
    parameters = {
        "AthenaCatalogName": catalog_name,
        "SpillBucket": spill_bucket_name,
        "SpillPrefix": SPILL_PREFIX,
        "LambdaRole": role_arn,
        # Spilled blocks are encrypted by the connector (AES-GCM, data keys from this key) before S3 sees them.
        "DisableSpillEncryption": "false",
        "KMSKeyId": key_id,
        "LambdaMemory": "1024",
        "LambdaTimeout": "300",
    }
    unknown = sorted(set(parameters) - release.parameters)
    missing = sorted(REQUIRED_PARAMETERS - set(parameters))
    if unknown or missing:
        raise ValueError(f"connector {version}: its template lacks {unknown}, needs {missing}")
    return parameters


class LivePanels(Construct):
    """`connector` (SAR application), `schema_table` (Glue), `catalog`, `data_source`, `data_sets` (by panel),
    `dashboard`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        table: dynamodb.ITable,
        encryption_key: kms.IKey,
        principal_arn: str,
        workgroup_name: str,
        results_bucket: s3.IBucket,
        results_prefix: str,
        connector_version: str,
        service_role_name: str,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        # The connector's function name is also the Athena catalog name: ^[a-z0-9-_]{1,64}$.
        self.catalog_name = Names.unique_resource_name(self, max_length=48).lower().replace(".", "-")
        arn = f"arn:{stack.partition}"
        region_account = f"{stack.region}:{stack.account}"
        function_arn = f"{arn}:lambda:{region_account}:function:{self.catalog_name}"

        # The schema the connector reads: one Glue table naming the DynamoDB table (`sourceTable`, exact case).
        self.database_name = live_database_name(stack.stack_name)
        self.schema_database = glue.CfnDatabase(
            self,
            "SchemaDatabase",
            catalog_id=stack.account,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=self.database_name,
                description="featurepulse live aggregates: the schema the Athena DynamoDB connector reads",
                location_uri=DYNAMODB_DATABASE_FLAG,
            ),
        )
        self.schema_table = glue.CfnTable(
            self,
            "SchemaTable",
            catalog_id=stack.account,
            database_name=self.database_name,
            table_input=glue.CfnTable.TableInputProperty(
                name=SCHEMA_TABLE_NAME,
                description="The aggregates table (DynamoDB) as the panels read it (featurepulse/realtime/items.py)",
                table_type="EXTERNAL_TABLE",
                parameters={"classification": "dynamodb", "sourceTable": table.table_name},
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    location=table.table_arn,
                    columns=[glue.CfnTable.ColumnProperty(name=name, type=kind) for name, kind in glue_columns()],
                ),
            ),
        )
        self.schema_table.node.add_dependency(self.schema_database)

        # The connector's own role, least privilege: read the aggregates table and its Glue schema, spill to one
        # prefix with keys from the stack key, log.
        self.connector_role = iam.Role(
            self,
            "ConnectorRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Athena DynamoDB connector of the featurepulse live panels",
        )
        table.grant(self.connector_role, "dynamodb:DescribeTable", "dynamodb:Query", "dynamodb:Scan")
        # GenerateDataKey: the spill encryption keys (KMSKeyId) and S3's SSE-KMS on the bucket; Decrypt: S3 reads.
        encryption_key.grant(self.connector_role, "kms:Decrypt", "kms:GenerateDataKey")
        # The connector checks the spill bucket (HeadBucket: s3:ListBucket), then writes and reads whole spill objects.
        self.connector_role.add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:ListBucket"], resources=[results_bucket.bucket_arn])
        )
        self.connector_role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject", "s3:GetObject"],
                resources=[results_bucket.arn_for_objects(f"{SPILL_PREFIX}/*")],
            )
        )
        self.connector_role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["glue:GetDatabase", "glue:GetDatabases", "glue:GetTable", "glue:GetTables"],
                resources=[
                    f"{arn}:glue:{region_account}:catalog",
                    f"{arn}:glue:{region_account}:database/{self.database_name}",
                    f"{arn}:glue:{region_account}:table/{self.database_name}/*",
                ],
            )
        )
        self.connector_role.add_to_principal_policy(
            iam.PolicyStatement(
                # Fast-fails a split when its Athena query has ended; queries run in the lake workgroup only.
                actions=["athena:GetQueryExecution"],
                resources=[f"{arn}:athena:{region_account}:workgroup/{workgroup_name}"],
            )
        )
        self.connector_role.add_to_principal_policy(
            iam.PolicyStatement(
                # With KMSKeyId the connector takes each spill key's nonce from KMS GenerateRandom (KmsKeyFactory),
                # an action with no resource (IAM service authorization reference: resource types none).
                actions=["kms:GenerateRandom"],
                resources=["*"],
            )
        )
        # The function's log group, made here (encrypted, with the stack's retention) before Lambda would make one.
        self.connector_log_group = logs.LogGroup(
            self,
            "ConnectorLogs",
            log_group_name=f"/aws/lambda/{self.catalog_name}",
            encryption_key=encryption_key,
            retention=log_retention,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.connector_role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.connector_log_group.log_group_arn],
            )
        )
        self.connector = sam.CfnApplication(
            self,
            "Connector",
            location=sam.CfnApplication.ApplicationLocationProperty(
                application_id=CONNECTOR_APPLICATION_ID, semantic_version=connector_version
            ),
            parameters=connector_parameters(
                version=connector_version,
                catalog_name=self.catalog_name,
                spill_bucket_name=results_bucket.bucket_name,
                role_arn=self.connector_role.role_arn,
                key_id=encryption_key.key_id,
            ),
        )
        # The function must find its role's policies and its schema from its first invocation on.
        self.connector.node.add_dependency(self.connector_role, self.schema_table, self.connector_log_group)
        self.catalog = athena.CfnDataCatalog(
            self,
            "Catalog",
            name=self.catalog_name,
            type="LAMBDA",
            description="featurepulse aggregates (DynamoDB) for the QuickSight live panels",
            parameters={"function": function_arn},
        )
        self.catalog.node.add_dependency(self.connector)

        # What QuickSight's service role needs for this source (Athena access itself is granted in QuickSight):
        # invoke the connector, read its spilled blocks, and write the query results where the workgroup enforces
        # them (its result configuration: `results_prefix` of the bucket, SSE-KMS with the stack key).
        quicksight_role = iam.Role.from_role_name(self, "QuickSightServiceRole", service_role_name)
        policy = iam.Policy(
            self,
            "QuickSightAccess",
            roles=[quicksight_role],
            statements=[
                iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[function_arn]),
                iam.PolicyStatement(
                    actions=["s3:GetObject"], resources=[results_bucket.arn_for_objects(f"{SPILL_PREFIX}/*")]
                ),
                iam.PolicyStatement(
                    actions=[
                        "s3:GetObject",
                        "s3:PutObject",
                        "s3:AbortMultipartUpload",
                        "s3:ListMultipartUploadParts",
                    ],
                    resources=[results_bucket.arn_for_objects(f"{results_prefix}*")],
                ),
                iam.PolicyStatement(
                    actions=["s3:ListBucket", "s3:GetBucketLocation", "s3:ListBucketMultipartUploads"],
                    resources=[results_bucket.bucket_arn],
                ),
                iam.PolicyStatement(actions=["kms:Decrypt", "kms:GenerateDataKey"], resources=[encryption_key.key_arn]),
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

        # The Glue table's database and name, not the DynamoDB table's: the connector then reads the Glue schema.
        self.table_ref = f'"{self.catalog_name}"."{self.database_name}"."{SCHEMA_TABLE_NAME}"'
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
                            sql_query=sql.replace("{table}", self.table_ref),
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
            reason="The Athena DynamoDB connector takes spill-key nonces from kms:GenerateRandom (an action with no "
            "resource scope), reads the tables of its own Glue schema database and spills results to one prefix of the "
            "results bucket (prefix wildcard).",
            applies_to=[
                "Resource::*",
                RegexAppliesTo(regex=r"/^Resource::.*athena-spill\/realtime\/\*$/"),
                RegexAppliesTo(
                    regex=r"/^Resource::arn:(<AWS::Partition>|aws[a-z-]*):glue:.*:table\/[a-z0-9_]+_live\/\*$/"
                ),
            ],
            apply_to_children=True,
        )
        suppress(
            policy,
            rule="AwsSolutions-IAM5",
            reason="QuickSight reads the connector's spilled results under one prefix of the results bucket and "
            "writes the Athena query results under the prefix the workgroup enforces (object names are query ids).",
            applies_to=[
                RegexAppliesTo(regex=r"/^Resource::.*athena-spill\/realtime\/\*$/"),
                RegexAppliesTo(regex=r"/^Resource::.*\/" + results_prefix.replace("/", r"\/") + r"\*$/"),
            ],
        )


def add_live_panels(
    scope: Construct,
    *,
    table: dynamodb.ITable,
    encryption_key: kms.IKey,
    principal_arn: str | None,
    workgroup_name: str,
    results_bucket: s3.IBucket,
    results_prefix: str,
    connector_version: str,
    service_role_name: str,
    log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
) -> LivePanels | None:
    """The live panels when a QuickSight principal is named, else None and a synth-time message saying why."""
    if not principal_arn:
        Annotations.of(scope).add_info(
            "QuickSight live panels skipped: no QuickSight user or group given. Deploy with "
            "-c quicksightPrincipalArn=arn:aws:quicksight:<region>:<account>:user/default/<name> (or group/...) "
            "to create them (docs/quicksight.md); the local dashboard (`make run`) shows the same panels."
        )
        return None
    panels = LivePanels(
        scope,
        "LivePanels",
        table=table,
        encryption_key=encryption_key,
        principal_arn=principal_arn,
        workgroup_name=workgroup_name,
        results_bucket=results_bucket,
        results_prefix=results_prefix,
        connector_version=connector_version,
        service_role_name=service_role_name,
        log_retention=log_retention,
    )
    CfnOutput(scope, OUTPUT_QUICKSIGHT_DASHBOARD, value=panels.dashboard.dashboard_id)
    return panels
