"""Configuration from environment variables: one class per APP_ENV, production when unset."""
import ipaddress
import os
import re
import zoneinfo
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import unquote, urlsplit

import limits

DEV_SECRET_KEY = "dev-only-secret-key-do-not-use-in-production"
INSTANCE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "instance")


class ConfigError(RuntimeError):
    """A setting is missing or unsafe; the message is the one line an operator needs."""


def env_str(name, default=None):
    value = os.environ.get(name, "").strip()
    return value if value else default


def env_bool(name, default=False):
    """Parse a boolean strictly: a typo must not silently mean 'on' (or 'off')."""
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean (use true/false, 1/0, yes/no, on/off)")


def env_int(name, default, minimum=0):
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number") from None
    if value < minimum:
        raise ConfigError(f"{name}={value} must be at least {minimum}")
    return value


def env_int_list(name, default):
    """Comma-separated positive integers, such as MAIL_RETRY_INTERVALS=10,30,120."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return list(default)
    try:
        values = [int(part) for part in raw.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(f"{name}={raw!r} must be comma-separated whole numbers of seconds") from None
    if not values or any(v <= 0 for v in values):
        raise ConfigError(f"{name}={raw!r} must list at least one positive number of seconds")
    return values


def env_limit(name, default):
    """A Flask-Limiter rate string such as "10 per minute;100 per hour"; junk is refused at start-up."""
    raw = os.environ.get(name, "").strip() or default
    try:
        limits.parse_many(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a rate (e.g. '10 per minute' or '5/hour;20/day')") from None
    return raw


def env_choice(name, choices):
    """One of a few words, the first by default."""
    raw = os.environ.get(name, "").strip().lower() or choices[0]
    if raw not in choices:
        raise ConfigError(f"{name}={raw!r} is not one of {', '.join(choices)}")
    return raw


def env_networks(name):
    """Comma-separated addresses or CIDRs, such as METRICS_ALLOW=10.0.0.0/8,127.0.0.1."""
    raw = os.environ.get(name, "").strip()
    try:
        return [ipaddress.ip_network(part.strip(), strict=False) for part in raw.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(f"{name}={raw!r} must be comma-separated addresses or CIDRs (e.g. 10.0.0.0/8)") from None


REDIS_SCHEMES = ("redis", "rediss", "unix")  # what redis-py's from_url reads
SENTINEL_SCHEME = "redis+sentinel"
SENTINEL_FORM = "redis+sentinel://[:password@]host:port[,host:port...]/service_name[/db]"


@dataclass(frozen=True)
class SentinelAddress:
    """A REDIS_URL naming Sentinels: who to ask, for which primary, and which database on it."""
    sentinels: tuple  # ((host, port), ...)
    service: str
    db: int = 0
    password: str | None = None  # the primary's and replicas', and the Sentinels' (as limits reads such a URL)


def parse_redis_url(name, url):
    """A SentinelAddress for a redis+sentinel:// URL, None for a plain one; junk is refused with one line.

    One parser for every process (web, workers, scheduler, limiter, /healthz), so a typo in a Sentinel
    list fails at start-up instead of at the first failover.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in (*REDIS_SCHEMES, SENTINEL_SCHEME):
        raise ConfigError(f"{name}={redact(url)!r} is not a Redis URL (redis://host:port/db, rediss://, unix:// "
                          f"or {SENTINEL_FORM})")
    if parts.scheme != SENTINEL_SCHEME:
        return None
    userinfo, _, hosts = parts.netloc.rpartition("@")
    segments = parts.path.strip("/").split("/") if parts.path.strip("/") else []
    sentinels = tuple(sentinel_host(part) for part in hosts.split(","))
    if None in sentinels or not segments or len(segments) > 2 or not segments[0] or parts.query \
            or (len(segments) == 2 and not segments[1].isdigit()):
        raise ConfigError(f"{name}={redact(url)!r} must look like {SENTINEL_FORM}")
    password = unquote(userinfo.partition(":")[2]) or None
    return SentinelAddress(sentinels, unquote(segments[0]), int(segments[1]) if len(segments) == 2 else 0, password)


