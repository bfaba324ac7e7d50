"""What the ``Overlay`` class's parts share: the attributes its mixins
(parent.py, children.py, routing.py, service.py) use, declared once for the
type checker (``Overlay.__init__`` in overlay.py assigns them), and the
methods one part calls in another.  Declarations only."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, Optional

    import zmq

    from flux.message import Message

    from ..events import Events
    from ..loop import Loop
    from ..module_trace import _Filter
    from ..router import Router
    from ..topology import Topology
    from .peers import _Child, _Tracker
    from .trace import OverlayTracer
    from .zap import ZapHandler

__all__ = ["OverlayFields"]


class OverlayFields:
    """The attributes of an ``Overlay`` that more than one of its files use."""

    # given to the constructor
    loop: Loop
    router: Router
    events: Events
    topology: Topology
    uuid: str
    hostname: str
    log: Callable[[int, str], Any]
    version: int
    hostlist: Callable[[], list[str]]
    torpid_max: float
    # sockets and keys
    ctx: zmq.Context
    public_key: bytes
    secret_key: bytes
    zap: Optional[ZapHandler]
    bind_sock: Optional[zmq.Socket]
    bind_mon: Optional[zmq.Socket]
    closed: bool
    # the children (children.py) and this subtree's status
    children: dict[int, _Child]
    by_uuid: dict[str, _Child]
    status: int
    status_since: float
    refuse_hello: bool
    on_status: Optional[Callable[[int], Any]]
    on_child_lost: Optional[Callable[[int], Any]]
    on_torpid: Optional[Callable[[int, bool], Any]]
    # the parent (parent.py)
    parent_uri: Optional[str]
    parent_pubkey: Optional[bytes]
    parent_sock: Optional[zmq.Socket]
    parent_mon: Optional[zmq.Socket]
    parent_uuid: Optional[str]
    parent_online: bool
    parent_lost: bool
    parent_tracker: _Tracker
    parent_last_send: float
    goodbye_sent: bool
    last_seq: int
    on_parent_ready: Optional[Callable[[], Any]]
    on_parent_lost: Optional[Callable[[str], Any]]
    on_goodbye: Optional[Callable[[], Any]]
    # overlay.monitor and overlay.trace streams (service.py, trace.py)
    monitors: list[Message]
    tracer: OverlayTracer
    traced: list[_Filter]

    if TYPE_CHECKING:  # defined in one file, called from another
        def _watch(self, fd: int, callback: Callable[[int], Any]) -> None: ...
        def _schedule_drain(self) -> None: ...
        def _send_parent(self, msg: Message) -> bool: ...
        def _send_child(self, child: _Child, frames: list[bytes],
                        msg: Optional[Message] = None) -> bool: ...
        def _control(self, ctype: int, status: int) -> Message: ...
        def forward_up(self, msg: Message) -> bool: ...
        def send_parent_raw(self, msg: Message) -> None: ...
        def send_child_raw(self, child: _Child, msg: Message) -> None: ...
        def _child_lost(self, child: _Child, why: str, status: int) -> None: ...
        def _monitor_notify(self, child: _Child) -> None: ...
        def _host(self, child: _Child) -> str: ...
        def online_children(self) -> int: ...
        def disconnect_child(self, rank: int) -> None: ...
        def _drain_children(self) -> None: ...
        def _drain_parent(self) -> None: ...
        def _drain_bind_monitor(self) -> None: ...
        def _drain_parent_monitor(self) -> None: ...
        def _check_torpid(self, now: float) -> None: ...
