"""Run under a Lambda runtime's Python (tests/deploy/test_lambda_artifact.py): put the function's code and
layers first on sys.path as Lambda does (/var/task, then /opt/python), import the handler, call it once with
the event file, and print the response and where the key modules were imported from, as JSON.

Usage: python lambda_probe.py HANDLER EVENT_JSON PATH [PATH ...]   (PATH: first wins)
"""

import importlib
import json
import sys
from dataclasses import dataclass


@dataclass
class Context:
    function_name: str = "deploy-probe"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:deploy-probe"
    aws_request_id: str = "00000000-0000-4000-8000-000000000001"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def main() -> None:
    handler_name, event_path, *paths = sys.argv[1:]
    sys.path[0:0] = paths
    module_name, _, function_name = handler_name.rpartition(".")
    handler = getattr(importlib.import_module(module_name), function_name)
    import aws_xray_sdk.core  # noqa: F401 - the tracer's SDK: imported when tracing is on in Lambda

    with open(event_path, encoding="utf-8") as handle:
        event = json.load(handle)
    response = handler(event, Context())
    origins = {
        name: getattr(sys.modules[name], "__file__", None)
        for name in ("featurepulse", "lambdas", "boto3", "botocore", "pydantic", "pydantic_core", "orjson", "pyarrow")
        if name in sys.modules
    }
    print(json.dumps({"response": response, "origins": origins, "python": list(sys.version_info[:2])}))


if __name__ == "__main__":
    main()
