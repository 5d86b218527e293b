"""The printed table, its statistics and the machine and versions it was measured on."""
import json
import os
import platform
import statistics
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata

from bench import venv

PACKAGES = ("Flask", "Flask-WTF", "Flask-Mail", "Flask-SQLAlchemy", "SQLAlchemy", "rq", "redis", "hiredis",
            "gunicorn", "pillow", "Werkzeug", "argon2-cffi", "email-validator")
BENCH_PACKAGES = ("celery", "kombu", "billiard", "captcha")
SOLVER_PACKAGES = ("ddddocr", "onnxruntime", "opencv-python-headless")


def median(values):
    return statistics.median(list(values))


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def versions(names, python=None):
    if python is None:
        found = {}
        for name in names:
            try:
                found[name] = metadata.version(name)
            except metadata.PackageNotFoundError:
                pass
        return found
    code = ("import json,sys;from importlib import metadata as m;names=sys.argv[1:];"
            "print(json.dumps({n: m.version(n) for n in names if m.distribution(n)}))")
    try:
        out = subprocess.run([python, "-c", code, *names], capture_output=True, text=True, check=True).stdout
    except (subprocess.CalledProcessError, OSError):
        return {}
    return json.loads(out)


def machine_lines():
    redis_version = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.split()
    app = versions(PACKAGES)
    bench = versions(BENCH_PACKAGES, venv.CELERY.python) if os.path.exists(venv.CELERY.python) else {}
    solver = versions(SOLVER_PACKAGES, venv.DDDDOCR.python) if os.path.exists(venv.DDDDOCR.python) else {}
    return [
        f"date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"machine: {os.cpu_count()} cores ({len(os.sched_getaffinity(0))} usable), {cpu_model()}, "
        f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}",
        f"python: {sys.version.split()[0]} ({platform.python_implementation()}), "
        f"redis-server {next((w[2:] for w in redis_version if w.startswith('v=')), '?')}",
        "packages: " + ", ".join(f"{k} {v}" for k, v in app.items()),
        "bench venv: " + (", ".join(f"{k} {v}" for k, v in bench.items()) or "not built"),
        "solver venv: " + (", ".join(f"{k} {v}" for k, v in solver.items()) or "not built"),
    ]


class Table:
    """Rows of (section, measure, value) printed as a Markdown table, so RESULTS.md can take it as is."""

    def __init__(self):
        self.rows = []

    def add(self, section, name, value, fmt="{:.1f}"):
        text = fmt.format(*value) if isinstance(value, tuple) else fmt.format(value)
        self.rows.append((section, name, text))
        print(f"bench: {section}: {name} = {text}", file=sys.stderr, flush=True)

    def missing(self, section, name, reason):
        self.rows.append((section, name, reason))
        print(f"bench: {section}: {name}: {reason}", file=sys.stderr, flush=True)

    def render(self, notes=()):
        lines = [*machine_lines(), *notes, "", "| section | measure | median |", "|---|---|---:|"]
        lines += [f"| {section} | {name} | {value} |" for section, name, value in self.rows]
        return "\n".join(lines)
