"""The tree-based overlay network (TBON) between the brokers of one instance.

Reserved for the instances-of-many-brokers work: parent ROUTER / child DEALER
links over ZeroMQ (PROTOCOL.md section 5), each an overlay peer on
``broker.peerlink.PeerLink`` beside the socket transport of clients and
modules; ``broker.topology`` already answers where a nodeid leads.
"""
