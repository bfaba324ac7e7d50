"""The handle API (docs/guide/handle.md) as a script: ``flux start python3 examples/handle_tour.py``.

RPCs and their errors, a streaming RPC, continuations, an event and a timer on the reactor.
"""

import errno
import syslog

import flux
from flux.constants import FLUX_MSGTYPE_EVENT, FLUX_RPC_STREAMING


def main():
    h = flux.Flux()
    print("ping:", h.rpc("broker.ping", {"seq": 1}).get()["seq"])
    print("rank", h.get_rank(), "of", h.attr_get("size"))

    try:
        h.rpc("nosuch.method").get()
    except OSError as exc:
        assert exc.errno == errno.ENOSYS
        print("nosuch.method:", exc.strerror)

    h.log(syslog.LOG_NOTICE, "handle_tour was here")
    f = h.rpc("log.dmesg", {"follow": False, "nobacklog": False}, flags=FLUX_RPC_STREAMING)
    count = 0
    while True:
        try:
            f.get_str()
        except OSError as exc:
            assert exc.errno == errno.ENODATA
            break
        count += 1
        f.reset()
    print("log records:", count)

    seen = []
    for i in range(3):
        h.rpc("broker.ping", {"seq": i}).then(lambda f: seen.append(f.get()["seq"]))

    def on_event(h, w, msg, arg):
        seen.append(msg.topic)
        w.stop()

    h.event_subscribe("tour.")
    h.msg_watcher_create(on_event, FLUX_MSGTYPE_EVENT, "tour.*").start()
    h.event_send("tour.hello", {"x": 1})
    h.timer_watcher_create(0.05, lambda h, w, rev, arg: (seen.append("tick"), w.stop())).start()
    h.reactor_run()
    assert sorted(map(str, seen)) == ["0", "1", "2", "tick", "tour.hello"], seen
    print("reactor saw:", sorted(map(str, seen)))


if __name__ == "__main__":
    main()
