"""Infrastructure fixtures: the stack is synthesized ONCE per session (it takes seconds) and shared.

The shared synth packages the Lambda's sources without `pip install` (`skipLambdaDependencies`);
test_lambda_bundling.py runs the real bundling once. cdk-nag runs in that same synth (app.py adds it).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, CfnElement, Stack
from aws_cdk.assertions import Annotations, Template
from constructs import IConstruct

from app import build_app
from cdk.stack import FeaturePulseStack

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")

REPO_ROOT = Path(__file__).resolve().parents[2]
FAST_SYNTH_CONTEXT: dict[str, Any] = {"skipLambdaDependencies": True}


@dataclass(frozen=True)
class Synthesized:
    app: App
    stack: FeaturePulseStack
    template: Template
    annotations: Annotations
    outdir: Path

    @property
    def template_path(self) -> Path:
        return self.outdir / self.stack.template_file

    @cached_property
    def template_json(self) -> dict[str, Any]:
        body: dict[str, Any] = self.template.to_json()
        return body

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        """Every resource of a type, by logical id (other capabilities may add their own of the same type)."""
        return {
            logical_id: body
            for logical_id, body in self.template_json["Resources"].items()
            if body["Type"] == resource_type
        }

    def only(self, resource_type: str) -> tuple[str, dict[str, Any]]:
        """The logical id and body of the single resource of a type (fails if there are several).

        Only for types one capability owns alone; otherwise use `resource(stack.<attribute>)`.
        """
        found = self.resources(resource_type)
        assert len(found) == 1, f"expected one {resource_type}, found {sorted(found)}"
        return next(iter(found.items()))

    def resource(self, construct: IConstruct) -> tuple[str, dict[str, Any]]:
        """The logical id and template body of a construct of the stack (an L2's default child, or an L1)."""
        element = construct if isinstance(construct, CfnElement) else construct.node.default_child
        assert isinstance(element, CfnElement), construct
        logical_id = self.stack.get_logical_id(element)
        return logical_id, self.template_json["Resources"][logical_id]


def synthesize(outdir: Path, context: Mapping[str, Any] | None = None) -> Synthesized:
    app, stack = build_app({**FAST_SYNTH_CONTEXT, **(context or {})}, outdir=str(outdir))
    app.synth()
    return Synthesized(
        app=app,
        stack=stack,
        template=Template.from_stack(stack),
        annotations=Annotations.from_stack(stack),
        outdir=outdir,
    )


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The stack with default context, as `make synth` builds it (minus the pip step)."""
    return synthesize(tmp_path_factory.mktemp("cdk.out"))


@pytest.fixture(scope="session")
def synthesize_with(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Synthesized]]:
    """Synthesize the stack with extra context values (each call is a full synth: use sparingly)."""

    def _synthesize(**context: Any) -> Synthesized:
        return synthesize(tmp_path_factory.mktemp("cdk.out.ctx"), context)

    yield _synthesize


@pytest.fixture
def small_stack() -> Stack:
    """An empty stack for testing one construct alone (fast: no Lambda, no cdk-nag)."""
    return Stack(App(), "ConstructUnderTest")
