"""One mail contender, measured in its own process: `python -m bench.mailrun CONTENDER COUNT SAMPLES`.

Run with the app's venv for the RQ contenders and the ceiling, and with bench/.venv-celery for Celery, so
the driver code is the same for all. The stack's settings come from the environment; the result is one
JSON line.
"""
import json
import os
import smtplib
import sys
import time
from datetime import timedelta

from redis import Redis
from sqlalchemy import func, insert, select

from app import create_app, outbox
from app.extensions import db
from app.emails import message as render_mail
from app.models import OutboxMail, User, utcnow
from app.queues import get_queue
from bench.sink import ARRIVALS, arrivals
from tests.services import Process, wait_until

WARM_UP = 0.1  # the first 10% of deliveries (workers still starting) are left out of the rate
PACING = 0.05  # seconds between latency samples: an idle worker, as with sign-ups trickling in
LINK = "http://127.0.0.1:5000/auth/verify/" + "x" * 120  # the tutorial's task gets link and code as arguments
CODE = "123456"
UNSENT = ("tutorial", "ceiling")  # no outbox rows to mark: the tutorial's task has no database


def seed(label, count, status=OutboxMail.PENDING):
    """Unverified accounts with their pending verification rows, as a burst of sign-ups leaves them.

    The contenders without an outbox get their rows marked sent: only the recipients are used, and the
    project's drain, run later on the same database, must not find them due.
    """
    now = utcnow() - timedelta(seconds=1)
    names = [f"{label}-{i}" for i in range(count)]
    db.session.execute(insert(User), [dict(username=name, email=f"{name}@bench.test", password_hash="x",
                                           verify_code_nonce=f"{int(time.time())}$00{i:030d}", created_at=now)
                                      for i, name in enumerate(names)])
    users = dict(db.session.execute(select(User.username, User.id).where(User.username.like(f"{label}-%"))).all())
    db.session.execute(insert(OutboxMail), [dict(kind="verify", recipient=f"{name}@bench.test", user_id=users[name],
                                                 params={}, created_at=now, updated_at=now, next_attempt_at=now,
                                                 status=status)
                                            for name in names])
    db.session.commit()
    return db.session.execute(select(OutboxMail.id, OutboxMail.recipient)
                              .where(OutboxMail.recipient.like(f"{label}-%")).order_by(OutboxMail.id)).all()


def status_for(contender):
    return OutboxMail.SENT if contender in UNSENT else OutboxMail.PENDING


def sent_count(label):
    db.session.remove()
    return db.session.scalar(select(func.count()).select_from(OutboxMail).where(
        OutboxMail.recipient.like(f"{label}-%"), OutboxMail.status == OutboxMail.SENT))


def enqueuer(contender):
    """The call each set-up's web request makes after its commit, given (outbox id, recipient)."""
    if contender == "celery":
        from bench.celery_app import send
        return lambda outbox_id, recipient: send.delay(outbox_id)
    if contender == "tutorial":
        from bench.celery_app import tutorial_send
        return lambda outbox_id, recipient: tutorial_send.delay(recipient, recipient.partition("@")[0], LINK, CODE)
    if contender == "naive":
        return lambda outbox_id, recipient: get_queue("mail").enqueue("bench.naive.send", outbox_id)
    return lambda outbox_id, recipient: outbox.wake()  # the project: one coalesced wake-up


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


def rate(redis, rows):
    """Mails/s from the sink's arrival stamps, once the first WARM_UP of the backlog has arrived."""
    wanted = {rcpt for _, rcpt in rows}
    times = sorted(at for rcpt, at in arrivals(redis).items() if rcpt in wanted)
    if len(times) < len(rows):
        raise RuntimeError(f"only {len(times)} of {len(rows)} mails arrived ({redis.llen(ARRIVALS)} at the sink)")
    skip = int(len(times) * WARM_UP)
    return (len(times) - 1 - skip) / (times[-1] - times[skip])


def throughput(redis, enqueue, worker, rows):
    """Mails/s once the backlog is being worked off, and the worker's CPU ms per mail over the same span."""
    for outbox_id, recipient in rows:
        enqueue(outbox_id, recipient)
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
    try:
        return rate(redis, rows), cpu_ms
    except RuntimeError as exc:
        status = worker.process.poll()
        state = "running" if status is None else f"exited with status {status}"
        raise RuntimeError(f"{exc} (worker {state}):\n{worker.log()[-3000:]}") from None


def ceiling(app, rows):
    """What the sink takes from one raw smtplib client over one connection: the same message, no framework."""
    row = db.session.get(OutboxMail, rows[0][0])
    data = render_mail(row, db.session.get(User, row.user_id)).as_bytes()
    config = app.config
    client = smtplib.SMTP(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=10)
    started = time.process_time()
    for _, recipient in rows:
        client.sendmail("no-reply@bench.test", [recipient], data)
    cpu_ms = (time.process_time() - started) * 1000 / len(rows)
    client.quit()
    return cpu_ms


def latencies(redis, label, contender, enqueue, count):
    """An idle worker, one sign-up at a time: from the enqueue call (row committed) to the sink's stamp."""
    redis.delete(ARRIVALS)
    samples = []
    for i in range(count):
        [(outbox_id, recipient)] = seed(f"{label}-l{i}", 1, status_for(contender))
        time.sleep(PACING)
        started = time.time()
        enqueue(outbox_id, recipient)
        item = redis.blpop(ARRIVALS, timeout=20)
        if item is None:
            raise RuntimeError(f"mail {outbox_id} ({contender}) did not arrive within 20 s")
        arrived_rcpt, arrived = item[1].decode().split()
        assert arrived_rcpt == recipient, (arrived_rcpt, recipient)
        samples.append((float(arrived) - started) * 1000)
    return samples


def main():
    contender, count, samples = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    label = f"{contender}-{time.time_ns() % 10**10}"  # usernames stay within their 32 characters
    app = create_app()
    redis = Redis.from_url(app.config["REDIS_URL"])
    redis.delete(ARRIVALS)
    with app.app_context():
        bulk = seed(f"{label}-t", count, status_for(contender))
        if contender == "ceiling":
            cpu_ms = ceiling(app, bulk)
            wait_until(lambda: redis.llen(ARRIVALS) >= count, timeout=30, message="every mail at the sink")
            print(json.dumps({"rate": rate(redis, bulk), "cpu_ms": cpu_ms, "latencies": []}))
            return
        worker = Process("worker", json.loads(os.environ["BENCH_ENV"]), os.environ["BENCH_LOG_DIR"])
        worker.command = os.environ.get("BENCH_WORKER_COMMAND") or worker.command  # unset: the Procfile's line
        worker.log_path = os.path.join(os.environ["BENCH_LOG_DIR"], f"worker-{label}.log")
        enqueue = enqueuer(contender)
        try:
            speed, cpu_ms = throughput(redis, enqueue, worker, bulk)
            waits = latencies(redis, label, contender, enqueue, samples)
            if contender not in UNSENT:  # the job really ran: every row is marked sent
                wait_until(lambda: sent_count(label) == count + samples, timeout=30, message="all rows marked sent")
        finally:
            worker.stop()
    print(json.dumps({"rate": speed, "cpu_ms": cpu_ms, "latencies": waits}))


if __name__ == "__main__":
    main()
