"""The captcha image route; forms use app.captcha.store to create and check challenges."""
from flask import Response, abort
from redis.exceptions import RedisError

from app.captcha import bp, image, store


@bp.get("/<challenge_id>.png")
def picture(challenge_id):
    try:
        text = store.answer(challenge_id)
    except RedisError:
        abort(503, "The picture cannot be drawn right now; try again in a moment.")
    if text is None:
        abort(404, "This picture has expired; ask for a new one.")
    response = Response(image.render(text, seed=challenge_id), mimetype="image/png")
    response.headers["Cache-Control"] = "no-store"
    return response
