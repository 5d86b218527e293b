"""What several blueprints share about HTTP: where a 303 goes, what a refused form answers, safe next= paths."""
from urllib.parse import urlsplit

from flask import redirect, url_for


def see_other(endpoint, **values):
    """After a POST that changed something: the browser GETs the next page (no resubmission on reload)."""
    return redirect(url_for(endpoint, **values), code=303)


def status_for(form):
    """Re-rendered forms answer 400: the page says what to fix, and a client sees it was refused."""
    return 400 if form.is_submitted() else 200


def local_path(target):
    """next= only ever leads to a path on this site: no scheme, no host, no //host or /\\host tricks."""
    if not target or not target.startswith("/") or any(c.isspace() or ord(c) < 32 for c in target):
        return None
    parts = urlsplit(target.replace("\\", "/"))
    if parts.scheme or parts.netloc or parts.path.startswith("//"):
        return None
    return target
