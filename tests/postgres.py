"""A throw-away PostgreSQL server for the tests: initdb into a temp dir, pg_ctl on a free port.

`python -m tests.postgres COMMAND...` starts one, runs COMMAND with TEST_DATABASE_URL pointing at it, stops
it and exits with COMMAND's status: that is how `make test` runs the whole suite on PostgreSQL.
"""
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import uuid

from tests import services
from tests.services import free_port, port_open, wait_until

USER, PASSWORD = "signup", "pg-test-password"


def server_bin(name):
    """Debian keeps the server programs out of PATH, under /usr/lib/postgresql/<version>/bin."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4]))
    path = found[-1] if found else shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} not found (Debian: apt-get install postgresql)")
    return path


class PostgresServer:
    def __init__(self, port=None):
        self.port = port or free_port()
        self.dir = None

    @classmethod
    def at(cls, url):
        """A server already running (TEST_DATABASE_URL's), used but never stopped."""
        from sqlalchemy.engine import make_url

        return cls(port=make_url(url).port)

    def _run(self, *args):
        """The server refuses to run as root; as root, run it as the postgres user instead."""
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *args], check=True, capture_output=True, timeout=120)

    def url(self, database="postgres"):
        return f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{database}"

    def start(self):
        services.may_spawn("a PostgreSQL server")
        self.dir = tempfile.mkdtemp(prefix="test-pg-")
        data = os.path.join(self.dir, "data")
        pwfile = os.path.join(self.dir, "pw")
        with open(pwfile, "w") as f:
            f.write(PASSWORD)
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
            shutil.chown(pwfile, "postgres")
        self._run(server_bin("initdb"), "-D", data, "-U", USER, "--pwfile", pwfile, "--auth-local=trust",
                  "--auth-host=scram-sha-256", "--no-sync")
        self._run(server_bin("pg_ctl"), "-D", data, "-l", os.path.join(self.dir, "log"), "-w", "start",
                  "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300")
        wait_until(lambda: port_open(self.port), timeout=30, message=f"postgres on {self.port}")
        return self

    def create_database(self, name="test"):
        """A new, empty database; the name gets a unique suffix, so a test may ask for the same name twice."""
        import psycopg

        name = f"{name}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def cleanup(self):
        if self.dir is None:
            return  # not ours to stop
        try:
            self._run(server_bin("pg_ctl"), "-D", os.path.join(self.dir, "data"), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def main(command):
    if not command:
        sys.exit("usage: python -m tests.postgres COMMAND [ARGS...]")
    server = PostgresServer().start()
    try:
        print(f"PostgreSQL test server on port {server.port}", flush=True)
        status = subprocess.call(command, env={**os.environ, "TEST_DATABASE_URL": server.url()})
    finally:
        server.cleanup()
    sys.exit(status)


if __name__ == "__main__":
    main(sys.argv[1:])
