"""Languages with Flask-Babel: English (the source strings) and Simplified Chinese.

Templates mark text with `_()`, Python code with `flask_babel.gettext` (or `lazy_gettext` where the text is
built at import time, as form labels are). The catalogues live in app/translations/.
"""
from flask import request
from flask_babel import Babel

LANGUAGES = {"en": "English", "zh": "中文"}  # code -> the language's own name, for the switcher
babel = Babel()


def select_locale():
    return request.accept_languages.best_match(LANGUAGES) or "en"


def init_app(app):
    babel.init_app(app, locale_selector=select_locale, timezone_selector=lambda: app.config["TIMEZONE"])
