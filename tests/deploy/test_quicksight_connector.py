"""Deploy readiness of the QuickSight live path: the nested SAR application (the Athena DynamoDB connector) as the
fullest stack references it, checked against the release's SAR template (cdk/athena_connector.py records each
release's packaging and parameters from athena-dynamodb/athena-dynamodb.yaml at its tag) and against what Lambda
still lets CloudFormation create on the day of the deploy.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from cdk.athena_connector import CONNECTOR_RELEASES, REQUIRED_PARAMETERS, connector_release_problem
from cdk.quicksight import CONNECTOR_APPLICATION_ID
from tests.deploy.conftest import CloudAssembly

pytestmark = [pytest.mark.deploy]

# The template's own limits on its parameters (athena-dynamodb.yaml: AllowedPattern, descriptions).
CATALOG_NAME = re.compile(r"^[a-z0-9-_]{1,64}$")
MEMORY_MB = range(128, 3008 + 1)
TIMEOUT_S = range(1, 900 + 1)


def _only(assembly: CloudAssembly, resource_type: str) -> tuple[str, dict[str, Any]]:
    found = assembly.of_type(resource_type)
    assert len(found) == 1, sorted(found)
    return next(iter(found.items()))


def test_the_connector_release_can_be_created_today_with_the_parameters_its_template_takes(assembly: CloudAssembly):
    # Given the connector application of the stack with every optional feature on
    _, application = _only(assembly, "AWS::Serverless::Application")
    location = application["Properties"]["Location"]
    parameters = application["Properties"]["Parameters"]
    # Then it is the AWS-published connector, in a release whose template was read
    assert location["ApplicationId"] == CONNECTOR_APPLICATION_ID
    release = CONNECTOR_RELEASES[location["SemanticVersion"]]
    # And Lambda still creates its function today (a container image; java11 zips are refused since 2026-07-31)
    assert release.packaging == "image"
    assert connector_release_problem(release.version, today=datetime.now(UTC).date()) is None
    # And it gets exactly parameters its template declares, within the template's limits
    assert set(parameters) <= release.parameters
    assert set(parameters) >= REQUIRED_PARAMETERS
    assert CATALOG_NAME.match(parameters["AthenaCatalogName"])
    assert int(parameters["LambdaMemory"]) in MEMORY_MB
    assert int(parameters["LambdaTimeout"]) in TIMEOUT_S
    assert parameters["DisableSpillEncryption"] in {"true", "false"}


def test_the_catalog_names_the_function_the_nested_template_creates(assembly: CloudAssembly):
    _, application = _only(assembly, "AWS::Serverless::Application")
    _, catalog = _only(assembly, "AWS::Athena::DataCatalog")
    # The template names its function after AthenaCatalogName; the catalog must invoke that function
    name = application["Properties"]["Parameters"]["AthenaCatalogName"]
    assert catalog["Properties"]["Name"] == name
    function = catalog["Properties"]["Parameters"]["function"]["Fn::Join"][1]
    assert function[-1] == f":function:{name}"


def test_with_its_own_role_the_connector_gets_what_the_template_would_have_granted_for_kms(assembly: CloudAssembly):
    # Given LambdaRole, the template creates no role and no KMS policy (its CreateKMSPolicy condition is false)
    _, application = _only(assembly, "AWS::Serverless::Application")
    parameters = application["Properties"]["Parameters"]
    role_id = parameters["LambdaRole"]["Fn::GetAtt"][0]
    assert parameters["KMSKeyId"]
    # Then the role the stack passes has the template's KMS statements: GenerateRandom and GenerateDataKey
    actions: set[str] = set()
    for policy in assembly.of_type("AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                action = statement["Action"]
                actions |= {action} if isinstance(action, str) else set(action)
    assert {"kms:GenerateRandom", "kms:GenerateDataKey", "dynamodb:Query", "s3:PutObject"} <= actions
