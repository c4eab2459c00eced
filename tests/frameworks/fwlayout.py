"""Where the framework apps live and what the generated file they serve is called."""

from pathlib import Path

FRAMEWORKS_DIR = Path(__file__).resolve().parent
BLOB_NAME = "blob.bin"
BLOB_SIZE = 1024 * 1024 + 13  # odd on purpose: not a multiple of any block size
