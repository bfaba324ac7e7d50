"""flux-core's ``flux.uri``: turning a target (a jobid, ``pid:N``, a URI) into a Flux URI.

``local://`` and ``ssh://`` are already URIs; any other scheme is resolved
by the plugin of that name in :mod:`flux.uri.resolvers` (``jobid``, the
default for a bare target, and ``pid``).  A resolved :class:`JobURI` also
gives its ``remote`` (``ssh://HOST/path``) and ``local`` forms.
"""

from flux.uri.uri import FluxURIResolver, JobURI, URI, URIResolverPlugin, URIResolverURI

__all__ = ["FluxURIResolver", "JobURI", "URI", "URIResolverPlugin", "URIResolverURI"]
