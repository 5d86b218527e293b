"""Pictures for the avatar tests and the benchmark, made with Pillow: a phone photo and the bad inputs."""
import io
import struct
import zlib

from PIL import Image, ImageCms

GREEN, RED = (30, 200, 30), (200, 30, 30)


def phone_jpeg(width=4000, height=3000, orientation=6):
    """A photo as a phone saves it: sideways pixels with EXIF orientation, GPS position, camera, ICC profile.

    The top-left quadrant (as stored) is green; shown the right way up (rotated 90° clockwise for 6) it
    is the top-right one.
    """
    picture = Image.new("RGB", (width, height), RED)
    picture.paste(GREEN, (0, 0, width // 2, height // 2))
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F], exif[0x0110] = "PhoneMaker", "Phone 12"
    exif[0x8825] = {1: "N", 2: (39.0, 54.0, 27.0), 3: "E", 4: (116.0, 23.0, 29.0)}  # GPS IFD
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=90, exif=exif, icc_profile=icc)
    return out.getvalue()


def png(width=300, height=200, colour=(40, 90, 160)):
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, "PNG")
    return out.getvalue()


def animated_gif():
    frames = [Image.new("RGB", (80, 80), colour) for colour in (GREEN, RED, RED)]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return out.getvalue()


def png_bomb(width=30000, height=30000):
    """A few hundred bytes that claim 900 megapixels: a valid header, then one compressed run of zeros."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    rows = zlib.compress(b"\0" * (width // 8 + 1) * 64)  # far fewer rows than claimed: never read anyway
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


SVG_AS_PNG = (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script>'
              b'<circle r="10"/></svg>')
HTML_AS_PNG = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"
NOT_A_PICTURE = b"Dear diary, today I uploaded a text file as my avatar.\n" * 20


def truncated_jpeg():
    return phone_jpeg(800, 600)[:4000]
