"""/metrics for Prometheus: counters of this web process, and the state the database and Redis hold.

Who may scrape: a request carrying `Authorization: Bearer $METRICS_TOKEN`, or one from an address in
METRICS_ALLOW (comma-separated CIDRs, the address ProxyFix settled on under TRUSTED_PROXIES). With
neither configured the route answers 404 outside development (METRICS_OPEN), so a fresh production deploy never
publishes its internals by accident, and a development machine can scrape without set-up. A wrong token or address gets 403.
"""
from flask import Blueprint

bp = Blueprint("metrics", __name__)

from app.metrics import views  # noqa: E402,F401  (routes register on bp)
