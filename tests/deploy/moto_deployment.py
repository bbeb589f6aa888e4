"""The synthesized template's resources, made in a moto server on demand: a value the template passes to a
runtime (a job argument, an environment variable) that refers to a resource gets that resource created in
moto, named by its logical id, with the properties that matter for the call (key schema, shard count,
output location). A reference this module does not know fails the test: a new dependency of a runtime must
be taught here, not skipped.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

REGION = "us-east-1"
ACCOUNT = "123456789012"
ASSETS_BUCKET = "cdk-assets"
PSEUDO = {
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
}
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def moto_server() -> Iterator[str]:
    """A moto server on loopback (in this process: tests can read its backends); yields its endpoint URL."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


class MotoDeployment:
    """Resolves template values against moto, creating each referenced resource once."""

    def __init__(self, resources: dict[str, dict[str, Any]], endpoint: str) -> None:
        self.resources = resources
        self.endpoint = endpoint
        self.made: dict[str, str] = {}
        self.client("s3").create_bucket(Bucket=ASSETS_BUCKET)

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def resolve(self, value: Any) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, int | float):
            return str(value)
        (function, argument), *rest = value.items()
        assert not rest, value
        if function == "Ref":
            return PSEUDO.get(argument) or self.ref(argument)
        if function == "Fn::Join":
            separator, parts = argument
            return str(separator).join(self.resolve(part) for part in parts)
        if function == "Fn::Sub":
            return self._sub(argument)
        if function == "Fn::GetAtt":
            logical_id, attribute = argument
            return self.get_att(logical_id, attribute)
        raise AssertionError(f"the deploy tier cannot resolve {function}: {value!r}")

    def _sub(self, template: str) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            return PSEUDO.get(name) or self.ref(name)

        text = re.sub(r"\$\{([^}]+)\}", replace, template)
        # The CDK bootstrap's assets bucket: the artifacts are uploaded to one moto bucket.
        return re.sub(r"cdk-[a-z0-9]+-assets-\d+-[a-z0-9-]+", ASSETS_BUCKET, text)

    def ref(self, logical_id: str) -> str:
        if logical_id not in self.made:
            self.made[logical_id] = self._create(logical_id)
        return self.made[logical_id]

    def get_att(self, logical_id: str, attribute: str) -> str:
        name = self.ref(logical_id)
        kind = self.resources[logical_id]["Type"]
        if attribute == "Arn" and kind == "AWS::DynamoDB::Table":
            return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"
        if attribute == "Arn" and kind == "AWS::S3::Bucket":
            return f"arn:aws:s3:::{name}"
        raise AssertionError(f"the deploy tier cannot resolve {logical_id}.{attribute} ({kind})")

    def _create(self, logical_id: str) -> str:
        body = self.resources[logical_id]
        kind, props = body["Type"], body.get("Properties", {})
        if kind == "AWS::S3::Bucket":
            name = logical_id.lower()
            self.client("s3").create_bucket(Bucket=name)
            return name
        if kind == "AWS::DynamoDB::Table":
            arguments: dict[str, Any] = {
                "TableName": logical_id,
                "KeySchema": props["KeySchema"],
                "AttributeDefinitions": props["AttributeDefinitions"],
                "BillingMode": "PAY_PER_REQUEST",
            }
            if props.get("GlobalSecondaryIndexes"):
                arguments["GlobalSecondaryIndexes"] = [
                    {k: v for k, v in index.items() if k != "ProvisionedThroughput"}
                    for index in props["GlobalSecondaryIndexes"]
                ]
            self.client("dynamodb").create_table(**arguments)
            return logical_id
        if kind == "AWS::SES::ConfigurationSet":
            self.client("sesv2").create_configuration_set(ConfigurationSetName=logical_id)
            return logical_id
        if kind == "AWS::Kinesis::Stream":
            self.client("kinesis").create_stream(StreamName=logical_id, ShardCount=int(props.get("ShardCount", 1)))
            return logical_id
        if kind == "AWS::SQS::Queue":
            name = logical_id + (".fifo" if props.get("FifoQueue") else "")
            attributes = {"FifoQueue": "true"} if props.get("FifoQueue") else {}
            self.client("sqs").create_queue(QueueName=name, Attributes=attributes)
            return name
        if kind == "AWS::Glue::Database":
            name = str(props["DatabaseInput"]["Name"])
            self.client("glue").create_database(DatabaseInput={"Name": name})
            return name
        if kind == "AWS::Glue::Table":
            return str(props["TableInput"]["Name"])
        raise AssertionError(f"the deploy tier cannot create {kind} ({logical_id}) in moto")

    def athena_workgroup(self, name: str) -> None:
        """The template's workgroup of that name, with its (enforced) result location, in moto."""
        (props,) = [
            body["Properties"]
            for body in self.resources.values()
            if body["Type"] == "AWS::Athena::WorkGroup" and body["Properties"].get("Name") == name
        ]
        configuration = props.get("WorkGroupConfiguration", {})
        result = configuration.get("ResultConfiguration", {})
        self.client("athena").create_work_group(
            Name=name,
            Configuration={
                "ResultConfiguration": {"OutputLocation": self.resolve(result["OutputLocation"])},
                "EnforceWorkGroupConfiguration": bool(configuration.get("EnforceWorkGroupConfiguration", False)),
            },
        )
