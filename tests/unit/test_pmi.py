"""flux.pmi: the PMI-1 simple wire codec, the server core, the client, mappings."""

from __future__ import annotations

import socket
import threading

import pytest

from flux.pmi import mapping
from flux.pmi.client import PMIError, SimpleClient, from_environ
from flux.pmi.server import SimpleServer
from flux.pmi.wire import (
    PMI_ERR_INVALID_KEY,
    PMI_ERR_INVALID_KEY_LENGTH,
    PMI_ERR_INVALID_VAL_LENGTH,
    PMIProtocolError,
    format_line,
    parse,
)


# -- wire ---------------------------------------------------------------------------

def test_parse_words_and_value_to_end_of_line():
    assert parse("cmd=put kvsname=K key=k value=a b=c d\n") == {
        "cmd": "put", "kvsname": "K", "key": "k", "value": "a b=c d"}
    assert parse("cmd=barrier_in\n") == {"cmd": "barrier_in"}
    assert parse("mcmd=spawn\n") == {"mcmd": "spawn"}


def test_parse_hydra_quirks():
    assert parse("cmd=get_result rc=0 value=xyz found=TRUE\n")["value"] == "xyz"
    assert parse("cmd=get_result rc=0 msg=success value=a b\n") == {
        "cmd": "get_result", "rc": "0", "msg": "success", "value": "a b"}
    assert parse("cmd=lookup_result rc=-1 msg=command not implemented\n")["msg"] == \
        "command not implemented"


@pytest.mark.parametrize("line", ["", "hello\n", "cmd\n", "key=v\n", "=x cmd=init\n"])
def test_parse_rejects_non_protocol(line):
    with pytest.raises(PMIProtocolError):
        parse(line)


def test_format_line_puts_value_last():
    assert format_line("get_result", value="v w", rc=0) == "cmd=get_result rc=0 value=v w\n"
    assert format_line("barrier_in") == "cmd=barrier_in\n"


# -- server core --------------------------------------------------------------------

def one(server, client, line):
    replies, fin = server.request(client, line)
    assert len(replies) == 1 and replies[0][0] == client
    return replies[0][1], fin


def test_server_init_versions():
    s = SimpleServer(2)
    assert one(s, 0, "cmd=init pmi_version=1 pmi_subversion=1\n")[0] == \
        "cmd=response_to_init rc=0 pmi_version=1 pmi_subversion=1\n"
    assert one(s, 0, "cmd=init pmi_version=2 pmi_subversion=0\n")[0] == \
        "cmd=response_to_init rc=-1\n"
    with pytest.raises(PMIProtocolError):
        s.request(0, "cmd=init\n")


def test_server_queries():
    s = SimpleServer(4, kvsname="kvs0", appnum=3)
    assert one(s, 1, "cmd=get_maxes\n")[0] == \
        "cmd=maxes rc=0 kvsname_max=64 keylen_max=64 vallen_max=1024\n"
    assert one(s, 1, "cmd=get_universe_size\n")[0] == "cmd=universe_size rc=0 size=4\n"
    assert one(s, 1, "cmd=get_appnum\n")[0] == "cmd=appnum rc=0 appnum=3\n"
    assert one(s, 1, "cmd=get_my_kvsname\n")[0] == "cmd=my_kvsname rc=0 kvsname=kvs0\n"
    assert one(s, 1, "cmd=lookup_name service=x\n")[0] == \
        "cmd=lookup_result rc=-1 msg=command not implemented\n"
    with pytest.raises(PMIProtocolError):
        s.request(1, "cmd=frobnicate\n")


