"""Draw a captcha as a PNG with Pillow alone: solid answer glyphs among outlined decoys of the same brightness.

A person types the solid characters and skips the outlined ones; the two differ in fill (seen without
colour vision) and in hue (a second cue). A reader that sees brightness only, as OCR models trained on
grayscale captchas do, finds every glyph equally dark and reads the decoys too.
"""
import io
import math
import random
from functools import lru_cache

from PIL import Image, ImageChops, ImageDraw, ImageFont

# No 0/O/Q/D, 1/I/L/J, 2/Z, 5/S, 8/B, 6/G, U/V: nothing a person could misread.
ALPHABET = "ACEFHKMNPRTWXY3479"
LENGTH = 5
WIDTH, HEIGHT = 270, 80
BACKGROUND = (246, 244, 238)
# Pairs of inks (answer, decoy) whose ITU-R 601 luminance, what Image.convert("L") computes, is within 1 level.
INKS = (
    ((20, 60, 170), (160, 20, 0)),    # blue / red
    ((10, 90, 40), (135, 8, 135)),    # green / purple
    ((120, 30, 150), (30, 95, 60)),   # purple / green
    ((150, 20, 20), (20, 62, 150)),   # red / blue
)


def random_text(length=LENGTH, rng=None):
    rng = rng or random.SystemRandom()
    return "".join(rng.choice(ALPHABET) for _ in range(length))


@lru_cache(maxsize=8)
def _font(size):
    # Pillow's bundled scalable font: no dependency on fonts installed on the machine.
    return ImageFont.load_default(size=size)


@lru_cache(maxsize=512)
def _tile(char, size, hollow):
    """The glyph's mask before rotation; cached because each picture draws the same few dozen shapes."""
    font = _font(size)
    left, top, right, bottom = font.getbbox(char, stroke_width=2)
    tile = Image.new("L", (right - left + 6, bottom - top + 6), 0)
    draw = ImageDraw.Draw(tile)
    draw.text((3 - left, 3 - top), char, font=font, fill=255, stroke_width=2, stroke_fill=255)
    if hollow:
        inner = Image.new("L", tile.size, 0)
        ImageDraw.Draw(inner).text((3 - left, 3 - top), char, font=font, fill=255)
        tile = ImageChops.subtract(tile, inner)
    return tile


def _glyph(char, hollow, rng):
    tile = _tile(char, rng.choice((36, 39, 42)), hollow)
    return tile.rotate(rng.uniform(-20, 20), resample=Image.Resampling.BILINEAR, expand=True)


def _wave_mesh(rng):
    """A mesh of vertical strips shifted along a sine: bends the baseline that OCR segmenters rely on."""
    amplitude, period, phase = rng.uniform(3, 5), rng.uniform(60, 100), rng.uniform(0, 2 * math.pi)
    step, mesh = 11, []
    for x in range(0, WIDTH, step):
        dy0 = amplitude * math.sin(2 * math.pi * x / period + phase)
        dy1 = amplitude * math.sin(2 * math.pi * (x + step) / period + phase)
        box = (x, 0, x + step, HEIGHT)
        quad = (x, dy0, x, HEIGHT + dy0, x + step, HEIGHT + dy1, x + step, dy1)
        mesh.append((box, quad))
    return mesh


def layout(text, rng):
    """The answer's characters in order, with two or three decoys slipped in between or around them."""
    slots = [(char, False) for char in text]
    for _ in range(rng.choice((2, 3))):
        slots.insert(rng.randint(0, len(slots)), (rng.choice(ALPHABET), True))
    return slots


def render(text, seed=None):
    """PNG bytes of text; the same seed draws the same picture, so reloading an id teaches OCR nothing new."""
    rng = random.Random(seed)
    answer_ink, decoy_ink = rng.choice(INKS)
    masks = {False: Image.new("L", (WIDTH, HEIGHT), 0), True: Image.new("L", (WIDTH, HEIGHT), 0)}
    glyphs = [(_glyph(char, hollow, rng), hollow) for char, hollow in layout(text, rng)]
    # Neighbouring glyphs touch, so there is no clean gap to split them at; crowd them more if they would not fit.
    widths = sum(g.width for g, _ in glyphs)
    overlap = max(6, -(-(widths - WIDTH + 8) // (len(glyphs) - 1)))
    total = widths - overlap * (len(glyphs) - 1)
    x = max(3, min(WIDTH - total - 3, (WIDTH - total) // 2 + rng.randint(-5, 5)))
    for glyph, hollow in glyphs:
        y = (HEIGHT - glyph.height) // 2 + rng.randint(-5, 5)
        masks[hollow].paste(255, (x, y), glyph)
        x += glyph.width - overlap
    for hollow in (False, True):  # arcs of both inks crossing the text, as thick as a stroke
        draw = ImageDraw.Draw(masks[hollow])
        x0, y0 = rng.randint(-40, 80), rng.randint(-30, 30)
        draw.arc((x0, y0, x0 + rng.randint(140, 240), y0 + rng.randint(40, 80)),
                 rng.randint(0, 180), rng.randint(180, 360), fill=255, width=2)
    mesh = _wave_mesh(rng)
    picture = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    for hollow, ink in ((True, decoy_ink), (False, answer_ink)):
        mask = masks[hollow].transform((WIDTH, HEIGHT), Image.Transform.MESH, mesh, Image.Resampling.BILINEAR)
        picture.paste(ink, (0, 0), mask)
    out = io.BytesIO()
    picture.save(out, format="PNG", compress_level=1)
    return out.getvalue()
