"""Mail section: mails/s and enqueue-to-delivered latency for the project's worker, naive RQ and Celery."""
import json
import os
import subprocess
import sys

from bench import venv
from bench.report import median, percentile
from bench.stack import Stack
from tests.services import ROOT, procfile_command

RQ_WORKER = 'rq worker --url "$REDIS_URL"'

# key: (label, worker command or None for the Procfile's line, extra env, needs the Celery venv)
CONTENDERS = {
    "project": ("project worker (Procfile: worker-pool of AppSimpleWorker)", None, {}, False),
    "celery": ("Celery prefork, concurrency 2", "celery -A bench.celery_app worker --pool prefork --concurrency 2",
               {}, True),
    "naive": ("naive `rq worker` (fork per job, app imported per fork)", f"{RQ_WORKER} mail", {}, False),
}
IDEAS = {
    "pool-1": ("Procfile worker, WORKER_CONCURRENCY=1", None, {"WORKER_CONCURRENCY": "1"}, False),
    "pool-3": ("Procfile worker, WORKER_CONCURRENCY=3", None, {"WORKER_CONCURRENCY": "3"}, False),
    "pool-info": ("Procfile worker at rq's default --logging-level INFO (4 lines per job)",
                  "{procfile} --logging-level INFO", {}, False),
    "simple": ("one AppSimpleWorker (`rq worker`, no pool)",
               f"{RQ_WORKER} --worker-class jobs.worker.AppSimpleWorker mail default maintenance", {}, False),
    "fork": ("one AppWorker (fork per job, app built before the fork)",
             f"{RQ_WORKER} --worker-class jobs.worker.AppWorker mail default maintenance", {}, False),
}
# Mails for the rate and latency samples: about 5 s of work each, at the speeds seen on 2 cores.
SIZES = {"project": (1000, 40), "celery": (1000, 40), "naive": (30, 8), "fork": (150, 10)}
IDEA_SIZE = (500, 20)


def measure(stack, key, spec, count, samples):
    """Run bench.mailrun for one contender in a subprocess; returns {"rate": ..., "latencies": [...]}."""
    label, command, env, celery = spec
    python = venv.CELERY.ensure() if celery else sys.executable
    if python is None:
        return None
    procfile = procfile_command("worker")
    command = (command or procfile).replace("{procfile}", procfile)
    stack.connection.flushdb()
    result = subprocess.run(
        [python, "-m", "bench.mailrun", key, str(count), str(samples)], cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, **stack.env, **env, "PYTHONPATH": ROOT, "BENCH_WORKER_COMMAND": command,
             "BENCH_ENV": json.dumps({**stack.env, **env}), "BENCH_LOG_DIR": stack.dir}, timeout=600)
    if result.returncode != 0:
        print(f"bench: {label} failed:\n{result.stderr[-3000:]}", file=sys.stderr)
        return None
    return json.loads(result.stdout.strip().splitlines()[-1])


def run(table, runs, quick):
    scale = 0.3 if quick else 1.0
    chosen = dict(CONTENDERS) if quick else {**CONTENDERS, **IDEAS}
    results = {key: [] for key in chosen}
    with Stack() as stack:
        for _ in range(runs):  # rounds interleave the contenders, so noise hits them alike
            for key, spec in chosen.items():
                count, samples = SIZES.get(key, IDEA_SIZE)
                results[key].append(measure(stack, key, spec, max(10, int(count * scale)),
                                            max(5, int(samples * scale))))
    for key, spec in chosen.items():
        ok = [r for r in results[key] if r]
        if not ok:
            table.missing("mail", spec[0], "not available (see the error above)")
            continue
        waits = [ms for r in ok for ms in r["latencies"]]
        table.add("mail", f"{spec[0]}: mails/s", median(r["rate"] for r in ok), "{:.1f}")
        table.add("mail", f"{spec[0]}: worker CPU ms per mail", median(r["cpu_ms"] for r in ok), "{:.2f}")
        table.add("mail", f"{spec[0]}: enqueue→delivered p50 / p90 ms",
                  (percentile(waits, 50), percentile(waits, 90)), "{:.1f} / {:.1f}")
    ratios = [p["rate"] / c["rate"] for p, c in zip(results["project"], results["celery"]) if p and c]
    if ratios:
        table.add("mail", "ratio project / Celery prefork (mails/s, same round)", median(ratios), "{:.2f}×")
    else:
        table.missing("mail", "ratio project / Celery prefork", "not available")
    naive = [p["rate"] / n["rate"] for p, n in zip(results["project"], results["naive"]) if p and n]
    if naive:
        table.add("mail", "ratio project / naive rq worker", median(naive), "{:.1f}×")
