"""The off-the-shelf solver, run inside bench/.venv-ddddocr: one base64 PNG per stdin line, one guess per stdout line.

A line is `SETUP BASE64`, SETUP one of plain, beta, preprocessed, adapted. It imports nothing of the app, so the
venv needs only ddddocr; the bench drives it from the app's venv (bench/solver.py).
"""
import base64
import io
import sys

import ddddocr
from PIL import Image, ImageFilter, ImageOps


def preprocess(png):
    """Grayscale, a threshold at the mean level, a 3x3 median: the usual first steps against noise."""
    gray = ImageOps.grayscale(Image.open(io.BytesIO(png)))
    histogram = gray.histogram()
    mean = sum(level * count for level, count in enumerate(histogram)) / max(1, sum(histogram))
    return as_png(gray.point(lambda v: 0 if v < mean else 255).filter(ImageFilter.MedianFilter(3)))


def adapt(png):
    """What a bot written against this design would try: a 5x5 max filter erases thin (outlined) strokes."""
    return as_png(ImageOps.grayscale(Image.open(io.BytesIO(png))).filter(ImageFilter.MaxFilter(5)))


def as_png(picture):
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue()


def main():
    plain = ddddocr.DdddOcr(show_ad=False)
    beta = ddddocr.DdddOcr(show_ad=False, beta=True)
    readers = {"plain": (plain, bytes), "beta": (beta, bytes), "preprocessed": (plain, preprocess),
               "adapted": (plain, adapt)}
    for line in sys.stdin:
        setup, _, data = line.strip().partition(" ")
        reader, prepare = readers[setup]
        guess = reader.classification(prepare(base64.b64decode(data)))
        print(guess.replace(" ", "").replace("\n", ""), flush=True)


if __name__ == "__main__":
    main()
