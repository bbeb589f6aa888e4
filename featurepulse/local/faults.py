"""Injected Kinesis faults for the soak (featurepulse/local/soak.py): never installed by `make run` or in AWS.

`PutRecordsFaults.install(client)` registers two botocore event handlers on one Kinesis client (the ingest
handler's, `featurepulse.dal.clients.kinesis_client()`), so no production code changes for the soak:

- `before-parameter-build.kinesis.PutRecords` keeps the call's parameters in the call's context;
- `before-call.kinesis.PutRecords` may answer instead of Kinesis. A botocore `before-call` handler that returns
  `(http_response, parsed)` replaces the HTTP call, and a status >= 300 raises the `ClientError` Kinesis would.
  With probability `throttle_rate` the whole call is refused (`ProvisionedThroughputExceededException`, HTTP 400);
  with probability `partial_rate` some records are refused (`FailedRecordCount` > 0, each refused record with
  its `ErrorCode`) while the others really are put on the stream by a second, unhooked client, exactly what a
  partially failed PutRecords leaves behind.

`begin_outage()` / `end_outage()` (the soak decides when) refuse every call in between, a shard throttled for
longer than the handler's time budget: the requests that meet it are answered 503 and their clients send them
again (the whole request, same messageIds; the records an earlier attempt put are de-duplicated downstream).
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders

THROTTLED = "ProvisionedThroughputExceededException"
INTERNAL_FAILURE = "InternalFailure"
_PARAMS = "featurepulse_soak_params"


@dataclass
class FaultCounts:
    calls: int = 0
    throttled_calls: int = 0
    partial_calls: int = 0
    refused_records: int = 0
    outages: int = 0
    outage_calls: int = 0  # calls refused because an outage was on


class PutRecordsFaults:
    """Throttles and partially fails a share of the PutRecords calls of one boto3 Kinesis client."""

    def __init__(
        self,
        *,
        passthrough_client: Any,
        throttle_rate: float = 0.03,
        partial_rate: float = 0.05,
        refused_share: float = 0.3,
        seed: int = 1,
    ) -> None:
        self.passthrough_client = passthrough_client
        self.throttle_rate = throttle_rate
        self.partial_rate = partial_rate
        self.refused_share = refused_share
        self.enabled = True
        self.counts = FaultCounts()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._installed: list[Any] = []
        self._outage = False

    def begin_outage(self) -> None:
        """Refuse every call (throttled) until `end_outage()`."""
        with self._lock:
            if not self._outage:
                self._outage = True
                self.counts.outages += 1

    def end_outage(self) -> None:
        with self._lock:
            self._outage = False

    @property
    def outage(self) -> bool:
        return self._outage

    def install(self, client: Any) -> None:
        events = client.meta.events
        events.register("before-parameter-build.kinesis.PutRecords", self._remember_params)
        events.register("before-call.kinesis.PutRecords", self._answer_instead)
        self._installed.append(client)

    def uninstall(self) -> None:
        for client in self._installed:
            client.meta.events.unregister("before-parameter-build.kinesis.PutRecords", self._remember_params)
            client.meta.events.unregister("before-call.kinesis.PutRecords", self._answer_instead)
        self._installed.clear()

    def _remember_params(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context[_PARAMS] = params

    def _answer_instead(self, context: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        with self._lock:
            self.counts.calls += 1
            if not self.enabled:
                return None
            if self._outage:
                self.counts.outage_calls += 1
                return _response(400, {"Error": {"Code": THROTTLED, "Message": "Rate exceeded for shard (outage)"}})
            draw = self._rng.random()
            if draw < self.throttle_rate:
                self.counts.throttled_calls += 1
                return _response(400, {"Error": {"Code": THROTTLED, "Message": "Rate exceeded for shard (injected)"}})
            if draw >= self.throttle_rate + self.partial_rate:
                return None
            params = context[_PARAMS]
            records: list[dict[str, Any]] = list(params["Records"])
            refused = {i for i in range(len(records)) if self._rng.random() < self.refused_share}
            refused = refused or {self._rng.randrange(len(records))}
            codes = {i: self._rng.choice((THROTTLED, INTERNAL_FAILURE)) for i in refused}
            self.counts.partial_calls += 1
            self.counts.refused_records += len(refused)
        kept = [r for i, r in enumerate(records) if i not in refused]
        put: list[dict[str, Any]] = []
        if kept:
            answer = self.passthrough_client.put_records(StreamName=params["StreamName"], Records=kept)
            put = list(answer["Records"])
        results: list[dict[str, Any]] = []
        for i in range(len(records)):
            if i in refused:
                results.append({"ErrorCode": codes[i], "ErrorMessage": "injected by the soak"})
            else:
                results.append(put.pop(0))
        failed = sum(1 for r in results if r.get("ErrorCode"))
        return _response(200, {"FailedRecordCount": failed, "Records": results})


def _response(status: int, parsed: dict[str, Any]) -> tuple[AWSResponse, dict[str, Any]]:
    parsed = {**parsed, "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {}, "RetryAttempts": 0}}
    return AWSResponse("http://injected.invalid/", status, HTTPHeaders(), None), parsed
