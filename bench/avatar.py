"""Avatar section: jobs.avatar.render on a 12-megapixel phone JPEG against the naive Pillow pipeline, and the
upload request's p50 through the Procfile's gunicorn for a 100 KB and a 5 MB file."""
import http.client
import io
import secrets
import time
from urllib.parse import urlsplit

from PIL import Image, ImageFilter, ImageOps

from bench.load import Browser
from bench.report import median, percentile
from bench.stack import Stack
from tests.helpers import PASSWORD, hidden_inputs


def photo(width, height, quality, blur=2.0):
    """A JPEG with a photo's detail (blurred noise over a gradient, so it compresses like one) and EXIF 6."""
    noise = Image.merge("RGB", [Image.effect_noise((width, height), sigma).filter(ImageFilter.GaussianBlur(blur))
                                for sigma in (60, 70, 80)])
    picture = Image.blend(noise, Image.linear_gradient("L").resize((width, height)).convert("RGB"), 0.3)
    exif = Image.Exif()
    exif[0x0112], exif[0x010F] = 6, "PhoneMaker"
    exif[0x8825] = {1: "N", 2: (39.0, 54.0, 27.0), 3: "E", 4: (116.0, 23.0, 29.0)}
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=quality, exif=exif)
    return out.getvalue()


def naive(data):
    """What a tutorial writes: open, exif_transpose, thumbnail, save (no draft: the full 12 MP is decoded)."""
    with Image.open(io.BytesIO(data)) as picture:
        picture = ImageOps.exif_transpose(picture)
        picture.thumbnail((256, 256))
        out = io.BytesIO()
        picture.save(out, "WEBP", quality=85)
        return out.getvalue()


def run(table, runs, quick):
    from jobs.avatar import SIZES, render

    data = photo(4000, 3000, 88)
    n = 3 if quick else 10
    project, tutorial = [], []
    for _ in range(runs):  # alternated in the same run, so both see the same machine load
        for _ in range(n):
            started = time.perf_counter()
            render(data)
            project.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            naive(data)
            tutorial.append((time.perf_counter() - started) * 1000)
    label = f"12 MP JPEG with EXIF ({len(data) / 1e6:.1f} MB)"
    sizes = "/".join(str(size) for size in SIZES)
    table.add("avatar", f"jobs.avatar.render (draft, orient, sRGB, crop, {sizes} WebP), {label}: median ms",
              median(project), "{:.0f}")
    table.add("avatar", "naive Pillow (open, exif_transpose, thumbnail 256, save WebP), same file: median ms",
              median(tutorial), "{:.0f}")
    table.add("avatar", "naive / project (goal ≥ 4x)", median(tutorial) / median(project), "{:.1f}x")
    run_upload(table, runs, quick)


def run_upload(table, runs, quick):
    small, large = photo(640, 480, 92, blur=0.8), photo(4000, 3000, 90, blur=0.8)  # ~100 KB, ~5 MB
    # The same bytes as the large one with 40x fewer pixels: what the request costs follows the bytes only.
    padded = small + b"\0" * (len(large) - len(small))
    files = {"0.3 MP": small, "12 MP": large, "0.3 MP (padded after its end)": padded}
    n = 5 if quick else 20
    with Stack(app_env="testing") as stack:
        base = stack.web()
        browser = log_in(stack, base)
        for name, data in files.items():
            times = [upload_ms(browser, base, data) for _ in range(n * runs)]
            table.add("avatar", f"POST /account/avatar, {name} JPEG of {len(data) / 1e6:.2f} MB, gunicorn: "
                      "p50 / p90 ms", (median(times), percentile(times, 90)), "{:.1f} / {:.1f}")


def log_in(stack, base):
    stack.use_in_driver()
    from app import create_app
    from app.accounts import passwords
    from app.extensions import db
    from app.models import User, utcnow

    app = create_app()
    with app.app_context():
        db.session.add(User(username="bench", email="bench@example.com", verified_at=utcnow(),
                            password_hash=passwords.hash_password(PASSWORD)))
        db.session.commit()
    browser = Browser(base)
    _, page = browser.request("GET", "/auth/login")
    status, _ = browser.request("POST", "/auth/login", {**hidden_inputs(page), "login": "bench", "password": PASSWORD})
    if status != 303:
        raise RuntimeError(f"bench login answered {status}")
    return browser


def upload_ms(browser, base, data):
    """One upload as a browser sends it (multipart); the form's GET is not timed."""
    _, page = browser.request("GET", "/account")
    boundary = secrets.token_hex(16)
    body = b"".join([
        f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n'.encode(),
        hidden_inputs(page)["csrf_token"].encode(),
        f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="avatar"; filename="photo.jpg"\r\n'
        f"Content-Type: image/jpeg\r\n\r\n".encode(), data, f"\r\n--{boundary}--\r\n".encode()])
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}", "Connection": "close",
               "Cookie": "; ".join(f"{k}={v}" for k, v in browser.cookies.items())}
    connection = http.client.HTTPConnection(urlsplit(base).netloc, timeout=60)
    try:
        started = time.perf_counter()
        connection.request("POST", "/account/avatar", body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        elapsed = (time.perf_counter() - started) * 1000
    finally:
        connection.close()
    if response.status != 303:
        raise RuntimeError(f"upload answered {response.status}")
    return elapsed
