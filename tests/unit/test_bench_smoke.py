"""Smoke test of the side-by-side benchmarks (bench/run.py).

Runs the in-process rows at tiny sizes, one pair, into a temporary report,
and checks that the harness works end to end. No timing is asserted: the
numbers of a --quick run mean nothing.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 600


def test_bench_quick_run_writes_a_table(tmp_path):
    out = tmp_path / "RESULTS.md"
    cmd = [
        sys.executable,
        str(ROOT / "bench" / "run.py"),
        "--quick",
        "--pairs",
        "1",
        "--only",
        "notify,lookup,hash",
        "--out",
        str(out),
    ]
    proc = subprocess.run(
        cmd,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    assert out.exists()
    text = out.read_text(encoding="utf-8")
    assert "| bench | unit | aioxmpp (median) | ours (median) | ratio |" in text
    table = [ln for ln in text.splitlines() if ln.startswith("| notify, all new |")]
    assert table, text
    # Both implementations produced a number for every selected row.
    for label in (
        "notify, all new",
        "notify, 90% unchanged repeats",
        "lookup, 1k JIDs (cached get_avatar_metadata)",
        "hash: add_avatar_image",
    ):
        row = next(ln for ln in text.splitlines() if ln.startswith(f"| {label}"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[2] != "—" and cells[3] != "—", row
    # Rows that were not selected are not in the table.
    assert "| fan-out" not in text
    assert "## Machine" in text and "aioxmpp 0.13" in text
    assert "python bench/run.py --only notify" in text
    # The raw results sit beside the report; the chart too when matplotlib is
    # installed (the chart step is skipped without it).
    assert (tmp_path / "RESULTS.json").exists()
    if importlib.util.find_spec("matplotlib") is not None:
        assert (tmp_path / "ratios.png").exists()
    else:
        assert "chart skipped" in text
