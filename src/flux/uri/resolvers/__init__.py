"""URI resolver plugins: each module here defines ``URIResolver`` for the scheme of its name."""
