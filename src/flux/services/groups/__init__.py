"""groups: named sets of broker ranks (broker.online, broker.torpid) on rank 0."""
