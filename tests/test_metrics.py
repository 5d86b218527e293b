"""/metrics: who may scrape it, and counters that move with what happens on a real site (gunicorn with two
processes, so multi-process mode is exercised, a real worker and the SMTP sink)."""
import os
import re
import time

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis

from app.queues import SCHEDULER_HEARTBEAT_KEY
from tests.helpers import PASSWORD, Visitor
from tests.services import ROOT, start_site, wait_until

TOKEN = "metrics-token-for-tests-0123456789"


def scrape(visitor):
    status, headers, text = visitor.request("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert status == 200
    assert headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in headers
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0)


@pytest.mark.processes
def test_counters_move_by_one_with_a_sign_up_a_failed_login_a_429_and_a_delivered_mail(app_env, tmp_path, mailbox):
    env = {**app_env, "METRICS_TOKEN": TOKEN, "RATELIMIT_LOGIN_PER_ADDRESS": "1 per 10 minutes",
           "WEB_CONCURRENCY": "2"}
    base, processes = start_site(env, str(tmp_path), ("web", "worker"))
    try:
        visitor = Visitor(base)
        wait_until(lambda: value(scrape(visitor), "signup_workers_alive") >= 1, timeout=30, message="a worker")
        before = scrape(visitor)
        assert visitor.submit("/auth/register", username="alice", email="alice@example.com", password=PASSWORD,
                              confirm=PASSWORD, captcha="PASSED")[0] == 303
        wait_until(lambda: mailbox.messages, timeout=30, message="the verification mail")
        assert visitor.submit("/auth/login", login="alice", password="wrong password")[0] == 400
        assert visitor.submit("/auth/login", login="alice", password="wrong password")[0] == 429
        wait_until(lambda: value(scrape(visitor), "signup_outbox_mails", state="sent", kind="verify") == 1,
                   timeout=30, message="the mail counted as sent")
        after = [scrape(visitor) for _ in range(4)]  # two gunicorn processes: each answers some of them
        for samples in after:
            moved = lambda name, **labels: value(samples, name, **labels) - value(before, name, **labels)  # noqa: E731
            assert moved("signup_events_total", kind="registered") == 1
            assert moved("signup_events_total", kind="login_failed") == 1
            assert moved("signup_http_rate_limited_total", endpoint="auth.login") == 1
            assert moved("signup_outbox_mails", state="sent", kind="verify") == 1
            assert sum(v for (name, _), v in samples.items() if name == "signup_job_duration_seconds_count") >= 1
    finally:
        for process in processes:
            process.stop(timeout=5)


def test_metrics_is_refused_without_the_token_and_hidden_when_not_configured(make_app):
    client = make_app(METRICS_TOKEN=TOKEN).test_client()
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 403
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert "signup_workers_alive" in response.get_data(as_text=True)
    assert "Set-Cookie" not in response.headers
    assert make_app().test_client().get("/metrics").status_code == 404


def test_an_allowed_address_scrapes_without_a_token(make_app):
    client = make_app(METRICS_ALLOW="10.0.0.0/8").test_client()
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "192.0.2.1"}).status_code == 403


def test_the_alert_rules_parse_and_name_only_exported_metrics(make_app, redis_server):
    client = make_app(METRICS_TOKEN=TOKEN).test_client()
    Redis.from_url(redis_server.url).set(SCHEDULER_HEARTBEAT_KEY, time.time())  # its age is shown only then
    exported = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).get_data(as_text=True)
    names = {family(line.split()[2]) for line in exported.splitlines() if line.startswith("# TYPE")}
    with open(os.path.join(ROOT, "deploy", "alerts.yml")) as f:
        rules = [rule for group in yaml.safe_load(f)["groups"] for rule in group["rules"]]
    assert len(rules) >= 4
    assert all({"alert", "expr"} <= set(rule) for rule in rules)
    for rule in rules:
        used = {family(name) for name in re.findall(r"\bsignup_[a-z_]+", rule["expr"])}
        assert used, rule["alert"]
        assert used <= names, rule["alert"]


def family(name):
    """A sample's or TYPE line's name without the suffixes the text format adds (_total, _count, ...)."""
    return re.sub(r"_(total|count|sum|bucket|created)$", "", name)
