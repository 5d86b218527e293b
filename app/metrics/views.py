"""The /metrics route: access control, then one registry per scrape (multi-process files + state collector)."""
import hmac
import ipaddress
import os

from flask import Response, abort, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess

from app.metrics import bp
from app.metrics.collector import StateCollector


def refusal():
    """None when this request may scrape, else the status to refuse it with (module docstring: why 404)."""
    token = current_app.config["METRICS_TOKEN"]
    networks = current_app.config["METRICS_ALLOW"]
    if not token and not networks:
        return None if current_app.config["METRICS_OPEN"] else 404
    sent = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
        return None
    if networks and in_networks(request.remote_addr, networks):  # ProxyFix's, behind TRUSTED_PROXIES
        return None
    return 403


def in_networks(address, networks):
    try:
        address = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(address in network for network in networks)


@bp.get("/metrics")
def metrics():
    code = refusal()
    if code:
        abort(code)
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY  # a single process: its own counters, plus the state below
    body = generate_latest(registry) + generate_latest(_state_registry())
    response = Response(body, mimetype=CONTENT_TYPE_LATEST)
    response.headers["Cache-Control"] = "no-store"
    return response


def _state_registry():
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StateCollector())
    return registry