def test_server_put_get_and_errors():
    s = SimpleServer(2, kvs={"PMI_process_mapping": "(vector,(0,1,2))"})
    assert one(s, 0, "cmd=put kvsname=- key=0 value={\"a\": 1}\n")[0] == "cmd=put_result rc=0\n"
    assert one(s, 1, "cmd=get kvsname=- key=0\n")[0] == 'cmd=get_result rc=0 value={"a": 1}\n'
    assert one(s, 1, "cmd=get kvsname=- key=PMI_process_mapping\n")[0] == \
        "cmd=get_result rc=0 value=(vector,(0,1,2))\n"
    assert one(s, 1, "cmd=get kvsname=- key=nokey\n")[0] == \
        f"cmd=get_result rc={PMI_ERR_INVALID_KEY}\n"
    assert one(s, 0, f"cmd=put kvsname=- key={'k' * 64} value=v\n")[0] == \
        f"cmd=put_result rc={PMI_ERR_INVALID_KEY_LENGTH}\n"
    assert one(s, 0, f"cmd=put kvsname=- key=k value={'v' * 1024}\n")[0] == \
        f"cmd=put_result rc={PMI_ERR_INVALID_VAL_LENGTH}\n"
    with pytest.raises(PMIProtocolError):
        s.request(0, "cmd=put kvsname=- key=k\n")


def test_server_barrier_releases_everyone_at_once():
    s = SimpleServer(3)
    for c in range(3):
        s.request(c, "cmd=get_maxes\n")
    assert s.request(0, "cmd=barrier_in\n") == ([], False)
    assert s.request(2, "cmd=barrier_in\n") == ([], False)
    replies, _ = s.request(1, "cmd=barrier_in\n")
    assert sorted(replies) == [(0, "cmd=barrier_out rc=0\n"), (1, "cmd=barrier_out rc=0\n"),
                               (2, "cmd=barrier_out rc=0\n")]
    assert s.barriers == 1 and s.barrier_count == 0


def test_server_finalize_abort_spawn():
    aborted = []
    s = SimpleServer(1, on_abort=lambda c, code, text: aborted.append((c, code, text)))
    assert one(s, 0, "cmd=finalize\n") == ("cmd=finalize_ack rc=0\n", True)
    assert s.request(0, "cmd=abort exitcode=7\n") == ([], False)
    assert s.request(0, "cmd=abort\n") == ([], False)
    assert aborted == [(0, 7, "aborted"), (0, 1, "aborted")]
    assert s.request(0, "mcmd=spawn\n") == ([], False)
    assert s.request(0, "nproc=2\n") == ([], False)  # inside the spawn block: ignored
    assert one(s, 0, "endcmd\n")[0] == "cmd=spawn_result rc=-1\n"


# -- client against the server core -------------------------------------------------

def serve(server, socks):
    """A tiny threaded driver of the server core: one reader per client socket."""
    lock = threading.Lock()

    def reader(rank, sock):
        buf = b""
        while True:
            data = sock.recv(4096)
            if not data:
                return
            buf += data
            while b"\n" in buf:
                line, _, buf = buf.partition(b"\n")
                with lock:
                    replies, fin = server.request(rank, line.decode() + "\n")
                    for c, text in replies:
                        socks[c].sendall(text.encode())
                if fin:
                    return

    threads = [threading.Thread(target=reader, args=(r, s), daemon=True)
               for r, s in enumerate(socks)]
    for t in threads:
        t.start()
    return threads


def test_client_exchange_through_server():
    size = 3
    server = SimpleServer(size, kvs={"PMI_process_mapping": "(vector,(0,1,3))"})
    pairs = [socket.socketpair() for _ in range(size)]
    threads = serve(server, [p[0] for p in pairs])
    results = {}

    def rank_main(rank):
        c = SimpleClient(pairs[rank][1], rank, size)
        c.init()
        c.put(str(rank), f"card-{rank}")
        c.barrier()
        results[rank] = [c.get(str(r)) for r in range(size)] + [c.get("missing")]
        # the same, the requests written at once (one round trip)
        assert c.get_many([str(r) for r in range(size)] + ["missing"]) == results[rank]
        assert c.get_many([]) == []
        c.finalize()

    workers = [threading.Thread(target=rank_main, args=(r,)) for r in range(size)]
    for w in workers:
        w.start()
    for w in workers + threads:
        w.join(timeout=10)
        assert not w.is_alive()
    for r in range(size):
        assert results[r] == ["card-0", "card-1", "card-2", None]


