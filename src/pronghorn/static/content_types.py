"""The Content-Type of a static file, from its extension, by a table of our own.

Deliberately independent of the host's `mime.types` (Python's `mimetypes` reads it), so a
file is labelled the same on every machine. Text types carry `; charset=utf-8`.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

DEFAULT_TYPE: Final = "application/octet-stream"

_TEXT: Final = {
    "css": "text/css",
    "csv": "text/csv",
    "htm": "text/html",
    "html": "text/html",
    "ics": "text/calendar",
    "js": "text/javascript",
    "mjs": "text/javascript",
    "cjs": "text/javascript",
    "json": "application/json",
    "jsonld": "application/ld+json",
    "map": "application/json",
    "webmanifest": "application/manifest+json",
    "md": "text/markdown",
    "svg": "image/svg+xml",
    "txt": "text/plain",
    "text": "text/plain",
    "xml": "application/xml",
    "atom": "application/atom+xml",
    "rss": "application/rss+xml",
    "xhtml": "application/xhtml+xml",
    "vtt": "text/vtt",
    "yaml": "application/yaml",
    "yml": "application/yaml",
    "toml": "application/toml",
}

_BINARY: Final = {
    "avif": "image/avif",
    "bmp": "image/bmp",
    "gif": "image/gif",
    "ico": "image/vnd.microsoft.icon",
    "jpeg": "image/jpeg",
    "jpg": "image/jpeg",
    "png": "image/png",
    "apng": "image/apng",
    "tif": "image/tiff",
    "tiff": "image/tiff",
    "webp": "image/webp",
    "woff": "font/woff",
    "woff2": "font/woff2",
    "ttf": "font/ttf",
    "otf": "font/otf",
    "eot": "application/vnd.ms-fontobject",
    "mp3": "audio/mpeg",
    "m4a": "audio/mp4",
    "ogg": "audio/ogg",
    "oga": "audio/ogg",
    "opus": "audio/opus",
    "wav": "audio/wav",
    "flac": "audio/flac",
    "weba": "audio/webm",
    "mp4": "video/mp4",
    "m4v": "video/mp4",
    "webm": "video/webm",
    "ogv": "video/ogg",
    "mov": "video/quicktime",
    "mpeg": "video/mpeg",
    "pdf": "application/pdf",
    "wasm": "application/wasm",
    "zip": "application/zip",
    "gz": "application/gzip",
    "tgz": "application/gzip",
    "br": "application/octet-stream",
    "bz2": "application/x-bzip2",
    "xz": "application/x-xz",
    "zst": "application/zstd",
    "tar": "application/x-tar",
    "7z": "application/x-7z-compressed",
    "epub": "application/epub+zip",
    "rtf": "application/rtf",
    "doc": "application/msword",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xls": "application/vnd.ms-excel",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "ppt": "application/vnd.ms-powerpoint",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "odt": "application/vnd.oasis.opendocument.text",
    "bin": "application/octet-stream",
    "exe": "application/octet-stream",
    "dmg": "application/octet-stream",
    "iso": "application/octet-stream",
    "whl": "application/zip",
    "jar": "application/java-archive",
}


def _build() -> Mapping[str, str]:
    table = {ext: f"{kind}; charset=utf-8" for ext, kind in _TEXT.items()}
    table.update(_BINARY)
    return MappingProxyType(table)


_TABLE: Final = _build()


def content_type(name: str) -> str:
    """The Content-Type for a file name (case-insensitive extension); octet-stream if unknown."""
    _, dot, ext = name.rpartition(".")
    if not dot:
        return DEFAULT_TYPE
    return _TABLE.get(ext.lower(), DEFAULT_TYPE)
