#!/usr/bin/env python3
"""The two quickstart commands, for a machine that has only Python 3.11+:

    python3 dev.py demo     install Siyu into .venv and start it with a simulated brand's data
    python3 dev.py test     install Siyu with its test tools into .venv and run the whole test suite

Anything after the command is passed on (``python3 dev.py demo --port 9000``,
``python3 dev.py test -k collect``).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")


def run(*cmd: str | Path) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    code = subprocess.call([str(c) for c in cmd], cwd=ROOT)
    if code != 0:
        sys.exit(code)


def ensure_installed(extra: str) -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - this file runs before the install checks anything
        sys.exit(f"Siyu needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
    if not (BIN / "python").exists():
        print("creating .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
        run(BIN / "python", "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extra.encode()).hexdigest()
    stamp = VENV / f".siyu-installed-{extra or 'base'}"
    if not stamp.exists() or stamp.read_text() != digest:
        target = f".[{extra}]" if extra else "."
        run(BIN / "python", "-m", "pip", "install", "--quiet", "-e", target)
        stamp.write_text(digest)


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in ("demo", "test"):
        print(__doc__)
        sys.exit(2)
    command, rest = sys.argv[1], sys.argv[2:]
    if command == "demo":
        ensure_installed("")
        os.execv(BIN / "siyu", [str(BIN / "siyu"), "demo", *rest])
    ensure_installed("dev")
    run(BIN / "ruff", "check", "src", "tests", "benchmarks", "dev.py")
    run(BIN / "mypy")
    run(BIN / "python", "-m", "pytest", *rest)


if __name__ == "__main__":
    main()
