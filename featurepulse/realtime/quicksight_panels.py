"""The QuickSight live panels as data: one SQL per panel dataset and the dashboard definition.

Kept beside the panel code that computes the same numbers locally (featurepulse/realtime/panels.py); the
construct in cdk/quicksight.py only deploys them. The SQL reads the aggregates table through Athena's DynamoDB
connector (`{table}` is "catalog"."default"."<aggregates table>"); times are UTC, like the keys.
"""

from __future__ import annotations

from typing import Any


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
