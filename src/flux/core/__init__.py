"""The client side: handle, reactor, watchers and transports."""
