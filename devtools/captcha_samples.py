"""Draw docs/captcha-samples.png: twelve captchas with their answers, to judge readability by eye.

Run it with: python -m devtools.captcha_samples [--out docs/captcha-samples.png] [--seed 10]
Re-run it whenever app/captcha/image.py changes, and look at the sheet before committing.
"""
import argparse
import io
import os
import random

from PIL import Image, ImageDraw, ImageFont

from app.captcha import image

COLUMNS, ROWS, SCALE, CAPTION = 3, 4, 2, 26


def sheet(seed):
    """Pictures at twice their size (as a phone shows them), each captioned with the answer to type."""
    rng = random.Random(seed)
    cell_w, cell_h = image.WIDTH * SCALE + 16, image.HEIGHT * SCALE + CAPTION + 12
    out = Image.new("RGB", (COLUMNS * cell_w, ROWS * cell_h), (255, 255, 255))
    draw = ImageDraw.Draw(out)
    font = ImageFont.load_default(size=18)
    for n in range(COLUMNS * ROWS):
        text = image.random_text(rng=rng)
        picture = Image.open(io.BytesIO(image.render(text, seed=f"sample-{seed}-{n}")))
        x, y = (n % COLUMNS) * cell_w + 8, (n // COLUMNS) * cell_h + 6
        out.paste(picture.resize((image.WIDTH * SCALE, image.HEIGHT * SCALE), Image.Resampling.LANCZOS), (x, y))
        draw.text((x, y + image.HEIGHT * SCALE + 4), f"answer: {text}", font=font, fill=(40, 40, 40))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join("docs", "captcha-samples.png"))
    parser.add_argument("--seed", type=int, default=10)
    args = parser.parse_args()
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    sheet(args.seed).quantize(64).save(args.out, optimize=True)  # 64 colours: a fifth of the bytes, same look
    print(args.out)


if __name__ == "__main__":
    main()
