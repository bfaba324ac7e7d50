"""The TBON overlay: this broker's ZeroMQ links to its parent and children.

Imported only by brokers of instances larger than one (it imports pyzmq).
"""
