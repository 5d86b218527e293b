"""Real services for the tests: redis-server on a free port, processes from the Procfile, waiting helpers."""
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_BIN = os.path.dirname(sys.executable)
# Set per test by conftest: only tests marked `processes` may start one (`make check` leaves those out).
spawning_allowed = True


def may_spawn(what):
    if not spawning_allowed:
        raise RuntimeError(f"this test starts {what}: mark it @pytest.mark.processes (make check skips those)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def wait_until(condition, timeout=20.0, interval=0.05, message="condition"):
    """Poll condition() until it returns something truthy; fail the test after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"{message} not met within {timeout}s")
        time.sleep(interval)


class RedisServer:
    """A throw-away redis-server; never the developer's 6379."""

    def __init__(self, appendonly=False):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="test-redis-")
        self.appendonly = appendonly
        self.process = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        may_spawn("a redis-server")
        executable = shutil.which("redis-server")
        if executable is None:
            raise RuntimeError("redis-server is not on PATH (Debian: apt-get install redis-server)")
        args = [executable, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
                "--save", "", "--appendonly", "yes" if self.appendonly else "no", "--daemonize", "no"]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: port_open(self.port), timeout=10, message=f"redis on {self.port}")
        return self

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        wait_until(lambda: not port_open(self.port), timeout=10, message="redis stopped")

    def restart_empty(self):
        """A restart without persistence: everything queued in Redis is gone."""
        self.stop()
        for name in os.listdir(self.dir):
            path = os.path.join(self.dir, name)
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
        return self.start()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class SentinelSet:
    """A primary, one replica and one Sentinel watching them (`redis-server --sentinel`), all on free ports.

    url is the REDIS_URL the processes get; failover() forces `SENTINEL FAILOVER` and waits for the switch.
    """

    SERVICE = "mymaster"

    def __init__(self):
        self.primary, self.replica = RedisServer(), RedisServer()
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="test-sentinel-")
        self.process = None

    @property
    def url(self):
        return f"redis+sentinel://127.0.0.1:{self.port}/{self.SERVICE}/0"

    def start(self):
        try:
            return self._start()
        except BaseException:
            self.cleanup()  # a set that did not come up leaves no server behind
            raise

    def _start(self):
        from redis import Redis

        self.primary.start()
        self.replica.start()
        Redis(port=self.replica.port).replicaof("127.0.0.1", self.primary.port)
        config = os.path.join(self.dir, "sentinel.conf")
        with open(config, "w") as f:  # Sentinel rewrites its config file as it learns: one of its own
            f.write(f"port {self.port}\nbind 127.0.0.1\ndir {self.dir}\n"
                    f"sentinel monitor {self.SERVICE} 127.0.0.1 {self.primary.port} 1\n"
                    f"sentinel down-after-milliseconds {self.SERVICE} 2000\n"
                    f"sentinel failover-timeout {self.SERVICE} 10000\n")
        self.process = subprocess.Popen([shutil.which("redis-server"), config, "--sentinel"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.sentinel = Redis(port=self.port, socket_timeout=2, decode_responses=True)
        wait_until(lambda: port_open(self.port), timeout=10, message=f"sentinel on {self.port}")
        wait_until(self.replica_known, timeout=30, message="sentinel sees the replica in sync")
        return self

    def master_port(self):
        return int(self.sentinel.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.SERVICE)[1])

    def replica_known(self):
        replicas = self.sentinel.execute_command("SENTINEL", "REPLICAS", self.SERVICE)
        return any(replica.get("master-link-status") == "ok" for replica in replicas)

    def failover(self):
        """Promote the replica; returns once the Sentinel names it and the old primary follows it."""
        from redis import Redis

        old = self.master_port()
        wait_until(self.replica_known, timeout=30, message="a replica in sync to promote")
        self.sentinel.execute_command("SENTINEL", "FAILOVER", self.SERVICE)
        wait_until(lambda: self.master_port() != old, timeout=30, message="sentinel switched the primary")
        demoted = Redis(port=old, socket_timeout=2, decode_responses=True)
        wait_until(lambda: demoted.info("replication")["role"] == "slave", timeout=30, message="old primary follows")
        return self.master_port()

    def cleanup(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.primary.cleanup()
        self.replica.cleanup()
        shutil.rmtree(self.dir, ignore_errors=True)


def procfile_command(name, procfile="Procfile"):
    with open(os.path.join(ROOT, procfile)) as f:
        for line in f:
            key, sep, command = line.partition(":")
            if sep and key.strip() == name:
                return command.strip()
    raise KeyError(f"no {name!r} process in {procfile}")


class Process:
    """A Procfile process run as a platform runs it: bash -c, only the given environment, own group."""

    def __init__(self, name, env, log_dir, procfile="Procfile", cwd=ROOT):
        """cwd other than the checkout (with PYTHONPATH in env) plays a process on another host."""
        self.name = name
        self.cwd = cwd
        self.command = procfile_command(name, procfile)
        self.env = {"PATH": f"{VENV_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}", "HOME": os.environ.get("HOME", "/root"),
                    "PYTHONUNBUFFERED": "1", **env}
        self.log_path = os.path.join(log_dir, f"{name}.log")
        self.process = None

    def start(self):
        may_spawn(f"the Procfile's {self.name} process")
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(["bash", "-c", self.command], cwd=self.cwd, env=self.env, stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        return self

    def signal(self, sig, group=True):
        if self.process and self.process.poll() is None:
            if group:
                os.killpg(self.process.pid, sig)
            else:
                self.process.send_signal(sig)

    def stop(self, timeout=20):
        if self.process is None or self.process.poll() is not None:
            return
        self.signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def run(self, timeout=120):
        """For one-shot processes such as release: wait for the exit and return the status."""
        self.start()
        return self.process.wait(timeout=timeout)


def flask_cli(*args, env, timeout=120):
    """Run `flask --app wsgi ...` in a subprocess with only the given environment."""
    may_spawn("a flask command")
    full_env = {"PATH": f"{VENV_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}", "HOME": os.environ.get("HOME", "/root"), **env}
    return subprocess.run([os.path.join(VENV_BIN, "flask"), "--app", "wsgi", *args], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


class SmtpSink:
    """A mail sink (devtools.mailsink) that can go down and come back on the same port, keeping its mailbox."""

    def __init__(self):
        from devtools.mailsink import SinkHandler

        self.port = free_port()
        self.handler = SinkHandler()
        self.controller = None

    def start(self):
        from aiosmtpd.controller import Controller

        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self):
        """Refuse connections from now on, and drop the open ones, like a provider's outage."""
        if self.controller is not None:
            self.controller.stop()
            self.controller = None
        wait_until(lambda: not port_open(self.port), timeout=10, message="mail sink stopped")


def start_site(env, log_dir, names, host="127.0.0.1"):
    """The release step, then the named Procfile processes on a free port: (base URL, processes).

    BASE_URL points at that port, so the links in mail lead back to this site. Passkeys need a host
    name for their relying party, not an address: host="localhost" (a secure context on plain http).
    """
    port = free_port()
    env = {**env, "BASE_URL": f"http://{host}:{port}"}
    if Process("release", env, log_dir).run() != 0:
        raise RuntimeError("the release step failed")
    processes = [Process(name, {**env, "PORT": str(port)}, log_dir).start() for name in names]
    wait_until(lambda: port_open(port), timeout=30, message="web listening")
    return f"http://{host}:{port}", processes


OIDC_DIR = os.path.join(ROOT, "tests", "oidc")
# The app's callback is <BASE_URL>/auth/oidc/<name>/callback; these names are registered on every client.
OIDC_CALLBACK_NAMES = ("test", "other")


class OidcProvider:
    """A real OpenID Connect provider (npm's oidc-provider, tests/oidc/provider.mjs) on a free port.

    Its clients are RFC 8252 "native" clients whose redirect_uris are http://localhost/auth/oidc/<name>/callback
    and the same on 127.0.0.1: a loopback redirect_uri matches on any port, so test sites on free ports need no
    registration of their own; the path must match exactly. The accounts file is read at every login.
    """

    def __init__(self, client_ids=("signup-test", "signup-other"), callback_names=OIDC_CALLBACK_NAMES):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="test-oidc-")
        self.accounts_path = os.path.join(self.dir, "accounts.json")
        self.log_path = os.path.join(self.dir, "provider.log")
        self.clients = [(client_id, secrets.token_urlsafe(24)) for client_id in client_ids]
        self.redirect_uris = [f"http://{host}/auth/oidc/{name}/callback"
                              for name in callback_names for host in ("localhost", "127.0.0.1")]
        self.process = None

    @property
    def issuer(self):
        return f"http://127.0.0.1:{self.port}"

    def set_accounts(self, accounts):
        """{login: {"email": ..., "email_verified": bool, "name": ...}}; replaced at once, never half written."""
        partial = self.accounts_path + ".partial"
        with open(partial, "w") as f:
            json.dump(accounts, f)
        os.replace(partial, self.accounts_path)

    def start(self):
        may_spawn("an OpenID Connect provider")
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("node is not on PATH (Debian: apt-get install nodejs npm; `make test` installs both)")
        if not os.path.isdir(os.path.join(OIDC_DIR, "node_modules", "oidc-provider")):
            raise RuntimeError("tests/oidc/node_modules is missing: `npm ci --prefix tests/oidc` (`make test` runs it)")
        if not os.path.exists(self.accounts_path):
            self.set_accounts({})
        clients = [{"client_id": client_id, "client_secret": secret, "redirect_uris": self.redirect_uris}
                   for client_id, secret in self.clients]
        config = os.path.join(self.dir, "config.json")
        with open(config, "w") as f:
            json.dump({"port": self.port, "accounts": self.accounts_path, "clients": clients,
                       "exit_with_stdin": True}, f)
        with open(self.log_path, "ab") as log:
            # stdin stays open while this object lives: the provider exits when the test session does, however it ends
            self.process = subprocess.Popen([node, os.path.join(OIDC_DIR, "provider.mjs"), config], cwd=OIDC_DIR,
                                            stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT)
        wait_until(self._ready, timeout=30, message=f"oidc-provider answering discovery on {self.port}")
        return self

    def _ready(self):
        if self.process.poll() is not None:
            lines = self.log().strip().splitlines() or ["(no output)"]
            raise RuntimeError(f"oidc-provider exited with {self.process.returncode}: {lines[-1]}")
        try:
            with urllib.request.urlopen(f"{self.issuer}/.well-known/openid-configuration", timeout=2) as response:
                return json.load(response)["issuer"] == self.issuer
        except OSError:
            return False

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        if self.process:
            self.process.stdin.close()
        shutil.rmtree(self.dir, ignore_errors=True)
