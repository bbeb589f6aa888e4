"""`featurepulse local`: the whole pipeline on one machine, with no AWS account (docs/design.md section 6).

Start-up, in order:
1. moto in server mode on a free loopback port; this process and its children get `AWS_ENDPOINT_URL`, fake
   credentials and a region, so every boto3 client (ours, awswrangler's, the Flink job's) talks to moto.
2. The resources the CDK stack creates: the Kinesis stream (on-demand), the sources table (key
   `SOURCES_TABLE_PARTITION_KEY`), the lake bucket (which also holds `quarantine/`).
3. A demo source and its write key (`featurepulse.sources.create_source`, the code behind the CLI).
4. The real ingest handler (`lambdas/ingest/handler.py`) behind `LocalApiEndpoint`, the API Gateway stand-in.
5. The registered components (`COMPONENTS`): the lake writer standing in for Firehose, the Flink job, the
   dashboard, the report job. Each publishes its addresses into `.featurepulse/local.json`.

Then either the demo (bounded synthetic traffic, drain, read back, print the counts, stop) or `--serve` (keep
everything up until Ctrl-C / SIGTERM). Shutdown runs in reverse order whatever happened.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import shutil
import signal
import socket
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from featurepulse.address_book import pid_alive
from featurepulse.constants import (
    ENV_LOG_LEVEL,
    ENV_METRICS_NAMESPACE,
    ENV_QUARANTINE_BUCKET,
    ENV_QUARANTINE_PREFIX,
    ENV_SERVICE_NAME,
    ENV_SOURCES_TABLE,
    ENV_STREAM_NAME,
    METRICS_NAMESPACE,
    QUARANTINE_PREFIX,
    SERVICE_NAME,
    SOURCES_TABLE_PARTITION_KEY,
)
from featurepulse.local.components import AddressBook, LocalComponent, LocalContext

logger = logging.getLogger(__name__)

# The local stack's plug-ins, "module:ClassName", started in this order and stopped in reverse. A missing
# module is skipped (its capability is not built yet); each capability's owner enables its own line.
COMPONENTS: tuple[str, ...] = (
    "featurepulse.lake.local:LocalFirehose",  # lake: Firehose stand-in, Parquet into lake_dir, quarantine mirror
    "featurepulse.realtime.local:LocalFlink",  # real time: the Flink job in local mode -> aggregates table
    "featurepulse.local.dashboard:LocalDashboard",  # real time: live panels -> dashboard_url
    "featurepulse.local.reports:LocalReport",  # reports: DuckDB report job, SES mail captured into outbox/
)

# Fixed names are fine locally (one stack per moto server); the CDK stack lets CloudFormation name them.
LOCAL_REGION = "us-east-1"
LOCAL_STREAM_NAME = "featurepulse-events"
LOCAL_SOURCES_TABLE = "featurepulse-sources"
LOCAL_LAKE_BUCKET = "featurepulse-lake"
LOCAL_SOURCE_NAME = "local-demo"
DEFAULT_PORT = 8787
DEFAULT_DIR = Path(".featurepulse")
ADDRESS_BOOK_FILE = "local.json"
LOG_FILE = "featurepulse.log"
METRICS_FILE = "metrics.jsonl"
PACKAGE_LOGGER = "featurepulse"  # also the Powertools logger's name (the service name)
INGEST_HANDLER = "lambdas.ingest.handler:lambda_handler"
# Directories under the root that a new run starts empty (moto's state is new on every run, too), unless
# --keep-data.
DATA_DIRS: tuple[str, ...] = ("lake", "quarantine", "outbox", "logs")

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "featurepulse-local",
    "AWS_SECRET_ACCESS_KEY": "featurepulse-local",
}


class LocalStackError(Exception):
    """The local stack cannot start (port taken, another stack running, a missing part)."""


@dataclass
class LocalStackOptions:
    root: Path = DEFAULT_DIR
    host: str = "127.0.0.1"
    # The endpoint's port; 0 picks a free one. When `port_is_default`, a busy port falls back to a free one.
    port: int = DEFAULT_PORT
    port_is_default: bool = True
    components: Sequence[str] = COMPONENTS
    # Names (`LocalComponent.name`) of the components to start; None: every registered one.
    only_components: frozenset[str] | None = None
    handler: str = INGEST_HANDLER
    keep_data: bool = False
    log_level: str = "INFO"


@dataclass
class ComponentState:
    spec: str
    component: LocalComponent | None = None
    error: str | None = None

    @property
    def name(self) -> str:
        return getattr(self.component, "name", None) or self.spec.rsplit(":", 1)[-1]


def load_components(specs: Sequence[str]) -> list[ComponentState]:
    """Instantiate "module:ClassName" components; a module that does not exist yet is skipped."""
    states: list[ComponentState] = []
    for spec in specs:
        module_name, _, class_name = spec.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and module_name.startswith(exc.name):
                logger.info("component %s skipped: %s is not built", spec, module_name)
                continue
            raise
        cls = getattr(module, class_name)
        states.append(ComponentState(spec=spec, component=cls()))
    return states


LambdaHandler = Callable[[dict[str, Any], Any], Any]


def _import_handler(spec: str) -> LambdaHandler:
    """Import the Lambda handler from the repository (`lambdas/` is not part of the installed package)."""
    repo_root = Path(__file__).resolve().parents[2]
    if (repo_root / "lambdas").is_dir() and str(repo_root) not in sys.path:
        sys.path.insert(0, str(repo_root))
    module_name, _, attribute = spec.partition(":")
    if module_name in sys.modules:
        _new_execution_environment(sys.modules[module_name])
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise LocalStackError(f"the ingest handler {module_name} cannot be imported: {exc}") from exc
    handler: LambdaHandler = getattr(module, attribute)
    return handler


def _new_execution_environment(handler_module: Any) -> None:
    """A handler imported by an earlier stack of this process (tests start several) is warm: it forgets what it
    cached for that stack (settings, boto3 clients bound to that moto), as a new Lambda environment would."""
    reset = getattr(handler_module, "reset_process_state", None)
    if callable(reset):
        reset()


# The moto port of each host used by an earlier stack of this process. A later stack (tests start several) takes
# the same port again: the ingest handler, like a warm Lambda, keeps its boto3 clients for the process, and they
# must keep reaching moto.
_MOTO_PORTS: dict[str, int] = {}


def _moto_port(host: str) -> int:
    port = _MOTO_PORTS.get(host, 0)
    if port:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError:
                logger.warning("moto port %s is taken; clients cached by an earlier stack will fail", port)
                return 0
    return port


def _reset_moto(url: str) -> None:
    """Empty every moto backend (moto's own reset API)."""
    request = urllib.request.Request(f"{url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


class _Environment:
    """Sets environment variables for this process (and so its children) and restores them on `restore`."""

    def __init__(self) -> None:
        self._saved: dict[str, str | None] = {}

    def set(self, name: str, value: str | None) -> None:
        if name not in self._saved:
            self._saved[name] = os.environ.get(name)
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value

    def restore(self) -> None:
        for name, value in self._saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved.clear()


class _LogRouting:
    """Sends the logs of every featurepulse logger (the handler's Powertools JSON logs, the components') to a file.

    CloudWatch Logs' stand-in: the console stays for the demo's own output. Restored on `restore`.
    """

    def __init__(self) -> None:
        self._file: TextIO | None = None
        self._redirected: list[tuple[logging.StreamHandler[TextIO], TextIO]] = []
        self._added: list[tuple[logging.Logger, logging.Handler]] = []
        self._saved: list[tuple[logging.Logger, bool, int]] = []

    def install(self, path: Path, names: Sequence[str]) -> None:
        if self._file is not None:
            return
        self._file = path.open("a", encoding="utf-8")
        # Python warnings (e.g. Powertools' "no metrics to publish") are log lines too, not console output.
        logging.captureWarnings(True)
        for name in dict.fromkeys([*names, "py.warnings"]):
            logger_ = logging.getLogger(name)
            self._saved.append((logger_, logger_.propagate, logger_.level))
            for handler in logger_.handlers:
                if isinstance(handler, logging.StreamHandler) and handler.stream in (sys.stdout, sys.stderr):
                    previous = handler.setStream(self._file)
                    if previous is not None:
                        self._redirected.append((handler, previous))
            if not logger_.handlers:
                added = logging.StreamHandler(self._file)
                added.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
                logger_.addHandler(added)
                self._added.append((logger_, added))
                if logger_.level == logging.NOTSET:
                    logger_.setLevel(logging.INFO)
            logger_.propagate = False

    def restore(self) -> None:
        if self._file is None:
            return
        for handler, stream in self._redirected:
            handler.setStream(stream)
        for logger_, added in self._added:
            logger_.removeHandler(added)
        for logger_, propagate, level in self._saved:
            logger_.propagate = propagate
            logger_.setLevel(level)
        logging.captureWarnings(False)
        self._file.close()
        self._file, self._redirected, self._added, self._saved = None, [], [], []


class LocalStack:
    """moto + resources + demo source + the real handler over HTTP + components. `start()`, then `stop()`."""

    def __init__(self, options: LocalStackOptions | None = None) -> None:
        self.options = options or LocalStackOptions()
        self.root = self.options.root.resolve()
        self.address_book = AddressBook(self.root / ADDRESS_BOOK_FILE)
        self.components: list[ComponentState] = []
        self.context: LocalContext | None = None
        self.source_id = ""
        self.write_key = ""
        self._env = _Environment()
        self._moto: Any = None
        self._moto_url = ""
        self._endpoint: Any = None
        self._logs = _LogRouting()
        self._metrics_file: TextIO | None = None
        self._stopped = False
        # True once start-up got past its checks (something may then need stopping and saying so).
        self.began = False

    # --- start-up ----------------------------------------------------------------------------------

    def start(self) -> LocalContext:
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> LocalContext:
        self._refuse_if_running()
        selected = self._select_components()
        self.began = True
        self._prepare_dirs()
        self.address_book.update(status="starting", pid=os.getpid(), root=self.root)
        aws_endpoint_url = self._start_moto()
        self.address_book.update(aws_endpoint_url=aws_endpoint_url, region=LOCAL_REGION)
        self._create_resources()
        self.address_book.update(
            stream_name=LOCAL_STREAM_NAME, sources_table=LOCAL_SOURCES_TABLE, lake_bucket=LOCAL_LAKE_BUCKET
        )
        self.source_id, self.write_key = self._create_demo_source()
        endpoint_url = self._start_endpoint()
        self.address_book.update(
            endpoint=endpoint_url,
            write_key=self.write_key,
            source_id=self.source_id,
            log_file=self.root / "logs" / LOG_FILE,
            metrics_file=self.root / "logs" / METRICS_FILE,
        )
        ctx = LocalContext(
            root=self.root,
            address_book=self.address_book,
            aws_endpoint_url=aws_endpoint_url,
            region=LOCAL_REGION,
            stream_name=LOCAL_STREAM_NAME,
            sources_table=LOCAL_SOURCES_TABLE,
            lake_bucket=LOCAL_LAKE_BUCKET,
            lake_dir=self.root / "lake",
            quarantine_dir=self.root / "quarantine",
            outbox_dir=self.root / "outbox",
            endpoint=endpoint_url,
            write_key=self.write_key,
        )
        self.context = ctx
        self.components = selected
        self._start_components(ctx)
        self.address_book.update(status="running")
        return ctx

    def _refuse_if_running(self) -> None:
        path = self.address_book.path
        if not path.is_file():
            return
        try:
            previous = json.loads(path.read_text())
        except (OSError, ValueError):
            return
        pid = previous.get("pid")
        if (
            previous.get("status") in ("starting", "running")
            and isinstance(pid, int)
            and pid != os.getpid()
            and pid_alive(pid)
        ):
            raise LocalStackError(
                f"a local stack is already running from {self.root} (pid {pid}); stop it first "
                f"(Ctrl-C in its terminal, or `kill {pid}`), or use another --dir"
            )

    def _prepare_dirs(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        for name in DATA_DIRS:
            path = self.root / name
            if path.exists() and not self.options.keep_data:
                shutil.rmtree(path)
            path.mkdir(parents=True, exist_ok=True)

    def _start_moto(self) -> str:
        from moto.server import ThreadedMotoServer

        from featurepulse.local import moto_kinesis

        # Shard reads and writes by bisection instead of a walk over the whole shard (same answers, see there).
        moto_kinesis.apply()
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._moto = ThreadedMotoServer(ip_address=self.options.host, port=_moto_port(self.options.host), verbose=False)
        self._moto.start()
        host, port = self._moto.get_host_and_port()
        _MOTO_PORTS[self.options.host] = port
        url = f"http://{host}:{port}"
        self._moto_url = url
        env = self._env
        # Everything local is on loopback: never through a proxy a developer's shell may configure.
        for name in ("NO_PROXY", "no_proxy"):
            env.set(name, ",".join(p for p in (os.environ.get(name), "127.0.0.1", "localhost", host) if p))
        # moto's backends are process-global: a stack started earlier in this process left its resources there.
        _reset_moto(url)
        env.set("AWS_ENDPOINT_URL", url)
        for name, value in FAKE_CREDENTIALS.items():
            env.set(name, value)
        for name in ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE"):
            env.set(name, None)
        env.set("AWS_DEFAULT_REGION", LOCAL_REGION)
        env.set("AWS_REGION", LOCAL_REGION)
        env.set("AWS_EC2_METADATA_DISABLED", "true")
        return url

    def client(self, service: str) -> Any:
        import boto3

        endpoint = os.environ["AWS_ENDPOINT_URL"]
        return boto3.session.Session(region_name=LOCAL_REGION).client(service, endpoint_url=endpoint)  # type: ignore[call-overload]

    def _create_resources(self) -> None:
        kinesis = self.client("kinesis")
        kinesis.create_stream(StreamName=LOCAL_STREAM_NAME, StreamModeDetails={"StreamMode": "ON_DEMAND"})
        kinesis.get_waiter("stream_exists").wait(StreamName=LOCAL_STREAM_NAME, WaiterConfig={"Delay": 0.2})
        self.client("dynamodb").create_table(TableName=LOCAL_SOURCES_TABLE, **sources_table_definition())
        self.client("s3").create_bucket(Bucket=LOCAL_LAKE_BUCKET)

    def _create_demo_source(self) -> tuple[str, str]:
        from featurepulse.sources import create_source

        created = create_source(LOCAL_SOURCES_TABLE, LOCAL_SOURCE_NAME, dynamodb_client=self.client("dynamodb"))
        return created.source_id, created.write_key

    def _ingest_environment(self) -> None:
        env = self._env
        env.set(ENV_STREAM_NAME, LOCAL_STREAM_NAME)
        env.set(ENV_SOURCES_TABLE, LOCAL_SOURCES_TABLE)
        env.set(ENV_QUARANTINE_BUCKET, LOCAL_LAKE_BUCKET)
        env.set(ENV_QUARANTINE_PREFIX, QUARANTINE_PREFIX)
        env.set(ENV_SERVICE_NAME, os.environ.get(ENV_SERVICE_NAME) or SERVICE_NAME)
        env.set(ENV_METRICS_NAMESPACE, os.environ.get(ENV_METRICS_NAMESPACE) or METRICS_NAMESPACE)
        env.set(ENV_LOG_LEVEL, self.options.log_level)
        # X-Ray has no daemon here. Metrics stay on: their EMF lines go to logs/metrics.jsonl (see _capture_emf).
        env.set("POWERTOOLS_TRACE_DISABLED", "true")

    def _capture_emf(self, handler: LambdaHandler) -> LambdaHandler:
        """Powertools prints each invocation's metrics (CloudWatch EMF) on stdout, where Lambda's log agent
        picks them up. Locally they go to logs/metrics.jsonl instead of between the demo's lines. The endpoint
        runs one invocation at a time, so swapping sys.stdout for the call's duration catches only the handler's
        prints (the console keeps a reference to the real stdout)."""
        self._metrics_file = (self.root / "logs" / METRICS_FILE).open("a", encoding="utf-8")
        sink = self._metrics_file

        def invoke(event: dict[str, Any], context: Any) -> Any:
            with contextlib.redirect_stdout(sink):
                return handler(event, context)

        return invoke

    def _start_endpoint(self) -> str:
        from featurepulse.local.endpoint import LocalApiEndpoint

        self._ingest_environment()
        handler = self._capture_emf(_import_handler(self.options.handler))
        self._logs.install(self.root / "logs" / LOG_FILE, [PACKAGE_LOGGER, os.environ[ENV_SERVICE_NAME]])
        port = self.options.port
        try:
            self._endpoint = LocalApiEndpoint(handler, host=self.options.host, port=port)
        except OSError as exc:
            if not self.options.port_is_default:
                raise LocalStackError(f"cannot listen on {self.options.host}:{port}: {exc.strerror}") from exc
            self._endpoint = LocalApiEndpoint(handler, host=self.options.host, port=0)
        self._endpoint.start()
        return str(self._endpoint.url)

    def _select_components(self) -> list[ComponentState]:
        states = load_components(self.options.components)
        only = self.options.only_components
        if only is None:
            return states
        unknown = only - {s.name for s in states}
        if unknown:
            known = ", ".join(s.name for s in states) or "none"
            raise LocalStackError(f"unknown component(s) {', '.join(sorted(unknown))}; available: {known}")
        return [s for s in states if s.name in only]

    def _start_components(self, ctx: LocalContext) -> None:
        for state in self.components:
            assert state.component is not None
            try:
                state.component.start(ctx)
            except Exception as exc:
                logger.exception("component %s failed to start", state.spec)
                state.error = f"{type(exc).__name__}: {exc}"

    # --- running -----------------------------------------------------------------------------------

    def running_components(self) -> Iterator[LocalComponent]:
        for state in self.components:
            if state.component is not None and state.error is None:
                yield state.component

    def drain(self, timeout_s: float) -> None:
        assert self.context is not None
        for state in self.components:
            if state.component is None or state.error is not None:
                continue
            try:
                state.component.drain(self.context, timeout_s)
            except Exception as exc:
                logger.exception("component %s failed to drain", state.spec)
                state.error = f"drain failed: {type(exc).__name__}: {exc}"

    def summaries(self) -> list[tuple[str, list[str]]]:
        assert self.context is not None
        out: list[tuple[str, list[str]]] = []
        for state in self.components:
            if state.error is not None or state.component is None:
                out.append((state.name, [f"FAILED: {state.error}"]))
                continue
            try:
                out.append((state.name, list(state.component.summary(self.context))))
            except Exception as exc:
                logger.exception("component %s failed to summarize", state.spec)
                out.append((state.name, [f"summary failed: {type(exc).__name__}: {exc}"]))
        return out

    @property
    def failed_components(self) -> list[ComponentState]:
        return [s for s in self.components if s.error is not None]

    # --- shutdown ----------------------------------------------------------------------------------

    def stop(self) -> None:
        """Components (reverse order), endpoint, moto; restores the environment. Safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        for state in reversed(self.components):
            if state.component is None:
                continue
            try:
                state.component.stop()
            except Exception:
                logger.exception("component %s failed to stop", state.spec)
        if self._endpoint is not None:
            self._endpoint.stop()
            self._endpoint = None
        if self._moto is not None:
            with contextlib.suppress(OSError, ValueError):
                _reset_moto(self._moto_url)
            self._moto.stop()
            self._moto = None
        if self.address_book.snapshot():
            self.address_book.update(status="stopped")
        self._logs.restore()
        if self._metrics_file is not None:
            self._metrics_file.close()
            self._metrics_file = None
        self._env.restore()

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def sources_table_definition() -> dict[str, Any]:
    """CreateTable arguments of the sources table (the key `featurepulse.dal.sources` reads and writes)."""
    key = SOURCES_TABLE_PARTITION_KEY
    return {
        "KeySchema": [{"AttributeName": key, "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": key, "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
    }


# --- reading the pipeline's output back ------------------------------------------------------------


@dataclass
class StreamContents:
    events: list[dict[str, Any]] = field(default_factory=list)
    records: int = 0

    @property
    def event_ids(self) -> set[str]:
        return {str(e["event_id"]) for e in self.events}

    def by_feature_stage(self) -> Counter[tuple[str, str]]:
        return Counter((e["feature"], e["stage"]) for e in self.events if e.get("feature") and e.get("stage"))

    def by_type(self) -> Counter[str]:
        return Counter(str(e["type"]) for e in self.events)


def read_stream(kinesis: Any, stream_name: str) -> StreamContents:
    """Every enriched event on the stream, from the start of every shard."""
    from featurepulse.domain.packing import unpack_record
    from featurepulse.local.stream_reader import StreamReader

    reader = StreamReader(kinesis, stream_name, from_start=True)
    contents = StreamContents()
    while batch := reader.poll():
        for record in batch:
            contents.records += 1
            contents.events.extend(unpack_record(record.data))
    return contents


def read_quarantine(s3: Any, bucket: str, prefix: str = QUARANTINE_PREFIX) -> list[dict[str, Any]]:
    """Every quarantined event (one JSON object per line in each object under the prefix)."""
    out: list[dict[str, Any]] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            out.extend(json.loads(line) for line in body.splitlines() if line.strip())
    return out


# --- signals -------------------------------------------------------------------------------------


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM and SIGINT set `stop` (the main thread then shuts down cleanly) instead of killing the process."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def wait_until(stop: threading.Event, deadline: float | None = None, interval_s: float = 0.5) -> None:
    while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
        stop.wait(interval_s)
