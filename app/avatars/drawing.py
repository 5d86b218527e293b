"""The default picture: initials on a coloured square, drawn with Pillow (no Flask here)."""
import colorsys
import io

from PIL import Image, ImageDraw, ImageFont


def initials_png(initials, hue, size):
    red, green, blue = (round(c * 255) for c in colorsys.hls_to_rgb(hue / 360, 0.42, 0.55))
    picture = Image.new("RGB", (size, size), (red, green, blue))
    if initials:
        font = ImageFont.load_default(size=size * 0.42)  # Pillow's bundled scalable font
        ImageDraw.Draw(picture).text((size / 2, size / 2), initials, font=font, fill="white", anchor="mm")
    out = io.BytesIO()
    picture.save(out, "PNG", optimize=True)
    return out.getvalue()
