"""Side-by-side benchmarks: aioxmpp's ``aioxmpp.avatar`` against ours.

    python bench/run.py [--pairs N] [--only ROW[,ROW]] [--quick] [--out FILE]

Every measurement runs in a fresh worker process (``bench/worker.py``), one
implementation per process, alternating aioxmpp, ours, aioxmpp, ours ... for
``--pairs`` pairs. The Prosody rows (fanout, login, restart) share one
throwaway server on 127.0.0.1, prepared once before their runs (accounts,
subscriptions, avatars), and get one discarded warm-up run of each
implementation first.

Prints the medians and the pairwise ratios, and writes a Markdown report
(``--out``, default ``bench/RESULTS.md``) with a chart ``ratios.png`` beside
it (skipped when matplotlib is not installed).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from common import IMPLS, median  # noqa: E402
from worker import LOOKUP_SIZES, MEMORY_SIZES, PROSODY_JOBS  # noqa: E402

#: Selectable rows and the worker jobs each runs.
ROWS = {
    "notify": ("notify:new", "notify:repeat"),
    "lookup": tuple(f"lookup:{size}" for size in LOOKUP_SIZES),
    "memory": tuple(
        f"memory:{fill}:{size}" for fill in ("notify", "fetch") for size in MEMORY_SIZES
    ),
    "hash": ("hash",),
    "fanout": ("fanout",),
    "login": ("login",),
    "restart": ("restart",),
}
ALIASES = {"fan-out": "fanout"}

#: Contacts prepared on the Prosody server (fan-out uses the first 50).
CONTACTS = {False: 100, True: 10}


@dataclass
class Line:
    """One line of the results table."""

    row: str
    job: str
    label: str
    metric: str
    unit: str
    kind: str  # "lower" (time, size), "higher" (speed), "count" (IQs)
    target: str
    check: Callable[[dict], Optional[bool]]
    #: Where the target sits on the chart's ratio axis (None: no tick).
    target_ratio: Optional[float] = None


@dataclass
class Summary:
    line: Line
    a: Optional[float] = None  # median, aioxmpp
    o: Optional[float] = None  # median, ours
    ratio: Optional[float] = None  # median of pairwise ratios (aioxmpp / ours)
    lo: Optional[float] = None
    hi: Optional[float] = None
    met: Optional[bool] = None
    runs_a: list = field(default_factory=list)
    runs_o: list = field(default_factory=list)


def _ratio_at_least(x):
    return lambda s: None if s.ratio is None else s.ratio >= x


LINES = [
    Line(
        "notify",
        "notify:new",
        "notify, all new",
        "us_per_notification",
        "µs/notification",
        "lower",
        "≥ 2.5×",
        _ratio_at_least(2.5),
        2.5,
    ),
    Line(
        "notify",
        "notify:repeat",
        "notify, 90% unchanged repeats",
        "us_per_notification",
        "µs/notification",
        "lower",
        "≥ 3×",
        _ratio_at_least(3.0),
        3.0,
    ),
    *(
        Line(
            "lookup",
            f"lookup:{size}",
            f"lookup, {size} JIDs (cached get_avatar_metadata)",
            "us_per_call",
            "µs/call",
            "lower",
            "≥ 1×",
            _ratio_at_least(1.0),
            1.0,
        )
        for size in LOOKUP_SIZES
    ),
    *(
        Line(
            "memory",
            f"memory:{fill}:{size}",
            f"memory, {size} JIDs, {label}",
            metric,
            "KiB/JID",
            "lower",
            "ours ≤ 1/4 (≥ 4×)",
            _ratio_at_least(4.0),
            4.0,
        )
        for fill, label, metric in (
            ("notify", "filled by notifications", "kib_per_jid"),
            (
                "notify",
                "notifications + one lookup per JID",
                "kib_per_jid_after_lookup",
            ),
            ("fetch", "filled by get_avatar_metadata", "kib_per_jid"),
        )
        for size in MEMORY_SIZES
    ),
    Line(
        "hash",
        "hash",
        "hash: add_avatar_image 1 MiB PNG, speed ÷ hashlib.sha1",
        "speed_vs_hashlib",
        "× hashlib",
        "higher",
        "ours ≥ 0.98",
        lambda s: None if s.o is None else s.o >= 0.98,
    ),
    Line(
        "fanout",
        "fanout",
        "fan-out: IQs",
        "iq_total",
        "IQs",
        "count",
        "ours ≤ 1 per contact per node",
        lambda s: None if s.o is None else s.o <= 2 * _contacts(s, 50),
    ),
    Line(
        "fanout",
        "fanout",
        "fan-out: wall time",
        "wall_s",
        "s",
        "lower",
        "≥ 10×",
        _ratio_at_least(10.0),
        10.0,
    ),
    Line(
        "login",
        "login",
        "login: IQs",
        "iq_total",
        "IQs",
        "count",
        "ours < aioxmpp",
        lambda s: None if s.o is None or s.a is None else s.o < s.a,
    ),
    Line(
        "login",
        "login",
        "login: wall time",
        "wall_s",
        "s",
        "lower",
        "≥ 1× (no more wall time)",
        _ratio_at_least(1.0),
        1.0,
    ),
    Line(
        "restart",
        "restart",
        "restart: data IQs (second login)",
        "iq_data",
        "IQs",
        "count",
        "ours = 0",
        lambda s: None if s.o is None else s.o == 0,
    ),
    Line(
        "restart",
        "restart",
        "restart: wall time (second login)",
        "wall_s",
        "s",
        "lower",
        "— (not a target)",
        lambda s: None,
    ),
]


def _contacts(summary, default):
    runs = summary.runs_o or summary.runs_a
    for r in runs:
        if "contacts" in r:
            return r["contacts"]
    return default


# -- running ------------------------------------------------------------------


def worker_cmd(job, impl, quick, env_path=None):
    cmd = [sys.executable, str(HERE / "worker.py"), job, impl]
    if quick:
        cmd.append("--quick")
    if env_path:
        cmd += ["--env", str(env_path)]
    return cmd


def display_cmd(cmd):
    """A command line as a person would type it from the repository root."""
    out = ["python"]
    for part in cmd[1:]:
        p = Path(part)
        if p.is_absolute() and ROOT in p.parents:
            part = str(p.relative_to(ROOT))
        out.append(part)
    return shlex.join(out)


def run_worker(job, impl, quick, env_path, timeout):
    cmd = worker_cmd(job, impl, quick, env_path)
    t0 = time.monotonic()
    try:
        proc = subprocess.run(
            cmd,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return {"_error": f"timed out after {timeout} s"}
    wall = time.monotonic() - t0
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    if proc.returncode != 0 or not lines:
        tail = "\n".join(proc.stderr.splitlines()[-15:])
        return {"_error": f"exit {proc.returncode}\n{tail}"}
    try:
        result = json.loads(lines[-1])
    except json.JSONDecodeError as exc:
        return {"_error": f"bad JSON from worker: {exc}: {lines[-1][:200]}"}
    result["_wall_s"] = wall
    return result


def _fmt(x, digits=3):
    if x is None:
        return "—"
    if isinstance(x, float) and math.isinf(x):
        return "∞"
    if isinstance(x, int) or (isinstance(x, float) and x.is_integer() and abs(x) >= 10):
        return f"{int(x)}"
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.{digits}g}"


def _primary(job):
    for line in LINES:
        if line.job == job:
            return line
    raise KeyError(job)


def _progress(job, impl, i, result):
    if "_error" in result:
        return f"  {job:14s} {impl:8s} #{i}: ERROR {result['_error'].splitlines()[0]}"
    line = _primary(job)
    value = result.get(line.metric)
    return f"  {job:14s} {impl:8s} #{i}: {_fmt(value)} {line.unit}"


def run_all(jobs, pairs, quick, timeout, log):
    """Run every job for `pairs` alternating pairs; returns
    ``{job: {"aioxmpp": [results], "ours": [results]}}`` and the env info."""
    results = {job: {impl: [] for impl in IMPLS} for job in jobs}
    env_info = None
    server = None
    tmp = tempfile.TemporaryDirectory(prefix="bench-env-")
    try:
        env_path = None
        if any(job in PROSODY_JOBS for job in jobs):
            import xmpp

            server, env = xmpp.start_environment(CONTACTS[quick], log=log)
            env_path = Path(tmp.name) / "env.json"
            env_path.write_text(json.dumps(env), encoding="utf-8")
            env_info = {
                "contacts": len(env["contacts"]),
                "setup_s": env["setup_s"],
                "prosody": _prosody_version(),
            }
        for job in jobs:
            path = env_path if job in PROSODY_JOBS else None
            if job in PROSODY_JOBS:
                for impl in IMPLS:
                    r = run_worker(job, impl, quick, path, timeout)
                    log(_progress(job, impl, "warm-up (discarded)", r))
                    if "_error" in r:
                        results[job][impl].append(r)
            for i in range(1, pairs + 1):
                for impl in IMPLS:
                    r = run_worker(job, impl, quick, path, timeout)
                    r["_pair"] = i
                    results[job][impl].append(r)
                    log(_progress(job, impl, i, r))
    finally:
        if server is not None:
            server.stop()
        tmp.cleanup()
    return results, env_info


def summarize(results, jobs):
    summaries = []
    for line in LINES:
        if line.job not in jobs:
            continue
        s = Summary(line)
        runs = results[line.job]
        s.runs_a = [r for r in runs["aioxmpp"] if "_error" not in r and "_pair" in r]
        s.runs_o = [r for r in runs["ours"] if "_error" not in r and "_pair" in r]
        s.a = median([r.get(line.metric) for r in s.runs_a])
        s.o = median([r.get(line.metric) for r in s.runs_o])
        by_pair_o = {r["_pair"]: r.get(line.metric) for r in s.runs_o}
        ratios = []
        for r in s.runs_a:
            a, o = r.get(line.metric), by_pair_o.get(r["_pair"])
            if a is None or o is None:
                continue
            if line.kind == "higher":
                ratios.append(o / a if a else math.inf)
            else:
                ratios.append(a / o if o else (math.inf if a else 1.0))
        if ratios:
            s.ratio = median(ratios)
            s.lo, s.hi = min(ratios), max(ratios)
        s.met = line.check(s) if (s.a is not None or s.o is not None) else None
        summaries.append(s)
    return summaries


# -- reporting ----------------------------------------------------------------


def _git(*args):
    try:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _prosody_version():
    try:
        out = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", "prosody"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
        return out.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine_note():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for ln in f:
                if ln.startswith("model name"):
                    cpu = ln.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        from importlib.metadata import version

        aioxmpp_version = version("aioxmpp")
    except Exception:  # noqa: BLE001 - reported as unknown
        aioxmpp_version = "unknown"
    commit = _git("rev-parse", "--short=12", "HEAD") or "unknown"
    dirty = _git(
        "status", "--porcelain", "--", "src", "python", "Cargo.toml", "pyproject.toml"
    )
    flags = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = next((ln for ln in f if ln.startswith("flags")), "")
    except OSError:
        pass
    return {
        "core_build": core_build(),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "sha_ni": " sha_ni" in flags,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "aioxmpp": aioxmpp_version,
        "commit": commit
        + (" (with uncommitted changes in src/ or python/)" if dirty else ""),
        "loadavg": os.getloadavg(),
    }


def core_build():
    """SHA-256 prefix and mtime of the built extension (our package is built
    in place; a rebuild during a run would mix two builds)."""
    import hashlib

    so = sorted((ROOT / "python" / "aioxmpp_avatar").glob("_core*.so"))
    if not so:
        return "not built"
    data = so[0].read_bytes()
    mtime = datetime.datetime.fromtimestamp(
        so[0].stat().st_mtime, datetime.timezone.utc
    )
    return (
        f"{so[0].name} sha256 {hashlib.sha256(data).hexdigest()[:12]}, "
        f"built {mtime:%Y-%m-%d %H:%M:%S} UTC"
    )


def _load(values):
    return ", ".join(f"{x:.2f}" for x in values)


def _met_text(met):
    return {True: "met", False: "**not met**", None: "—"}[met]


def table_rows(summaries):
    rows = []
    for s in summaries:
        ln = s.line
        # Speeds are judged against a threshold in the third decimal.
        d = 4 if ln.kind == "higher" else 3
        ratio = _fmt(s.ratio, d) + "×" if s.ratio is not None else "—"
        rng = f"{_fmt(s.lo, d)}–{_fmt(s.hi, d)}" if s.lo is not None else "—"
        rows.append(
            [
                ln.label,
                ln.unit,
                _fmt(s.a, d),
                _fmt(s.o, d),
                ratio,
                rng,
                ln.target,
                _met_text(s.met),
            ]
        )
    return rows


HEADER = [
    "bench",
    "unit",
    "aioxmpp (median)",
    "ours (median)",
    "ratio",
    "pairwise range",
    "target (bench/README.md)",
    "verdict",
]


def print_table(summaries, out=sys.stdout):
    rows = [HEADER] + table_rows(summaries)
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(HEADER))]
    for k, r in enumerate(rows):
        out.write("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() + "\n")
        if k == 0:
            out.write("  ".join("-" * w for w in widths) + "\n")


def checks(results):
    """Cross-checks that make a number trustworthy; returns lines of text."""
    notes = []
    for job, by_impl in results.items():
        for impl, runs in by_impl.items():
            for r in runs:
                if "_error" in r:
                    notes.append(
                        f"- {job} / {impl}: run failed: `{r['_error'].splitlines()[0]}`"
                    )
                elif impl == "aioxmpp" and r.get("_ours_loaded"):
                    notes.append(f"- {job}: an aioxmpp run had aioxmpp_avatar loaded")
        good = {i: [r for r in rs if "_error" not in r] for i, rs in by_impl.items()}
        if job.startswith("notify:"):
            for impl, rs in good.items():
                bad = [r for r in rs if r["callbacks"] != r["expected_callbacks"]]
                if bad:
                    notes.append(
                        f"- {job} / {impl}: callbacks {bad[0]['callbacks']} ≠ "
                        f"expected {bad[0]['expected_callbacks']}"
                    )
        for r in good.get("ours", []):
            if r.get("stats_match") is False:
                notes.append(
                    f"- {job} / ours: stats() IQ counters {r['stats_iqs']} "
                    f"differ from the wrapped aioxmpp calls"
                )
        if job.startswith("memory:"):
            for impl, rs in good.items():
                for r in rs:
                    if r["cached"] != r["jids"]:
                        notes.append(
                            f"- {job} / {impl}: {r['cached']} of {r['jids']} "
                            "JIDs cached"
                        )
                        break
    if not notes:
        notes.append(
            "- all runs succeeded; notification callback counts matched the "
            "expected changes; our `stats()` IQ counters matched the wrapped "
            "aioxmpp calls; no aioxmpp run had `aioxmpp_avatar` loaded."
        )
    return notes


def write_chart(summaries, path, log):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log(
            "matplotlib is not installed: chart skipped "
            "(pip install -r bench/requirements.txt)"
        )
        return False
    items = [s for s in summaries if s.ratio is not None]
    if not items:
        return False
    cap = 1000.0
    labels, values, lo, hi, colors, notes, targets = [], [], [], [], [], [], []
    for s in items:
        labels.append(s.line.label)
        v = min(s.ratio, cap)
        values.append(v)
        lo.append(max(v - min(s.lo, cap), 0))
        hi.append(max(min(s.hi, cap) - v, 0))
        colors.append({True: "#2e8b57", False: "#cc3333", None: "#888888"}[s.met])
        notes.append("∞" if math.isinf(s.ratio) else f"{s.ratio:.2f}×")
        targets.append(s.line.target_ratio)
    fig, ax = plt.subplots(figsize=(9, 0.55 * len(items) + 1.6))
    y = list(range(len(items)))[::-1]
    ax.barh(
        y,
        values,
        xerr=[lo, hi],
        color=colors,
        alpha=0.85,
        error_kw={"ecolor": "#333333", "capsize": 3, "lw": 1},
    )
    for yi, t in zip(y, targets):
        if t is not None:
            ax.plot([t, t], [yi - 0.4, yi + 0.4], color="black", lw=2)
    for yi, v, up, n, t in zip(y, values, hi, notes, targets):
        right = max(v + up, t or 0.0)
        ax.text(right * 1.12, yi, n, va="center", fontsize=8)
    ax.axvline(1.0, color="#555555", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_xlabel(
        "aioxmpp ÷ ours (higher is better for ours; hash: ours speed ÷ "
        "aioxmpp speed)\nbars: median of pairwise ratios, whiskers: "
        "min–max, black tick: target",
        fontsize=8,
    )
    ax.set_title(
        "aioxmpp-avatar vs aioxmpp.avatar (green: target met, red: not met)",
        fontsize=10,
    )
    ax.set_xlim(left=min(0.3, min(values) / 1.5), right=max(values) * 3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write_report(
    path,
    chart_path,
    chart_ok,
    summaries,
    results,
    args,
    jobs,
    env_info,
    machine,
    started,
    elapsed,
):
    rel = os.path.relpath
    lines = ["# Benchmark results: aioxmpp-avatar vs aioxmpp.avatar", ""]
    lines += [
        f"Produced by `{args.command}` on {started:%Y-%m-%d %H:%M} UTC "
        f"({elapsed / 60:.1f} min). Each measurement ran in a fresh process, one "
        f"implementation per process, alternating aioxmpp, ours, aioxmpp, ours … "
        f"for {args.pairs} pair(s)"
        + (" (**--quick**: tiny sizes, not the full workloads)" if args.quick else "")
        + ". Medians per implementation; the ratio is the median of the pairwise "
        "ratios (aioxmpp ÷ ours for times and sizes, so above 1× means ours is "
        "faster or smaller; for hash, ours' speed ÷ aioxmpp's speed), with the "
        "range over the pairs. IQ counts are raw counts. The machine is shared "
        "with other work, so absolute times are noise; only ratios count.",
        "",
        "## Machine",
        "",
        f"- nproc: {machine['nproc']}; CPU: {machine['cpu']} "
        f"(SHA-NI {'present' if machine['sha_ni'] else 'absent'})",
        f"- Python: {machine['python']}; aioxmpp {machine['aioxmpp']}",
        f"- aioxmpp-avatar commit: `{machine['commit']}`; extension "
        f"{machine['core_build']}"
        + (
            ""
            if machine["core_build"] == machine.get("core_build_end")
            else f" — **rebuilt during the run** (at the end: "
            f"{machine.get('core_build_end')}): runs may mix two builds"
        ),
        f"- load average at start: {_load(machine['loadavg'])}; "
        f"at end: {_load(machine.get('loadavg_end', ()))}",
    ]
    if env_info:
        lines.append(
            f"- Prosody {env_info['prosody']} on 127.0.0.1 (throwaway, started by the "
            f"bench): {env_info['contacts']} contacts with distinct 64×64 PNG avatars "
            f"(≈12 KiB), prepared in {env_info['setup_s']:.1f} s outside every "
            "timed part"
        )
    lines += ["", "## Results", ""]
    rows = [HEADER] + table_rows(summaries)
    lines.append("| " + " | ".join(rows[0]) + " |")
    lines.append("|" + "---|" * len(HEADER))
    for r in rows[1:]:
        lines.append("| " + " | ".join(str(c) for c in r) + " |")
    lines.append("")
    if chart_ok:
        lines += [f"![ratios]({rel(chart_path, path.parent)})", ""]
    else:
        lines += ["(chart skipped: matplotlib not installed)", ""]
    unmet = [s for s in summaries if s.met is False]
    if unmet:
        lines += [
            "Targets not met in this run: "
            + "; ".join(
                f"**{s.line.label}** (ratio {_fmt(s.ratio)}×, target {s.line.target})"
                for s in unmet
            )
            + ". See the analysis below.",
            "",
        ]
    lines += [
        "## Commands",
        "",
        "Each row can be reproduced on its own; the worker lines are what "
        "each run executed, with IMPL `aioxmpp` or `ours` (the Prosody rows "
        "need the `--env` file that "
        "`run.py` writes after preparing the server, so run those through "
        "`run.py`).",
        "",
        "| row | command | one run |",
        "|---|---|---|",
    ]
    for row, row_jobs in ROWS.items():
        if not any(j in jobs for j in row_jobs):
            continue
        cmd = f"python bench/run.py --only {row} --pairs {args.pairs}" + (
            " --quick" if args.quick else ""
        )
        one = "<br>".join(
            "`"
            + display_cmd(
                worker_cmd(
                    j,
                    "IMPL",
                    args.quick,
                    "ENV.json" if j in PROSODY_JOBS else None,
                )
            )
            + "`"
            for j in row_jobs
        )
        lines.append(f"| {row} | `{cmd}` | {one} |")
    lines += ["", "## What each row does", ""]
    lines += [
        f"- **{k}**: {v}"
        for k, v in ROW_DOCS.items()
        if any(j in jobs for j in ROWS[k])
    ]
    lines += ["", "## Cross-checks", ""] + checks(results)
    lines += [
        "",
        "## All runs",
        "",
        "Primary metric of every run, in the order run (A = aioxmpp, B = ours).",
        "",
        "| job | metric | aioxmpp runs | ours runs |",
        "|---|---|---|---|",
    ]
    seen = set()
    for line in LINES:
        if line.job not in jobs or (line.job, line.metric) in seen:
            continue
        seen.add((line.job, line.metric))
        by = results[line.job]
        lines.append(
            f"| {line.job} | {line.metric} ({line.unit}) | "
            f"{_run_values(by['aioxmpp'], line.metric)} | "
            f"{_run_values(by['ours'], line.metric)} |"
        )
    extra = _details(results)
    if extra:
        lines += ["", "Other medians:", ""] + extra
    notes = HERE / "NOTES.md"
    if notes.exists():
        lines += ["", notes.read_text(encoding="utf-8").rstrip()]
    lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")


def _run_values(runs, metric):
    return ", ".join(
        "err" if "_error" in r else _fmt(r.get(metric))
        for r in runs
        if "_pair" in r or "_error" in r
    )


def _details(results):
    keys = {
        "notify:new": ["callbacks", "mean_infos"],
        "notify:repeat": ["callbacks", "mean_infos"],
        **{f"lookup:{size}": ["us_per_noop_coroutine"] for size in LOOKUP_SIZES},
        **{
            f"memory:notify:{size}": ["rss_growth_mib", "fill_s"]
            for size in MEMORY_SIZES
        },
        **{
            f"memory:fetch:{size}": [
                "kib_per_jid_after_lookup",
                "rss_growth_mib",
                "fill_s",
            ]
            for size in MEMORY_SIZES
        },
        "hash": ["add_ms", "hashlib_ms", "hashlib_gb_s"],
        "fanout": ["iq_metadata", "iq_data", "requests", "notified_before_start"],
        "login": ["iq_metadata", "iq_data", "connect_s", "signals"],
        "restart": [
            "iq_metadata",
            "iq_total",
            "first_login_iq_data",
            "files_in_directory",
        ],
    }
    out = []
    for job, names in keys.items():
        if job not in results:
            continue
        parts = []
        for name in names:
            vals = {
                impl: median(
                    [
                        r.get(name)
                        for r in results[job][impl]
                        if "_error" not in r and "_pair" in r
                    ]
                )
                for impl in IMPLS
            }
            parts.append(f"{name} {_fmt(vals['aioxmpp'])} / {_fmt(vals['ours'])}")
        out.append(f"- {job} (aioxmpp / ours): " + "; ".join(parts))
    return out


ROW_DOCS = {
    "notify": (
        "100,000 PEP metadata notifications for 10,000 JIDs (aioxmpp "
        "`pubsub.xso.EventItem`s carrying `avatar.xso.Metadata` with 1–3 `Info`s: "
        "a PNG, then JPEG/WebP URL sources; mean 2.0) fired through "
        "`service.avatar_pep.on_item_publish(jid, node, item)`, with a callback "
        "connected to `on_metadata_changed`; services on an unconnected "
        "`aioxmpp.Client`, `metadata_cache_size` = 20,000. The cache is filled "
        "with one notification per JID first (untimed); items are pre-built and "
        "frozen out of the garbage collector (`gc.freeze()`) before the timed "
        "loop. *all new*: every notification changes that JID's avatar; *90% "
        "repeats*: 90% repeat the JID's current metadata (new objects, equal "
        "contents), 10% change it."
    ),
    "lookup": (
        "1,000, 10,000 or 100,000 JIDs cached through notifications (2 infos "
        "each; `metadata_cache_size` twice that), then "
        "`await svc.get_avatar_metadata(jid)` swept over all of them in one "
        "coroutine, with JID objects equal to but distinct from the "
        "notifications' (a roster view holds its own): 5 passes of about "
        "100,000 calls (100, 10 or 1 sweeps); time per call including the "
        "loop, median pass. The worker also reports the cost of awaiting a "
        "no-op coroutine in the same loop."
    ),
    "memory": (
        "RSS growth (`/proc/self/statm`) for 10,000 or 100,000 JIDs × 2 infos "
        "with `metadata_cache_size` equal to the JID count, after "
        "`gc.collect()`. JIDs and items are "
        "made 1,000 at a time and dropped after delivery, as a client parsing "
        "stanzas would; a warm-up chunk made and dropped before the first "
        "reading pre-grows the allocator. *filled by notifications*: through "
        "`avatar_pep.on_item_publish`; *+ one lookup per JID*: then every JID "
        "is looked up once with `get_avatar_metadata` (JIDs made anew, as a "
        "roster view would); *filled by get_avatar_metadata*: a fake "
        "in-process `PubSubClient.get_items` answers each miss with a parsed "
        "item."
    ),
    "hash": (
        '`AvatarSet().add_avatar_image("image/png", image_bytes=png)` on a '
        "valid 1 MiB (1,048,576-byte) PNG of random pixels, against "
        "`hashlib.sha1(png).hexdigest()`, 400 times each, interleaved in one "
        "process; speed relative to hashlib = median hashlib time ÷ median "
        "add time."
    ),
    "fanout": (
        "Real Prosody. The observer (a mutual contact of every contact) "
        "connects, waits until the initial PEP notifications settled, then "
        "starts 50 contacts × 20 concurrent askers at once; each asks "
        "`get_avatar_metadata(jid, require_fresh=True)` and then "
        "`get_image_bytes()` of the PNG descriptor. IQs are counted by "
        "wrapping the observer's `PubSubClient.get_items` / `get_items_by_id` "
        "and `VCardService.get_vcard` (for ours also cross-checked with "
        "`stats()`); every returned image is checked against its SHA-1."
    ),
    "login": (
        "Real Prosody. A fresh observer (new client and service; ours with a "
        "new empty `image_directory`) logs in and shows the avatars of its 100 "
        "contacts as a roster view with live updates would: an "
        "`on_metadata_changed` handler fetches the image of an avatar not "
        "shown yet, and the view asks `get_avatar_metadata` + "
        "`get_image_bytes` for every contact at once, skipping avatars "
        "already shown. Wall time from the start of the connection until "
        "every avatar is shown and every fetch finished."
    ),
    "restart": (
        "Real Prosody. The same as login, twice in one process: a first login "
        "(untimed; ours fills its `image_directory`), logout, then a second "
        "login with a new client and service (ours with the same "
        "`image_directory`), which is measured. aioxmpp keeps no images, so it "
        "fetches them again."
    ),
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Side-by-side benchmarks of aioxmpp.avatar and aioxmpp_avatar."
    )
    parser.add_argument(
        "--pairs",
        type=int,
        default=5,
        help="alternating aioxmpp/ours pairs per job (default 5)",
    )
    parser.add_argument(
        "--only", default="", help="comma-separated rows: " + ",".join(ROWS)
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny sizes (a smoke test, not the full workloads)",
    )
    parser.add_argument(
        "--out",
        default=str(HERE / "RESULTS.md"),
        help="Markdown report (default bench/RESULTS.md); the chart "
        "ratios.png is written beside it",
    )
    parser.add_argument(
        "--report-from",
        metavar="JSON",
        help="do not run anything: rewrite the report (and chart) from the "
        "RESULTS.json of an earlier run, e.g. after editing bench/NOTES.md",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=900.0,
        help="seconds one worker run may take (default 900)",
    )
    args = parser.parse_args(argv)
    if args.pairs < 1:
        parser.error("--pairs must be at least 1")
    rows = [
        ALIASES.get(r.strip(), r.strip()) for r in args.only.split(",") if r.strip()
    ]
    unknown = [r for r in rows if r not in ROWS]
    if unknown:
        parser.error(f"unknown row(s) {unknown}; choose from {', '.join(ROWS)}")
    args.rows = rows or list(ROWS)
    args.command = "python bench/run.py" + (
        " " + shlex.join(argv if argv is not None else sys.argv[1:])
        if (argv if argv is not None else sys.argv[1:])
        else ""
    )
    return args


def main(argv=None):
    args = parse_args(argv)
    out = Path(args.out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    chart = out.parent / "ratios.png"

    def log(msg):
        print(msg, flush=True)

    if args.report_from:
        saved = json.loads(Path(args.report_from).read_text(encoding="utf-8"))
        run = argparse.Namespace(**saved["run"])
        jobs = [j for row in run.rows for j in ROWS[row]]
        started = datetime.datetime.fromisoformat(run.started)
        machine, env_info, results = saved["machine"], saved["env"], saved["results"]
        elapsed = run.elapsed
    else:
        run = argparse.Namespace(
            command=args.command, pairs=args.pairs, quick=args.quick, rows=args.rows
        )
        jobs = [j for row in args.rows for j in ROWS[row]]
        machine = machine_note()
        started = datetime.datetime.now(datetime.timezone.utc)
        t0 = time.monotonic()
        log(
            f"bench: rows {', '.join(args.rows)}; {args.pairs} pair(s)"
            + (" (quick)" if args.quick else "")
        )
        results, env_info = run_all(jobs, args.pairs, args.quick, args.timeout, log)
        elapsed = time.monotonic() - t0
        machine["core_build_end"] = core_build()
        machine["loadavg_end"] = os.getloadavg()
        run.started = started.isoformat()
        run.elapsed = elapsed
        raw = out.with_suffix(".json")
        raw.write_text(
            json.dumps(
                {
                    "run": vars(run),
                    "machine": machine,
                    "env": env_info,
                    "results": results,
                },
                indent=1,
                default=str,
            ),
            encoding="utf-8",
        )
    summaries = summarize(results, jobs)
    print()
    print_table(summaries)
    chart_ok = write_chart(summaries, chart, log)
    write_report(
        out,
        chart,
        chart_ok,
        summaries,
        results,
        run,
        jobs,
        env_info,
        machine,
        started,
        elapsed,
    )
    log(
        f"\nwrote {out}"
        + (f", {chart}" if chart_ok else "")
        + ("" if args.report_from else f", {out.with_suffix('.json')}")
        + f" (runs took {elapsed / 60:.1f} min)"
    )
    failed = sum(
        "_error" in r for by in results.values() for rs in by.values() for r in rs
    )
    if failed:
        log(f"{failed} run(s) failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
