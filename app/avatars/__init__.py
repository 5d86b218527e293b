"""Avatars: processed pictures and drawn defaults under /avatars/..., public and cached for a year.

The upload itself is an account setting (app/account/avatar.py); a worker makes the pictures (jobs/avatar.py).
"""
import hashlib

from flask import Blueprint, url_for
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app.extensions import db
from app.models import AvatarPicture, AvatarUpload

bp = Blueprint("avatars", __name__)

# What the owner reads when a worker could not use their picture (codes from jobs/avatar.py).
REASONS = {
    "unreadable": _l("The file is not a picture we can read. Use a JPEG, PNG, WebP or GIF."),
    "damaged": _l("The picture is damaged or incomplete. Save it again and upload the copy."),
    "too_many_pixels": _l("The picture has too many pixels (at most 50 megapixels)."),
    "failed": _l("We could not process this picture. Try another one."),
    "not_queued": _l("We could not start processing your picture. Try again in a moment."),
}


def urls(user, size, digests=None):
    """(src, srcset) of user's picture at size CSS pixels, 2x included: the processed one or the default.

    digests, {(user_id, size): digest}, saves a query per account on lists (see digests_for).
    """
    found = digests if digests is not None else digests_for([user.id])
    stored = [min((px for px in AvatarPicture.SIZES if px >= wanted), default=max(AvatarPicture.SIZES))
              for wanted in (size, size * 2)]
    src = [_url(user, px, found.get((user.id, px))) for px in stored]
    return src[0], f"{src[0]} 1x, {src[1]} 2x"


def digests_for(user_ids):
    rows = db.session.execute(select(AvatarPicture.user_id, AvatarPicture.size, AvatarPicture.digest)
                              .where(AvatarPicture.user_id.in_(list(user_ids)))).all()
    return {(user_id, size): digest for user_id, size, digest in rows}


def _url(user, size, digest):
    if digest is not None:
        return url_for("avatars.picture", digest=digest, extension=AvatarPicture.EXTENSION)
    initials, hue = default_look(user)
    return url_for("avatars.default", initials=initials or "-", hue=hue, size=size)


def default_look(user):
    """Up to two initials and a hue that stays with the account (its id and name), not with the page."""
    letters = [c for c in user.username if c.isascii() and c.isalnum()]  # the bundled font is Latin only
    hue = int.from_bytes(hashlib.sha256(f"{user.id}:{user.username}".encode()).digest()[:2], "big") % 360
    return "".join(letters[:2]).upper(), hue


def latest_upload(user):
    return db.session.scalar(select(AvatarUpload).where(AvatarUpload.user_id == user.id)
                             .order_by(AvatarUpload.id.desc()).limit(1))


from app.avatars import views  # noqa: E402,F401  (routes register on bp)
