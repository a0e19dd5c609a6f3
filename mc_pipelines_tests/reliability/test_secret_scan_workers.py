"""The session-wide secret scan keeps its teeth under pytest-xdist (`make test` runs two workers):
a key leaked in a worker fails the controller's session, and a clean run passes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FAKE_KEY = "0123456789abcdef0123456789abcdef-us9"  # not a real key: made up for this test

INNER = textwrap.dedent('''
    import pytest
    from mc_pipelines_tests.support.secret_scan import capture_text, register_secret

    @pytest.mark.parametrize("i", range(4))
    def test_worker(i):
        register_secret("{key}")
        capture_text("test output", "{said}" if i == 3 else "nothing to see")
''')


def _run(tmp_path: Path, said: str) -> subprocess.CompletedProcess:
    (tmp_path / "test_inner.py").write_text(INNER.format(key=FAKE_KEY, said=said))
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2",
         "-p", "mc_pipelines_tests.support.secret_scan",
         "-o", "addopts=", "--rootdir", str(tmp_path), str(tmp_path / "test_inner.py")],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.mark.timeout(240)
def test_a_key_leaked_in_a_worker_fails_the_session(tmp_path):
    leaked = _run(tmp_path, f"oops {FAKE_KEY}")
    assert leaked.returncode == 1, leaked.stdout[-2000:]
    assert "2 workers" in leaked.stdout and "1 LEAKS" in leaked.stdout
    assert FAKE_KEY not in leaked.stdout  # shown masked
    assert "****cdef-us9 found in test output" in leaked.stdout

    clean = _run(tmp_path, "all good")
    assert clean.returncode == 0, clean.stdout[-2000:]
    assert "none found" in clean.stdout
