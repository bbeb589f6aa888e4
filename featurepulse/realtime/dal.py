"""Reading (and, locally, creating) the aggregates table. Main runtime only (boto3); the job never imports it."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from featurepulse.realtime import items
from featurepulse.realtime.panels import Panels, assemble_panels, day_source_of
from featurepulse.realtime.settings import MINUTE_MS
from featurepulse.realtime.windows import day_start_ms

_deserializer = TypeDeserializer()


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [_plain(v) for v in value]
    return value


def from_dynamodb(item: dict[str, Any]) -> dict[str, Any]:
    """A low-level DynamoDB item as plain Python (numbers as int, NULL as None)."""
    return {k: _plain(_deserializer.deserialize(v)) for k, v in item.items()}


def create_aggregates_table(client: Any, table_name: str) -> None:
    """The table as `cdk/realtime.py` defines it (keys, on-demand, TTL), for the local stack and tests."""
    client.create_table(
        TableName=table_name,
        AttributeDefinitions=[
            {"AttributeName": items.PK, "AttributeType": "S"},
            {"AttributeName": items.SK, "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": items.PK, "KeyType": "HASH"},
            {"AttributeName": items.SK, "KeyType": "RANGE"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=table_name)
    client.update_time_to_live(
        TableName=table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": items.TTL_ATTRIBUTE}
    )


class AggregatesReader:
    """The panels' reads (featurepulse/realtime/items.py lists them), each one Query or GetItem."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self.table_name = table_name

    @property
    def client(self) -> Any:
        """The low-level DynamoDB client the reads use."""
        return self._client

    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        answer = self._client.get_item(
            TableName=self.table_name, Key={items.PK: {"S": pk}, items.SK: {"S": sk}}, ConsistentRead=True
        )
        item = answer.get("Item")
        return None if item is None else from_dynamodb(item)

    def _query(self, pk: str, condition: str, values: dict[str, str]) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": f"{items.PK} = :pk AND {condition}",
            "ExpressionAttributeValues": {":pk": {"S": pk}, **{k: {"S": v} for k, v in values.items()}},
        }
        while True:
            page = self._client.query(**kwargs)
            for item in page.get("Items", []):
                yield from_dynamodb(item)
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def between(self, pk: str, low: str, high: str) -> list[dict[str, Any]]:
        return list(self._query(pk, f"{items.SK} BETWEEN :lo AND :hi", {":lo": low, ":hi": high}))

    def with_prefix(self, pk: str, prefix: str) -> list[dict[str, Any]]:
        return list(self._query(pk, f"begins_with({items.SK}, :prefix)", {":prefix": prefix}))

    def last_minutes(self, feature: str, now_ms: int, minutes: int = 60) -> list[dict[str, Any]]:
        low, high = items.minute_range(now_ms - (minutes - 1) * MINUTE_MS, now_ms)
        return self.between(items.feature_pk(feature), low, high)

    def features_of_day(self, day_ms: int, *, final: bool = False) -> list[dict[str, Any]]:
        prefix = items.directory_day_prefix(day_ms)
        return self.with_prefix(items.APP_PK, items.final(prefix) if final else prefix)

    def is_day_final(self, day_ms: int) -> bool:
        """Whether the batch has corrected the day (its app row is written last)."""
        return day_source_of(self.get(items.APP_PK, items.final(items.day_sort_key(day_ms)))) == "final"

    def panels(self, feature: str | None, now_ms: int) -> Panels:
        """All five panels for `feature` (default: the feature with most active persons today). The day figures
        come from the final rows when the day is final, else from the live rows: never a mix."""
        day = day_start_ms(now_ms)
        final = self.is_day_final(day)

        def day_key(key: str) -> str:
            return items.final(key) if final else key

        directory = self.features_of_day(day, final=final)
        if feature is None and directory:
            feature = max(directory, key=lambda i: (int(i.get("persons") or 0), str(i["feature"])))["feature"]
        pk = items.feature_pk(feature) if feature else None
        return assemble_panels(
            now_ms=now_ms,
            feature=feature,
            day_source="final" if final else "live",
            minute_items=self.last_minutes(feature, now_ms) if feature else [],
            day_item=self.get(pk, day_key(items.day_sort_key(day))) if pk else None,
            app_day_item=self.get(items.APP_PK, day_key(items.day_sort_key(day))),
            directory_items=directory,
            campaign_items=self.with_prefix(pk, day_key(items.campaign_day_prefix(day))) if pk else [],
            variant_items=self.with_prefix(pk, day_key(items.variant_day_prefix(day))) if pk else [],
            late_item=self.get(items.APP_PK, items.late_sort_key(day)),
        )
