"""resource: this machine's cores as R (RFC 20), their drain state, RFC 28 acquisition."""
