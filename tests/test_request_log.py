"""LOG_FORMAT=json: one JSON line per request with its id, the same id in the log of a job it enqueued,
and an X-Request-ID taken from the client only behind TRUSTED_PROXIES."""
import json

import pytest

from tests.helpers import PASSWORD, Visitor
from tests.services import start_site, wait_until

SECRET = "notARealTokenButLongEnoughToLookLikeOne"


def json_lines(process):
    """The log's JSON lines (gunicorn's own start-up lines are text)."""
    return [json.loads(line) for line in process.log().splitlines() if line.startswith("{")]


@pytest.mark.processes
def test_each_request_logs_one_json_line_and_its_job_logs_the_same_id(app_env, tmp_path, mailbox):
    base, processes = start_site({**app_env, "LOG_FORMAT": "json"}, str(tmp_path), ("web", "worker"))
    web, worker = processes
    try:
        visitor = Visitor(base)
        status, headers, _ = visitor.submit("/auth/register", username="alice", email="alice@example.com",
                                            password=PASSWORD, confirm=PASSWORD, captcha="PASSED")
        assert status == 303
        sign_up = headers["X-Request-ID"]
        visitor.request(f"/auth/verify/{SECRET}")
        wait_until(lambda: mailbox.messages, timeout=30, message="the verification mail")
        wait_until(lambda: any(line["request_id"] == sign_up for line in json_lines(worker)), timeout=30,
                   message="the job's log line")
        requests = [line for line in json_lines(web) if "http" in line]
        assert len(requests) == 3  # the form, its POST, the verify link: one line each
        assert [line["request_id"] for line in requests].count(sign_up) == 1
        assert {line["http"]["route"] for line in requests} == {"/auth/register", "/auth/verify/<token>"}
        assert SECRET not in web.log()
        job = next(line for line in json_lines(worker) if line["request_id"] == sign_up)
        assert "jobs.mail.drain" in job["message"]
    finally:
        for process in processes:
            process.stop(timeout=5)


def test_a_client_chosen_request_id_is_used_only_behind_a_trusted_proxy(make_app):
    sent = {"X-Request-ID": "chosen-by-the-client"}
    assert make_app().test_client().get("/", headers=sent).headers["X-Request-ID"] != "chosen-by-the-client"
    proxied = make_app(TRUSTED_PROXIES="1").test_client()
    assert proxied.get("/", headers=sent).headers["X-Request-ID"] == "chosen-by-the-client"
    assert proxied.get("/", headers={"X-Request-ID": "bad id;"}).headers["X-Request-ID"] != "bad id;"
