"""PMI-1 "simple" wire protocol (RFC 13): the line codec, a sans-I/O server core
and a blocking client.  Used by ``flux start --test-size`` (the server), by the
broker to bootstrap from any PMI-1 launcher (the client), and meant to be
reused by the job shell's PMI server."""
