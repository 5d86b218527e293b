"""Log lines without secrets: a token in a URL (a mailed link, a delivery ticket, a captcha id) is replaced.

One rule for gunicorn's access log (gunicorn.conf.py) and for every record this process makes, whichever
logger or handler writes it: a record factory rewrites the message when the record is made, so Flask's
"Exception on /auth/reset/<token>" and any library's line are covered alike.
"""
import logging
import re

# A run of 20+ URL-safe characters right after "/" or "=": a path segment or query value that is a token.
SECRET = re.compile(r"(?<=[/=])[A-Za-z0-9_.~-]{20,}")


def redact(text):
    return SECRET.sub("<token>", text) if text else text


def install_redaction():
    """Make every later log record of this process carry its message redacted (idempotent)."""
    make_record = logging.getLogRecordFactory()
    if getattr(make_record, "redacts", False):
        return

    def redacting_record(*args, **kwargs):
        record = make_record(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: the handler reports it as it would have
            return record
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return record

    redacting_record.redacts = True
    logging.setLogRecordFactory(redacting_record)
