"""Registration section: POST /auth/register latency at concurrency 1 and 20, SMTP answering at once or after 2 s."""
import secrets
import threading
import time

from bench.load import Browser
from bench.report import percentile
from bench.stack import Stack
from tests.helpers import hidden_inputs

SETTINGS = ((1, 0.0), (20, 0.0), (1, 2.0), (20, 2.0))  # (concurrent clients, seconds the SMTP sink waits)


def sign_up(base_url, solve, name):
    """GET the form, answer its captcha, POST it as `name`@example.com; returns the POST's milliseconds."""
    browser = Browser(base_url)
    status, html = browser.request("GET", "/auth/register")
    fields = hidden_inputs(html)
    password = secrets.token_urlsafe(12)
    fields.update(username=name, email=f"{name}@example.com", password=password, confirm=password,
                  captcha=solve(fields["captcha_id"]))
    started = time.perf_counter()
    status, html = browser.request("POST", "/auth/register", fields)
    elapsed = (time.perf_counter() - started) * 1000
    if status != 303:
        raise RuntimeError(f"registration answered {status}: {html[:300]}")
    return elapsed


def sign_ups(base_url, solve, clients, each=None, until=None):
    """`clients` browsers signing up `each` times (or until `until` is set) in parallel.

    Returns (POST milliseconds, wall-clock time each sign-up completed, {address: wall-clock time its POST
    was sent}); the last times a mail's delivery from the POST, since the worker may have it at the sink
    before the 303 reaches the client.
    """
    times, finished, sent, errors = [], [], {}, []

    def client():
        try:
            done = 0
            while (done < each) if until is None else not until.is_set():
                name = f"b{secrets.token_hex(6)}"
                ms = sign_up(base_url, solve, name)
                finished.append(time.time())
                sent[f"{name}@example.com"] = finished[-1] - ms / 1000
                times.append(ms)
                done += 1
        except Exception as exc:  # reported after the join, with the others' figures
            errors.append(exc)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return times, finished, sent


def solver():
    """Reads the answer the page stored, as the in-process tests do; production config, no test mode."""
    from app import create_app
    from app.captcha import store

    app = create_app()

    def solve(challenge_id):
        with app.app_context():
            return store.answer(challenge_id)
    return solve


def run(table, runs, quick):
    total = 40 if quick else 100
    with Stack() as stack:
        stack.use_in_driver()
        base_url = stack.web()
        stack.start("worker")
        solve = solver()
        status, html = Browser(base_url).request("GET", "/auth/register")
        if status != 200 or "captcha_id" not in html:
            table.missing("register", "POST /auth/register", f"not available (GET answered {status})")
            return
        for clients, delay in SETTINGS:
            if stack.sink_delay != delay:
                stack.start_sink(delay)
            each = max(1, total // 5 // clients) if clients == 1 else max(1, total // clients)
            times = [ms for _ in range(runs) for ms in sign_ups(base_url, solve, clients, each)[0]]
            table.add("register", f"POST /auth/register, {clients} client(s), SMTP answers after {delay:g} s: "
                      "p50 / p95 ms", (percentile(times, 50), percentile(times, 95)), "{:.0f} / {:.0f}")
