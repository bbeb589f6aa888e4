#!/usr/bin/env python3
"""The CDK app: reads the context into StackSettings, builds the featurepulse stack, runs cdk-nag.

`npx cdk synth` runs this file (see cdk.json); `python app.py` works too and reads the same cdk.json
context. Deploy parameters are CDK context values: docs/deploy.md lists them with their defaults.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aws_cdk import App, Aspects, Environment, Tags
from cdk_nag import AwsSolutionsChecks

from cdk.lambda_bundling import lambda_code
from cdk.settings import SettingsError, StackSettings
from cdk.stack import FeaturePulseStack

CDK_JSON = Path(__file__).resolve().parent / "cdk.json"


def cdk_json_context(path: Path = CDK_JSON) -> dict[str, Any]:
    """The `context` of cdk.json (feature flags and defaults), so `python app.py` synthesizes what `cdk synth` does."""
    context = json.loads(path.read_text(encoding="utf-8")).get("context", {})
    if not isinstance(context, dict):
        raise SettingsError(f"{path}: `context` must be an object")
    return context


def build_app(context: Mapping[str, Any] | None = None, *, outdir: str | None = None) -> tuple[App, FeaturePulseStack]:
    """The app and its stack. `context` adds to cdk.json's; the CDK CLI's `-c` values override both."""
    app = App(context={**cdk_json_context(), **(context or {})}, outdir=outdir)
    unknown = StackSettings.unknown_context_keys(app.node.get_all_context())
    if unknown:
        raise SettingsError("; ".join(unknown) + " (docs/deploy.md lists every context parameter)")
    settings = StackSettings.from_context(app.node.try_get_context)
    stack = FeaturePulseStack(
        app,
        settings.stack_name,
        settings=settings,
        lambda_code=lambda_code(skip_dependencies=settings.skip_lambda_dependencies),
        description="featurepulse: feature-engagement analytics (ingest API, stream, lake, real time, reports)",
        # Environment-agnostic unless the CLI knows the target account (synth never calls AWS).
        env=Environment(account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION")),
    )
    Tags.of(stack).add("project", "featurepulse")
    Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    return app, stack


def main(context: Mapping[str, Any] | None = None) -> int:
    try:
        app, stack = build_app(context)
    except SettingsError as exc:
        print(f"featurepulse: {exc}", file=sys.stderr)
        return 2
    for note in stack.settings.switched_off():
        print(f"featurepulse: {note}", file=sys.stderr)
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
