"""What our rq and rq-scheduler subclasses hook into: still there, with the same signatures, still called.

An upgrade of rq or rq-scheduler that renames a hooked method, changes its parameters or stops calling
it fails here, instead of silently turning an override into dead code. The last tests check that the
stock behaviour each deviation answers is still there; when one fails, that deviation may go.
"""
import inspect
import signal
import threading
from datetime import datetime, timedelta, timezone

import pytest
from redis import Redis
from redis.client import PubSubWorkerThread
from redis.exceptions import RedisError
from rq import Queue, get_current_job
from rq.command import PUBSUB_CHANNEL_TEMPLATE
from rq.worker import SimpleWorker, Worker
from rq_scheduler import Scheduler
from rq_scheduler.utils import get_next_scheduled_time, to_unix

from app.queues import SCHEDULER_HEARTBEAT_KEY, get_redis
from jobs import schedule
from jobs.scheduler import AppScheduler, sync
from jobs.worker import AppSimpleWorker, AppWorker
from tests.services import RedisServer

# rq-scheduler's crontab warning, silenced in the scheduler process; pytest resets filters.
pytestmark = pytest.mark.filterwarnings("ignore:Version 0.22.0:FutureWarning")

HOOKS = {
    (AppScheduler, Scheduler): {"enqueue_jobs", "enqueue_job", "heartbeat", "register_death", "remove_lock"},
    (AppSimpleWorker, SimpleWorker): {"execute_job", "perform_job", "subscribe"},
    (AppWorker, Worker): {"execute_job", "perform_job", "subscribe"},
}


def parameters(function):
    return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]


@pytest.mark.parametrize("ours, theirs", list(HOOKS), ids=lambda cls: cls.__name__)
def test_every_override_hooks_a_method_of_the_same_signature(ours, theirs):
    own = {name for cls in ours.__mro__ if cls.__module__.startswith("jobs.")
           for name, value in vars(cls).items() if inspect.isfunction(value) and not name.startswith("__")}
    assert own & set(dir(theirs)) == HOOKS[ours, theirs]  # an override not listed here is reviewed first
    for name in HOOKS[ours, theirs]:
        assert parameters(getattr(ours, name)) == parameters(getattr(theirs, name)), name


# The scheduler: run() calls the hooks, and each one does its part.

def a_zone_unlike_this_machines():
    """Stock rq-scheduler reads cron strings in the process's local zone; pick one whose times differ."""
    return "Asia/Kolkata" if datetime.now().astimezone().utcoffset() != timedelta(hours=5, minutes=30) else "UTC"


def scheduled(connection):
    return {member.decode(): score for member, score in
            connection.zrange(Scheduler.scheduled_jobs_key, 0, -1, withscores=True)}