def test_client_errors():
    a, b = socket.socketpair()
    c = SimpleClient(b, 0, 2)
    a.sendall(b"cmd=response_to_init rc=-1\n")
    with pytest.raises(PMIError):
        c.init()
    a.close()
    with pytest.raises(PMIError, match="closed|connection"):
        c.barrier()
    c.close()


def test_client_get_many_reads_every_answer_before_failing():
    """A server error on one key of a pipelined ``get_many`` is raised only once every
    answer is read: the next call sees its own answer, not a stale one."""
    a, b = socket.socketpair()
    c = SimpleClient(b, 0, 2)
    a.sendall(b"cmd=get_result rc=0 value=one\ncmd=get_result rc=-1 msg=bad\n"
              b"cmd=get_result rc=1 msg=missing\ncmd=barrier_out rc=0\n")
    with pytest.raises(PMIError, match="rc=-1"):
        c.get_many(["k1", "k2", "k3"])
    sent = a.recv(4096).decode()
    assert sent.count("cmd=get ") == 3 and "key=k1" in sent and "key=k3" in sent
    c.barrier()  # in step
    a.sendall(b"cmd=get_result rc=0 value=x\n")
    a.close()
    with pytest.raises(PMIError, match="closed|connection"):
        c.get_many(["a", "b"])
    c.close()


def test_client_universe_size_mismatch():
    server = SimpleServer(5)
    a, b = socket.socketpair()
    serve(server, [a])
    c = SimpleClient(b, 0, 2)
    with pytest.raises(PMIError, match="universe size 5"):
        c.init()
    c.close()


def test_from_environ():
    assert from_environ({}) is None
    assert from_environ({"PMI_RANK": "0", "PMI_SIZE": "2"}) is None
    a, b = socket.socketpair()
    c = from_environ({"PMI_RANK": "1", "PMI_SIZE": "2", "PMI_FD": str(b.detach())})
    assert c is not None and (c.rank, c.size) == (1, 2)
    c.close()
    a.close()
    with pytest.raises(PMIError):
        from_environ({"PMI_RANK": "1", "PMI_SIZE": "2", "PMI_FD": "x"})


# -- mappings -----------------------------------------------------------------------

def test_mapping_round_trip_and_nodeids():
    assert mapping.parse_pmi("(vector,(0,1,4))") == [[0, 1, 4, 1]]
    blocks = mapping.parse_pmi("(vector,(0,2,2),(2,1,1))")
    assert blocks == [[0, 2, 2, 1], [2, 1, 1, 1]]
    assert [mapping.nodeid_of(blocks, t) for t in range(6)] == [0, 0, 1, 1, 2, -1]
    assert mapping.to_pmi([[0, 4, 1, 1]]) == "(vector,(0,4,1))"
    assert mapping.to_taskmap([[0, 1, 4, 1]]) == "[[0,1,4,1]]"
    assert mapping.from_taskmap("[[0,1,4,1]]") == [[0, 1, 4, 1]]
    for bad in ("(vector,(0,1))", "vector", "(vector,(a,b,c))"):
        with pytest.raises(ValueError):
            mapping.parse_pmi(bad)
    with pytest.raises(ValueError):
        mapping.from_taskmap("[[0,1]]")


def test_mapping_cyclic_pmi_vectors_and_encoding():
    assert mapping.nodeids([[0, 1, 1, 1]], 4) == [0, 0, 0, 0]  # hydra: cyclic
    assert mapping.nodeids([[0, 2, 1, 1]], 4) == [0, 1, 0, 1]
    assert mapping.nodeids([], 2) == [-1, -1]
    assert mapping.from_nodeids([0, 0, 0, 0]) == [[0, 1, 4, 1]]
    assert mapping.from_nodeids([0, 1, 2, 3]) == [[0, 4, 1, 1]]
    assert mapping.from_nodeids([0, 0, 1, 1, 2]) == [[0, 2, 2, 1], [2, 1, 1, 1]]
