"""docs/cost.md, generated from the cost model, the price table and the deploy settings of cdk.json.

`python -m featurepulse.cost.docs` rewrites the file; tests/unit/test_cost_docs.py fails when it is stale (a changed
default, price or measured input changes the bill, so the document is regenerated with it).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from featurepulse.cost.cli import CDK_JSON, REPO_ROOT, deploy_settings
from featurepulse.cost.model import (
    ACCESS_LOG_BYTES_PER_REQUEST,
    AGGREGATES_TABLE_GB,
    API_DETAILED_METRICS,
    CONNECTOR_GB_SECONDS_PER_QUERY,
    FIGURE_NAMES,
    FLINK_LOG_BYTES_PER_DAY,
    GLUE_MINUTES_PER_REPORT_RUN,
    KMS_CALLERS,
    LAMBDA_PLATFORM_LOG_BYTES,
    LOG_STORAGE_COMPRESSION,
    S3_GETS_PER_FILE_SCANNED,
    SERVICES,
    TRANSFORM_FIXED_MS_PER_INVOCATION,
    Bill,
    DeploySettings,
    MeasuredInputs,
    Workload,
    load_measured_inputs,
    monthly_bill,
)
from featurepulse.cost.prices import PRICES, PRICES_READ_ON

COST_DOC = REPO_ROOT / "docs" / "cost.md"
RATES = (10, 100, 1000)
GROWTH_RATES = (1, 10, 100, 1000, 5000)
GAP_WORKLOAD = {"event_bytes": 1000, "batch_size": 100}
ALL_FEATURES = {
    "quicksightPrincipalArn": "arn:aws:quicksight:us-east-1:123456789012:user/default/analyst",
    "reportSender": "reports@example.com",
    "reportRecipients": "marketing@example.com,pm@example.com",
    "alarmEmail": "ops@example.com",
}


def _usd(value: float) -> str:
    return f"${value:,.2f}"


def _bill(rate: float, settings: DeploySettings, measured: MeasuredInputs | None, viewers: int = 1) -> Bill:
    workload = Workload(events_per_second=rate, viewers=viewers, **GAP_WORKLOAD)
    return monthly_bill(workload, settings, measured=measured)


def _sized_for(cdk_json: Path, rate: int) -> DeploySettings:
    """The default settings with the expected traffic set to `rate` (what a deployer sets for that traffic)."""
    return deploy_settings(cdk_json, {"expectedEventsPerSecond": str(rate)})


def _service_lines(bill: Bill, *services: str, path: str | None = None) -> float:
    return sum(line.usd for line in bill.lines if line.service in services and (path is None or line.path == path))


def _gap_table(bill: Bill) -> list[str]:
    """GAP's published lines beside ours, at GAP's workload (100 events/s of 1 KB in batches of 100)."""

    def ours(*services: str, path: str | None = None) -> str:
        return _usd(_service_lines(bill, *services, path=path))

    rows = [
        ("API Gateway REST, 2,592,000 calls", 9.07, "API Gateway REST", ours("API Gateway")),
        (
            "Authorizer Lambda (200 ms, 256 MB)",
            2.25,
            "ingest Lambda (auth, validation, enrichment, put)",
            _usd(sum(line.usd for line in bill.lines if line.what.startswith("ingest"))),
        ),
        (
            "DynamoDB (admin table, 2,592,000 GETs)",
            0.41,
            "sources table reads (cached write keys)",
            _usd(sum(line.usd for line in bill.lines if line.what.startswith("sources table"))),
        ),
        ("(no WAF)", 0.0, "WAF (opt-in, `wafEnabled`): web ACL, 3 rules, requests", ours("WAF")),
        (
            "Kinesis Data Streams (not in the $92.06 lake)",
            0.0,
            "Kinesis Data Streams (lake share)",
            ours("Kinesis Data Streams", path="lake"),
        ),
        (
            "Firehose, 5 KB records, format conversion",
            58.90,
            "Firehose from the stream, conversion, dynamic partitioning",
            ours("Firehose"),
        ),
        ("Events processing Lambda (120 ms, 256 MB)", 1.56, "(none: Firehose de-aggregates and partitions)", "$0.00"),
        ("S3, 259.2 GB", 7.27, "S3 (Parquet GZIP, requests)", ours("S3")),
        (
            "Glue Data Catalog, 1 M objects, 1 M requests",
            11.00,
            "Glue Data Catalog (projection, no partitions)",
            _usd(_service_lines(bill, "Glue", path="lake")),
        ),
        ("Glue ETL, 2 DPU x 2 min", 0.15, "report job (reports path, below)", "-"),
        ("Athena, 100 queries/day x 100 MB", 1.45, "Athena, the same ad-hoc queries", ours("Athena", path="lake")),
        (
            "(no logs, metrics, traces, keys)",
            0.0,
            "CloudWatch, X-Ray, KMS, SQS of the lake path",
            _usd(_service_lines(bill, "CloudWatch", "X-Ray", "KMS", "SNS, SQS, Scheduler", path="lake")),
        ),
    ]
    out = [
        "| GAP line (Hive data lake + API) | GAP | featurepulse line | featurepulse |",
        "|---|---:|---|---:|",
    ]
    for gap_what, gap_usd, our_what, our_usd in rows:
        out.append(f"| {gap_what} | {_usd(gap_usd) if gap_usd else '-'} | {our_what} | {our_usd} |")
    out.append(f"| **lake path** | **$92.06** | **lake path** | **{_usd(bill.lake_path_usd)}** |")
    real_time = [
        (
            "Kinesis on-demand stream + extra consumer",
            58.87 + 9.89,
            "Kinesis: Flink's reads",
            ours("Kinesis Data Streams", path="realtime"),
        ),
        ("Managed Flink, 1 KPU", 165.60, "Managed Flink", ours("Managed Flink")),
        ("Kinesis provisioned shard", 10.96, "(the stream above)", "-"),
        (
            "OpenSearch Serverless + Ingestion",
            350.42 + 175.20,
            "DynamoDB live aggregates",
            ours("DynamoDB", path="realtime"),
        ),
        (
            "(QuickSight not priced)",
            0.0,
            "QuickSight and its connector (when on)",
            _usd(_service_lines(bill, "QuickSight", "Athena", "Lambda", path="realtime")),
        ),
        ("(no logs)", 0.0, "CloudWatch of the real-time path", ours("CloudWatch", path="realtime")),
    ]
    for gap_what, gap_usd, our_what, our_usd in real_time:
        out.append(f"| {gap_what} | {_usd(gap_usd) if gap_usd else '-'} | {our_what} | {our_usd} |")
    out.append(f"| **real time** | **$770.94** | **real time** | **{_usd(bill.realtime_usd)}** |")
    out.append(
        f"| (reports not priced) | - | reports (job, queries, mail; off by default) | {_usd(bill.reports_usd)} |"
    )
    out.append(f"| **total** | **$862.99** | **total** | **{_usd(bill.total_usd)}** |")
    return out


def _rates_table(bills: dict[int, Bill]) -> list[str]:
    rates = list(bills)
    out = [
        "| service | " + " | ".join(f"{r:,} events/s" for r in rates) + " |",
        "|---|" + "---:|" * len(rates),
    ]
    for service in SERVICES:
        out.append(f"| {service} | " + " | ".join(_usd(bills[r].services()[service]) for r in rates) + " |")
    for label, attr in (("lake path", "lake_path_usd"), ("real time", "realtime_usd"), ("reports", "reports_usd")):
        out.append(f"| {label} | " + " | ".join(_usd(getattr(bills[r], attr)) for r in rates) + " |")
    out.append("| **total** | " + " | ".join(f"**{_usd(bills[r].total_usd)}**" for r in rates) + " |")
    return out


def _lines_table(bill: Bill) -> list[str]:
    out = ["| service | line | quantity | path | USD |", "|---|---|---:|---|---:|"]
    for line in bill.lines:
        out.append(
            f"| {line.service} | {line.what} | {line.quantity:,.2f} {line.unit} | {line.path} | {_usd(line.usd)} |"
        )
    return out


def render_cost_markdown(cdk_json: Path = CDK_JSON, measured: MeasuredInputs | None = None) -> str:
    defaults = deploy_settings(cdk_json, {})
    everything = deploy_settings(cdk_json, ALL_FEATURES)
    at_gap = _bill(100, defaults, measured)
    by_rate = {rate: _bill(rate, _sized_for(cdk_json, rate), measured) for rate in RATES}
    growth = {rate: _bill(rate, _sized_for(cdk_json, rate), measured) for rate in GROWTH_RATES}
    all_on = _bill(100, everything, measured, viewers=5)
    measured_note = (
        f"measured inputs of {measured.measured_at} (git {measured.git_rev})"
        if measured
        else "no measured inputs file yet: every figure is an assumption"
    )
    s = defaults
    out = [
        "# Cost",
        "",
        "<!-- Generated by `python -m featurepulse.cost.docs` from featurepulse/cost/ (model, prices, measured",
        "inputs) and cdk.json's settings: do not edit by hand; tests/unit/test_cost_docs.py fails when it is",
        "stale. -->",
        "",
        "What a featurepulse deployment costs per month on AWS, service by service, from the deploy settings:",
        "",
        "```sh",
        "featurepulse cost --rate 100 --event-bytes 1000 --batch 100 --region us-east-1",
        "featurepulse cost --rate 100 --event-bytes 1000 --batch 100 --json          # machine-readable",
        "featurepulse cost --rate 100 --event-bytes 1000 --batch 100 -c streamMode=on-demand   # what-if",
        "```",
        "",
        "The command reads cdk.json's context plus `-c KEY=VALUE` overrides through the same settings model as the",
        "stack (cdk/settings.py), so the bill follows the configuration `cdk deploy` would use. It prints every line",
        "(quantity, unit, dollars, path), the subtotals of the **lake path** (ingest API, WAF, ingest Lambda,",
        "the stream, Firehose, S3, the Glue catalog, ad-hoc Athena queries, erasure plumbing, and the logs,",
        "metrics, traces and key they need), **real time** (the stream's second reader, Managed Flink, the",
        "aggregates table, QuickSight and its connector) and **reports** (the scheduled Glue job, its Athena",
        "queries, the mail), and which inputs were measured (with the date) and which are assumed.",
        "",
        f"Prices: us-east-1 list prices read on {PRICES_READ_ON} (featurepulse/cost/prices.py, table below). A month",
        "is 730 hours (the AWS Pricing Calculator's). No free tier is applied, as in the reference bill. Figures:",
        f"{measured_note}.",
        "",
        "## Against the Game Analytics Pipeline",
        "",
        "The reference is the sample cost table of the Game Analytics Pipeline guidance (GAP v3, README, as of August",
        "2025, us-east-1): 100 events/s of 1 KB in batches of 100 (259.2 M events and 2.592 M requests a month), 100",
        "Athena queries a day of 100 MB. Its lake uses Firehose Direct PUT (no stream); featurepulse puts the Kinesis",
        "stream first (docs/design.md) and has logs, traces, a customer managed key and an optional WAF (off by",
        "default: `wafEnabled`, docs/deploy.md 'Protection') that GAP's table leaves out. featurepulse with the",
        "default settings of cdk.json"
        f" (streamMode={s.stream_mode}, {s.shard_count} shard(s) when provisioned, wafEnabled="
        f"{str(s.waf_enabled).lower()}, traceSampleRate="
        f"{s.trace_sample_rate}, lakeBufferIntervalSeconds={s.lake_buffer_interval_seconds}, "
        f"realtimeEarlyFireDelayMs={s.realtime_early_fire_delay_ms}), line by line:",
        "",
        *_gap_table(at_gap),
        "",
        "GAP's Kinesis lines reproduce with the price table (docs below): provisioned 2 shards = 2 x 730 h x $0.015 +",
        "262.8 M PUT units x $0.014/M = $25.58; on-demand = 730 h x $0.04 + 247.2 GB x ($0.08 + $0.04) = $58.87.",
        "",
        "## The bill at 10, 100 and 1,000 events/s",
        "",
        "Default settings with `expectedEventsPerSecond` set to the rate (it sizes the stream), 1 KB events in",
        "batches of 100, 100 ad-hoc queries a day, one live-panel viewer:",
        "",
        *_rates_table(by_rate),
        "",
        "## How the cost grows with the rate",
        "",
        "Some lines are fixed per month whatever the traffic (the Flink application's two KPUs, with `wafEnabled` the",
        "WAF web ACL and rules, the dashboard, alarms and custom metrics, the key, a provisioned stream's minimum",
        "shard, the ad-hoc queries); the others grow linearly with the events (API Gateway and, with WAF, its",
        "requests, Lambda, Firehose per GB,",
        "S3, live aggregate writes, logs, traces) or in steps (provisioned shards, which `streamMode=auto` sizes",
        "from `expectedEventsPerSecond`, set to the rate here). Totals:",
        "",
        "| events/s | lake path | real time | reports | total | per million events |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for rate, bill in growth.items():
        per_million = bill.total_usd / (rate * 3600 * 730 / 1e6)
        out.append(
            f"| {rate:,} | {_usd(bill.lake_path_usd)} | {_usd(bill.realtime_usd)} | {_usd(bill.reports_usd)} | "
            f"{_usd(bill.total_usd)} | {_usd(per_million)} |"
        )
    out += [
        "",
        "## Every line at 100 events/s (default settings)",
        "",
        *_lines_table(at_gap),
        "",
        *[f"Note: {note}." for note in at_gap.notes],
        "",
        "## With every optional feature on",
        "",
        "QuickSight live panels (one author, 5 readers), the report mailed daily and weekly to 2 recipients, the alarm",
        "e-mail (`-c quicksightPrincipalArn=... -c reportSender=... -c reportRecipients=... -c alarmEmail=...`), at",
        "100 events/s:",
        "",
        f"lake path {_usd(all_on.lake_path_usd)}, real time {_usd(all_on.realtime_usd)}, reports "
        f"{_usd(all_on.reports_usd)}, **total {_usd(all_on.total_usd)}**.",
        "",
        "## Inputs: measured or assumed",
        "",
        "featurepulse/cost/measured_inputs.json is written by bench/bench_cost_inputs.py (`measured_at`, `git_rev`,",
        "the workload it ran, one entry per figure with what was measured). A figure the file lacks is an assumption",
        "of the model, printed as ASSUMED by the command. At 100 events/s:",
        "",
        "| figure | value | source |",
        "|---|---:|---|",
    ]
    for name in FIGURE_NAMES:
        figure = at_gap.figures.values[name]
        when = f"measured {figure.measured_at}" if figure.measured_at else "**assumed**"
        out.append(f"| `{name}` | {figure.value:,.3f} {figure.unit} | {when}: {figure.how} |")
    out += [
        "",
        "Assumptions of the model itself (featurepulse/cost/model.py): Lambda's START/END/REPORT lines "
        f"{LAMBDA_PLATFORM_LOG_BYTES:g} bytes (system log level WARN: not ingested) and the API access log "
        f"{ACCESS_LOG_BYTES_PER_REQUEST:g} bytes per request; Flink logs {FLINK_LOG_BYTES_PER_DAY / 1e6:g} MB a day; "
        f"stored logs compress to {LOG_STORAGE_COMPRESSION:g} of their size; the lake transform Lambda takes "
        f"{TRANSFORM_FIXED_MS_PER_INVOCATION:g} ms per invocation besides its per-MB work; Athena makes "
        f"{S3_GETS_PER_FILE_SCANNED} GETs per file it scans; the report job runs "
        f"{GLUE_MINUTES_PER_REPORT_RUN:g} minutes; the DynamoDB connector uses {CONNECTOR_GB_SECONDS_PER_QUERY:g} GB-s "
        f"per panel query; the aggregates table holds {AGGREGATES_TABLE_GB:g} GB; {KMS_CALLERS} principals fetch "
        f"data keys every 5 minutes; API Gateway's per-method metrics add {API_DETAILED_METRICS} custom metrics "
        "(they are off); "
        "Firehose's format conversion and dynamic partitioning are billed on the stream records as ingested (the",
        "pricing page's wording; a per-event rounding after de-aggregation would cost more); the configured Flink",
        "parallelism (autoscaling may add KPUs under load).",
        "",
        "## Prices",
        "",
        f"Read on {PRICES_READ_ON}. `check`: **reproduced** = reproduces a line of GAP's published table to the cent;",
        "**page** = read on the AWS pricing page named (or a copy of it); **third-party** = the AWS page could not be",
        "read offline, third-party pages quoting it (named) agree; **unverified** = not verified offline, the list",
        "price as known on the date: check these and the third-party ones first.",
        "",
        "| region | price | USD | unit | check | source |",
        "|---|---|---:|---|---|---|",
    ]
    for region, prices in PRICES.items():
        for key, price in prices.items():
            note = f" ({price.note})" if price.note else ""
            out.append(f"| {region} | `{key}` | {price.usd:g} | {price.unit} | {price.check}{note} | {price.source} |")
    out += [
        "",
        "## Keeping the model and the stack in step",
        "",
        "tests/infrastructure/test_cost_coverage.py synthesizes the default stack and the stack with every feature on",
        "and fails for a CloudFormation resource type the model does not price (free types such as IAM roles are",
        "listed there with the reason they are free), and when the counts of priced resources (keys, log groups,",
        "alarms, tables, WAF rules, QuickSight data sets...) or the stream's shard count differ from the model's.",
        "",
    ]
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    text = render_cost_markdown(measured=load_measured_inputs())
    COST_DOC.write_text(text, encoding="utf-8")
    print(f"wrote {COST_DOC.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
