"""``flux dashboard``: a live web view of an instance (docs/dashboard.md).

``instance.py`` reads the instance's services, ``hub.py`` keeps the views fresh
and pushes them to open pages, ``server.py`` is the HTTP side (aiohttp, the
optional ``dashboard`` extra), ``static/`` the page.  Nothing here is imported
by ``import flux``.
"""
