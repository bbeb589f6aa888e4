"""The one price table of the cost model: AWS list prices, per region, each with its public source and date read.

Prices were read on `PRICES_READ_ON` from the public pages named in each entry (offline copies of the pages,
through the project's documentation search), or reproduced from a published bill. `check` says how far each price
was verified, in one of three words:

- "reproduced": the price reproduces, to the cent, a line of the Game Analytics Pipeline's published cost table
  (guidance-for-game-analytics-pipeline-on-aws README, "Sample Cost Table", as of August 2025, us-east-1), which
  was computed with the AWS Pricing Calculator (docs/cost.md shows each reproduction);
- "page": the price was read on the AWS pricing page (or a copy of it) named in `source`;
- "third-party": the AWS page could not be read offline; the price was read on third-party pages that quote it
  (named in the note);
- "unverified": the AWS pricing page could not be read offline; the price is the us-east-1 list price as known
  on the date, and docs/cost.md marks it. Check these first when the bill matters.

No free tier is applied anywhere (free tiers are per account and shared with other workloads), as in the
reference bill. A month is 730 hours (the AWS Pricing Calculator's month).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

PRICES_READ_ON = "2026-12-04"
HOURS_PER_MONTH = 730.0
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600
DAYS_PER_MONTH = HOURS_PER_MONTH / 24
GB = 1024**3  # AWS bills "GB" of data as 2^30 bytes (the reference bill's figures reproduce only so)
KB = 1024

Check = Literal["reproduced", "page", "third-party", "unverified"]

_APIGW = "https://aws.amazon.com/api-gateway/pricing/"
_WAF = "https://aws.amazon.com/waf/pricing/"
_LAMBDA = "https://aws.amazon.com/lambda/pricing/"
_KDS = "https://aws.amazon.com/kinesis/data-streams/pricing/"
_FIREHOSE = "https://aws.amazon.com/firehose/pricing/"
_S3 = "https://aws.amazon.com/s3/pricing/"
_GLUE = "https://aws.amazon.com/glue/pricing/"
_ATHENA = "https://aws.amazon.com/athena/pricing/"
_DDB = "https://aws.amazon.com/dynamodb/pricing/on-demand/"
_FLINK = "https://aws.amazon.com/managed-service-apache-flink/pricing/"
_QUICKSIGHT = "https://aws.amazon.com/quicksight/pricing/"
_SES = "https://aws.amazon.com/ses/pricing/"
_CLOUDWATCH = "https://aws.amazon.com/cloudwatch/pricing/"
_XRAY = "https://aws.amazon.com/xray/pricing/"
_KMS = "https://aws.amazon.com/kms/pricing/"
_SQS = "https://aws.amazon.com/sqs/pricing/"
_SNS = "https://aws.amazon.com/sns/pricing/"
_SCHEDULER = "https://aws.amazon.com/eventbridge/pricing/"


@dataclass(frozen=True)
class Price:
    usd: float
    unit: str
    source: str
    check: Check
    note: str = ""


# us-east-1 (US East, N. Virginia). The first tier of tiered prices: the workloads priced here stay inside it.
US_EAST_1: dict[str, Price] = {
    # API Gateway REST API, first 333 million requests a month.
    "apigw_rest_per_million": Price(3.50, "per million requests", _APIGW, "reproduced", "GAP: 2,592,000 calls = $9.07"),
    # AWS WAF.
    "waf_web_acl_month": Price(
        5.00, "per web ACL per month", _WAF, "third-party", "c3x.dev, awsnegotiations.com (2026)"
    ),
    "waf_rule_month": Price(
        1.00,
        "per rule or managed rule group per month",
        _WAF,
        "third-party",
        "c3x.dev: a managed rule group counts as one rule",
    ),
    "waf_requests_per_million": Price(
        0.60, "per million requests inspected", _WAF, "third-party", "c3x.dev, awsnegotiations.com (2026)"
    ),
    # Lambda.
    "lambda_requests_per_million": Price(0.20, "per million requests", _LAMBDA, "reproduced", "GAP Lambda lines"),
    "lambda_arm_gb_second": Price(
        0.0000133334, "per GB-second (arm64)", _LAMBDA, "reproduced", "GAP: 2,592,000 x 200 ms x 256 MB = $2.25"
    ),
    "lambda_x86_gb_second": Price(0.0000166667, "per GB-second (x86_64)", _LAMBDA, "unverified"),
    # Kinesis Data Streams.
    "kds_shard_hour": Price(0.015, "per shard-hour (provisioned)", _KDS, "reproduced", "GAP: 2 shards = $25.58"),
    "kds_put_units_per_million": Price(
        0.014, "per million PUT payload units of 25 KB (provisioned)", _KDS, "reproduced", "GAP: 2 shards = $25.58"
    ),
    "kds_extended_retention_shard_hour": Price(0.02, "per shard-hour beyond 24 h retention", _KDS, "unverified"),
    "kds_on_demand_stream_hour": Price(
        0.04, "per stream-hour (on-demand standard)", _KDS, "reproduced", "GAP: on-demand = $58.87"
    ),
    "kds_on_demand_in_gb": Price(
        0.08, "per GB written, records rounded up to 1 KB (on-demand standard)", _KDS, "reproduced", "GAP $58.87"
    ),
    "kds_on_demand_out_gb": Price(
        0.04, "per GB read, per consumer (on-demand standard)", _KDS, "reproduced", "GAP: extra consumer = $9.89"
    ),
    "kds_on_demand_retention_gb_month": Price(0.10, "per GB-month beyond 24 h retention", _KDS, "unverified"),
    # Amazon Data Firehose.
    "firehose_ingest_gb": Price(
        0.029,
        "per GB ingested, each record rounded up to 5 KB (first 500 TB)",
        _FIREHOSE,
        "reproduced",
        "GAP: 5 KB records with format conversion = $58.90",
    ),
    "firehose_format_conversion_gb": Price(
        0.018, "per GB converted (same 5 KB rounding)", _FIREHOSE, "reproduced", "GAP $58.90"
    ),
    "firehose_dynamic_partitioning_gb": Price(
        0.020,
        "per GB delivered to S3 by dynamic partitioning",
        _FIREHOSE,
        "page",
        "the pricing page (German copy, aws.amazon.com/de/kinesis/data-firehose/pricing/): dynamic partitioning is "
        "paid per GB delivered to S3, per object and per JQ hour; format conversion per GB ingested in 5 KB steps",
    ),
    "firehose_dynamic_partitioning_objects_per_1000": Price(
        0.005, "per 1,000 S3 objects delivered by dynamic partitioning", _FIREHOSE, "unverified"
    ),
    "firehose_jq_hour": Price(0.07, "per JQ processing hour", _FIREHOSE, "unverified"),
    # S3.
    "s3_standard_gb_month": Price(
        0.023, "per GB-month, S3 Standard (first 50 TB)", _S3, "third-party", "cloudburn.io, deepeshsoni.com"
    ),
    "s3_standard_ia_gb_month": Price(0.0125, "per GB-month, S3 Standard-IA", _S3, "unverified"),
    "s3_put_per_1000": Price(0.005, "per 1,000 PUT, COPY, POST, LIST requests", _S3, "unverified"),
    "s3_get_per_1000": Price(0.0004, "per 1,000 GET and other requests", _S3, "unverified"),
    # Glue.
    "glue_dpu_hour": Price(
        0.44,
        "per DPU-hour, Spark ETL (per second, 1-minute minimum)",
        _GLUE,
        "page",
        "a copy of the Glue pricing page: 6 DPU x 0.25 h x $0.44; GAP's $0.15 not reproducible",
    ),
    "glue_catalog_objects_per_100k_month": Price(
        1.00,
        "per 100,000 Data Catalog objects per month",
        _GLUE,
        "reproduced",
        "GAP: 1 M objects + 1 M requests = $11.00",
    ),
    "glue_catalog_requests_per_million": Price(1.00, "per million Data Catalog requests", _GLUE, "reproduced", "GAP"),
    # Athena.
    "athena_tb_scanned": Price(
        5.00, "per TB scanned, at least 10 MB per query", _ATHENA, "reproduced", "GAP: 100 x 100 MB a day = $1.45"
    ),
    # DynamoDB on-demand (prices since November 2024).
    "ddb_write_request_units_per_million": Price(
        0.625, "per million write request units", _DDB, "third-party", "airbyte.com: after the November 2024 cut"
    ),
    "ddb_read_request_units_per_million": Price(
        0.125, "per million read request units", _DDB, "third-party", "airbyte.com: after the November 2024 cut"
    ),
    "ddb_storage_gb_month": Price(0.25, "per GB-month, Standard table class", _DDB, "unverified"),
    "ddb_pitr_gb_month": Price(0.20, "per GB-month, continuous backups (PITR)", _DDB, "unverified"),
    # Managed Service for Apache Flink.
    "flink_kpu_hour": Price(
        0.11, "per KPU-hour (plus one orchestration KPU per application)", _FLINK, "reproduced", "GAP: 1 KPU = $165.60"
    ),
    "flink_running_storage_gb_month": Price(
        0.10, "per GB-month of running application storage (50 GB per KPU)", _FLINK, "reproduced", "GAP $165.60"
    ),
    "flink_backup_gb_month": Price(0.023, "per GB-month of durable application backups", _FLINK, "unverified"),
    # QuickSight (Amazon Quick Suite since 2025: its user pricing changed; these are the Enterprise list prices).
    "quicksight_author_month": Price(
        24.00,
        "per author per month (Enterprise, monthly)",
        _QUICKSIGHT,
        "page",
        "transcribed from the page on 2026-10-07 (api-evangelist); Quick Suite",
    ),
    "quicksight_reader_month": Price(
        3.00,
        "per reader per month (Enterprise reader)",
        _QUICKSIGHT,
        "page",
        "transcribed from the page on 2026-10-07 (api-evangelist)",
    ),
    # SES.
    "ses_per_1000_emails": Price(0.10, "per 1,000 e-mails sent", _SES, "unverified"),
    # CloudWatch.
    "cw_logs_ingest_gb": Price(
        0.50,
        "per GB of logs ingested (Standard class)",
        _CLOUDWATCH,
        "third-party",
        "factualminds.com, cloudburn.io (2026)",
    ),
    "cw_logs_storage_gb_month": Price(0.03, "per GB-month of logs stored (compressed)", _CLOUDWATCH, "unverified"),
    "cw_custom_metric_month": Price(
        0.30, "per custom metric per month (first 10,000)", _CLOUDWATCH, "third-party", "signoz.io (2026)"
    ),
    "cw_alarm_metric_month": Price(0.10, "per standard-resolution alarm metric per month", _CLOUDWATCH, "unverified"),
    "cw_dashboard_month": Price(3.00, "per dashboard per month", _CLOUDWATCH, "third-party", "factualminds.com (2026)"),
    # X-Ray.
    "xray_traces_recorded_per_million": Price(5.00, "per million traces recorded", _XRAY, "page"),
    "xray_traces_retrieved_per_million": Price(0.50, "per million traces retrieved or scanned", _XRAY, "page"),
    # KMS.
    "kms_key_month": Price(
        1.00,
        "per customer managed key per month (first year of rotation)",
        _KMS,
        "page",
        "each rotation's new backing key adds $1/month (first two rotations): $2-$3 from year 2",
    ),
    "kms_requests_per_10k": Price(0.03, "per 10,000 requests", _KMS, "third-party", "wring.co (2026)"),
    # Messaging and schedules (the alarm topic, the erasure queues, the report schedules).
    "sqs_fifo_per_million": Price(0.50, "per million FIFO requests", _SQS, "unverified"),
    "sns_publish_per_million": Price(0.50, "per million publishes", _SNS, "unverified"),
    "sns_email_per_100k": Price(2.00, "per 100,000 e-mail notifications", _SNS, "unverified"),
    "scheduler_invocations_per_million": Price(1.00, "per million scheduled invocations", _SCHEDULER, "unverified"),
}

PRICES: dict[str, dict[str, Price]] = {"us-east-1": US_EAST_1}


class UnknownRegionError(ValueError):
    """No price table for the region."""


def prices_for(region: str) -> dict[str, Price]:
    try:
        return PRICES[region]
    except KeyError:
        raise UnknownRegionError(
            f"no price table for region {region!r} (priced: {', '.join(sorted(PRICES))}); "
            "add one to featurepulse/cost/prices.py with its sources"
        ) from None