@pytest.fixture
def keep_signal_handlers():
    """Scheduler.run() installs rq-scheduler's stop handlers in this process; put pytest's back after."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def test_run_calls_the_scheduler_hooks(app, keep_signal_handlers):
    zone = a_zone_unlike_this_machines()
    with app.app_context():
        connection = get_redis()
        entries = schedule.declared(app.config)
        scheduler = AppScheduler(connection=connection, interval=1, entries=entries, zone=zone)
        scheduler.run(burst=True)  # heartbeat() and the first enqueue_jobs(), which syncs
        assert connection.exists(SCHEDULER_HEARTBEAT_KEY)
        assert set(scheduled(connection)) == {entry.job_id(zone) for entry in entries}

        connection.zadd(Scheduler.scheduled_jobs_key, {job_id: 0 for job_id in scheduled(connection)})
        before = datetime.now(timezone.utc)
        scheduler.run(burst=True)  # enqueue_jobs() calls enqueue_job() for each due job
        after = datetime.now(timezone.utc)
        queued = [job_id for name in ("mail", "default", "maintenance")
                  for job_id in Queue(name, connection=connection).get_job_ids()]
        assert sorted(queued) == sorted(scheduled(connection))
        for entry in entries:
            if entry.cron:  # the next run is ours (in the zone), not rq-scheduler's (local zone)
                score = scheduled(connection)[entry.job_id(zone)]
                assert score in {schedule.next_cron(entry.cron, zone, t).timestamp() for t in (before, after)}
                assert score != to_unix(get_next_scheduled_time(entry.cron))

        connection.zadd(Scheduler.scheduled_jobs_key, {job_id: 0 for job_id in scheduled(connection)})
        scheduler.run(burst=True)  # due again while every copy still waits: no second copy
        assert sorted(job_id for name in ("mail", "default", "maintenance")
                      for job_id in Queue(name, connection=connection).get_job_ids()) == sorted(queued)

        connection.delete(Scheduler.scheduled_jobs_key)  # the schedule lost: the next pass syncs again
        scheduler.run(burst=True)
        assert set(scheduled(connection)) == {entry.job_id(zone) for entry in entries}


@pytest.mark.processes
def test_the_stop_handler_exits_while_redis_is_down(app, keep_signal_handlers):
    server = RedisServer().start()
    try:
        connection = Redis.from_url(server.url, socket_timeout=1, socket_connect_timeout=1)
        stock = Scheduler(connection=connection, interval=1)
        ours = AppScheduler(connection=connection, interval=1, entries=schedule.declared(app.config), zone="UTC")
        handlers = {}
        for scheduler in (stock, ours):
            scheduler.run(burst=True)  # installs rq-scheduler's stop handler for this scheduler
            handlers[scheduler] = signal.getsignal(signal.SIGTERM)
            assert scheduler.acquire_lock()  # held when the stop comes, so remove_lock() needs Redis
            connection.delete(Scheduler.scheduler_lock_key)
        server.stop()
        with pytest.raises(RedisError):  # stock: the handler raises from Redis instead of exiting
            handlers[stock](signal.SIGTERM, None)
        with pytest.raises(SystemExit):  # ours: register_death() and remove_lock() let it exit
            handlers[ours](signal.SIGTERM, None)
    finally:
        server.cleanup()


def test_stock_rq_scheduler_still_pushes_a_waiting_job_again(app):
    """Why AppScheduler.enqueue_job checks the queue first."""
    with app.app_context():
        connection = get_redis()
        scheduler = Scheduler(connection=connection)
        sync(scheduler, schedule.declared(app.config), "UTC")
        job = next(j for j in scheduler.get_jobs() if j.id.startswith(f"{schedule.ID_PREFIX}stats-today"))
        scheduler.enqueue_job(job)
        scheduler.enqueue_job(job)
        assert Queue("default", connection=connection).get_job_ids() == [job.id, job.id]


# The worker: rq calls the hooks.

def pubsub_thread_blocks_sigterm():
    """Run as a job inside a burst worker: is SIGTERM blocked in that worker's pubsub thread?"""
    channel = (PUBSUB_CHANNEL_TEMPLATE % get_current_job().worker_name).encode()
    thread = next(t for t in threading.enumerate()
                  if isinstance(t, PubSubWorkerThread) and channel in t.pubsub.channels)
    with open(f"/proc/self/task/{thread.native_id}/status") as status:
        blocked = int(next(line for line in status if line.startswith("SigBlk:")).split()[1], 16)
    return bool(blocked & (1 << (signal.SIGTERM - 1)))


def test_the_pubsub_thread_leaves_stop_signals_to_the_main_thread(app, keep_signal_handlers):
    with app.app_context():
        queue = Queue("default", connection=get_redis())
        for worker_class, blocked in ((SimpleWorker, False), (AppSimpleWorker, True)):
            job = queue.enqueue(pubsub_thread_blocks_sigterm)
            options = {"app": app} if worker_class is AppSimpleWorker else {}
            worker_class(["default"], connection=get_redis(), **options).work(burst=True)
            assert job.return_value() is blocked, worker_class.__name__
