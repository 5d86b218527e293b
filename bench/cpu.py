"""CPU-bound pieces of a sign-up: drawing a captcha and hashing a password, timed in this process."""
import subprocess
import time

from bench import venv
from bench.report import median, percentile

TEXT = "K7MXR"
# Runs in bench/.venv-celery, where the `captcha` library is installed; prints ms per image.
REFERENCE = """
import sys, time
from captcha.image import ImageCaptcha
maker, n = ImageCaptcha(width=160, height=60), int(sys.argv[1])
maker.generate("K7MXR").getvalue()
started = time.perf_counter()
for _ in range(n):
    maker.generate("K7MXR").getvalue()
print((time.perf_counter() - started) * 1000 / n)
"""


def ms_per_call(fn, n):
    fn()  # warm caches (fonts, lazy imports) before timing
    started = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - started) * 1000 / n


def ms_each(fn, n):
    """Milliseconds of each of n calls (after one warm-up call), for a median per call rather than a mean."""
    fn(0)
    times = []
    for i in range(n):
        started = time.perf_counter()
        fn(i)
        times.append((time.perf_counter() - started) * 1000)
    return times


def run_captcha(table, runs, quick):
    from app.captcha import audio, image

    n = 50 if quick else 200
    times = [ms for _ in range(runs) for ms in ms_each(lambda i: image.render(TEXT, seed=f"bench-{i}"), n)]
    table.add("captcha", f"app.captcha.image.render, {image.WIDTH}×{image.HEIGHT} PNG, fresh seed each: "
              "median / p95 ms per picture (goal ≤ 6)", (median(times), percentile(times, 95)), "{:.2f} / {:.2f}")
    started = time.perf_counter()
    try:
        audio.speak(TEXT, "en", seed="cold")
    except audio.AudioUnavailable as exc:
        table.missing("captcha", "app.captcha.audio.speak", f"not available ({exc})")
    else:
        table.add("captcha", f"audio.speak, first call in a process ({len(TEXT)} espeak-ng clips, noise bank): ms",
                  (time.perf_counter() - started) * 1000, "{:.0f}")
        for language in audio.VOICES:
            times = [ms for _ in range(runs)
                     for ms in ms_each(lambda i: audio.speak(TEXT, language, seed=f"bench-{i}"), n // 5)]
            table.add("captcha", f"audio.speak({language!r}), clips cached: median / p95 ms per WAV",
                      (median(times), percentile(times, 95)), "{:.1f} / {:.1f}")
    python = venv.CELERY.ensure()
    if python is None:
        table.missing("captcha", "`captcha` library (reference)", "not available (bench venv could not be built)")
        return
    figures = [float(subprocess.run([python, "-c", REFERENCE, str(n)], capture_output=True, text=True,
                                    check=True).stdout) for _ in range(runs)]
    table.add("captcha", "`captcha` library ImageCaptcha 160×60 (reference): ms per image", median(figures), "{:.2f}")


def run_hash(table, runs, quick):
    from werkzeug.security import check_password_hash, generate_password_hash
    n = 5 if quick else 20
    try:
        from app.accounts import passwords
    except ImportError:
        table.missing("hash", "app.accounts.passwords", "not available (app/accounts/passwords.py missing)")
    else:
        stored = passwords.hash_password("correct horse battery")
        table.add("hash", "app hash_password (argon2id 19 MiB, t=2, p=1): ms",
                  median(ms_per_call(lambda: passwords.hash_password("correct horse battery"), n)
                         for _ in range(runs)), "{:.1f}")
        table.add("hash", "app verify_password (login): ms",
                  median(ms_per_call(lambda: passwords.verify_password(stored, "correct horse battery"), n)
                         for _ in range(runs)), "{:.1f}")
    table.add("hash", "Werkzeug generate_password_hash default (scrypt N=2^15): ms",
              median(ms_per_call(lambda: generate_password_hash("correct horse battery"), n)
                     for _ in range(runs)), "{:.1f}")
    stored = generate_password_hash("correct horse battery")
    table.add("hash", "Werkzeug check_password_hash (scrypt): ms",
              median(ms_per_call(lambda: check_password_hash(stored, "correct horse battery"), n)
                     for _ in range(runs)), "{:.1f}")
    try:
        from argon2 import PasswordHasher
    except ImportError:
        return
    defaults = PasswordHasher()
    table.add("hash", "argon2-cffi PasswordHasher() defaults (64 MiB, t=3, p=4): ms",
              median(ms_per_call(lambda: defaults.hash("correct horse battery"), n) for _ in range(runs)), "{:.1f}")
