"""Bootstrap from the config file's ``[bootstrap]`` table (flux-core's
boot_config.c and conf_bootstrap.c), for a fixed set of hosts:

```toml
[bootstrap]
curve_cert = "/etc/flux/system/curve.cert"   # one certificate shared by all
default_port = 8050
default_bind = "tcp://eth0:%p"               # %h host, %p port, %% a percent
default_connect = "tcp://%h:%p"
hosts = [
  { host = "node0" },
  { host = "node[1-3]", parent = "node0" },   # RFC 29 hostlists are expanded
]
```

A broker's rank is the position of its hostname in ``hosts``, the size its
length.  The topology is ``custom``: each host's parent as given (default
rank 0), unless ``tbon.topo`` asks for another.  Every broker uses the shared
certificate, so a parent authorizes that one public key; children connect to
their parent's ``connect`` URI, the parent binds its ``bind`` URI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from .boot_util import hostlist_decode

if TYPE_CHECKING:  # pragma: no cover
    from .overlay import Overlay

__all__ = ["BootConfig", "parse_bootstrap", "format_uri"]


class BootConfigError(Exception):
    """A ``[bootstrap]`` table that cannot be used (one line)."""


def format_uri(template: str, host: str, port: int) -> str:
    """``%h`` -> host, ``%p`` -> port, ``%%`` -> ``%``."""
    out = []
    i = 0
    while i < len(template):
        c = template[i]
        if c == "%" and i + 1 < len(template):
            n = template[i + 1]
            out.append(host if n == "h" else str(port) if n == "p" else "%" if n == "%"
                       else c + n)
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _check_uri(uri: str) -> None:
    if "://" not in uri:
        raise BootConfigError(f"{uri} has no URI scheme")
    if ":*" in uri:
        raise BootConfigError(f"{uri} contains 0MQ port wildcard")
    if uri.startswith("ipc://"):
        if not uri[6:]:
            raise BootConfigError(f"{uri} socket path is empty")
    elif uri.startswith("tcp://"):
        if not uri[6:]:
            raise BootConfigError(f"{uri} address is empty")
    else:
        raise BootConfigError(f"{uri} URI scheme must be tcp or ipc")


class BootConfig:
    """The expanded hosts of ``[bootstrap]`` and this broker's place among them."""

    def __init__(self, hosts: list[dict[str, str]], rank: int,
                 curve_cert: Optional[str], enable_ipv6: bool) -> None:
        self.hosts = hosts
        self.rank = rank
        self.size = len(hosts)
        self.curve_cert = curve_cert
        self.enable_ipv6 = enable_ipv6

    @property
    def names(self) -> list[str]:
        return [h["host"] for h in self.hosts]

    def parents(self) -> list[int]:
        """The custom topology: each rank's parent (rank 0: -1)."""
        index = {h["host"]: r for r, h in enumerate(self.hosts)}
        out = [-1] + [0] * (self.size - 1)
        for r, h in enumerate(self.hosts):
            parent = h.get("parent")
            if parent is None:
                continue
            if r == 0:
                raise BootConfigError(f"Config file [bootstrap] hosts: rank 0 ({h['host']}) "
                                      "may not have a parent in a tree topology")
            p = index.get(parent)
            if p is None:
                raise BootConfigError(f"Config file [bootstrap] hosts: invalid parent "
                                      f"\"{parent}\" for {h['host']} (rank {r})")
            out[r] = p
        for r in range(1, self.size):  # no cycles: every chain reaches rank 0
            seen = {r}
            p = out[r]
            while p > 0:
                if p in seen:
                    raise BootConfigError(
                        f"Config file [bootstrap] hosts: parent \"{self.hosts[r]['parent']}\""
                        f" for {self.hosts[r]['host']} (rank {r}) violates rule against cycles")
                seen.add(p)
                p = out[p]
        return out


