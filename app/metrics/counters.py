"""The counters web processes increment; gunicorn's processes share them through multi-process mode.

gunicorn.conf.py points PROMETHEUS_MULTIPROC_DIR at a fresh directory before the app is imported, so each
process writes its own file and /metrics sums them (app/metrics/views.py). Without that variable
(`flask run`, the tests' in-process client) they are plain in-process counters.
What the Event log already records (sign-ups, verifications, logins, captcha failures) is counted from it
instead (app/metrics/collector.py), so events written by any process, web or worker, are included.
"""
from prometheus_client import Counter

RATE_LIMITED = Counter("signup_http_rate_limited", "Requests refused with 429, by endpoint (the rule's view).",
                       ["endpoint"])
CAPTCHA_SERVED = Counter("signup_captcha_served", "Captcha challenges created.")
