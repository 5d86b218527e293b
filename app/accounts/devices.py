"""What the sessions page says about a login's device: browser and system from the User-Agent, and a place.

A few lines of matching rather than a parser library: the page names the common browsers and systems,
and anything else reads "Unknown browser". The place is a city from GEOIP_DATABASE when one is
configured (maxminddb), else the client address with its last part hidden (203.0.113.x, 2001:db8:1::/48):
enough for the owner to tell a login from home from one abroad, and no more kept than that.
"""
import ipaddress
import re
from functools import lru_cache

import maxminddb

from flask import current_app
from flask_babel import gettext as _

# Order matters: Edge and Opera say "Chrome", Chrome says "Safari".
BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("FxiOS/", "Firefox"),
            ("CriOS/", "Chrome"), ("Chromium/", "Chromium"), ("Chrome/", "Chrome"), ("Safari/", "Safari"),
            ("curl/", "curl"))
SYSTEMS = (("Android", "Android"), ("iPhone", "iOS"), ("iPad", "iPadOS"), ("CrOS", "ChromeOS"),
           ("Windows", "Windows"), ("Mac OS X", "macOS"), ("Macintosh", "macOS"), ("Linux", "Linux"))


def describe(user_agent):
    """("Firefox", "Linux") and the like; None for what is not recognised."""
    user_agent = user_agent or ""
    browser = next((name for marker, name in BROWSERS if marker in user_agent), None)
    if browser == "Chrome" and "HeadlessChrome" in user_agent:
        browser = "Chrome (headless)"
    system = next((name for marker, name in SYSTEMS if marker in user_agent), None)
    return browser, system


def label(user_agent):
    browser, system = describe(user_agent)
    browser = browser or _("Unknown browser")
    return _("%(browser)s on %(system)s", browser=browser, system=system) if system else browser


def place(address):
    """Where a login came from, as the sessions page shows it and the login row keeps it."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    found = geoip_place(str(ip)) if current_app.config["GEOIP_DATABASE"] else None
    if found:
        return found[:64]
    if ip.version == 4:
        return re.sub(r"\.\d+$", ".x", str(ip))
    return str(ipaddress.ip_network(f"{ip}/48", strict=False))


def geoip_place(address):
    """"City, Country" (in English) from the configured database, or None when it does not know."""
    try:
        record = reader(current_app.config["GEOIP_DATABASE"]).get(address) or {}
    except ValueError:
        return None
    names = [record.get(part, {}).get("names", {}).get("en") for part in ("city", "country")]
    return ", ".join(name for name in names if name) or None


@lru_cache(maxsize=2)
def reader(path):
    return maxminddb.open_database(path)