def parse_bootstrap(conf: dict[str, Any], hostname: str) -> Optional[BootConfig]:
    """The ``[bootstrap]`` table of ``conf`` (None without one)."""
    boot = conf.get("bootstrap")
    if boot is None:
        return None
    err = "Config file error [bootstrap]: "
    if not isinstance(boot, dict):
        raise BootConfigError(err + "must be a table")
    allowed = {"hosts", "curve_cert", "default_port", "default_bind", "default_connect",
               "enable_ipv6"}
    for key in boot:
        if key not in allowed:
            raise BootConfigError(err + f"unknown key '{key}'")
    port = boot.get("default_port", -1)
    if not isinstance(port, int) or not -1 <= port <= 65535:
        raise BootConfigError(err + "default_port must be in the range of 0-65535")
    bind_t = boot.get("default_bind")
    connect_t = boot.get("default_connect")
    cert = boot.get("curve_cert")
    for name, value in (("default_bind", bind_t), ("default_connect", connect_t),
                        ("curve_cert", cert)):
        if value is not None and not isinstance(value, str):
            raise BootConfigError(err + f"{name} must be a string")
    raw = boot.get("hosts", [])
    if not isinstance(raw, list):
        raise BootConfigError(err + "must be array type")
    hosts: list[dict[str, str]] = []
    index: dict[str, int] = {}
    if not raw:
        hosts = [{"host": hostname}]
        index[hostname] = 0
    for i, entry in enumerate(raw):
        if not isinstance(entry, dict) or not isinstance(entry.get("host"), str) \
                or set(entry) - {"host", "bind", "connect", "parent"} \
                or not all(isinstance(v, str) for v in entry.values()):
            raise BootConfigError(err + f"invalid hosts[{i}]")
        try:
            names = hostlist_decode(entry["host"])
        except ValueError:
            names = []
        if not names:
            raise BootConfigError(err + f"invalid hosts[{i}]: host key is not a valid "
                                  "RFC 29 hostlist")
        for name in names:
            if name in index:  # a duplicate updates the first entry
                hosts[index[name]].update({k: v for k, v in entry.items() if k != "host"})
            else:
                index[name] = len(hosts)
                hosts.append({**entry, "host": name})
    for i, h in enumerate(hosts):
        for key, template in (("bind", bind_t), ("connect", connect_t)):
            value = h.get(key) or template
            if value is None:
                continue
            value = format_uri(value, h["host"], port)
            try:
                _check_uri(value)
            except BootConfigError as exc:
                raise BootConfigError(err + f"invalid hosts[{i}]: {key} key {exc}") from None
            h[key] = value
    if hostname not in index:
        raise BootConfigError(err + f"{hostname} not found in hosts")
    if len(hosts) > 1 and cert is None:
        raise BootConfigError(err + "curve_cert must be defined for size > 1")
    return BootConfig(hosts, index[hostname], cert, bool(boot.get("enable_ipv6", False)))


def boot_config(bc: BootConfig, overlay: "Overlay") -> tuple[Optional[str], Optional[str]]:
    """Load the certificate, bind (with children), name the parent.  Returns
    (tbon.endpoint, tbon.parent-endpoint)."""
    from .cert import CertError, load_cert

    topo = overlay.topology
    if bc.curve_cert is None:
        return None, None
    try:
        cert = load_cert(bc.curve_cert)
    except CertError as exc:
        raise BootConfigError(f"Error loading certificate: {exc}") from None
    assert cert.secret is not None
    overlay.set_keypair(cert.public.encode(), cert.secret.encode())
    endpoint = parent_endpoint = None
    me = bc.hosts[topo.rank]
    if topo.children:
        bind = me.get("bind")
        if bind is None:
            raise BootConfigError(f"bind URI is undefined for rank {topo.rank}")
        try:
            overlay.bind(bind)
        except Exception as exc:  # zmq.ZMQError
            raise BootConfigError(f"overlay bind {bind}: {exc}") from None
        overlay.authorize(cert.name or "cert", cert.public)
        endpoint = me.get("connect")
        if endpoint is None:
            raise BootConfigError(f"connect URI is undefined for rank {topo.rank}")
    if topo.rank > 0:
        parent_endpoint = bc.hosts[topo.parent].get("connect")
        if parent_endpoint is None:
            raise BootConfigError(f"connect URI is undefined for rank {topo.parent}")
        overlay.set_parent(parent_endpoint, cert.public)
    return endpoint, parent_endpoint
