"""Languages with Flask-Babel: English (the source strings) and Simplified Chinese.

Templates mark text with `_()`, Python code with `flask_babel.gettext` (or `lazy_gettext` where the text is
built at import time, as form labels are). The catalogues live in app/translations/ (`make translations`).

The language is the one the visitor chose with the switcher (saved on the account when logged in, in a
cookie otherwise), else the best match for Accept-Language, else English. Mail is rendered in the language
stored on its outbox row (app/emails.py), since a worker sending it later has no request to ask.
"""
from flask import has_request_context, request
from flask_babel import Babel, get_locale
from flask_login import current_user

LANGUAGES = {"en": "English", "zh": "中文"}  # code -> the language's own name, for the switcher
HTML_LANG = {"en": "en", "zh": "zh-Hans"}  # what <html lang> says: the script matters for Chinese
COOKIE = "language"
COOKIE_MAX_AGE = 365 * 24 * 3600
babel = Babel()


def chosen_language():
    """The visitor's own choice: the account's saved one, else the switcher's cookie; None if never made."""
    user_choice = current_user.language if current_user and current_user.is_authenticated else None
    choice = user_choice or request.cookies.get(COOKIE)
    return choice if choice in LANGUAGES else None


def select_locale():
    if not has_request_context():  # a worker or the CLI: force_locale() says which, English otherwise
        return "en"
    return chosen_language() or request.accept_languages.best_match(LANGUAGES) or "en"


def current_language():
    """The code of the language this response is in ("en" or "zh")."""
    return get_locale().language


def html_lang(code=None):
    """The BCP 47 tag for <html lang> (and the switcher's buttons): "zh-Hans" names the script as well."""
    return HTML_LANG[code or current_language()]


def language_for(user):
    """The language to write to an account in: its saved choice, else the page's, else English."""
    if user is not None and user.language:
        return user.language
    return current_language() if has_request_context() else "en"


def init_app(app):
    babel.init_app(app, locale_selector=select_locale, timezone_selector=lambda: app.config["TIMEZONE"])
    app.jinja_env.globals.update(LANGUAGES=LANGUAGES, current_language=current_language, html_lang=html_lang)