def sentinel_host(part):
    """("host", port) from host:port (26379 when the port is left out), None when it is not one."""
    host, colon, port = part.strip().rpartition(":")
    if not colon:
        host, port = port, "26379"
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    return host, int(port)


def redact(url):
    """The URL with its password replaced, for messages and logs."""
    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url)


GITHUB_ENDPOINTS = {"AUTHORIZE_URL": "https://github.com/login/oauth/authorize",
                    "TOKEN_URL": "https://github.com/login/oauth/access_token",
                    "USERINFO_URL": "https://api.github.com/user",
                    "EMAILS_URL": "https://api.github.com/user/emails", "SCOPE": "read:user user:email"}


def env_providers():
    """OIDC_PROVIDERS=name,... and OIDC_<NAME>_* for each: {name: settings}, refused whole when incomplete.

    An OpenID Connect provider needs _ISSUER (discovery at <issuer>/.well-known/openid-configuration),
    _CLIENT_ID and _CLIENT_SECRET. A plain OAuth 2 one ("github" style) gives _AUTHORIZE_URL, _TOKEN_URL
    and _USERINFO_URL instead (optionally _EMAILS_URL and _SCOPE); "github" has GitHub's by default.
    _LABEL is the button's name ("Sign in with <label>").
    """
    providers = {}
    for name in [part.strip().lower() for part in os.environ.get("OIDC_PROVIDERS", "").split(",") if part.strip()]:
        if not name.isalnum() or len(name) > 32:
            raise ConfigError(f"OIDC_PROVIDERS: {name!r} must be letters and digits only (it names OIDC_<NAME>_*)")
        prefix = f"OIDC_{name.upper()}_"
        keys = ("ISSUER", "CLIENT_ID", "CLIENT_SECRET", "LABEL", "AUTHORIZE_URL", "TOKEN_URL", "USERINFO_URL",
                "EMAILS_URL", "SCOPE")
        settings = {key: env_str(prefix + key) for key in keys}
        if name == "github" and not settings["ISSUER"]:
            settings = {**settings, **GITHUB_ENDPOINTS, **{k: v for k, v in settings.items() if v}}
        missing = [prefix + key for key in ("CLIENT_ID", "CLIENT_SECRET") if not settings[key]]
        if not settings["ISSUER"]:
            missing += [prefix + key for key in ("AUTHORIZE_URL", "TOKEN_URL", "USERINFO_URL") if not settings[key]]
        if missing:
            raise ConfigError(f"OIDC_PROVIDERS lists {name!r} but {', '.join(missing)} is not set "
                              f"(or set {prefix}ISSUER for OpenID Connect discovery)")
        if not settings["ISSUER"] and "openid" in (settings["SCOPE"] or "").split():
            raise ConfigError(f"{prefix}SCOPE asks for openid: an OpenID Connect provider is set by {prefix}ISSUER "
                              "(its ID tokens are then verified)")
        settings["LABEL"] = settings["LABEL"] or ("GitHub" if name == "github" else name.capitalize())
        providers[name] = settings
    return providers


