"""Installing microlend the way ./test and ./demo do prints no warnings of its own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_an_editable_install_raises_no_build_backend_warning(tmp_path: Path) -> None:
    # --prefix and --ignore-installed leave the test's own environment as it is (pip would
    # otherwise uninstall its microlend first); the build runs in pip's isolated
    # environment with the setuptools pyproject.toml asks for, as on a fresh machine.
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--ignore-installed",
            "--prefix",
            str(tmp_path),
            "-e",
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stdout + done.stderr
