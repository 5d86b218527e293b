"""The real stack on free ports: redis-server, the SMTP sink, a migrated SQLite database, Procfile processes."""
import os
import secrets
import shutil
import subprocess
import sys
import tempfile

from redis import Redis

from tests.services import ROOT, Process, RedisServer, free_port, port_open, wait_until


class Stack:
    """One bench environment. `env` is what every process (and the driver's own app) is configured from."""

    def __init__(self, app_env="production", sink_delay=0.0):
        self.dir = tempfile.mkdtemp(prefix="bench-")
        self.redis = RedisServer().start()
        self.connection = Redis.from_url(self.redis.url)
        self.sink_port = free_port()
        self.sink_delay = sink_delay
        self.env = {
            "APP_ENV": app_env,
            "SECRET_KEY": secrets.token_hex(24),
            "DATABASE_URL": f"sqlite:///{self.dir}/app.sqlite3",
            "REDIS_URL": self.redis.url,
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": str(self.sink_port),
            "MAIL_DEFAULT_SENDER": "Sign-up <no-reply@bench.test>",
            "BASE_URL": "http://127.0.0.1:5000",
            "BACKUP_DIR": os.path.join(self.dir, "backups"),
            "EMAIL_CHECK_DELIVERABILITY": "false",  # no DNS on this machine
            "RATELIMIT_ENABLED": "false",  # one client address signs up hundreds of times: the point is speed
        }
        if app_env != "production":
            self.env["CAPTCHA_TEST_MODE"] = "true"
        self.processes = []
        self.sink = None

    def __enter__(self):
        self.start_sink(self.sink_delay)
        if Process("release", self.env, self.dir).run() != 0:
            raise RuntimeError(f"release failed, see {self.dir}/release.log")
        return self

    def __exit__(self, *exc):
        for process in reversed(self.processes):
            process.stop()
        self.stop_sink()
        self.redis.cleanup()
        shutil.rmtree(self.dir, ignore_errors=True)

    def start_sink(self, delay=0.0):
        """(Re)start the sink; `delay` seconds before it answers DATA, like a slow provider."""
        self.stop_sink()
        self.sink_delay = delay
        self.sink = subprocess.Popen(
            [sys.executable, "-m", "bench.sink", "--port", str(self.sink_port), "--redis", self.redis.url,
             "--delay", str(delay)], cwd=ROOT, stdout=subprocess.DEVNULL)
        wait_until(lambda: port_open(self.sink_port), timeout=20, message="SMTP sink listening")

    def stop_sink(self):
        if self.sink and self.sink.poll() is None:
            self.sink.terminate()
            self.sink.wait(timeout=10)
        self.sink = None

    def start(self, name, command=None, **env):
        """A Procfile process by name (or an ad-hoc command under that name), with the stack's env."""
        process = Process(name, {**self.env, "PYTHONPATH": ROOT, **env}, self.dir)
        if command is not None:
            process.command = command
        self.processes.append(process.start())
        return process

    def stop(self, process):
        process.stop()
        self.processes.remove(process)

    def web(self, command=None, **env):
        port = free_port()
        process = self.start("web", command, PORT=str(port), **env)
        wait_until(lambda: port_open(port) or process.process.poll() is not None, timeout=60,
                   message="gunicorn listening")
        if process.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited:\n{process.log()[-2000:]}")
        return f"http://127.0.0.1:{port}"

    def use_in_driver(self):
        """Point this process's own create_app() at the stack (the driver seeds rows and enqueues jobs)."""
        os.environ.update(self.env)
