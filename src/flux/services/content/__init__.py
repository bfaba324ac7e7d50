"""The content store (RFC 10): blobs addressed by their hash digest.

``blobref`` names and checks digests (``sha1-<hex>``), ``store`` keeps the
blobs in SQLite.  Both are plain Python, tested without a broker; the broker
serves them as ``content.*`` (``flux.broker.content``).
"""

#: The database file, named as flux-core's content-sqlite names it.
DB_FILENAME = "content.sqlite"

#: flux-core's default largest blob (1 GiB); larger stores are EFBIG.
DEFAULT_BLOB_SIZE_LIMIT = 1024 * 1024 * 1024
