"""Secrets at rest: Mailchimp API keys encrypted with Fernet, webhook secrets stored as hashes.

The Fernet key is `MC_SECRET_KEY`: Dagster runs get it through the `mailchimp` resource's
`secret_key` field (`EnvVar`), the CLI from the environment; the demo generates one under
`.data/secret.key`. Nothing here ever logs or echoes a secret.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets as _stdlib_secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from mc_pipelines.errors import FixableError

SECRET_KEY_ENV = "MC_SECRET_KEY"


class SecretKeyError(FixableError, RuntimeError):
    """`MC_SECRET_KEY` is missing, malformed, or not the key the stored secrets were encrypted with."""


def load_fernet(raw_key: str | None = None) -> Fernet:
    """A Fernet built from `raw_key` (when None, the `MC_SECRET_KEY` environment variable); a clear
    error when unusable."""
    raw = raw_key if raw_key is not None else os.environ.get(SECRET_KEY_ENV, "")
    raw = raw.strip()
    if not raw:
        raise SecretKeyError(
            "MC_SECRET_KEY is not set: set it to a Fernet key (generate one with "
            "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`)."
        )
    try:
        return Fernet(raw.encode())
    except (ValueError, TypeError):
        raise SecretKeyError(
            "MC_SECRET_KEY is not a valid Fernet key (it must be 32 url-safe base64-encoded bytes, "
            "44 characters); generate a new one only if no keys are stored yet."
        ) from None


def ensure_demo_secret_key(data_dir: Path) -> str:
    """Return the demo's Fernet key from `data_dir/secret.key`, creating it (mode 600) if absent."""
    path = data_dir / "secret.key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_bytes(Fernet.generate_key())
        path.chmod(0o600)
    return path.read_text().strip()


def encrypt_secret(plaintext: str, fernet: Fernet | None = None) -> str:
    """Encrypt a secret for storage."""
    return (fernet or load_fernet()).encrypt(plaintext.encode()).decode()


def decrypt_secret(token: str, fernet: Fernet | None = None) -> str:
    """Decrypt a stored secret; a wrong `MC_SECRET_KEY` gives a clear error, never garbage."""
    try:
        return (fernet or load_fernet()).decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretKeyError(
            "cannot decrypt the stored Mailchimp API key: MC_SECRET_KEY is not the key it was "
            "encrypted with. Restore the original MC_SECRET_KEY, or reconnect the org with "
            "`mc-pipelines connect` to store the key again."
        ) from None


def new_webhook_secret() -> str:
    """A fresh random webhook secret (shown to the operator once)."""
    return _stdlib_secrets.token_urlsafe(32)


def hash_webhook_secret(secret: str) -> str:
    """The stored form of a webhook secret (SHA-256 hex; the secret is high-entropy, so no KDF needed)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def verify_webhook_secret(candidate: str, stored_hash: str | None) -> bool:
    """Constant-time comparison of a presented secret against the stored hash."""
    if not stored_hash:
        return False
    return hmac.compare_digest(hash_webhook_secret(candidate), stored_hash)
