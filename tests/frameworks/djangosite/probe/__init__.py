"""A small app whose views exercise forms, uploads, streaming and files."""
