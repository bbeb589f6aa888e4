"""The send record: one DynamoDB item per report and period, so a finished period is mailed once.

States: `sending` (claimed by a run), `sent` (SES accepted the final report of a period that is over),
`partial` (SES accepted a partial report, sent while the period was not over: docs/reports.md, "Partial and
empty periods"), `failed` (the run failed before SES accepted it). A run claims the item with a conditional
write that succeeds only when no final report was sent: no item, a `failed` or `partial` one, or a `sending`
one older than `stale_after_s` (a run that died mid-way). So a partial report never blocks the final one, and
the final one goes out once. Two runs at the same time cannot both claim. `force` overwrites whatever is there
(a deliberate re-send). A period without any event is not sent and leaves no record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

PARTITION_KEY = "report_key"
STATUS_SENDING, STATUS_SENT, STATUS_PARTIAL, STATUS_FAILED = "sending", "sent", "partial", "failed"


@dataclass(frozen=True)
class SendRecord:
    report_key: str
    status: str
    message_id: str | None = None
    updated_at: int = 0
    data_until: int | None = None  # a partial report: the epoch second its data runs up to


def sent_item_status(*, partial: bool) -> str:
    return STATUS_PARTIAL if partial else STATUS_SENT


class DynamoDbSendLog:
    def __init__(self, client: Any, table_name: str, *, stale_after_s: int = 3600) -> None:
        self._client = client  # a boto3 "dynamodb" client
        self._table = table_name
        self._stale_after_s = stale_after_s

    def get(self, report_key: str) -> SendRecord | None:
        item = self._client.get_item(
            TableName=self._table, Key={PARTITION_KEY: {"S": report_key}}, ConsistentRead=True
        ).get("Item")
        if not item:
            return None
        return SendRecord(
            report_key=report_key,
            status=item["status"]["S"],
            message_id=item.get("message_id", {}).get("S"),
            updated_at=int(item.get("updated_at", {}).get("N", "0")),
            data_until=int(item["data_until"]["N"]) if "data_until" in item else None,
        )

    def claim(self, report_key: str, *, now: int, force: bool = False) -> bool:
        """Take the right to send; False when the period's final report was sent (or one is being sent)."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "Item": {
                PARTITION_KEY: {"S": report_key},
                "status": {"S": STATUS_SENDING},
                "updated_at": {"N": str(now)},
            },
        }
        if not force:
            request["ConditionExpression"] = (
                "attribute_not_exists(#k) OR #s = :failed OR #s = :partial OR (#s = :sending AND updated_at < :stale)"
            )
            request["ExpressionAttributeNames"] = {"#k": PARTITION_KEY, "#s": "status"}
            request["ExpressionAttributeValues"] = {
                ":failed": {"S": STATUS_FAILED},
                ":partial": {"S": STATUS_PARTIAL},
                ":sending": {"S": STATUS_SENDING},
                ":stale": {"N": str(now - self._stale_after_s)},
            }
        try:
            self._client.put_item(**request)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def mark_sent(
        self, report_key: str, *, message_id: str, recipients: int, now: int, data_until: int | None = None
    ) -> None:
        """SES accepted the message: `sent` (final), or `partial` when `data_until` is given."""
        item: dict[str, Any] = {
            PARTITION_KEY: {"S": report_key},
            "status": {"S": sent_item_status(partial=data_until is not None)},
            "message_id": {"S": message_id},
            "recipients": {"N": str(recipients)},
            "updated_at": {"N": str(now)},
        }
        if data_until is not None:
            item["data_until"] = {"N": str(data_until)}
        self._client.put_item(TableName=self._table, Item=item)

    def mark_failed(self, report_key: str, *, error: str, now: int) -> None:
        self._client.put_item(
            TableName=self._table,
            Item={
                PARTITION_KEY: {"S": report_key},
                "status": {"S": STATUS_FAILED},
                "error": {"S": error[:1000]},
                "updated_at": {"N": str(now)},
            },
        )


def create_send_log_table(client: Any, table_name: str) -> None:
    """Local mode only (in AWS the CDK `Reporting` construct owns the table): create it if missing."""
    try:
        client.create_table(
            TableName=table_name,
            AttributeDefinitions=[{"AttributeName": PARTITION_KEY, "AttributeType": "S"}],
            KeySchema=[{"AttributeName": PARTITION_KEY, "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceInUseException":
            raise
