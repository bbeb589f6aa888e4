"""The QuickSight live panels as data: one SQL per panel dataset and the dashboard definition.

Kept beside the panel code that computes the same numbers locally (featurepulse/realtime/panels.py); the
construct in cdk/quicksight.py only deploys them. The SQL reads the aggregates table through Athena's DynamoDB
connector (`{table}` is "catalog"."default"."<aggregates table>"); times are UTC, like the keys.
"""

from __future__ import annotations

from typing import Any

from featurepulse.domain import metrics as catalogue
from featurepulse.realtime import items


def _unescape(sql_expression: str) -> str:
    """SQL inverse of items.escape_key_part (`%23` -> `#`, then `%25` -> `%`)."""
    return f"replace(replace({sql_expression}, '%23', '#'), '%25', '%')"


def ratio_sql(metric_name: str, columns: dict[str, str]) -> str:
    """A rate of the catalogue as SQL, from its formula `numerator / denominator` (NULL when the denominator is
    0), with `columns` giving each metric's column: the panels compute `adoption_rate` and
    `completers_per_viewer` exactly as the catalogue defines them."""
    formula = catalogue.metric(metric_name).formula
    numerator, _, rest = formula.partition(" / ")
    denominator = rest.split(" ")[0]
    if not numerator.isidentifier() or not denominator.isidentifier():
        raise ValueError(f"{metric_name}: formula {formula!r} is not a ratio of two metrics")
    return f"CAST({columns[numerator]} AS DOUBLE) / NULLIF(CAST({columns[denominator]} AS DOUBLE), 0)"


def _counter(column: str, metric_name: str, alias: str = "") -> str:
    """A counter of the aggregate rows under the catalogue's name (`persons_view` -> `feature_viewers`)."""
    catalogue.metric(metric_name)  # KeyError if the catalogue does not know it
    prefix = f"{alias}." if alias else ""
    return f"CAST({prefix}{column} AS BIGINT) AS {metric_name}"


TODAY_SQL = "date_format(current_date, '%Y-%m-%d')"
NOW_SQL = "current_timestamp"
# The day's rows come from the final (batch-corrected) rows once the app's final row of the day exists, else from
# the live rows (featurepulse/realtime/items.py): `f.final_rows` counts that row, `_PREFIX` picks the key prefix.
_FINAL_FLAG = (
    "CROSS JOIN (SELECT count(*) AS final_rows FROM {{table}} WHERE pk = 'APP' "
    "AND sk = concat('" + items.FINAL_PREFIX + "D#', {day})) AS f"
)
_PREFIX = "CASE WHEN f.final_rows > 0 THEN '" + items.FINAL_PREFIX + "' ELSE '' END"
_KIND = f"CASE WHEN f.final_rows > 0 THEN '{items.KIND_FINAL_DAY}' ELSE '{items.KIND_DAY}' END"
_DIRECTORY_KIND = f"CASE WHEN f.final_rows > 0 THEN '{items.KIND_FINAL_DIRECTORY}' ELSE '{items.KIND_DIRECTORY}' END"
_CAMPAIGN = _unescape("regexp_extract(d.sk, '^F?DC#[0-9-]+#(.*)$', 1)")
_EXPERIMENT = _unescape("regexp_extract(d.sk, '^F?DV#[0-9-]+#([^#]*)#(.*)$', 1)")
_VARIATION = _unescape("regexp_extract(d.sk, '^F?DV#[0-9-]+#([^#]*)#(.*)$', 2)")

_ADOPTION = {"adopters": "d.adopters", "active_persons": "a.persons"}
_PER_VIEWER = {"completers": "d.persons_complete", "feature_viewers": "d.persons_view"}
PanelQueries = dict[str, tuple[str, list[tuple[str, str]]]]


