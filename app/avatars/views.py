"""Routes under /avatars: a processed picture by the hash of its bytes, or a default by what it shows.

Either URL names its content exactly, so a browser or proxy may keep it for a year. Neither serves an
upload as it was sent, nor SVG: only the worker's WebP and the PNG drawn here.
"""
import re
from functools import lru_cache

from flask import Response, abort
from sqlalchemy import select

from app.avatars import bp
from app.avatars.drawing import initials_png
from app.extensions import db
from app.models import AvatarPicture

CACHE_FOREVER = "public, max-age=31536000, immutable"


def cached(data, content_type):
    # Set explicitly: app/account's no-store for signed-in pages keeps a Cache-Control already chosen.
    return Response(data, content_type=content_type, headers={"Cache-Control": CACHE_FOREVER})


@bp.get("/<digest>.<extension>")
def picture(digest, extension):
    if extension != AvatarPicture.EXTENSION or not re.fullmatch(r"[0-9a-f]{64}", digest):
        abort(404)
    data = db.session.scalar(select(AvatarPicture.data).where(AvatarPicture.digest == digest).limit(1))
    if data is None:
        abort(404)
    return cached(data, AvatarPicture.CONTENT_TYPE)


@bp.get("/default/<initials>/<int:hue>-<int:size>.png")
def default(initials, hue, size):
    if not re.fullmatch(r"[A-Z0-9]{1,2}|-", initials) or hue >= 360 or size not in AvatarPicture.SIZES:
        abort(404)
    return cached(_drawn(initials.strip("-"), hue, size), "image/png")


@lru_cache(maxsize=256)
def _drawn(initials, hue, size):
    return initials_png(initials, hue, size)
