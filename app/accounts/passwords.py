"""Password hashing (argon2id, OWASP minimum parameters) and the common-password check."""
import gzip
import os
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# OWASP's minimum for argon2id: 19 MiB, 2 passes, 1 lane. Memory-hard, yet about 20 ms a hash here.
hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)

COMMON_PASSWORDS_FILE = os.path.join(os.path.dirname(__file__), "common-passwords.txt.gz")


NO_PASSWORD = "!"  # the hash of an account made through another provider: no password matches it


def has_password(user):
    return user.password_hash != NO_PASSWORD


def hash_password(password):
    return hasher.hash(password)


def verify_password(password_hash, password):
    if password_hash == NO_PASSWORD:  # as long as a real check: the answer's time tells nothing either
        burn_time(password)
        return False
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@lru_cache(maxsize=1)
def _dummy_hash():
    return hasher.hash("not-a-real-password")


def burn_time(password):
    """Verify against a throw-away hash, so a miss takes as long as a hit and tells nothing."""
    verify_password(_dummy_hash(), password or "")


def needs_rehash(password_hash):
    return hasher.check_needs_rehash(password_hash)


@lru_cache(maxsize=1)
def common_passwords():
    """Django's list of 20,000 common passwords (from Royce Williams' compilation of leaks)."""
    with gzip.open(COMMON_PASSWORDS_FILE, "rt", encoding="utf-8") as f:
        return frozenset(line.strip().lower() for line in f if line.strip())


def is_common(password):
    return password.strip().lower() in common_passwords()
