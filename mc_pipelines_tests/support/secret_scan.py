"""Session-wide secret scan: no Mailchimp API key may appear in anything the test session produced.

What is collected, for the whole session:
- secrets — every API key the emulator harness hands out: `EmulatorServer.create_account` is
  wrapped when the plugin is configured, so keys of the session emulator, of process-mode
  emulators and of helpers such as `app_data.connect_to_emulator` are all known. Tests may add
  more with `register_secret(value)`. Each key is searched as the whole key, its 32-hex body
  (without `-dc`) and its Basic-auth header values.
- texts —
  * every log record of every logger: a handler on the root logger at DEBUG (the root level is
    set to DEBUG for the session), also attached to the loggers that do not propagate
    (uvicorn's); message, arguments, exception text and stack are formatted and kept;
  * the Dagster event logs of every instance made with `scanned_instance()` (run, tags, run
    config, every event incl. materialization metadata, check evaluations, step failures and
    their exception texts), serialized with Dagster's serdes;
  * exception texts, subprocess output and anything else a test hands to
    `capture_text(where, text)`;
  * stdout/stderr of every `run_cli([...])` call (`mc_pipelines.cli.main` with captured output);
  * the report text of every failed test.
At the end of the session (`pytest_sessionfinish`) every text is searched for every secret; a
hit fails the session (exit status 1) and names where the key was found (the key itself is shown
masked). Under pytest-xdist (`make test` runs two workers) each worker scans what it
produced and hands its findings to the controller, which reports them all and fails the session.

Reusing it:
- in the root `conftest.py`: `pytest_plugins = ["mc_pipelines_tests.support.secret_scan"]`
  (the reliability folder's own conftest imports the hooks instead, which is equivalent; loading
  it twice is harmless: installation is idempotent and the scan runs once);
- in tests: `with scanned_instance() as instance:` instead of `instance_for_test()` (or
  `DagsterInstance.ephemeral()`);
  `code, out, err = run_cli([...])` instead of calling the CLI; `capture_text("what", str(exc))`
  for exception texts you assert on.
`SecretScan` can also be used on its own (`scan = SecretScan(); scan.add_secret(k);
scan.add_text(...); scan.findings()`), which is how the scan itself is tested.
"""

from __future__ import annotations

import base64
import bisect
import contextlib
import io
import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

_UNPROPAGATED_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "dagster")
_BASIC_AUTH_USERS = ("anystring", "harness", "user", "")


def mask(secret: str) -> str:
    """`****abcd-us1`: what a finding shows of a key (the last four characters of its body)."""
    body, sep, dc = secret.rpartition("-")
    if sep and len(body) >= 16:
        return f"****{body[-4:]}-{dc}"
    return "****" + secret[-4:] if len(secret) >= 16 else "****"


def secret_forms(secret: str) -> set[str]:
    """The strings whose presence would leak `secret`: itself, the key body and the Basic-auth
    header values a client could send."""
    forms = {secret}
    body, sep, dc = secret.rpartition("-")
    if sep and body and len(body) >= 16 and dc.isalnum():
        forms.add(body)
    for user in _BASIC_AUTH_USERS:
        forms.add(base64.b64encode(f"{user}:{secret}".encode()).decode("ascii"))
    return {f for f in forms if len(f) >= 16}


@dataclass(frozen=True)
class Finding:
    """One secret found in one collected text."""

    where: str
    secret_masked: str
    excerpt: str


