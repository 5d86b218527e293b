"""Wait until a TCP port answers, so `make run` can start the worker only once its Redis is up.

Usage: python -m devtools.waitfor HOST:PORT|REDIS_URL [SECONDS]
"""
import socket
import sys
import time
from urllib.parse import urlsplit


def address(target):
    """("host", port) from HOST:PORT or a URL such as redis://localhost:6379/0."""
    if "://" in target:
        url = urlsplit(target)
        return url.hostname or "127.0.0.1", url.port or 6379
    host, _, port = target.rpartition(":")
    return host or "127.0.0.1", int(port)


def main():
    host, port = address(sys.argv[1])
    deadline = time.monotonic() + (float(sys.argv[2]) if len(sys.argv) > 2 else 30)
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), timeout=1).close()
            return 0
        except OSError:
            time.sleep(0.2)
    print(f"nothing answers on {sys.argv[1]}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
