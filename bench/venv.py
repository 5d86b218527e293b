"""The bench's own virtualenv: Celery and the reference captcha library, kept out of the app's requirements."""
import os
import subprocess
import sys

from tests.services import ROOT

VENV = os.path.join(ROOT, "bench", ".venv-celery")
REQUIREMENTS = os.path.join(ROOT, "bench", "requirements-celery.txt")
APP_REQUIREMENTS = os.path.join(ROOT, "requirements.txt")
PYTHON = os.path.join(VENV, "bin", "python")
STAMP = os.path.join(VENV, ".installed")


def pinned_names(path):
    with open(path) as f:
        return {line.split("==")[0].strip().lower() for line in f if "==" in line and not line.startswith("#")}


def ensure():
    """Build the venv on first use (and after a requirements change); returns its python, or None."""
    fresh = os.path.exists(STAMP) and all(os.path.getmtime(STAMP) >= os.path.getmtime(p)
                                          for p in (REQUIREMENTS, APP_REQUIREMENTS))
    if fresh:
        return PYTHON
    print("bench: building bench/.venv-celery (Celery, captcha) ...", file=sys.stderr, flush=True)
    # Celery pins python-dateutil and packaging exactly; in this venv its pins replace the app's.
    overridden = pinned_names(REQUIREMENTS)
    app_lines = [line for line in open(APP_REQUIREMENTS)
                 if line.split("==")[0].strip().lower() not in overridden]
    filtered = os.path.join(ROOT, "bench", "out", "requirements-app.txt")
    os.makedirs(os.path.dirname(filtered), exist_ok=True)
    with open(filtered, "w") as f:
        f.writelines(app_lines)
    try:
        if not os.path.exists(PYTHON):
            subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
        subprocess.run([PYTHON, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        "-r", filtered, "-r", REQUIREMENTS], check=True)
    except (subprocess.CalledProcessError, OSError) as exc:
        print(f"bench: could not build bench/.venv-celery: {exc}", file=sys.stderr)
        return None
    open(STAMP, "w").close()
    return PYTHON
