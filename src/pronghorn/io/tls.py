"""The TLS settings as an `ssl.SSLContext`: certificates loaded and checked at start.

Owns `server_context(config)`: --certfile, --keyfile (and its password), --ca-certs,
--cert-reqs, --ciphers and --ssl-min-version made into the one context every connection
of a worker shares, with ALPN offering `http/1.1` and renegotiation refused. The master
calls it at start, as the user that started the server (so a key only root may read
works with --user), and again on HUP to pick up renewed files; the workers inherit the
context at the fork. Every mistake is a `ConfigError` whose one line names the file and
what is wrong with it: a file that cannot be read, one with no PEM certificate or key in
it, a key that does not match the certificate, an encrypted key without its password or
with a wrong one. OpenSSL is never left to prompt for a password on the terminal.
"""

from __future__ import annotations

import re
import ssl
from typing import Final

from pronghorn.config.model import Config
from pronghorn.errors import ConfigError

__all__ = ["describe_error", "error_reason", "server_context"]

ALPN_PROTOCOLS: Final = ["http/1.1"]
_VERIFY: Final = {
    "none": ssl.CERT_NONE,
    "optional": ssl.CERT_OPTIONAL,
    "required": ssl.CERT_REQUIRED,
}
_VERSIONS: Final = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
_SOURCE_NOTE: Final = re.compile(r"\s*\(_ssl\.c:\d+\)$")


class _NoPassword(Exception):
    """Raised from the password callback: the key is encrypted and no password was given."""


def server_context(config: Config) -> ssl.SSLContext | None:
    """The server's TLS context, or None when --certfile is not given."""
    if config.certfile is None:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = _VERSIONS[config.ssl_min_version]
    # Python's server defaults stay (no compression, the server's cipher order); a client
    # may not renegotiate (TLS 1.2): a renegotiation is a costly handshake it could ask for
    # again and again on one connection, and nothing here needs it.
    context.options |= ssl.OP_NO_RENEGOTIATION
    context.set_alpn_protocols(ALPN_PROTOCOLS)
    if config.ciphers is not None:
        try:
            context.set_ciphers(config.ciphers)
        except ssl.SSLError:
            raise ConfigError(
                f"--ciphers {config.ciphers!r}: OpenSSL can select no cipher from it"
            ) from None
    _load_certificate(context, config.certfile, config.keyfile, config.keyfile_password)
    if config.ca_certs is not None:
        _load_authorities(context, config.ca_certs)
    context.verify_mode = _VERIFY[config.cert_reqs]
    return context


def _load_certificate(
    context: ssl.SSLContext, certfile: str, keyfile: str | None, password: str | None
) -> None:
    cert_text = _read("--certfile", certfile)
    if "-----BEGIN CERTIFICATE-----" not in cert_text:
        raise ConfigError(f"--certfile {certfile}: no PEM certificate in it")
    key_option, key_path = ("--keyfile", keyfile) if keyfile else ("--certfile", certfile)
    key_text = cert_text if keyfile is None else _read("--keyfile", keyfile)
    if not re.search(r"-----BEGIN [A-Z ]*PRIVATE KEY-----", key_text):
        raise ConfigError(f"{key_option} {key_path}: no PEM private key in it")
    asked = []

    def give_password() -> str:
        asked.append(True)
        if password is None:
            raise _NoPassword
        return password

    try:
        context.load_cert_chain(certfile, keyfile, password=give_password)
    except _NoPassword:
        raise ConfigError(
            f"{key_option} {key_path} is encrypted: give its password with "
            "--keyfile-password (or PRONGHORN_KEYFILE_PASSWORD)"
        ) from None
    except ssl.SSLError as exc:
        if error_reason(exc) == "KEY_VALUES_MISMATCH":
            raise ConfigError(
                f"{key_option} {key_path} is not the key of the certificate in "
                f"--certfile {certfile}"
            ) from None
        if asked:
            raise ConfigError(
                f"{key_option} {key_path}: cannot decrypt it with the --keyfile-password given"
            ) from None
        raise ConfigError(
            f"--certfile {certfile} / {key_option} {key_path}: {describe_error(exc)}"
        ) from None
    except OSError as exc:  # changed between our read and OpenSSL's
        raise ConfigError(f"--certfile {certfile}: {exc.strerror or exc}") from None


def _load_authorities(context: ssl.SSLContext, ca_certs: str) -> None:
    _read("--ca-certs", ca_certs)
    try:
        context.load_verify_locations(cafile=ca_certs)
    except ssl.SSLError as exc:
        raise ConfigError(f"--ca-certs {ca_certs}: {describe_error(exc)}") from None
    except OSError as exc:
        raise ConfigError(f"--ca-certs {ca_certs}: {exc.strerror or exc}") from None


def _read(option: str, path: str) -> str:
    """The file's text, read now so that an unreadable file is named in the error."""
    try:
        with open(path, "rb") as file:
            return file.read().decode("ascii", "replace")
    except OSError as exc:
        raise ConfigError(f"{option} {path}: cannot read it: {exc.strerror or exc}") from None


def error_reason(exc: ssl.SSLError) -> str | None:
    """OpenSSL's reason code for a failure (`KEY_VALUES_MISMATCH`), None when it has none (a
    wrong key password's `PEM lib`). Not `exc.reason`: typeshed declares it `str`, and the
    compiled build checks that and raises TypeError on the None."""
    reason: object = getattr(exc, "reason", None)
    return reason if isinstance(reason, str) else None


def describe_error(exc: OSError) -> str:
    """OpenSSL's words for a failure (or the system's), without the C source position
    Python appends: `[SSL: WRONG_VERSION_NUMBER] wrong version number`."""
    text = exc.strerror if isinstance(exc.strerror, str) else None
    if text is None:
        text = str(exc.args[1] if len(exc.args) > 1 else exc)
    return _SOURCE_NOTE.sub("", text)
