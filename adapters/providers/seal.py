"""Sealed reasoning state: another provider's opaque reasoning, carried in the client's own slot.

An Anthropic, Gemini or Responses client sends its reasoning back with every turn, in a field its
own vendor fills (`signature`, `thoughtSignature`, `encrypted_content`). When the upstream is
another provider, the gateway fills that field itself: the upstream's state (its signature or
redacted data, the thinking text when the provider signs the text, and which provider kind made
it) encrypted and authenticated with AES-256-GCM under the gateway's secret. So the conversation
carries its own state across restarts, workers and replicas that share the secret; the client
can neither read nor forge it, and no other provider ever sees it.

A sealed value is standard base64 that starts with `PREFIX`, so it is told from a vendor's own
value at a glance and survives clients that treat the field as bytes (the Gemini SDK decodes a
`thoughtSignature` and sends it back URL-safe): `PREFIX` is itself six bytes of base64, the rest
is `nonce (12 bytes) || ciphertext || tag (16 bytes)`, and the plaintext is a small JSON object.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
import time
from pathlib import Path

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from interlingua.adapters import ir
from interlingua.adapters.needle import Needle

#: What every sealed value starts with: eight base64 characters, none of them `+/-_`, so the
#: prefix reads the same in either alphabet.
PREFIX = "ilgSEAL1"
SECRET_FILE = "secret"
_AAD = b"interlingua reasoning seal v1"
_NONCE = 12
_TAG = 16
_URLSAFE = str.maketrans("-_", "+/")


def is_sealed(value: str | None) -> bool:
    return value is not None and value.startswith(PREFIX)


_PREFIX = Needle(PREFIX.encode(), PREFIX.index("L"))  # an upper-case letter: rare in prose and code, unlike `i`


def appears_in(body: bytes) -> bool:
    """Whether a JSON body may hold a sealed value: whether `PREFIX` is in its bytes. JSON encoders
    escape quotes, controls, non-ASCII and some of `<>&'`, never the prefix's letters."""
    return _PREFIX.found_in(body)


class Seal:
    """Seals and opens reasoning state under one 256-bit key."""

    __slots__ = ("_aead",)

    def __init__(self, secret: str) -> None:
        # Any secret string works: the key is its SHA-256, under a label of its own.
        self._aead = AESGCM(hashlib.sha256(b"interlingua seal key\0" + secret.encode()).digest())

    def close(self, kind: str, part: ir.Reasoning, with_text: bool) -> str:
        """`part`'s opaque state as a sealed slot value; the text only where `kind` signs it."""
        payload: dict[str, str] = {"k": kind}
        if part.signature:
            payload["s"] = part.signature
        if part.redacted:
            payload["r"] = part.redacted
        if with_text and part.text:
            payload["t"] = part.text
        nonce = os.urandom(_NONCE)
        sealed = self._aead.encrypt(nonce, orjson.dumps(payload), _AAD)
        return PREFIX + base64.b64encode(nonce + sealed).decode()

    def open(self, value: str) -> ir.Reasoning | None:
        """The reasoning a sealed value holds, its `provider` the kind that made it; None for
        anything this gateway did not seal (another secret, a forgery, a truncated copy)."""
        if not is_sealed(value):
            return None
        body = value[len(PREFIX):].translate(_URLSAFE)
        try:
            raw = base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
        except (binascii.Error, ValueError):
            return None
        if len(raw) < _NONCE + _TAG:
            return None
        try:
            payload = orjson.loads(self._aead.decrypt(raw[:_NONCE], raw[_NONCE:], _AAD))
        except (InvalidTag, orjson.JSONDecodeError):
            return None
        if not isinstance(payload, dict) or not isinstance(payload.get("k"), str):
            return None
        return ir.Reasoning(text=payload.get("t") or "", signature=payload.get("s"), redacted=payload.get("r"),
                            provider=payload["k"])


def load_secret(configured: str | None, data_dir: Path) -> str:
    """The configured secret, or the one generated into `<data_dir>/secret` on first start (mode
    0600) and reused after, so sealed values outlive a restart. Workers starting together race to
    create it: one wins, the others read what it wrote."""
    if configured:
        return configured
    path = data_dir / SECRET_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # another worker may have created it and not written it yet
            secret = path.read_text().strip()
            if secret:
                return secret
            time.sleep(0.02)
        raise RuntimeError(f"{path} is empty: delete it, or set [server] secret") from None
    secret = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w") as file:
        file.write(secret + "\n")
    return secret
