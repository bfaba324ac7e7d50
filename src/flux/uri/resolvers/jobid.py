"""``jobid:ID[/ID...]``: the URI of the instance a running job is (its ``user.uri`` memo).

A path of ids climbs into nested instances; ``/`` is the root instance and
``..`` the parent.  ``?wait`` waits for the memo (or the job's end),
``?local`` (or ``FLUX_URI_RESOLVE_LOCAL``) talks to nested instances
through their ``local://`` URIs.
"""

from __future__ import annotations

import os
from pathlib import PurePosixPath
from typing import Any, Optional

from flux.uri.uri import JobURI, URIResolverPlugin, URIResolverURI


def _handle(uri: Optional[str] = None) -> Any:
    import flux

    return flux.Flux(uri)


def _wait_for_uri(h: Any, jobid: Any) -> Optional[str]:
    """The ``uri`` of the job's first memo that has one; None if the job ends first."""
    from flux.job import event_watch

    for event in event_watch(h, jobid):
        if event.name == "memo" and "uri" in event.context:
            return str(event.context["uri"])
        if event.name == "finish":
            return None
    return None


def _parent_uri(h: Any) -> str:
    if int(h.attr_get("instance-level")) > 0:
        return str(h.attr_get("parent-uri"))
    return str(h.attr_get("local-uri"))


def _root_uri(h: Any) -> str:
    while int(h.attr_get("instance-level")) > 0:
        h = _handle(_parent_uri(h))
    return str(h.attr_get("local-uri"))


def _job_uri(h: Any, arg: str, wait: bool) -> str:
    from flux.job import JobID, job_list_id

    try:
        jobid = JobID(arg)
    except (OSError, ValueError, TypeError):
        raise ValueError(f"{arg} is not a valid jobid") from None
    try:
        if wait:
            uri = _wait_for_uri(h, jobid)
        else:
            job = job_list_id(h, jobid, attrs=["state", "annotations"]).get_jobinfo()
            if job.state != "RUN":
                raise ValueError(f"jobid {arg} is not running")
            uri = job.uri
    except FileNotFoundError:
        raise ValueError(f"jobid {arg} not found") from None
    if uri is None or str(uri) == "":
        raise ValueError(f"URI not found for job {arg}")
    return str(uri)


class URIResolver(URIResolverPlugin):
    """Resolves ``jobid:`` targets through job-list (or the job's eventlog with ``?wait``)."""

    def describe(self) -> str:
        return "Get URI for a given Flux JOBID"

    def _resolve(self, target: URIResolverURI, h: Any, force_local: bool = False,
                 wait: bool = False, hostname: Optional[str] = None) -> str:
        ids = list(PurePosixPath(target.path).parts)
        if not ids:
            return str(h.attr_get("local-uri"))
        first = ids.pop(0)
        if first == "/":
            uri = _root_uri(h)
        elif first == "..":
            uri = _parent_uri(h)
            if hostname:  # below a job resolved remotely: reach the parent the same way
                uri = JobURI(uri, remote_hostname=hostname).remote
        else:
            uri = _job_uri(h, first, wait)
            hostname = JobURI(uri).netloc
        if ids:
            inner = URIResolverURI("jobid:" + "/".join(ids))
            via = JobURI(uri).local if force_local else uri
            return self._resolve(inner, _handle(via), force_local=force_local, hostname=hostname)
        return uri

    def resolve(self, uri: URIResolverURI) -> str:
        force_local = "local" in uri.query_dict or "FLUX_URI_RESOLVE_LOCAL" in os.environ
        wait = "wait" in uri.query_dict
        return self._resolve(uri, _handle(), force_local=force_local, wait=wait)
