"""Speak a captcha answer as a WAV: one espeak-ng clip per character, spaced out, over background noise.

Clips are made once per process and kept in memory (processes share only the database and Redis, so
nothing goes to disk); a challenge's sound is then assembled in Python without calling espeak-ng again.
"""
import io
import os
import random
import subprocess
import wave
from array import array
from functools import lru_cache
from operator import add

# The interface language's code (app/i18n.py LANGUAGES) -> espeak-ng voice.
VOICES = {"en": "en-us", "zh": "cmn"}
RATE = 22050  # what espeak-ng writes
PEAK = 20000  # clips are scaled to this, and noise stays within +-NOISE, so their sum fits in 16 bits;
# speech is then ~13 dB above the noise: heard clearly (final "s" of X included), yet no clean signal.
NOISE = 1800
LEAD, GAP = 0.6, (0.75, 1.05)  # seconds of noise before the first character, and between characters


class AudioUnavailable(Exception):
    """espeak-ng is missing or failed: the picture still works, the sound cannot be made."""


def _samples(seconds):
    return int(seconds * RATE)


@lru_cache(maxsize=128)
def _clip(char, language):
    """The character spoken alone, its leading and trailing silence cut, scaled to PEAK."""
    command = ["espeak-ng", "-v", VOICES[language], "-s", "120", "--stdout", char]
    try:
        wav = subprocess.run(command, capture_output=True, check=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise AudioUnavailable(f"espeak-ng could not speak {char!r}: {exc}") from exc
    # espeak-ng streams to stdout, so its header gives no length: the samples are what follows "data".
    if wav.find(b"data") < 0:
        raise AudioUnavailable(f"espeak-ng wrote no WAV for {char!r}")
    start = wav.find(b"data") + 8
    samples = array("h", wav[start:start + (len(wav) - start) // 2 * 2])
    loud = [i for i, value in enumerate(samples) if abs(value) > 300]
    if not loud:
        raise AudioUnavailable(f"espeak-ng produced silence for {char!r}")
    samples = samples[loud[0]:loud[-1] + 1]
    scale = PEAK / max(abs(value) for value in samples)
    return array("h", (int(value * scale) for value in samples))


@lru_cache(maxsize=1)
def _noise_bank():
    """Thirty seconds of white noise within +-NOISE to cut from at random, made at C speed in a few ms.

    Each little-endian 16-bit sample is a random low byte under a random high byte mapped into
    -NOISE/256 .. NOISE/256 by bytes.translate; a Python loop over the samples would take half a second.
    """
    count, high = _samples(30), NOISE // 256
    table = bytes((b % (2 * high) - high) & 0xFF for b in range(256))
    buffer = bytearray(2 * count)
    buffer[0::2] = os.urandom(count)
    buffer[1::2] = os.urandom(count).translate(table)
    return array("h", bytes(buffer))


def speak(text, language="en", seed=None):
    """WAV bytes saying text character by character.

    The same seed gives the same sound within a process, as the same id gives the same picture: replaying
    a challenge teaches a listener (or a recogniser) nothing new.
    """
    if language not in VOICES:
        raise ValueError(f"no voice for language {language!r}")
    rng = random.Random(seed)
    clips = [_clip(char, language) for char in text]
    starts, position = [], _samples(LEAD)
    for clip in clips:
        starts.append(position)
        position += len(clip) + _samples(rng.uniform(*GAP))
    bank = _noise_bank()
    offset = rng.randrange(len(bank) - position)
    mixed = bank[offset:offset + position]  # noise throughout; speech is added only where it is spoken
    for clip, start in zip(clips, starts):
        mixed[start:start + len(clip)] = array("h", map(add, clip, mixed[start:start + len(clip)]))
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(mixed.tobytes())
    return out.getvalue()
