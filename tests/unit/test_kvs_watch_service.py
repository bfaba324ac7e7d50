"""KVSWatchService in-process, beside a real KVSService: commits are simulated by
moving a namespace's root and publishing its setroot event, as the KVS does."""

from __future__ import annotations

import errno
import json
from typing import Any

import pytest

from flux.broker.router import from_sender
from flux.constants import (
    FLUX_KVS_READDIR,
    FLUX_KVS_STREAM,
    FLUX_KVS_WAITCREATE,
    FLUX_KVS_WATCH,
    FLUX_KVS_WATCH_APPEND,
    FLUX_KVS_WATCH_FULL,
    FLUX_KVS_WATCH_INITIAL_SENTINEL,
    FLUX_KVS_WATCH_UNIQ,
    FLUX_MSGFLAG_STREAMING,
    FLUX_MSGTYPE_EVENT,
    FLUX_MSGTYPE_REQUEST,
    FLUX_ROLE_LOCAL,
    FLUX_ROLE_OWNER,
    FLUX_ROLE_USER,
)
from flux.message import Message, compact_json
from flux.services.content.blobref import hash_blobref, strtohash
from flux.services.kvs import treeobj
from flux.services.kvs.service import KVSService
from flux.services.kvs_watch.service import KVSWatchService

OWNER = 1000
GUEST = 2000
W = FLUX_KVS_WATCH


class FakeStore:
    """The content store's ``load`` over a dict."""

    def __init__(self) -> None:
        self.blobs: dict[bytes, bytes] = {}

    def load(self, digest: bytes) -> bytes:
        try:
            return self.blobs[digest]
        except KeyError:
            raise OSError(errno.ENOENT, "no such blob") from None

    def put(self, data: bytes) -> str:
        ref = hash_blobref("sha1", data)
        self.blobs[strtohash(ref)] = data
        return ref


class World:
    """A KVS and its watcher; what the watcher answered, per request."""

    def __init__(self) -> None:
        self.store = FakeStore()
        self.kvs = KVSService(owner=OWNER, rank=0, hashtype="sha1", store=lambda: self.store,
                              respond=self._kvs_respond, respond_error=self._kvs_error,
                              publish=self._publish, schedule=lambda: None)
        self.watch = KVSWatchService(self.kvs, respond=self._respond,
                                     respond_error=self._respond_error, from_sender=from_sender)
        self.out: dict[int, list] = {}
        self.tag = 0
        self.lookups = 0
        real = self.watch._lookup

        def counted(*args: Any) -> Any:
            self.lookups += 1
            return real(*args)

        self.watch._lookup = counted  # type: ignore[method-assign]

    # -- what the services send --

    def _kvs_respond(self, msg: Message, payload: Any) -> None:
        pass

    def _kvs_error(self, msg: Message, errnum: int, text: str | None) -> None:
        raise AssertionError(f"kvs error {errnum} {text}")

    def _publish(self, topic: str, payload: bytes) -> None:
        ev = Message(FLUX_MSGTYPE_EVENT)
        ev.topic = topic
        ev.payload_bytes = payload
        self.watch.event(ev)

    def _respond(self, msg: Message, payload: Any) -> None:
        if isinstance(payload, bytes):
            payload = json.loads(payload[:-1])
        self.out[msg.matchtag].append(payload)

    def _respond_error(self, msg: Message, errnum: int, text: str | None) -> None:
        self.out[msg.matchtag].append((errnum, text))

    # -- requests --

    def request(self, topic: str, payload: dict, userid: int = OWNER, sender: str = "X",
                streaming: bool = True) -> Message:
        self.tag += 1
        msg = Message(FLUX_MSGTYPE_REQUEST)
        msg.topic = topic
        msg.payload = payload
        msg.routes = [sender, "C"]
        msg.matchtag = self.tag
        msg.userid = userid
        msg.rolemask = (FLUX_ROLE_OWNER if userid == OWNER else FLUX_ROLE_USER) | FLUX_ROLE_LOCAL
        if streaming:
            msg.flags |= FLUX_MSGFLAG_STREAMING
        self.out[self.tag] = []
        return msg

    def watch_key(self, key: str, flags: int = W, ns: str = "primary", **kw: Any) -> int:
        msg = self.request("kvs-watch.lookup", {"key": key, "namespace": ns, "flags": flags},
                           **kw)
        self.watch.lookup(msg)
        return msg.matchtag

    def take(self, tag: int) -> list:
        got, self.out[tag] = self.out[tag], []
        return got

    # -- trees and commits --

    def tree(self, spec: dict) -> str:
        """Store a tree: bytes -> val, list -> valref, dict -> dir, tuple -> symlink."""
        def build(item: Any) -> dict:
            if isinstance(item, bytes):
                return treeobj.create_val(item)
            if isinstance(item, list):
                return treeobj.create_valref(*(self.store.put(b) for b in item))
            if isinstance(item, tuple):
                return treeobj.create_symlink(*item)
            d = treeobj.create_dir({k: build(v) for k, v in item.items()})
            return treeobj.create_dirref(self.store.put(treeobj.encode(d)))
        return build(spec)["data"][0]

    def commit(self, spec: dict, keys: Any, ns: str = "primary", nul: bool = False) -> None:
        space = self.kvs.namespaces[ns]
        space.rootref = self.tree(spec)
        space.seq += 1
        payload = compact_json({"namespace": ns, "rootseq": space.seq, "rootref": space.rootref,
                                "names": ["t"], "keys": keys, "owner": space.owner}).encode()
        self._publish(f"kvs.namespace-{ns}-setroot", payload + (b"\0" if nul else b""))

    def create(self, name: str, spec: dict, owner: int = -1) -> None:
        msg = self.request("kvs.namespace-create", {"namespace": name, "rootref": self.tree(spec),
                                                    "owner": owner, "flags": 0})
        self.kvs.namespace_create(msg)

    def remove(self, name: str) -> None:
        self.kvs.namespace_remove(self.request("kvs.namespace-remove", {"namespace": name}))