# Each limit is an env var of the same name; README "Limits and headers" says what each one counts.
LIMIT_DEFAULTS = {
    "RATELIMIT_LOGIN_PER_ADDRESS": "20 per 10 minutes",  # login attempts from one client address
    # Failed logins for one name typed (a username, or an address as its mailbox), known or not: the captcha
    # after the first, a 429 until the window ends after the second (a password reset clears both).
    "RATELIMIT_LOGIN_CAPTCHA_AFTER": "5 per 15 minutes",
    "RATELIMIT_LOGIN_PER_ACCOUNT": "20 per hour",
    "RATELIMIT_REGISTER_PER_ADDRESS": "10 per hour",
    "RATELIMIT_REGISTER_PER_EMAIL": "5 per hour",
    "RATELIMIT_RESEND_PER_ADDRESS": "10 per hour",
    "RATELIMIT_RESEND_PER_EMAIL": "3 per hour",
    "RATELIMIT_FORGOT_PER_ADDRESS": "10 per hour",
    "RATELIMIT_FORGOT_PER_EMAIL": "3 per hour",
    "RATELIMIT_CODE_PER_ADDRESS": "20 per hour",  # 6-digit code guesses
    "RATELIMIT_CODE_PER_EMAIL": "10 per hour",
    "RATELIMIT_CODE_PER_ACCOUNT": "10 per day",  # wrong codes for one pending account; a resend does not refill it
    "RATELIMIT_CAPTCHA_PER_ADDRESS": "30 per minute",  # /captcha/... pictures (and any future audio)
    # Mails composed for one mailbox, whatever asked for them, in three budgets (app/ratelimit.py): what anyone
    # can ask for, reset links, and security notices. The first two add up to what a stranger can aim at an inbox.
    "RATELIMIT_MAIL_PER_RECIPIENT": "4 per hour",
    "RATELIMIT_RESET_MAIL_PER_RECIPIENT": "2 per hour",
    "RATELIMIT_NOTICE_MAIL_PER_RECIPIENT": "20 per hour",
    "RATELIMIT_ACCOUNT_CHANGES_PER_USER": "10 per hour",  # password, address and deletion forms of one account
    "RATELIMIT_AVATAR_PER_USER": "10 per hour",  # picture uploads (and removals) of one account
    # Wrong second-factor codes after a right password: per account and client network a 429 (so the owner,
    # elsewhere, still gets in), and per account a daily ceiling on app codes, past which only a recovery
    # code or a passkey opens it (both unguessable), or an app code in a browser that passed a second step
    # for the account before (app/accounts/sessions.py known_device).
    "RATELIMIT_TWO_FACTOR_PER_CLIENT": "10 per hour",
    "RATELIMIT_TWO_FACTOR_PER_ACCOUNT": "50 per day",
}


def sqlite_url(filename):
    return "sqlite:///" + os.path.join(INSTANCE_DIR, filename)


