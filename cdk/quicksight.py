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

from typing import Any

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


def _unescape(sql_expression: str) -> str:
    """SQL inverse of items.escape_key_part (`%23` -> `#`, then `%25` -> `%`)."""
    return f"replace(replace({sql_expression}, '%23', '#'), '%25', '%')"


# One query per panel: (dataset id, SQL template with {table}, columns (name, QuickSight type)).
# `{table}` is "catalog"."default"."<aggregates table>"; times are UTC, like the keys.
_TODAY = "date_format(current_date, '%Y-%m-%d')"
_CAMPAIGN = _unescape("regexp_extract(sk, '^DC#[0-9-]+#(.*)$', 1)")
_EXPERIMENT = _unescape("regexp_extract(sk, '^DV#[0-9-]+#([^#]*)#(.*)$', 1)")
_VARIATION = _unescape("regexp_extract(sk, '^DV#[0-9-]+#([^#]*)#(.*)$', 2)")
PANEL_QUERIES: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "minutes": (
        "SELECT feature, from_iso8601_timestamp(window_start) AS minute, CAST(views AS BIGINT) AS views, "
        "CAST(uses AS BIGINT) AS uses, CAST(completions AS BIGINT) AS completions, "
        "CAST(dismissals AS BIGINT) AS dismissals, CAST(users AS BIGINT) AS users FROM {table} "
        "WHERE kind = 'minute' AND dimension = 'feature' "
        "AND from_iso8601_timestamp(window_start) >= current_timestamp - INTERVAL '60' MINUTE",
        [
            ("feature", "STRING"),
            ("minute", "DATETIME"),
            ("views", "INTEGER"),
            ("uses", "INTEGER"),
            ("completions", "INTEGER"),
            ("dismissals", "INTEGER"),
            ("users", "INTEGER"),
        ],
    ),
    "funnel": (
        "SELECT d.feature, s.stage, s.stage_order, s.users FROM {table} d CROSS JOIN UNNEST("
        "ARRAY['1 viewed', '2 used', '3 completed'], ARRAY[1, 2, 3], "
        "ARRAY[CAST(d.users_view AS BIGINT), CAST(d.users_use AS BIGINT), CAST(d.users_complete AS BIGINT)]"
        ") AS s(stage, stage_order, users) "
        f"WHERE d.kind = 'day' AND d.dimension = 'feature' AND d.sk = concat('D#', {_TODAY})",
        [("feature", "STRING"), ("stage", "STRING"), ("stage_order", "INTEGER"), ("users", "INTEGER")],
    ),
    "activity": (
        "SELECT f.feature, CAST(f.users AS BIGINT) AS feature_users, CAST(a.users AS BIGINT) AS active_users, "
        "CAST(f.users AS DOUBLE) / CAST(a.users AS DOUBLE) AS adoption FROM {table} f "
        f"CROSS JOIN (SELECT users FROM {{table}} WHERE pk = 'APP' AND sk = concat('D#', {_TODAY})) a "
        f"WHERE f.pk = 'APP' AND f.sk LIKE concat('DF#', {_TODAY}, '#%')",
        [("feature", "STRING"), ("feature_users", "INTEGER"), ("active_users", "INTEGER"), ("adoption", "DECIMAL")],
    ),
    "campaigns": (
        f"SELECT feature, {_CAMPAIGN} AS campaign, "
        "CAST(users AS BIGINT) AS users, CAST(views AS BIGINT) AS views, CAST(uses AS BIGINT) AS uses, "
        "CAST(completions AS BIGINT) AS completions, "
        "CAST(users_complete AS DOUBLE) / NULLIF(CAST(users_view AS DOUBLE), 0) AS completion_rate "
        f"FROM {{table}} WHERE kind = 'day' AND dimension = 'campaign' AND sk LIKE concat('DC#', {_TODAY}, '#%')",
        [
            ("feature", "STRING"),
            ("campaign", "STRING"),
            ("users", "INTEGER"),
            ("views", "INTEGER"),
            ("uses", "INTEGER"),
            ("completions", "INTEGER"),
            ("completion_rate", "DECIMAL"),
        ],
    ),
    "variants": (
        f"SELECT feature, {_EXPERIMENT} AS experiment_id, {_VARIATION} AS variation_id, "
        "CAST(users_view AS BIGINT) AS users_view, CAST(users_complete AS BIGINT) AS users_complete, "
        "CAST(users_complete AS DOUBLE) / NULLIF(CAST(users_view AS DOUBLE), 0) AS conversion "
        f"FROM {{table}} WHERE kind = 'day' AND dimension = 'variant' AND sk LIKE concat('DV#', {_TODAY}, '#%')",
        [
            ("feature", "STRING"),
            ("experiment_id", "STRING"),
            ("variation_id", "STRING"),
            ("users_view", "INTEGER"),
            ("users_complete", "INTEGER"),
            ("conversion", "DECIMAL"),
        ],
    ),
}
FEATURE_DATASETS = ("minutes", "funnel", "campaigns", "variants")


def _column(dataset: str, name: str) -> dict[str, str]:
    return {"DataSetIdentifier": dataset, "ColumnName": name}


def _measure(dataset: str, name: str, aggregation: str = "SUM") -> dict[str, Any]:
    return {
        "NumericalMeasureField": {
            "FieldId": f"{dataset}.{name}",
            "Column": _column(dataset, name),
            "AggregationFunction": {"SimpleNumericalAggregation": aggregation},
        }
    }


def _category(dataset: str, name: str) -> dict[str, Any]:
    return {"CategoricalDimensionField": {"FieldId": f"{dataset}.{name}", "Column": _column(dataset, name)}}


