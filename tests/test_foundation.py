"""The skeleton: configuration rules, the home page, /healthz, the Procfile and the CLI entry point."""
import pytest

import config
from app import create_app
from app.extensions import db
from tests import services
from tests.helpers import HEALTHZ
from tests.services import Process, flask_cli, free_port, port_open, wait_until


def test_production_is_the_default_and_refuses_the_dev_secret(monkeypatch):
    monkeypatch.delenv("APP_ENV")
    assert config.config_class_from_env() is config.ProductionConfig
    with pytest.raises(config.ConfigError, match="SECRET_KEY"):
        create_app()


def test_production_refuses_captcha_test_mode(monkeypatch):
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "a-real-secret-value-0123456789")
    monkeypatch.setenv("CAPTCHA_TEST_MODE", "1")
    with pytest.raises(config.ConfigError, match="CAPTCHA_TEST_MODE"):
        create_app()


def test_production_refuses_a_guessable_healthz_token(monkeypatch):
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "a-real-secret-value-0123456789")
    monkeypatch.setenv("HEALTHZ_TOKEN", "health")
    with pytest.raises(config.ConfigError, match="HEALTHZ_TOKEN"):
        create_app()
    monkeypatch.setenv("HEALTHZ_TOKEN", "a-long-random-health-token-42")
    assert create_app().config["HEALTHZ_TOKEN"] == "a-long-random-health-token-42"


@pytest.mark.parametrize("name,value", [("MAIL_USE_TLS", "maybe"), ("MAIL_PORT", "twenty-five"),
                                        ("MAIL_RETRY_INTERVALS", "10,soon"), ("APP_ENV", "staging"),
                                        ("TIMEZONE", "Mars/Olympus_Mons"), ("REAUTH_MINUTES", "ten"),
                                        ("GEOIP_DATABASE", "/no/such/GeoLite2-City.mmdb"),
                                        ("OIDC_PROVIDERS", "corp"), ("OIDC_PROVIDERS", "my-corp"),
                                        ("DATABASE_POOL_SIZE", "0")])
def test_junk_settings_are_refused_not_guessed(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(config.ConfigError, match=name):
        create_app()


def test_booleans_are_parsed_not_just_present(monkeypatch):
    monkeypatch.setenv("MAIL_USE_TLS", "0")
    monkeypatch.setenv("MAIL_RETRY_INTERVALS", "5, 15")
    app = create_app()
    assert app.config["MAIL_USE_TLS"] is False
    assert app.config["MAIL_RETRY_INTERVALS"] == [5, 15]


def test_development_defaults(monkeypatch):
    monkeypatch.setenv("APP_ENV", "development")
    app = create_app()
    assert app.config["SQLALCHEMY_DATABASE_URI"].endswith("instance/app.sqlite3")
    assert app.config["REDIS_URL"] == "redis://localhost:6379/0"
    assert app.config["MAIL_PORT"] == 1025
    assert app.config["BASE_URL"] == "http://localhost:5000"


def test_each_process_pools_as_many_database_connections_as_configured(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://signup@127.0.0.1:1/signup")  # never connected to here
    monkeypatch.setenv("DATABASE_POOL_SIZE", "3")
    monkeypatch.setenv("DATABASE_MAX_OVERFLOW", "2")
    app = create_app()
    with app.app_context():
        assert db.engine.pool.size() == 3
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"] == {"pool_size": 3, "max_overflow": 2}


@pytest.mark.processes
def test_production_start_fails_with_one_line(tmp_path):
    result = flask_cli("routes", env={"DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite3"})
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "configuration error: SECRET_KEY must be set to a random value of at least 16 characters in production"]


def test_home_page_links_to_register_and_login(client):
    page = client.get("/").get_data(as_text=True)
    assert 'href="/auth/register"' in page
    assert 'href="/auth/login"' in page


def test_healthz_reports_database_redis_and_workers(client):
    response = client.get("/healthz", headers=HEALTHZ)
    assert response.status_code == 200
    body = response.get_json()
    assert body["database"] == "ok"
    assert body["redis"] == "ok"
    assert body["workers"] == 0
    assert set(body["queues"]) == {"mail", "default", "avatars", "maintenance"}


def test_healthz_answers_503_when_redis_is_down(make_app, monkeypatch):
    app = make_app()
    app.extensions["redis"] = app.extensions["redis"].from_url(f"redis://127.0.0.1:{free_port()}/0",
                                                               socket_connect_timeout=0.5)
    response = app.test_client().get("/healthz", headers=HEALTHZ)
    assert response.status_code == 503
    assert response.get_json()["redis"].startswith("error")


def test_unknown_page_is_a_friendly_404(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "Page not found" in response.get_data(as_text=True)


@pytest.mark.processes
def test_procfile_processes_run_with_only_the_contract_environment(app_env, tmp_path):
    """release migrates, web serves, worker registers: as a Procfile platform would start them."""
    port = free_port()
    env = {**app_env, "PORT": str(port)}
    assert Process("release", env, str(tmp_path)).run() == 0
    assert Process("release", env, str(tmp_path)).run() == 0  # idempotent on every deploy
    web = Process("web", env, str(tmp_path)).start()
    worker = Process("worker", env, str(tmp_path)).start()
    try:
        wait_until(lambda: port_open(port), timeout=30, message="gunicorn listening")
        import json
        import urllib.request

        def one_worker_alive():
            request = urllib.request.Request(f"http://127.0.0.1:{port}/healthz", headers=HEALTHZ)
            with urllib.request.urlopen(request, timeout=5) as response:
                body = json.load(response)
            return body["workers"] >= 1 and body

        body = wait_until(one_worker_alive, timeout=30, message="a worker registered")
        assert body["database"] == "ok"
        assert body["redis"] == "ok"
    finally:
        web.stop()
        worker.stop()
    assert "Traceback" not in web.log() + worker.log()


@pytest.mark.processes
def test_flask_cli_lists_db_and_jobs_commands(app_env):
    result = flask_cli("--help", env=app_env)
    assert result.returncode == 0
    for command in ("db", "jobs", "schedule"):
        assert command in result.stdout


def test_a_test_that_starts_a_process_without_the_mark_is_stopped():
    """`make check` trusts @pytest.mark.processes: an unmarked test that spawns must fail, not slow it down."""
    with pytest.raises(RuntimeError, match="mark it @pytest.mark.processes"):
        services.may_spawn("a redis-server")


def test_a_plain_oauth2_provider_may_not_ask_for_openid(monkeypatch):
    """Without an issuer there are no keys to verify an ID token with: asking for one is a configuration error."""
    for name, value in {"OIDC_PROVIDERS": "github", "OIDC_GITHUB_CLIENT_ID": "id", "OIDC_GITHUB_CLIENT_SECRET": "s",
                        "OIDC_GITHUB_SCOPE": "openid user:email"}.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(config.ConfigError, match="OIDC_GITHUB_SCOPE asks for openid"):
        create_app()
    monkeypatch.setenv("OIDC_GITHUB_SCOPE", "read:user user:email")
    assert create_app().config["OIDC_PROVIDERS"]["github"]["TOKEN_URL"] == "https://github.com/login/oauth/access_token"