def v(data: bytes) -> dict:
    return {"val": treeobj.create_val(data)}


@pytest.fixture
def world() -> World:
    return World()


def test_only_commits_naming_the_key_are_looked_at(world):
    world.commit({"a": b"1"}, ["a"])
    tag = world.watch_key("a")
    assert world.take(tag) == [v(b"1")]
    world.lookups = 0
    world.commit({"a": b"1", "b": b"2"}, ["b"])
    assert world.take(tag) == [] and world.lookups == 0
    world.commit({"a": b"3", "b": b"2"}, ["a"])
    assert world.take(tag) == [v(b"3")] and world.lookups == 1
    world.commit({"a": b"3", "b": b"2"}, {"a": None}, nul=True)  # flux-core's shape of keys
    assert world.take(tag) == [v(b"3")]


def test_full_sees_indirect_changes(world):
    world.commit({"d": {"a": b"1"}}, ["d.a"])
    plain = world.watch_key("d.a")
    full = world.watch_key("d.a", W | FLUX_KVS_WATCH_FULL)
    assert world.take(plain) == world.take(full) == [v(b"1")]
    world.commit({"d": {"a": b"2"}, "x": b"0"}, ["d"])  # the directory replaced
    assert world.take(plain) == []
    assert world.take(full) == [v(b"2")]
    world.commit({"d": {"a": b"2"}, "x": b"1"}, ["x"])  # same value: FULL does not repeat it
    assert world.take(full) == []
    world.commit({"d": {}}, ["d"])
    assert world.take(full) == [(errno.ENOENT, None)]
    assert world.take(plain) == []


def test_full_follows_a_retargeted_symlink(world):
    world.commit({"l": ("t1",), "t1": b"one", "t2": b"two"}, ["l"])
    tag = world.watch_key("l", W | FLUX_KVS_WATCH_FULL)
    assert world.take(tag) == [v(b"one")]
    world.commit({"l": ("t2",), "t1": b"one", "t2": b"two"}, ["l"])
    assert world.take(tag) == [v(b"two")]


