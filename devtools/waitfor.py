"""Wait until a TCP port answers, so `make run` can start the worker only once its Redis is up.

Usage: python -m devtools.waitfor HOST:PORT [SECONDS]
"""
import socket
import sys
import time


def main():
    host, _, port = sys.argv[1].rpartition(":")
    deadline = time.monotonic() + (float(sys.argv[2]) if len(sys.argv) > 2 else 30)
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host or "127.0.0.1", int(port)), timeout=1).close()
            return 0
        except OSError:
            time.sleep(0.2)
    print(f"nothing answers on {sys.argv[1]}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
