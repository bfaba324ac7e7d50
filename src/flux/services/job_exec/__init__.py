"""job-exec: the exec service of RFC 32; for now only flux-core's test implementation."""
