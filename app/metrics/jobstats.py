"""Job durations and failures by job, kept in Redis by the workers and read by web at scrape time.

Workers may run on other hosts, so nothing they hold locally (prometheus-client's multi-process files)
can reach web's /metrics; Redis is what every process shares. One hash holds, per job function, a run
count, a failure count, the summed seconds and cumulative histogram buckets: one pipelined round trip
per job, and the series stay monotonic across worker restarts, as Prometheus counters must.
rq's own registries are not used: they expire their entries and hold no duration history.
"""
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

KEY = "signup:metrics:jobs"
BUCKETS = (0.05, 0.25, 1.0, 5.0, 30.0, 120.0)


def record(redis, name, seconds, ok):
    """Called by jobs/worker.py after every job; a Redis error here must not fail the job (the caller guards)."""
    pipe = redis.pipeline(transaction=False)
    pipe.hincrby(KEY, f"{name}|count", 1)
    pipe.hincrbyfloat(KEY, f"{name}|sum", seconds)
    if not ok:
        pipe.hincrby(KEY, f"{name}|failed", 1)
    for bound in BUCKETS:
        if seconds <= bound:
            pipe.hincrby(KEY, f"{name}|le={bound}", 1)
    pipe.execute()


def families(redis):
    """The histogram of durations and the failure counter, labelled by job function."""
    fields = {key.decode(): value.decode() for key, value in redis.hgetall(KEY).items()}
    names = sorted({field.partition("|")[0] for field in fields})
    duration = HistogramMetricFamily("signup_job_duration_seconds", "Time jobs took, by job function.",
                                     labels=["job"])
    failures = CounterMetricFamily("signup_job_failures", "Jobs that raised, by job function.", labels=["job"])
    for name in names:
        count = int(fields.get(f"{name}|count", 0))
        buckets = [(str(bound), int(fields.get(f"{name}|le={bound}", 0))) for bound in BUCKETS] + [("+Inf", count)]
        duration.add_metric([name], buckets, float(fields.get(f"{name}|sum", 0)))
        failures.add_metric([name], int(fields.get(f"{name}|failed", 0)))
    return [duration, failures]
