"""The create-admin command and the admins-only accounts page."""
import pytest

from tests.helpers import PASSWORD, enrol_app, login, register, register_verified, users
from tests.services import flask_cli


@pytest.mark.processes
def test_create_admin_then_only_admins_see_the_users_page(app, app_env, client, mailbox):
    result = flask_cli("create-admin", "root", "Root@Example.com", env={**app_env, "ADMIN_PASSWORD": PASSWORD})
    assert result.returncode == 0, result.stderr
    assert "administrator root <root@example.com> created" in result.stdout
    [admin] = users(app)
    assert admin.is_admin
    assert admin.is_verified

    register(client, username="mallory", email="mallory@example.com")
    assert client.get("/admin/users").status_code == 302  # anonymous: to the login page
    assert login(client, "root").status_code == 303
    assert client.get("/admin/users").headers["Location"] == "/account/two-factor"  # a second factor first
    enrol_app(client)
    page = client.get("/admin/users")
    assert page.status_code == 200
    assert "mallory@example.com" in page.get_data(as_text=True)


def test_users_page_is_forbidden_to_other_users(app, app_env, client, mailbox, run_jobs):
    register_verified(client, run_jobs, mailbox)
    login(client)
    assert client.get("/admin/users").status_code == 403


@pytest.mark.processes
def test_create_admin_refuses_bad_input_without_a_traceback(app, app_env):
    env = {**app_env, "ADMIN_PASSWORD": PASSWORD}
    assert flask_cli("create-admin", "root", "root@example.com", env=env).returncode == 0
    for args, password in ((("root", "other@example.com"), PASSWORD), (("x", "x@example.com"), PASSWORD),
                           (("ok_name", "not-an-address"), PASSWORD), (("ok_name", "ok@example.com"), "password")):
        result = flask_cli("create-admin", *args, env={**app_env, "ADMIN_PASSWORD": password})
        assert result.returncode == 2
        assert "Traceback" not in result.stderr
        assert "Error" in result.stderr