def _title(text: str) -> dict[str, Any]:
    return {"Visibility": "VISIBLE", "FormatText": {"PlainText": text}}


def dashboard_definition(dataset_arns: dict[str, str]) -> dict[str, Any]:
    """The dashboard (CloudFormation `Definition`): one sheet, the five panels, a feature filter."""
    visuals: list[dict[str, Any]] = [
        {
            "LineChartVisual": {
                "VisualId": "per-minute",
                "Title": _title("Events per minute by stage (last 60 minutes, UTC)"),
                "ChartConfiguration": {
                    "FieldWells": {
                        "LineChartAggregatedFieldWells": {
                            "Category": [
                                {
                                    "DateDimensionField": {
                                        "FieldId": "minutes.minute",
                                        "Column": _column("minutes", "minute"),
                                        "DateGranularity": "MINUTE",
                                    }
                                }
                            ],
                            "Values": [_measure("minutes", n) for n in ("views", "uses", "completions", "dismissals")],
                        }
                    }
                },
            }
        },
        {
            "FunnelChartVisual": {
                "VisualId": "funnel",
                "Title": _title("Today's funnel: users who viewed, used, completed"),
                "ChartConfiguration": {
                    "FieldWells": {
                        "FunnelChartAggregatedFieldWells": {
                            "Category": [_category("funnel", "stage")],
                            "Values": [_measure("funnel", "users")],
                        }
                    },
                    "SortConfiguration": {
                        "CategorySort": [{"FieldSort": {"FieldId": "funnel.stage", "Direction": "ASC"}}]
                    },
                },
            }
        },
        {
            "KPIVisual": {
                "VisualId": "dau",
                "Title": _title("Active users today (DAU)"),
                "ChartConfiguration": {"FieldWells": {"Values": [_measure("activity", "active_users", "MAX")]}},
            }
        },
        {
            "BarChartVisual": {
                "VisualId": "adoption",
                "Title": _title("Adoption today: feature users / active users"),
                "ChartConfiguration": {
                    "Orientation": "HORIZONTAL",
                    "FieldWells": {
                        "BarChartAggregatedFieldWells": {
                            "Category": [_category("activity", "feature")],
                            "Values": [_measure("activity", "adoption", "MAX")],
                        }
                    },
                },
            }
        },
        {
            "TableVisual": {
                "VisualId": "campaigns",
                "Title": _title("Top campaigns today"),
                "ChartConfiguration": {
                    "FieldWells": {
                        "TableAggregatedFieldWells": {
                            "GroupBy": [_category("campaigns", "campaign")],
                            "Values": [
                                *(_measure("campaigns", n) for n in ("users", "views", "uses", "completions")),
                                _measure("campaigns", "completion_rate", "MAX"),
                            ],
                        }
                    },
                    "SortConfiguration": {
                        "RowSort": [{"FieldSort": {"FieldId": "campaigns.users", "Direction": "DESC"}}]
                    },
                },
            }
        },
        {
            "BarChartVisual": {
                "VisualId": "variants",
                "Title": _title("Variants side by side: viewers, completers, conversion"),
                "ChartConfiguration": {
                    "BarsArrangement": "CLUSTERED",
                    "FieldWells": {
                        "BarChartAggregatedFieldWells": {
                            "Category": [_category("variants", "variation_id")],
                            "Values": [
                                _measure("variants", "users_view"),
                                _measure("variants", "users_complete"),
                            ],
                            "Colors": [],
                            "SmallMultiples": [_category("variants", "experiment_id")],
                        }
                    },
                },
            }
        },
    ]
    layout = [("per-minute", 36, 10), ("funnel", 18, 10), ("dau", 6, 10), ("adoption", 12, 10)]
    layout += [("campaigns", 18, 10), ("variants", 18, 10)]
    return {
        "DataSetIdentifierDeclarations": [
            {"Identifier": name, "DataSetArn": arn} for name, arn in dataset_arns.items()
        ],
        "Sheets": [
            {
                "SheetId": "live",
                "Name": "Live",
                "Visuals": visuals,
                "FilterControls": [
                    {
                        "Dropdown": {
                            "FilterControlId": "feature-control",
                            "Title": "Feature",
                            "SourceFilterId": "feature-filter",
                            "Type": "SINGLE_SELECT",
                        }
                    }
                ],
                "Layouts": [
                    {
                        "Configuration": {
                            "GridLayout": {
                                "Elements": [
                                    {"ElementId": v, "ElementType": "VISUAL", "ColumnSpan": c, "RowSpan": r}
                                    for v, c, r in layout
                                ]
                            }
                        }
                    }
                ],
            }
        ],
        "FilterGroups": [
            {
                "FilterGroupId": "feature",
                "CrossDataset": "ALL_DATASETS",
                "Status": "ENABLED",
                "Filters": [
                    {
                        "CategoryFilter": {
                            "FilterId": "feature-filter",
                            "Column": _column("minutes", "feature"),
                            "Configuration": {
                                "FilterListConfiguration": {
                                    "MatchOperator": "CONTAINS",
                                    "SelectAllOptions": "FILTER_ALL_VALUES",
                                }
                            },
                        }
                    }
                ],
                "ScopeConfiguration": {
                    "SelectedSheets": {
                        "SheetVisualScopingConfigurations": [
                            {
                                "SheetId": "live",
                                "Scope": "SELECTED_VISUALS",
                                "VisualIds": ["per-minute", "funnel", "campaigns", "variants"],
                            }
                        ]
                    }
                },
            }
        ],
    }


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
