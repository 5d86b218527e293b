"""The captcha routes: the picture, its audio, and a fresh challenge for the page's script.

Forms use app.captcha.store to create and check challenges. Picture and audio read the same answer,
so checking it once (in either form's POST) spends both.
"""
from flask import Response, abort, jsonify, request, url_for
from flask_babel import gettext as _
from redis.exceptions import RedisError

from app import i18n
from app.captcha import audio, bp, image, store
from app.ratelimit import limit


def stored_answer(challenge_id):
    try:
        text = store.answer(challenge_id)
    except RedisError:
        abort(503, _("The captcha cannot be shown right now; try again in a moment."))
    if text is None:
        abort(404, _("This captcha has expired; ask for a new one."))
    return text


def uncached(body, mimetype):
    response = Response(body, mimetype=mimetype)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/<challenge_id>.png")
@limit("RATELIMIT_CAPTCHA_PER_ADDRESS", methods=None)
def picture(challenge_id):
    return uncached(image.render(stored_answer(challenge_id), seed=challenge_id), "image/png")


@bp.get("/<challenge_id>.wav")
@limit("RATELIMIT_CAPTCHA_PER_ADDRESS", methods=None)
def sound(challenge_id):
    """?lang= picks the voice: the page's language (templates/captcha/field.html); English by default."""
    language = request.args.get("lang", "en")
    if language not in audio.VOICES:
        abort(404, _("No audio in this language; choose one of %(languages)s.", languages=", ".join(audio.VOICES)))
    text = stored_answer(challenge_id)
    try:
        return uncached(audio.speak(text, language, seed=challenge_id), "audio/wav")
    except audio.AudioUnavailable:
        abort(503, _("The audio cannot be played right now; use the picture or try again later."))


@bp.post("/new")
@limit("RATELIMIT_CAPTCHA_PER_ADDRESS", methods=None)
def new():
    """A fresh challenge for the page's script, which swaps picture and audio without reloading the form.

    The previous id, when given, is discarded, as the form's own "new picture" button does.
    """
    try:
        if request.form.get("previous"):
            store.discard(request.form["previous"])
        challenge_id = store.new_challenge()
    except RedisError:
        return jsonify(error=_("The captcha is unavailable for a moment; please try again shortly.")), 503
    response = jsonify(id=challenge_id, picture=url_for("captcha.picture", challenge_id=challenge_id),
                       audio=url_for("captcha.sound", challenge_id=challenge_id, lang=i18n.current_language()))
    response.headers["Cache-Control"] = "no-store"
    return response
