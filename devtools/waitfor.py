"""Wait until a TCP port answers, so `make run` can start the worker only once its Redis is up.

Usage: python -m devtools.waitfor HOST:PORT|REDIS_URL [SECONDS]
A redis+sentinel:// URL is up when any of its Sentinels answers (they know where the primary is).
"""
import socket
import sys
import time
from urllib.parse import urlsplit

from config import ConfigError, parse_redis_url, redact


def addresses(target):
    """[("host", port), ...] from HOST:PORT or a URL such as redis://localhost:6379/0 or redis+sentinel://..."""
    if "://" in target:
        sentinel = parse_redis_url("REDIS_URL", target)
        if sentinel:
            return list(sentinel.sentinels)
        url = urlsplit(target)
        return [(url.hostname or "127.0.0.1", url.port or 6379)]
    host, _, port = target.rpartition(":")
    return [(host or "127.0.0.1", int(port))]


def answers(address):
    try:
        socket.create_connection(address, timeout=1).close()
        return True
    except OSError:
        return False


def main():
    try:
        targets = addresses(sys.argv[1])
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    deadline = time.monotonic() + (float(sys.argv[2]) if len(sys.argv) > 2 else 30)
    while time.monotonic() < deadline:
        if any(answers(address) for address in targets):
            return 0
        time.sleep(0.2)
    print(f"nothing answers on {redact(sys.argv[1])}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
