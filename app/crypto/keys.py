"""Where the field-encryption keys come from (README "Encryption at rest").

A key ring is several keys, each with a short id; one is current (new values are
sealed with it), the others stay for reading what they sealed until ``flask keys
rotate`` has moved every row to the current key. Written as entries
``id:base64key`` separated by commas or newlines, the current one marked with a
leading ``*``:

    RAPIDCARE_ENCRYPTION_KEYS='k1:3q2+7w…=,*k2:q83v…='
    RAPIDCARE_ENCRYPTION_KEY_FILE=/etc/rapidcare/keys   (the same entries, one a line)

Production refuses to start without one of them. Development and tests without
either get a key generated into ``instance/encryption-keys`` (mode 0600), logged.
"""
import base64
import binascii
import logging
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
KEY_BYTES = 32  # AES-256


class KeyConfigError(ValueError):
    """The key settings are malformed (raised as ConfigError by app.config)."""


@dataclass(frozen=True)
class KeyRing:
    keys: dict          # key id -> 32 raw bytes
    current: str        # the id new values are sealed with
    source: str         # "env", a file path: where rotation writes a new key
    enabled: bool = True  # False: benchmark baseline only (ENCRYPT_FIELDS=false)


def parse(text, source):
    """Entries ``[*]id:base64`` -> KeyRing. Exactly one current (or a single key)."""
    keys, current = {}, []
    for entry in re.split(r"[,\n]", text):
        entry = entry.strip()
        if not entry or entry.startswith("#"):
            continue
        marked = entry.startswith("*")
        key_id, colon, encoded = entry.lstrip("*").partition(":")
        if not colon or not KEY_ID.match(key_id):
            raise KeyConfigError(f"{source}: each key is id:base64key (id: letters, digits, - or _, "
                            "at most 16)")
        try:
            raw = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError) as error:
            raise KeyConfigError(f"{source}: key {key_id} is not base64") from error
        if len(raw) != KEY_BYTES:
            raise KeyConfigError(f"{source}: key {key_id} must be {KEY_BYTES} bytes, not {len(raw)}")
        if key_id in keys:
            raise KeyConfigError(f"{source}: key id {key_id} appears twice")
        keys[key_id] = raw
        if marked:
            current.append(key_id)
    if not keys:
        raise KeyConfigError(f"{source}: no key")
    if len(current) > 1:
        raise KeyConfigError(f"{source}: more than one key is marked current (*)")
    if not current:
        if len(keys) > 1:
            raise KeyConfigError(f"{source}: mark the current key with a leading *")
        current = list(keys)
    return KeyRing(keys=keys, current=current[0], source=source)


def new_key():
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def write_key_file(path, ring_entries):
    """Write entries [(id, base64, is_current)] to ``path`` atomically, mode 0600."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(f"{'*' if current else ''}{key_id}:{encoded}\n"
                   for key_id, encoded, current in ring_entries)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def entries(ring):
    return [(key_id, base64.b64encode(raw).decode(), key_id == ring.current)
            for key_id, raw in ring.keys.items()]


def load(config, project_root):
    """The key ring the configuration names; generates a development key if none is
    configured outside production. Raises KeyConfigError when unusable."""
    text = str(config.get("ENCRYPTION_KEYS") or "").strip()
    path = str(config.get("ENCRYPTION_KEY_FILE") or "").strip()
    if text and path:
        raise KeyConfigError("set RAPIDCARE_ENCRYPTION_KEYS or RAPIDCARE_ENCRYPTION_KEY_FILE, not both")
    if text:
        ring = parse(text, "env")
    else:
        if not path:
            if config["ENV"] == "production":
                raise KeyConfigError(
                    "RAPIDCARE_ENCRYPTION_KEY_FILE or RAPIDCARE_ENCRYPTION_KEYS is required in "
                    "production (patient fields are encrypted with it; README "
                    "\"Encryption at rest\")")
            path = str(Path(project_root) / "instance" / "encryption-keys")
            if not os.path.exists(path):
                write_key_file(path, [("k1", new_key(), True)])
                log.warning("generated a development encryption key in %s (mode 0600); "
                            "production needs its own (README \"Encryption at rest\")", path)
        try:
            ring = parse(Path(path).read_text(), path)
        except OSError as error:
            raise KeyConfigError(f"cannot read the key file {path}: {error}") from error
    enabled = config.get("ENCRYPT_FIELDS", True)
    if not isinstance(enabled, bool):
        raise KeyConfigError("RAPIDCARE_ENCRYPT_FIELDS must be true or false")
    if not enabled and config["ENV"] == "production":
        raise KeyConfigError("RAPIDCARE_ENCRYPT_FIELDS=false is for benchmark baselines only, "
                        "never production")
    return KeyRing(keys=ring.keys, current=ring.current, source=ring.source, enabled=enabled)
