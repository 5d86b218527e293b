"""process(upload_id): a stored upload becomes square WebP pictures with no metadata; the raw upload is dropped.

The Pillow steps (render) take bytes and give bytes, with no Flask or database in them, so the tests and
the benchmark call them directly. Decoding happens here and never in the web process: an image decoder
is a classic target, and a large picture costs a worker's time, not a request's.
"""
import hashlib
import io
import logging
import warnings
from datetime import timedelta

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from sqlalchemy import delete, select

from app.accounts import actions
from app.extensions import db
from app.models import AvatarPicture, AvatarUpload, utcnow
from app.queues import get_queue

log = logging.getLogger(__name__)

SIZES = AvatarPicture.SIZES  # largest first
FORMATS = ("JPEG", "PNG", "WEBP", "GIF")  # what the upload form accepts; Pillow tries no other decoder
# Checked from the header, before any decoding. Decoding and squaring cost about 11.5 bytes a pixel at the
# peak (measured: 12 MP 137 MB, 24 MP 275 MB, 48 MP 550 MB of a PNG of 40-150 KB), so 24 MP (a 6000x4000
# camera photo) stays well inside the bulk worker's JOB_MEMORY_MB (512); JPEGs decode at 1/8 (draft) anyway.
MAX_PIXELS = 24_000_000
WEBP_QUALITY = 85
SRGB = ImageCms.createProfile("sRGB")


class BadPicture(Exception):
    """The upload cannot become an avatar: reason is a code the page translates for its owner (app/avatars),
    the message is the operator's, in rq's failed job registry."""

    def __init__(self, reason, message):
        super().__init__(message)
        self.reason = reason


def render(data):
    """{size: WebP bytes}, each a centre-cropped square, the right way up, without EXIF, XMP or ICC."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)  # refused at open, not just warned
            with Image.open(io.BytesIO(data), formats=FORMATS) as picture:
                if picture.width * picture.height > MAX_PIXELS:
                    raise BadPicture("too_many_pixels", f"{picture.width}x{picture.height} pixels is over MAX_PIXELS")
                if picture.format == "JPEG":
                    picture.draft("RGB", (SIZES[0], SIZES[0]))  # the decoder scales by 1/2, 1/4 or 1/8 itself
                square = _square(_in_srgb(ImageOps.exif_transpose(picture)))  # a GIF's first frame only
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:  # Pillow's cap, from the header
        raise BadPicture("too_many_pixels", str(error)) from None
    except MemoryError:  # past the work horse's JOB_MEMORY_MB (jobs/worker.py): it dies alone, cleanly
        raise BadPicture("too_many_pixels", "decoding it needed more than JOB_MEMORY_MB") from None
    except UnidentifiedImageError:
        raise BadPicture("unreadable", "not a JPEG, PNG, WebP or GIF Pillow can open") from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:  # Pillow's "truncated" or "corrupt"
        raise BadPicture("damaged", f"damaged or truncated picture: {error}") from None
    pictures = {}
    for size in SIZES:  # each from the previous one: four resizes cost about as much as the first
        square = square.resize((size, size), Image.Resampling.LANCZOS) if square.width != size else square
        pictures[size] = _webp(square)
    return pictures


def _in_srgb(picture):
    """Colours as the profile meant them, then the profile dropped: every browser shows sRGB alike."""
    profile = picture.info.get("icc_profile")
    mode = "RGBA" if picture.mode in ("RGBA", "LA", "PA") or "transparency" in picture.info else "RGB"
    if profile and picture.mode in ("RGB", "RGBA", "CMYK"):
        try:
            return ImageCms.profileToProfile(picture, io.BytesIO(profile), SRGB, outputMode=mode)
        except ImageCms.PyCMSError:
            log.info("avatar: unusable ICC profile ignored")
    return picture.convert(mode)


def _square(picture):
    side = min(picture.size)
    left, top = (picture.width - side) // 2, (picture.height - side) // 2
    square = picture.crop((left, top, left + side, top + side))
    if side < SIZES[0]:  # a small picture is scaled up once, so every size comes out sharp enough
        square = square.resize((SIZES[0], SIZES[0]), Image.Resampling.LANCZOS)
    return square


def _webp(picture):
    clean = Image.new(picture.mode, picture.size)  # a new image carries no info: no EXIF, XMP or ICC to copy
    clean.paste(picture)
    out = io.BytesIO()
    clean.save(out, "WEBP", quality=WEBP_QUALITY, method=2)  # 4 (the default) costs 2.5x for 1-2% smaller
    return out.getvalue()


def process(upload_id):
    """Turn one upload into the account's pictures, replacing the old ones in the same transaction.

    A picture that cannot be used marks the upload failed with the reason its owner sees, and the job
    still fails, so rq keeps it in its FailedJobRegistry with that reason for the operator.
    """
    upload = db.session.get(AvatarUpload, upload_id)
    if upload is None or upload.status != AvatarUpload.PENDING:
        return "nothing to do"  # removed, replaced or the account deleted since it was queued
    try:
        pictures = render(upload.data)
    except BadPicture as error:
        _finish(upload, AvatarUpload.FAILED, error.reason)
        raise
    except Exception:
        _finish(upload, AvatarUpload.FAILED, "failed")
        raise
    db.session.execute(delete(AvatarPicture).where(AvatarPicture.user_id == upload.user_id))
    for size, data in pictures.items():
        db.session.add(AvatarPicture(user_id=upload.user_id, size=size, data=data,
                                     digest=hashlib.sha256(data).hexdigest()))
    _finish(upload, AvatarUpload.DONE)
    return f"{len(pictures)} sizes"


def _finish(upload, status, error=None):
    upload.status, upload.error, upload.data, upload.processed_at = status, error, None, utcnow()
    db.session.commit()


def redrive(older_than_seconds=300):
    """The recurring job: queue again the uploads still waiting whose job Redis no longer has (wiped, lost).

    The job id names the upload, so an upload whose job waits in the queue or runs is left alone. One whose job
    failed without settling it (its work horse was killed: the kernel's OOM killer, a segfault in a decoder)
    is marked failed, so its owner reads "we could not process this picture" instead of waiting forever, and
    a picture that kills work horses is not tried again. Returns how many were queued.
    """
    cutoff = utcnow() - timedelta(seconds=older_than_seconds)
    waiting = db.session.scalars(select(AvatarUpload.id).where(AvatarUpload.status == AvatarUpload.PENDING,
                                                               AvatarUpload.created_at < cutoff)).all()
    db.session.rollback()
    queue = get_queue("avatars")
    lost, dead = [], []
    for upload_id in waiting:
        try:
            job = Job.fetch(actions.avatar_job_id(upload_id), connection=queue.connection)
        except NoSuchJobError:
            lost.append(upload_id)
            continue
        status = job.get_status(refresh=False)
        if status == JobStatus.FAILED:
            dead.append(upload_id)
        elif status == JobStatus.QUEUED and queue.get_job_position(job.id) is None:
            lost.append(upload_id)  # taken off the queue by a worker lost before it started the job
    for upload_id in lost:
        actions.queue_avatar(upload_id)
    for upload in db.session.scalars(select(AvatarUpload).where(AvatarUpload.id.in_(dead))):
        log.warning("avatar: upload %s marked failed: its job died without settling it", upload.id)
        _finish(upload, AvatarUpload.FAILED, "failed")
    return len(lost)
