"""The KVS (RFC 11 tree objects, key paths): the pure pieces, tested without a broker.

``treeobj`` builds, checks and serializes tree objects byte for byte as
flux-core does, so the same contents hash to the same blobrefs; ``keypath``
normalizes keys and splits them into path components as flux-core does.
"""
