"""The bench's own virtualenvs, kept out of the app's requirements.

bench/.venv-celery: Celery and the reference captcha library, on top of the app's requirements.
bench/.venv-ddddocr: the off-the-shelf captcha solver alone (it needs nothing of the app: bench/ocr.py).
"""
import os
import subprocess
import sys

from tests.services import ROOT

APP_REQUIREMENTS = os.path.join(ROOT, "requirements.txt")


class BenchVenv:
    def __init__(self, name, with_app):
        self.name = name
        self.path = os.path.join(ROOT, "bench", f".venv-{name}")
        self.requirements = os.path.join(ROOT, "bench", f"requirements-{name}.txt")
        self.with_app = with_app
        self.python = os.path.join(self.path, "bin", "python")
        self.stamp = os.path.join(self.path, ".installed")

    def ensure(self):
        """Build the venv on first use (and after a requirements change); returns its python, or None."""
        sources = (self.requirements, APP_REQUIREMENTS) if self.with_app else (self.requirements,)
        if os.path.exists(self.stamp) and all(os.path.getmtime(self.stamp) >= os.path.getmtime(p) for p in sources):
            return self.python
        print(f"bench: building bench/.venv-{self.name} ...", file=sys.stderr, flush=True)
        files = ["-r", self.requirements]
        if self.with_app:
            files = ["-r", self.app_requirements()] + files
        try:
            if not os.path.exists(self.python):
                subprocess.run([sys.executable, "-m", "venv", self.path], check=True)
            subprocess.run([self.python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *files],
                           check=True)
        except (subprocess.CalledProcessError, OSError) as exc:
            print(f"bench: could not build bench/.venv-{self.name}: {exc}", file=sys.stderr)
            return None
        open(self.stamp, "w").close()
        return self.python

    def app_requirements(self):
        """The app's pins minus those the bench file pins too (Celery holds python-dateutil and packaging exactly)."""
        overridden = pinned_names(self.requirements)
        app_lines = [line for line in open(APP_REQUIREMENTS)
                     if line.split("==")[0].strip().lower() not in overridden]
        filtered = os.path.join(ROOT, "bench", "out", f"requirements-app-{self.name}.txt")
        os.makedirs(os.path.dirname(filtered), exist_ok=True)
        with open(filtered, "w") as f:
            f.writelines(app_lines)
        return filtered


def pinned_names(path):
    with open(path) as f:
        return {line.split("==")[0].strip().lower() for line in f if "==" in line and not line.startswith("#")}


CELERY = BenchVenv("celery", with_app=True)
DDDDOCR = BenchVenv("ddddocr", with_app=False)
