"""Mail section: a 600-mail backlog drained by the project's worker, Celery on our job, the tutorial's
Celery task and a raw smtplib loop (the sink's ceiling), interleaved in rounds; mails/s, ratios, latency."""
import json
import os
import subprocess
import sys

from bench import venv
from bench.report import median, percentile
from bench.stack import Stack
from tests.services import ROOT

CELERY = "celery -A bench.celery_app worker --pool prefork --concurrency 2"
# key: (label, worker command or None for the Procfile's line, needs the Celery venv)
CONTENDERS = {
    "project": ("project worker (Procfile: worker-pool, coalesced drain in batches)", None, False),
    "celery": ("Celery prefork, concurrency 2, on our job (jobs.mail.send per row)", CELERY, True),
    "tutorial": ("the tutorial's Celery task (render + Flask-Mail send, no database), prefork 2", CELERY, True),
    "ceiling": ("sink ceiling: raw smtplib loop over one connection", "", False),
}
NAIVE = ("naive `rq worker` (fork per job, app imported per fork)", 'rq worker --url "$REDIS_URL" mail', False)
BACKLOG, SAMPLES = 600, 40
RATIOS = (("project", "tutorial"), ("project", "celery"), ("project", "ceiling"), ("tutorial", "ceiling"))


def measure(stack, key, spec, count, samples):
    """Run bench.mailrun for one contender in a subprocess; returns {"rate": ..., "latencies": [...]}."""
    label, command, celery = spec
    python = venv.CELERY.ensure() if celery else sys.executable
    if python is None:
        return None
    stack.connection.flushdb()
    env = {**os.environ, **stack.env, "PYTHONPATH": ROOT, "BENCH_ENV": json.dumps(stack.env), "BENCH_LOG_DIR": stack.dir}
    if command is not None:
        env["BENCH_WORKER_COMMAND"] = command
    else:
        env.pop("BENCH_WORKER_COMMAND", None)
    result = subprocess.run([python, "-m", "bench.mailrun", key, str(count), str(samples)], cwd=ROOT,
                            capture_output=True, text=True, env=env, timeout=600)
    if result.returncode != 0:
        print(f"bench: {label} failed:\n{result.stderr[-3000:]}", file=sys.stderr)
        return None
    return json.loads(result.stdout.strip().splitlines()[-1])


def run(table, runs, quick):
    chosen = dict(CONTENDERS) if quick else {**CONTENDERS, "naive": NAIVE}
    results = {key: [] for key in chosen}
    with Stack() as stack:
        for _ in range(runs):  # rounds interleave the contenders, so noise hits them alike
            for key, spec in chosen.items():
                count, samples = (30, 8) if key == "naive" else (BACKLOG, 0 if key == "ceiling" else SAMPLES)
                results[key].append(measure(stack, key, spec, count, max(0, int(samples * (0.5 if quick else 1)))))
    for key, spec in chosen.items():
        ok = [r for r in results[key] if r]
        if not ok:
            table.missing("mail", spec[0], "not available (see the error above)")
            continue
        table.add("mail", f"{spec[0]}: mails/s", median(r["rate"] for r in ok), "{:.1f}")
        table.add("mail", f"{spec[0]}: {'driver' if key == 'ceiling' else 'worker'} CPU ms per mail",
                  median(r["cpu_ms"] for r in ok), "{:.2f}")
        waits = [ms for r in ok for ms in r["latencies"]]
        if waits:
            table.add("mail", f"{spec[0]}: enqueue→delivered p50 / p90 ms",
                      (percentile(waits, 50), percentile(waits, 90)), "{:.1f} / {:.1f}")
    for top, bottom in RATIOS + ((("project", "naive"),) if "naive" in chosen else ()):
        ratios = [a["rate"] / b["rate"] for a, b in zip(results[top], results[bottom]) if a and b]
        name = f"ratio {top} / {bottom} (mails/s, same round)"
        if ratios:
            table.add("mail", name, median(ratios), "{:.2f}×")
        else:
            table.missing("mail", name, "not available")
