"""URI classes and the plugin-driven resolver behind ``flux uri`` and ``flux proxy``."""

from __future__ import annotations

import importlib
import os
import pkgutil
import re
import socket
from typing import Any, Optional
from urllib.parse import parse_qs, urlparse


class URI:
    """A parsed URI whose parts (scheme, netloc, path, params, query, fragment) can be changed."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        parts = urlparse(uri)
        self.scheme: str = parts.scheme
        self.netloc: str = parts.netloc
        self.path: str = parts.path
        self.params: str = parts.params
        self.query: str = parts.query
        self.fragment: str = parts.fragment
        self.query_dict: dict[str, list[str]] = (
            parse_qs(self.query, keep_blank_values=True) if self.query else {})


class JobURI(URI):
    """The URI of an instance: ``remote`` is its ``ssh://`` form, ``local`` its ``local://`` form.

    ``str()`` is the URI as given, or its local form when
    ``FLUX_URI_RESOLVE_LOCAL`` is set.
    """

    force_local = os.environ.get("FLUX_URI_RESOLVE_LOCAL", False)

    def __init__(self, uri: str, remote_hostname: Optional[str] = None) -> None:
        super().__init__(uri)
        if not self.scheme:
            raise ValueError(f"JobURI '{uri}' does not have a valid scheme")
        self.path = re.sub("/+", "/", self.path)
        self.remote_uri: Optional[str] = None
        self.local_uri: Optional[str] = None
        self.remote_hostname = remote_hostname

    @property
    def remote(self) -> str:
        if self.remote_uri is None:
            if self.scheme == "ssh":
                self.remote_uri = self.uri
            elif self.scheme == "local":
                host = self.remote_hostname or socket.gethostname()
                self.remote_hostname = host
                self.remote_uri = f"ssh://{host}{self.path}"
            else:
                raise ValueError(f"Cannot convert JobURI with scheme {self.scheme} to remote")
        return self.remote_uri

    @property
    def local(self) -> str:
        if self.local_uri is None:
            if self.scheme == "local":
                self.local_uri = self.uri
            elif self.scheme == "ssh":
                self.local_uri = f"local://{self.path}"
            else:
                raise ValueError(f"Cannot convert JobURI with scheme {self.scheme} to local")
        return self.local_uri

    def __str__(self) -> str:
        return self.local if self.force_local else self.uri


class URIResolverURI(URI):
    """A target given to the resolver: ``scheme:path[?query]``, where the path may be all digits.

    (urlparse does not take ``jobid:1234`` as scheme ``jobid``; a marker
    after the first colon makes it, and is removed from the path again.)
    """

    def __init__(self, uri: str) -> None:
        super().__init__(uri.replace(":", ":FXX", 1))
        self.path = self.path.replace("FXX", "", 1)
        self.uri = uri


class URIResolverPlugin:
    """What a resolver plugin provides: ``describe()`` and ``resolve(URIResolverURI) -> str``."""

    def __init__(self, *args: Any) -> None:
        pass

    def describe(self) -> str:  # pragma: no cover - every plugin overrides
        raise NotImplementedError

    def resolve(self, uri: URIResolverURI) -> str:  # pragma: no cover - every plugin overrides
        raise NotImplementedError


class FluxURIResolver:
    """Resolve targets with the plugins of :mod:`flux.uri.resolvers` (one per scheme)."""

    plugin_namespace = "flux.uri.resolvers"

    def __init__(self, pluginpath: Optional[list[str]] = None) -> None:
        self.resolvers: dict[str, URIResolverPlugin] = {}
        package = importlib.import_module(self.plugin_namespace)
        paths = list(package.__path__) + list(pluginpath or [])
        for info in pkgutil.iter_modules(paths):
            if info.name.startswith("_"):
                continue
            try:
                module = importlib.import_module(f"{self.plugin_namespace}.{info.name}")
            except ImportError:
                continue
            plugin = getattr(module, "URIResolver", None)
            if plugin is not None:
                self.resolvers[info.name] = plugin()

    def resolve(self, uri: str) -> JobURI:
        """``uri`` (a bare jobid means ``jobid:``) -> JobURI.

        ``?local`` / ``?remote`` force that form.  NotImplementedError for
        an unknown scheme; ValueError if the plugin cannot resolve it.
        """
        scheme = URIResolverURI(uri).scheme
        if not scheme:
            scheme = "jobid"
            uri = f"jobid:{uri}"
        if scheme in ("ssh", "local"):
            return JobURI(uri)
        if scheme not in self.resolvers:
            raise NotImplementedError(f"No plugin for URI scheme {scheme}")
        target = URIResolverURI(uri)
        query = target.query_dict
        if "local" in query and "remote" in query:
            raise ValueError("Only one of 'local' or 'remote' is allowed")
        result = JobURI(self.resolvers[scheme].resolve(target))
        if "local" in query:
            result = JobURI(result.local)
        elif "remote" in query:
            result = JobURI(result.remote)
        return result

    def plugins(self) -> dict[str, str]:
        """{scheme: description} of the loaded plugins."""
        return {name: plugin.describe() for name, plugin in self.resolvers.items()}
