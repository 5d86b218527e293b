"""A small HTTP client for the web sections: one connection per request, as gunicorn's sync workers close them."""
import http.client
import threading
import time
from urllib.parse import urlencode, urlsplit


class Browser:
    """Keeps the session cookie between a GET and the POST of the same form, as a browser would."""

    def __init__(self, base_url):
        self.netloc = urlsplit(base_url).netloc
        self.cookies = {}

    def request(self, method, path, fields=None):
        status, body = self.request_bytes(method, path, fields)
        return status, body.decode("utf-8", "replace")

    def request_bytes(self, method, path, fields=None):
        connection = http.client.HTTPConnection(self.netloc, timeout=60)
        headers = {"Connection": "close"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if fields is not None:
            body = urlencode(fields)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            body = response.read()
            for header in response.headers.get_all("Set-Cookie") or ():
                name, _, value = header.split(";", 1)[0].partition("=")
                self.cookies[name.strip()] = value.strip()
            return response.status, body
        finally:
            connection.close()


def requests_per_second(base_url, path, seconds, concurrency):
    """Completed 200 responses per second from `concurrency` clients looping for `seconds`."""
    deadline = time.monotonic() + seconds
    counts, errors = [0] * concurrency, []

    def client(slot):
        while time.monotonic() < deadline:
            status, _ = Browser(base_url).request("GET", path)
            if status == 200:
                counts[slot] += 1
            else:
                errors.append(status)

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(slot,)) for slot in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"{len(errors)} requests to {path} failed, e.g. HTTP {errors[0]}")
    return sum(counts) / (time.monotonic() - started)