class Config:
    """Settings shared by every environment; each key is read from the env var of the same name."""

    def __init__(self):
        self.SECRET_KEY = env_str("SECRET_KEY", DEV_SECRET_KEY)
        self.SQLALCHEMY_DATABASE_URI = normalise_database_url(
            env_str("DATABASE_URL", sqlite_url(self.DATABASE_FILE))
        )
        # Connections one process may hold: DATABASE_POOL_SIZE kept open plus DATABASE_MAX_OVERFLOW at a peak
        # (SQLAlchemy's defaults). Every process has its own pool (README "Deployment guide").
        self.DATABASE_POOL_SIZE = env_int("DATABASE_POOL_SIZE", 5, minimum=1)
        self.DATABASE_MAX_OVERFLOW = env_int("DATABASE_MAX_OVERFLOW", 10, minimum=0)
        if not self.SQLALCHEMY_DATABASE_URI.startswith("sqlite"):
            self.SQLALCHEMY_ENGINE_OPTIONS = {"pool_size": self.DATABASE_POOL_SIZE,
                                              "max_overflow": self.DATABASE_MAX_OVERFLOW}
        self.REDIS_URL = env_str("REDIS_URL", "redis://localhost:6379/0")
        sentinel = parse_redis_url("REDIS_URL", self.REDIS_URL)  # refuses junk at start-up
        self.BASE_URL = env_str("BASE_URL", "http://localhost:5000").rstrip("/")

        self.MAIL_SERVER = env_str("MAIL_SERVER", "localhost")
        self.MAIL_PORT = env_int("MAIL_PORT", 1025, minimum=1)
        self.MAIL_USE_TLS = env_bool("MAIL_USE_TLS", False)
        self.MAIL_USE_SSL = env_bool("MAIL_USE_SSL", False)
        self.MAIL_USERNAME = env_str("MAIL_USERNAME")
        self.MAIL_PASSWORD = env_str("MAIL_PASSWORD")
        self.MAIL_DEFAULT_SENDER = env_str("MAIL_DEFAULT_SENDER", "Sign-up <no-reply@localhost>")
        self.MAIL_TIMEOUT = env_int("MAIL_TIMEOUT", 10, minimum=1)
        self.MAIL_RETRY_INTERVALS = env_int_list("MAIL_RETRY_INTERVALS", [10, 30, 120, 600, 1800])
        self.OUTBOX_SWEEP_SECONDS = env_int("OUTBOX_SWEEP_SECONDS", 60, minimum=1)

        self.BACKUP_DIR = env_str("BACKUP_DIR", os.path.join(INSTANCE_DIR, "backups"))
        self.BACKUP_KEEP = env_int("BACKUP_KEEP", 7, minimum=1)
        self.TIMEZONE = env_str("TIMEZONE", "UTC")
        self.UNVERIFIED_TTL_DAYS = env_int("UNVERIFIED_TTL_DAYS", 7, minimum=1)
        self.EVENT_RETENTION_DAYS = env_int("EVENT_RETENTION_DAYS", 400, minimum=1)
        self.OUTBOX_RETENTION_DAYS = env_int("OUTBOX_RETENTION_DAYS", 7, minimum=1)

        self.CAPTCHA_TEST_MODE = env_bool("CAPTCHA_TEST_MODE", False)
        self.CAPTCHA_TTL_SECONDS = env_int("CAPTCHA_TTL_SECONDS", 300, minimum=10)
        self.VERIFY_TOKEN_MAX_AGE = env_int("VERIFY_TOKEN_MAX_AGE", 48 * 3600, minimum=60)
        self.RESET_TOKEN_MAX_AGE = env_int("RESET_TOKEN_MAX_AGE", 3600, minimum=60)
        self.REMEMBER_DAYS = env_int("REMEMBER_DAYS", 30, minimum=1)
        self.REMEMBER_COOKIE_DURATION = timedelta(days=self.REMEMBER_DAYS)  # Flask-Login's "keep me logged in"
        # What one job of the forking worker (worker-bulk) may allocate past its worker, in MB; 0: unbounded.
        self.JOB_MEMORY_MB = env_int("JOB_MEMORY_MB", 512, minimum=0)
        # A login without "keep me logged in" ends after this long without a request (app.models.LoginSession).
        self.SESSION_IDLE_MINUTES = env_int("SESSION_IDLE_MINUTES", 120, minimum=1)
        # Changing the address, password, second factors or deleting the account needs the password (or a
        # passkey) given this recently (app/accounts/reauth.py).
        self.REAUTH_MINUTES = env_int("REAUTH_MINUTES", 10, minimum=1)
        # A MaxMind-format database (GeoLite2-City.mmdb): the sessions page then names a place, not an address.
        self.GEOIP_DATABASE = env_str("GEOIP_DATABASE")
        # Sign-in with another provider (app/auth/providers.py): none configured, no button shown.
        self.OIDC_PROVIDERS = env_providers()
        # /healthz shows its details (queues, workers, mail) to admins and to "Authorization: Bearer <this>".
        self.HEALTHZ_TOKEN = env_str("HEALTHZ_TOKEN", "")
        self.EMAIL_CHECK_DELIVERABILITY = env_bool("EMAIL_CHECK_DELIVERABILITY", self.CHECK_DELIVERABILITY)

        self.RATELIMIT_ENABLED = env_bool("RATELIMIT_ENABLED", True)
        # Flask-Limiter gets the app's own client (app/ratelimit.py passes its pool), Sentinel-backed or not;
        # the URI only picks limits' plain Redis storage class for that pool.
        self.RATELIMIT_STORAGE_URI = "redis://" if sentinel else self.REDIS_URL
        for name, default in LIMIT_DEFAULTS.items():
            setattr(self, name, env_limit(name, default))
        self.TRUSTED_PROXIES = env_int("TRUSTED_PROXIES", 0)
        # Forms are small; Werkzeug refuses a larger body from its Content-Length, before reading it.
        self.MAX_CONTENT_LENGTH = env_int("MAX_CONTENT_LENGTH", 1024 * 1024, minimum=1024)
        # The avatar upload's own limit (app/security.py raises the body limit of that one route to it).
        self.AVATAR_MAX_BYTES = env_int("AVATAR_MAX_BYTES", 10 * 1024 * 1024, minimum=1024)
        # /metrics (app/metrics): a bearer token, or CIDRs whose addresses may scrape without one.
        self.METRICS_TOKEN = env_str("METRICS_TOKEN")
        self.METRICS_ALLOW = env_networks("METRICS_ALLOW")
        self.LOG_FORMAT = env_choice("LOG_FORMAT", ("text", "json"))
        # The mail provider's limits (jobs/sendrate.py): sends per second across every worker (0: no limit),
        # and the SMTP connections each worker process sends over in parallel.
        self.MAIL_MAX_PER_SECOND = env_int("MAIL_MAX_PER_SECOND", 0)
        self.MAIL_CONNECTIONS = env_int("MAIL_CONNECTIONS", 1, minimum=1)
        self.validate()

    DATABASE_FILE = "app.sqlite3"
    CHECK_DELIVERABILITY = True
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session; forms left open still submit
    # Flask-Limiter: with Redis down, each web process counts in its own memory until Redis answers again.
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    RATELIMIT_KEY_PREFIX = "limits"
    METRICS_OPEN = False  # /metrics with neither METRICS_TOKEN nor METRICS_ALLOW: 404, except in development
    HSTS = None  # Strict-Transport-Security value; production only (a dev server on http must stay reachable)

    def validate(self):
        try:
            zoneinfo.ZoneInfo(self.TIMEZONE)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"TIMEZONE={self.TIMEZONE!r} is not a known time zone (e.g. UTC, Asia/Shanghai)") from None
        if self.GEOIP_DATABASE and not os.path.isfile(self.GEOIP_DATABASE):
            raise ConfigError(f"GEOIP_DATABASE={self.GEOIP_DATABASE!r} is not a file (a GeoLite2-City.mmdb, or unset)")
        if self.MAIL_USE_TLS and self.MAIL_USE_SSL:
            raise ConfigError("MAIL_USE_TLS and MAIL_USE_SSL cannot both be on")


