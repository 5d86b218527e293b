"""Draw captcha text as a PNG with Pillow alone: overlapping rotated glyphs, a wave warp and noise arcs."""
import io
import math
import random
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

# No 0/O/Q/D, 1/I/L/J, 2/Z, 5/S, 8/B, 6/G, U/V: nothing a person could misread.
ALPHABET = "ACEFHKMNPRTWXY3479"
WIDTH, HEIGHT = 160, 60


def random_text(length=5, rng=None):
    rng = rng or random.SystemRandom()
    return "".join(rng.choice(ALPHABET) for _ in range(length))


@lru_cache(maxsize=4)
def _font(size):
    # Pillow's bundled scalable font: no dependency on fonts installed on the machine.
    return ImageFont.load_default(size=size)


def _glyph(char, rng):
    font = _font(rng.choice((30, 33, 36)))
    left, top, right, bottom = font.getbbox(char)
    tile = Image.new("L", (right - left + 8, bottom - top + 8), 0)
    ImageDraw.Draw(tile).text((4 - left, 4 - top), char, font=font, fill=255, stroke_width=1, stroke_fill=255)
    return tile.rotate(rng.uniform(-25, 25), resample=Image.Resampling.BILINEAR, expand=True)


def _wave_mesh(rng):
    """A mesh of vertical strips shifted along a sine: bends the baseline that OCR segmenters rely on."""
    amplitude, period, phase = rng.uniform(3, 5), rng.uniform(50, 80), rng.uniform(0, 2 * math.pi)
    step, mesh = 10, []
    for x in range(0, WIDTH, step):
        dy0 = amplitude * math.sin(2 * math.pi * x / period + phase)
        dy1 = amplitude * math.sin(2 * math.pi * (x + step) / period + phase)
        box = (x, 0, x + step, HEIGHT)
        quad = (x, dy0, x, HEIGHT + dy0, x + step, HEIGHT + dy1, x + step, dy1)
        mesh.append((box, quad))
    return mesh


def render(text, seed=None):
    """PNG bytes of text; the same seed draws the same picture, so reloading an id teaches OCR nothing new."""
    rng = random.Random(seed)
    mask = Image.new("L", (WIDTH, HEIGHT), 0)
    glyphs = [_glyph(char, rng) for char in text]
    overlap = 9  # neighbouring glyphs touch, so there is no clean gap to split them at
    total = sum(g.width for g in glyphs) - overlap * (len(glyphs) - 1)
    x = min(max(2, (WIDTH - total) // 2 + rng.randint(-6, 6)), max(2, WIDTH - total - 2))
    for glyph in glyphs:
        y = (HEIGHT - glyph.height) // 2 + rng.randint(-5, 5)
        mask.paste(255, (x, y), glyph)
        x += glyph.width - overlap
    draw = ImageDraw.Draw(mask)
    for _ in range(3):  # arcs crossing the text, as thick as a stroke
        x0, y0 = rng.randint(-40, 60), rng.randint(-30, 30)
        draw.arc((x0, y0, x0 + rng.randint(120, 200), y0 + rng.randint(40, 80)),
                 rng.randint(0, 180), rng.randint(180, 360), fill=255, width=2)
    mask = mask.transform((WIDTH, HEIGHT), Image.Transform.MESH, _wave_mesh(rng), Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(mask)
    for _ in range(120):  # speckles break up the outline OCR binarises on
        draw.point((rng.randrange(WIDTH), rng.randrange(HEIGHT)), fill=rng.choice((0, 255)))
    ink = (rng.randint(10, 60), rng.randint(30, 70), rng.randint(80, 130))
    picture = Image.new("RGB", (WIDTH, HEIGHT), (242, 244, 248))
    picture.paste(ink, (0, 0), mask)
    out = io.BytesIO()
    picture.save(out, format="PNG", compress_level=1)
    return out.getvalue()