@dataclass
class SecretScan:
    """Secrets and texts collected during a session, and the search over them."""

    secrets: set[str] = field(default_factory=set)
    texts: list[tuple[str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add_secret(self, secret: str | None) -> None:
        if secret:
            with self._lock:
                self.secrets.add(secret)

    def add_text(self, where: str, text: Any) -> None:
        if text is None:
            return
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        with self._lock:
            self.texts.append((where, str(text)))

    @property
    def characters(self) -> int:
        return sum(len(t) for _, t in self.texts)

    def findings(self) -> list[Finding]:
        """Every (text, secret) pair where a form of the secret occurs in the text."""
        with self._lock:
            texts, secrets = list(self.texts), set(self.secrets)
        if not texts or not secrets:
            return []
        sep = "\n\x00\n"
        starts, parts, pos = [], [], 0
        for _, text in texts:
            starts.append(pos)
            parts.append(text)
            pos += len(text) + len(sep)
        blob = sep.join(parts)
        found: dict[tuple[int, str], Finding] = {}
        for secret in sorted(secrets):
            for form in secret_forms(secret):
                at = blob.find(form)
                while at != -1:
                    index = bisect.bisect_right(starts, at) - 1
                    key = (index, secret)
                    if key not in found:
                        text = texts[index][1]
                        local = at - starts[index]
                        excerpt = text[max(0, local - 60):local + len(form) + 20].replace(form, mask(secret))
                        found[key] = Finding(texts[index][0], mask(secret), excerpt)
                    at = blob.find(form, at + 1)
        return list(found.values())


class _CollectingHandler(logging.Handler):
    """Keeps the fully formatted text of every record it sees."""

    def __init__(self, scan: SecretScan) -> None:
        super().__init__(level=logging.DEBUG)
        self.scan = scan
        self._formatter = logging.Formatter()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            try:
                message = record.getMessage()
            except Exception:  # a broken format string: keep both parts
                message = f"{record.msg!r} % {record.args!r}"
            parts = [message]
            # as logging.Formatter.format does: the cached exc_text (which filters such as the
            # project's RedactingFilter may have cleaned) wins over formatting exc_info again
            if record.exc_text:
                parts.append(record.exc_text)
            elif record.exc_info and record.exc_info[0] is not None:
                parts.append(self._formatter.formatException(record.exc_info))
            if record.stack_info:
                parts.append(record.stack_info)
            self.scan.add_text(f"log {record.name}:{record.levelname}", "\n".join(parts))
        except Exception:  # never break the code under test
            pass


# -- the session's scan --------------------------------------------------------------------------

SCAN = SecretScan()
_installed: dict[str, Any] = {}


def register_secret(secret: str) -> None:
    """Add a secret the scan must not find."""
    SCAN.add_secret(secret)


def capture_text(where: str, text: Any) -> None:
    """Hand a text to the scan (exception messages, subprocess output, files…)."""
    SCAN.add_text(where, text)


def _wrap_emulator() -> None:
    from mailchimp_emulator.harness import EmulatorServer

    original = EmulatorServer.create_account
    if getattr(original, "_secret_scan", False):
        return

    def create_account(self, *args: Any, **kwargs: Any) -> dict[str, str]:
        account = original(self, *args, **kwargs)
        SCAN.add_secret(account.get("api_key"))
        return account

    create_account._secret_scan = True  # type: ignore[attr-defined]
    _installed["create_account"] = original
    EmulatorServer.create_account = create_account  # type: ignore[method-assign]


def install() -> None:
    """Start collecting (idempotent): the root DEBUG handler and the emulator key hook."""
    if "handler" in _installed:
        return
    handler = _CollectingHandler(SCAN)
    root = logging.getLogger()
    _installed.update(handler=handler, root_level=root.level)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for name in _UNPROPAGATED_LOGGERS:
        logging.getLogger(name).addHandler(handler)
    _wrap_emulator()


def uninstall() -> None:
    """Stop collecting (the collected texts stay)."""
    handler = _installed.pop("handler", None)
    if handler is None:
        return
    root = logging.getLogger()
    root.removeHandler(handler)
    root.setLevel(_installed.pop("root_level", logging.WARNING))
    for name in _UNPROPAGATED_LOGGERS:
        logging.getLogger(name).removeHandler(handler)
    original = _installed.pop("create_account", None)
    if original is not None:
        from mailchimp_emulator.harness import EmulatorServer

        EmulatorServer.create_account = original  # type: ignore[method-assign]


def collect_instance(instance: Any, where: str = "dagster", scan: SecretScan | None = None) -> int:
    """Add every run, event (with metadata) and log message of a Dagster instance to the scan
    (the session's unless `scan` is given); returns the number of events read."""
    from dagster._serdes import serialize_value

    scan = scan or SCAN
    events = 0
    for run in instance.get_runs():
        scan.add_text(f"{where} run {run.run_id}", serialize_value(run))
        for entry in instance.all_logs(run.run_id):
            events += 1
            scan.add_text(f"{where} run {run.run_id} event", serialize_value(entry))
    return events


@contextlib.contextmanager
def scanned_instance(**kwargs: Any) -> Iterator[Any]:
    """A Dagster instance whose whole event log is scanned when it closes: an in-memory one
    (`DagsterInstance.ephemeral()`, three times faster per run than SQLite storage) unless
    `instance_for_test` keyword arguments (e.g. `overrides=`) are given."""
    from dagster import DagsterInstance, instance_for_test

    manager = instance_for_test(**kwargs) if kwargs else DagsterInstance.ephemeral()
    with manager as instance:
        try:
            yield instance
        finally:
            collect_instance(instance)


def run_cli(argv: Sequence[str], stdin: str | None = None) -> tuple[int, str, str]:
    """`mc_pipelines.cli.main(argv)` with stdout/stderr captured (and scanned); returns
    (exit code, stdout, stderr)."""
    import sys

    from mc_pipelines.cli import main

    out, err = io.StringIO(), io.StringIO()
    saved_stdin = sys.stdin
    if stdin is not None:
        sys.stdin = io.StringIO(stdin)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(argv))
    finally:
        sys.stdin = saved_stdin
    where = "cli " + " ".join(a for a in argv[:2])
    SCAN.add_text(f"{where} stdout", out.getvalue())
    SCAN.add_text(f"{where} stderr", err.getvalue())
    return code, out.getvalue(), err.getvalue()


# -- pytest hooks ----------------------------------------------------------------------------------

def pytest_configure(config: pytest.Config) -> None:
    install()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.failed and report.longrepr is not None:
        SCAN.add_text(f"report {report.nodeid}", str(report.longrepr))
    for name, text in getattr(report, "sections", []):
        SCAN.add_text(f"report {report.nodeid} {name}", text)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _installed.get("scanned"):
        return
    _installed["scanned"] = True
    config = session.config
    findings = [(f.secret_masked, f.where, f.excerpt) for f in SCAN.findings()]
    totals = {"secrets": len(SCAN.secrets), "texts": len(SCAN.texts), "characters": SCAN.characters}
    if hasattr(config, "workeroutput"):  # a pytest-xdist worker: the controller reports and fails
        config.workeroutput["secret_scan"] = {**totals, "findings": findings}
        uninstall()
        return
    for worker in _WORKERS:
        findings += [tuple(f) for f in worker["findings"]]
        for key in totals:
            totals[key] += worker[key]
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    summary = (f"secret scan: {totals['secrets']} API keys searched in {totals['texts']} texts "
               f"({totals['characters']:,} characters"
               + (f", {len(_WORKERS)} workers)" if _WORKERS else ")"))
    if reporter is not None:
        reporter.write_line(summary + (f": {len(findings)} LEAKS" if findings else ": none found"))
        for masked, where, excerpt in findings[:50]:
            reporter.write_line(f"  key {masked} found in {where}: …{excerpt}…", red=True)
    if findings:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    uninstall()


_WORKERS: list[dict[str, Any]] = []


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """pytest-xdist: a worker finished; its scan's findings are reported by the controller."""
    result = getattr(node, "workeroutput", {}).get("secret_scan")
    if result is not None:
        _WORKERS.append(result)