class DevelopmentConfig(Config):
    APP_ENV = "development"
    DEBUG = True
    METRICS_OPEN = True
    CHECK_DELIVERABILITY = False


class TestingConfig(Config):
    APP_ENV = "testing"
    TESTING = True
    DATABASE_FILE = "test.sqlite3"
    CHECK_DELIVERABILITY = False
    MAIL_SUPPRESS_SEND = False  # Flask-Mail sends nothing under TESTING unless told otherwise


class ProductionConfig(Config):
    APP_ENV = "production"
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    HSTS = "max-age=31536000; includeSubDomains"

    def validate(self):
        super().validate()
        if self.SECRET_KEY == DEV_SECRET_KEY or len(self.SECRET_KEY) < 16:
            raise ConfigError("SECRET_KEY must be set to a random value of at least 16 characters in production")
        if self.CAPTCHA_TEST_MODE:
            raise ConfigError("CAPTCHA_TEST_MODE must not be on in production")
        if self.HEALTHZ_TOKEN and len(self.HEALTHZ_TOKEN) < 16:
            raise ConfigError("HEALTHZ_TOKEN must be a random value of at least 16 characters (or unset)")


CONFIGS = {"development": DevelopmentConfig, "testing": TestingConfig, "production": ProductionConfig}


def normalise_database_url(url):
    """Heroku-style platforms still hand out postgres://, which SQLAlchemy 2 no longer accepts."""
    if url.startswith("postgres://"):
        return "postgresql://" + url[len("postgres://"):]
    return url


def config_class_from_env():
    name = os.environ.get("APP_ENV", "").strip().lower() or "production"
    if name not in CONFIGS:
        raise ConfigError(f"APP_ENV={name!r} is not one of {', '.join(CONFIGS)}")
    return CONFIGS[name]