def test_many_watchers_share_one_lookup_and_one_encoding(world):
    world.commit({"a": b"1"}, ["a"])
    tags = [world.watch_key("a", sender=f"X{i}") for i in range(50)]
    tags += [world.watch_key("a", W | FLUX_KVS_WATCH_UNIQ, sender=f"U{i}") for i in range(50)]
    others = [world.watch_key(f"k{i}") for i in range(50)]  # missing keys: ENOENT, gone
    assert len(world.watch.monitors["primary"]) == 100
    for t in tags:
        world.take(t)
    for t in others:
        assert world.take(t) == [(errno.ENOENT, None)]
    sent: list = []
    world.watch.respond = lambda msg, payload: sent.append(payload)  # type: ignore[assignment]
    world.lookups = 0
    world.commit({"a": b"2"}, ["a"])
    assert world.lookups == 1  # one lookup for the 100 watchers of "a"
    assert len(sent) == 100 and all(p is sent[0] for p in sent)  # encoded once
    assert json.loads(sent[0][:-1]) == v(b"2")


def test_unwatched_namespace_costs_no_lookup(world):
    world.create("other", {"a": b"1"})
    tag = world.watch_key("a")
    assert world.take(tag) == [(errno.ENOENT, None)]
    world.watch_key("a", ns="other")
    world.lookups = 0
    world.commit({"a": b"1"}, ["a"])  # primary: nobody watches it any more
    assert world.lookups == 0 and "primary" not in world.watch.monitors


def test_waitcreate_namespace_then_key(world):
    tag = world.watch_key("a", W | FLUX_KVS_WAITCREATE, ns="later")
    missing = world.watch_key("a", W, ns="later")
    assert world.take(missing) == [(errno.ENOTSUP, None)]
    assert world.take(tag) == []
    world.create("later", {"b": b"0"})
    assert world.take(tag) == []  # the namespace exists, the key not yet
    world.commit({"a": b"1"}, ["a"], ns="later")
    assert world.take(tag) == [v(b"1")]
    world.remove("later")
    assert world.take(tag) == [(errno.ENOTSUP, None)]
    assert world.watch.monitors == {}


def test_cancel_and_disconnect_speak_only_for_their_sender(world):
    world.commit({"a": b"1"}, ["a"])
    mine = world.watch_key("a", sender="X")
    theirs = world.watch_key("a", sender="Y", userid=GUEST)
    assert world.take(theirs) == [(errno.EPERM, None)]  # a guest may not read primary
    other = world.watch_key("a", sender="Y")
    world.take(mine), world.take(other)
    # a cancel from another client, or naming another matchtag, does nothing
    world.watch.cancel(world.request("kvs-watch.cancel", {"matchtag": mine}, sender="Y"))
    world.watch.cancel(world.request("kvs-watch.cancel", {"matchtag": 999}, sender="X"))
    world.watch.cancel(world.request("kvs-watch.cancel", {"matchtag": mine}, sender="X",
                                     userid=GUEST))  # not the watcher's user
    assert world.take(mine) == []
    world.watch.cancel(world.request("kvs-watch.cancel", {"matchtag": mine}, sender="X"))
    assert world.take(mine) == [(errno.ENODATA, None)]
    world.watch.disconnect(world.request("kvs-watch.disconnect", {}, sender="Y"))
    assert world.take(other) == []
    assert world.watch.monitors == {} and world.watch.by_tag == {} and world.watch.by_sender == {}


def test_guest_in_its_own_namespace(world):
    world.create("guestns", {"a": b"1", "p": ("a", "primary")}, owner=GUEST)
    world.commit({"a": b"secret"}, ["a"])
    ok = world.watch_key("a", ns="guestns", userid=GUEST)
    link = world.watch_key("p", ns="guestns", userid=GUEST)  # leads into primary
    assert world.take(ok) == [v(b"1")]
    assert world.take(link) == [(errno.EPERM, None)]
    owner = world.watch_key("p", ns="guestns")
    assert world.take(owner) == [v(b"secret")]


def test_append_and_stream(world):
    world.commit({"log": [b"a", b"b"]}, ["log"])
    app = world.watch_key("log", W | FLUX_KVS_WATCH_APPEND)
    stream = world.watch_key("log", FLUX_KVS_STREAM)
    assert world.take(app) == [v(b"a"), v(b"b")]
    assert world.take(stream) == [v(b"a"), v(b"b"), (errno.ENODATA, None)]
    world.commit({"log": [b"a", b"b", b"c"]}, ["log"])
    assert world.take(app) == [v(b"c")]
    world.commit({"log": b"rewritten"}, ["log"])
    assert world.take(app) == [
        (errno.EINVAL, "value of key watched with WATCH_APPEND overwritten")]


