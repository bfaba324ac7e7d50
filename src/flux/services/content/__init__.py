"""The content store (RFC 10): blobs addressed by their hash digest.

``blobref`` names and checks digests (``sha1-<hex>``), ``store`` keeps the
blobs in SQLite.  Both are plain Python, tested without a broker; the broker
serves them as ``content.*`` (``flux.broker.content``).
"""
