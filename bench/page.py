"""Page section: requests/s of the registration page (form + new captcha challenge) vs a bare Flask-WTF form."""
from bench.load import Browser, requests_per_second
from bench.report import median
from bench.stack import Stack
from tests.services import procfile_command

CONCURRENCY = 4  # enough to keep both gunicorn sync workers busy while a response is in flight


def run(table, runs, quick):
    seconds = 2 if quick else 5
    with Stack() as stack:
        page = stack.web()
        bare = stack.web(command=procfile_command("web").replace("wsgi:app", "bench.bare:app"))
        status, html = Browser(page).request("GET", "/auth/register")
        if status != 200 or 'name="captcha"' not in html:
            table.missing("page", "registration page", f"not available (GET /auth/register answered {status})")
            return
        pairs = [(requests_per_second(page, "/auth/register", seconds, CONCURRENCY),
                  requests_per_second(bare, "/", seconds, CONCURRENCY)) for _ in range(runs)]
    table.add("page", f"GET /auth/register (gunicorn, 2 sync workers, {CONCURRENCY} clients): requests/s",
              median(p for p, _ in pairs), "{:.0f}")
    table.add("page", "bare Flask-WTF form page, same server settings: requests/s", median(b for _, b in pairs), "{:.0f}")
    table.add("page", "registration page / bare form page (goal ≥ 70%)",
              median(100 * p / b for p, b in pairs), "{:.0f}%")