def test_an_in_process_requester_is_handed_what_the_responses_carry(world):
    """KVSWatchService.local: a request whose only route is a registered receiver's gets
    each response's content unencoded (a blob's bytes, a tree object, None); any other
    request, even from the same route id with more hops, gets messages."""
    handed: list[tuple[int, int, Any]] = []
    world.watch.local["L"] = lambda req, errnum, val: handed.append((req.matchtag, errnum, val))

    def local_watch(key: str, flags: int) -> int:
        msg = world.request("kvs-watch.lookup", {"key": key, "namespace": "primary",
                                                 "flags": flags}, sender="L")
        msg.routes = ["L"]
        world.watch.lookup(msg)
        return msg.matchtag

    def unencoded(item: Any, blobs: bool) -> Any:
        """What the receiver gets for a response the wire watcher got."""
        if isinstance(item, tuple):
            return (item[0], None)  # an error: its text is not handed over
        if item is None:
            return (0, None)  # the sentinel
        return (0, treeobj.decode_val(item["val"]) if blobs else item["val"])

    world.commit({"log": [b"a", b"b"], "v": b"small"}, ["log", "v"])
    flags = W | FLUX_KVS_WATCH_APPEND | FLUX_KVS_WATCH_INITIAL_SENTINEL
    wire, local = world.watch_key("log", flags, sender="L"), local_watch("log", flags)
    wire_v, local_v = world.watch_key("v", W), local_watch("v", W)
    world.commit({"log": [b"a", b"b", b"c"], "v": b"other"}, ["log", "v"])
    world.commit({"log": b"rewritten", "v": b"other"}, ["log"])
    assert [(e, val) for tag, e, val in handed if tag == local] == \
        [unencoded(item, True) for item in world.take(wire)] == \
        [(0, b"a"), (0, b"b"), (0, None), (0, b"c"), (errno.EINVAL, None)]
    assert [(e, val) for tag, e, val in handed if tag == local_v] == \
        [unencoded(item, False) for item in world.take(wire_v)] == \
        [(0, treeobj.create_val(b"small")), (0, treeobj.create_val(b"other"))]
    assert world.take(local) == world.take(local_v) == []  # nothing went as a message


def test_bad_requests(world):
    def answer(payload: Any, streaming: bool = True) -> list:
        msg = world.request("kvs-watch.lookup", payload, streaming=streaming)
        world.watch.lookup(msg)
        return world.take(msg.matchtag)

    assert answer({"key": "a", "flags": W}) == [(errno.EPROTO, None)]
    assert answer({"key": "a", "namespace": "primary", "flags": "4"}) == [(errno.EPROTO, None)]
    assert answer({"key": "a", "namespace": "primary", "flags": W}, streaming=False) == [
        (errno.EPROTO, "KVS watch request rejected without streaming RPC flag")]
    assert answer({"key": ".", "namespace": "primary", "flags": W}) == [(errno.EISDIR, None)]
    assert answer({"key": ".", "namespace": "primary", "flags": W | FLUX_KVS_READDIR}) == [
        {"val": treeobj.create_dir()}]


def test_stats_and_close(world):
    world.watch_key(".", W | FLUX_KVS_READDIR)
    world.watch_key("a", W | FLUX_KVS_WAITCREATE, ns="nope")
    msg = world.request("kvs-watch.stats-get", {})
    world.watch.stats(msg)
    stats = world.take(msg.matchtag)[0]
    assert stats["watchers"] == 2 and stats["namespace-count"] == 2
    assert stats["namespaces"]["primary"]["watchers"] == 1
    assert stats["namespaces"]["primary"]["rootref"] == world.kvs.namespaces["primary"].rootref
    assert stats["namespaces"]["nope"] == {"owner": -1, "rootseq": -1, "rootref": "(null)",
                                           "watchers": 1}
    world.watch.close()
    assert world.take(1)[-1] == (errno.ENOSYS, None)
    assert world.take(2) == [(errno.ENOSYS, None)]
    assert world.watch.monitors == {}