def panel_queries(day_sql: str = TODAY_SQL, now_sql: str = NOW_SQL) -> PanelQueries:
    """One query per panel data set: (SQL template with `{table}`, columns (name, QuickSight type)).

    `{table}` is "catalog"."default"."<aggregates table>"; `day_sql` and `now_sql` are the day ('YYYY-MM-DD') and
    the instant the panels show (today and now on the dashboard; fixed values in tests).
    """
    flag = _FINAL_FLAG.format(day=day_sql)
    day_rows = f"d.kind = {_KIND} AND d.pk <> 'APP'"
    return {
        "minutes": (
            # QuickSight skips `timestamp with time zone` columns (what from_iso8601_timestamp returns): the UTC
            # wall time as a plain timestamp.
            "SELECT feature, CAST(from_iso8601_timestamp(window_start) AS TIMESTAMP) AS minute, "
            "CAST(views AS BIGINT) AS views, "
            "CAST(uses AS BIGINT) AS uses, CAST(completions AS BIGINT) AS completions, "
            f"CAST(dismissals AS BIGINT) AS dismissals, {_counter('persons', 'feature_persons')} FROM {{table}} "
            "WHERE kind = 'minute' AND dimension = 'feature' "
            f"AND from_iso8601_timestamp(window_start) >= {now_sql} - INTERVAL '60' MINUTE",
            [
                ("feature", "STRING"),
                ("minute", "DATETIME"),
                ("views", "INTEGER"),
                ("uses", "INTEGER"),
                ("completions", "INTEGER"),
                ("dismissals", "INTEGER"),
                ("feature_persons", "INTEGER"),
            ],
        ),
        "funnel": (
            # One row per funnel stage: viewers (persons_view), users (persons_use), completers (persons_complete).
            "SELECT d.feature, s.stage, s.stage_order, CAST(CASE s.stage_order WHEN 1 THEN d.persons_view "
            "WHEN 2 THEN d.persons_use ELSE d.persons_complete END AS BIGINT) AS persons FROM {table} AS d "
            f"{flag} CROSS JOIN (VALUES ('1 viewers', 1), ('2 users', 2), ('3 completers', 3)) "
            "AS s(stage, stage_order) "
            f"WHERE {day_rows} AND d.dimension = 'feature' AND d.sk = concat({_PREFIX}, 'D#', {day_sql})",
            [("feature", "STRING"), ("stage", "STRING"), ("stage_order", "INTEGER"), ("persons", "INTEGER")],
        ),
        "activity": (
            f"SELECT d.feature, {_counter('d.adopters', 'adopters')}, "
            f"CAST(a.persons AS BIGINT) AS active_persons, {ratio_sql('adoption_rate', _ADOPTION)} AS adoption_rate "
            "FROM {table} AS d "
            f"{flag} "
            "CROSS JOIN (SELECT persons, kind FROM {table} WHERE pk = 'APP' "
            f"AND (sk = concat('D#', {day_sql}) OR sk = concat('{items.FINAL_PREFIX}D#', {day_sql}))) AS a "
            f"WHERE d.pk = 'APP' AND d.kind = {_DIRECTORY_KIND} AND a.kind = {_KIND} "
            f"AND d.sk LIKE concat({_PREFIX}, 'DF#', {day_sql}, '#%')",
            [
                ("feature", "STRING"),
                ("adopters", "INTEGER"),
                ("active_persons", "INTEGER"),
                ("adoption_rate", "DECIMAL"),
            ],
        ),
        "campaigns": (
            f"SELECT d.feature, {_CAMPAIGN} AS campaign, {_counter('d.persons_view', 'feature_viewers')}, "
            f"{_counter('d.adopters', 'adopters')}, {_counter('d.persons_complete', 'completers')}, "
            "CAST(d.views AS BIGINT) AS views, CAST(d.uses AS BIGINT) AS uses, "
            "CAST(d.completions AS BIGINT) AS completions, "
            f"{ratio_sql('completers_per_viewer', _PER_VIEWER)} AS completers_per_viewer FROM {{table}} AS d {flag} "
            f"WHERE {day_rows} AND d.dimension = 'campaign' AND d.sk LIKE concat({_PREFIX}, 'DC#', {day_sql}, '#%')",
            [
                ("feature", "STRING"),
                ("campaign", "STRING"),
                ("feature_viewers", "INTEGER"),
                ("adopters", "INTEGER"),
                ("completers", "INTEGER"),
                ("views", "INTEGER"),
                ("uses", "INTEGER"),
                ("completions", "INTEGER"),
                ("completers_per_viewer", "DECIMAL"),
            ],
        ),
        "variants": (
            f"SELECT d.feature, {_EXPERIMENT} AS experiment_id, {_VARIATION} AS variation_id, "
            f"{_counter('d.persons_view', 'feature_viewers')}, {_counter('d.persons_complete', 'completers')}, "
            f"{ratio_sql('completers_per_viewer', _PER_VIEWER)} AS completers_per_viewer FROM {{table}} AS d {flag} "
            f"WHERE {day_rows} AND d.dimension = 'variant' AND d.sk LIKE concat({_PREFIX}, 'DV#', {day_sql}, '#%')",
            [
                ("feature", "STRING"),
                ("experiment_id", "STRING"),
                ("variation_id", "STRING"),
                ("feature_viewers", "INTEGER"),
                ("completers", "INTEGER"),
                ("completers_per_viewer", "DECIMAL"),
            ],
        ),
    }


PANEL_QUERIES: PanelQueries = panel_queries()
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
                "Title": _title("Today's funnel: persons who viewed, used, completed"),
                "ChartConfiguration": {
                    "FieldWells": {
                        "FunnelChartAggregatedFieldWells": {
                            "Category": [_category("funnel", "stage")],
                            "Values": [_measure("funnel", "persons")],
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
                "VisualId": "active-persons",
                "Title": _title("Active persons today"),
                "ChartConfiguration": {"FieldWells": {"Values": [_measure("activity", "active_persons", "MAX")]}},
            }
        },
        {
            "BarChartVisual": {
                "VisualId": "adoption",
                "Title": _title("Adoption rate today: adopters (used or completed) / active persons"),
                "ChartConfiguration": {
                    "Orientation": "HORIZONTAL",
                    "FieldWells": {
                        "BarChartAggregatedFieldWells": {
                            "Category": [_category("activity", "feature")],
                            "Values": [_measure("activity", "adoption_rate", "MAX")],
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
                                *(
                                    _measure("campaigns", n)
                                    for n in (
                                        "feature_viewers",
                                        "adopters",
                                        "completers",
                                        "views",
                                        "uses",
                                        "completions",
                                    )
                                ),
                                _measure("campaigns", "completers_per_viewer", "MAX"),
                            ],
                        }
                    },
                    "SortConfiguration": {
                        "RowSort": [{"FieldSort": {"FieldId": "campaigns.feature_viewers", "Direction": "DESC"}}]
                    },
                },
            }
        },
        {
            "BarChartVisual": {
                "VisualId": "variants",
                "Title": _title("Variants side by side: viewers and completers"),
                "ChartConfiguration": {
                    "BarsArrangement": "CLUSTERED",
                    "FieldWells": {
                        "BarChartAggregatedFieldWells": {
                            "Category": [_category("variants", "variation_id")],
                            "Values": [
                                _measure("variants", "feature_viewers"),
                                _measure("variants", "completers"),
                            ],
                            "Colors": [],
                            "SmallMultiples": [_category("variants", "experiment_id")],
                        }
                    },
                },
            }
        },
    ]
    layout = [("per-minute", 36, 10), ("funnel", 18, 10), ("active-persons", 6, 10), ("adoption", 12, 10)]
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
