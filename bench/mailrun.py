"""One mail contender, measured in its own process: `python -m bench.mailrun CONTENDER COUNT SAMPLES`.

Run with the app's venv for the RQ contenders and with bench/.venv-celery for Celery, so that the driver
code is the same for all. The stack's settings come from the environment; the result is one JSON line.
"""
import json
import os
import sys
import time
from datetime import timedelta

from redis import Redis
from sqlalchemy import func, insert, select

from app import create_app
from app.extensions import db
from app.models import OutboxMail, utcnow
from bench.sink import ARRIVALS, arrivals
from tests.services import Process, wait_until

WARM_UP = 0.1  # the first 10% of deliveries (workers still starting) are left out of the rate
PACING = 0.05  # seconds between latency samples: an idle worker, as with sign-ups trickling in
BODY = ("Hello,\n\nplease confirm your address by opening this link:\n"
        "http://127.0.0.1:5000/auth/verify/" + "x" * 120 + "\n\nIf you did not sign up, ignore this mail.\n")


def seed(label, count):
    """Pending outbox rows, as a registration leaves them; the recipient names the row."""
    now = utcnow() - timedelta(seconds=1)
    rows = [dict(kind="verify", recipient=f"{label}-{i}@bench.test", subject="Confirm your address",
                 body_text=BODY, body_html=f"<p>{BODY}</p>", status=OutboxMail.PENDING, attempts=0,
                 created_at=now, updated_at=now, next_attempt_at=now) for i in range(count)]
    db.session.execute(insert(OutboxMail), rows)
    db.session.commit()
    return db.session.execute(select(OutboxMail.id, OutboxMail.recipient)
                              .where(OutboxMail.recipient.like(f"{label}-%"))).all()


def sent_count(label):
    db.session.remove()
    return db.session.scalar(select(func.count()).select_from(OutboxMail).where(
        OutboxMail.recipient.like(f"{label}-%"), OutboxMail.status == OutboxMail.SENT))


def enqueuer(contender):
    """The call that pushes one mail job, exactly as each set-up's application would."""
    if contender == "celery":
        from bench.celery_app import send
        return send.delay
    from app.queues import enqueue, enqueue_mail
    if contender.startswith("naive"):
        return lambda outbox_id: enqueue("mail", "bench.naive.send", outbox_id)
    return enqueue_mail


def group_cpu_seconds(pgid):
    """CPU seconds of the worker's process group: pool or prefork children, and forked horses once reaped."""
    total = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            total += sum(int(v) for v in fields[11:15])  # utime, stime, and those of reaped work horses
    return total / os.sysconf("SC_CLK_TCK")


def throughput(redis, enqueue, worker, rows):
    """Mails/s once the backlog is being worked off, and the worker's CPU ms per mail over the same span."""
    for outbox_id, _ in rows:
        enqueue(outbox_id)
    worker.start()
    warm = max(1, int(len(rows) * WARM_UP))
    marks = []

    def done():
        delivered = redis.llen(ARRIVALS)
        if not marks and delivered >= warm:
            marks.append((delivered, group_cpu_seconds(worker.process.pid)))
        return delivered >= len(rows) or worker.process.poll() is not None

    wait_until(done, timeout=30 + len(rows) / 2, interval=0.1, message=f"{len(rows)} mails at the sink")
    cpu_ms = (group_cpu_seconds(worker.process.pid) - marks[0][1]) * 1000 / (redis.llen(ARRIVALS) - marks[0][0])
    wanted = {rcpt for _, rcpt in rows}
    times = sorted(at for rcpt, at in arrivals(redis).items() if rcpt in wanted)
    if len(times) < len(rows):
        raise RuntimeError(f"only {len(times)} of {len(rows)} mails arrived:\n{worker.log()[-3000:]}")
    skip = int(len(times) * WARM_UP)
    return (len(times) - 1 - skip) / (times[-1] - times[skip]), cpu_ms


def latencies(redis, enqueue, rows):
    redis.delete(ARRIVALS)
    samples = []
    for outbox_id, rcpt in rows:
        time.sleep(PACING)
        started = time.time()
        enqueue(outbox_id)
        item = redis.blpop(ARRIVALS, timeout=20)
        if item is None:
            raise RuntimeError(f"mail {outbox_id} did not arrive within 20 s")
        arrived_rcpt, arrived = item[1].decode().split()
        assert arrived_rcpt == rcpt, (arrived_rcpt, rcpt)
        samples.append((float(arrived) - started) * 1000)
    return samples


def main():
    contender, count, samples = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    command, stack_env = os.environ["BENCH_WORKER_COMMAND"], json.loads(os.environ["BENCH_ENV"])
    label = f"{contender}-{time.time_ns()}"
    app = create_app()
    redis = Redis.from_url(app.config["REDIS_URL"])
    redis.delete(ARRIVALS)
    worker = Process("worker", stack_env, os.environ["BENCH_LOG_DIR"])
    worker.command = command
    worker.log_path = os.path.join(os.environ["BENCH_LOG_DIR"], f"worker-{label}.log")
    with app.app_context():
        bulk = seed(f"{label}-t", count)
        single = seed(f"{label}-l", samples)
        enqueue = enqueuer(contender)
        try:
            rate, cpu_ms = throughput(redis, enqueue, worker, bulk)
            waits = latencies(redis, enqueue, single)
            # The job really ran: every row is marked sent (the last commit follows the last mail).
            wait_until(lambda: sent_count(label) == count + samples, timeout=30, message="all rows marked sent")
        finally:
            worker.stop()
    print(json.dumps({"rate": rate, "cpu_ms": cpu_ms, "latencies": waits}))


if __name__ == "__main__":
    main()
