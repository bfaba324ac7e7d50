"""flux-core's ``flux.resource``: R (RFC 20) as Python objects, and the queries behind
``flux resource list`` and ``flux resource status``."""

from flux.resource.Rv1Set import Rv1Set
from flux.resource.ResourceSet import ResourceSet
from flux.resource.ResourceSetImplementation import ResourceSetImplementation
from flux.resource.list import SchedResourceList, resource_list
from flux.resource.status import ResourceStatus, resource_status

__all__ = [
    "ResourceSet",
    "ResourceSetImplementation",
    "Rv1Set",
    "SchedResourceList",
    "resource_list",
    "ResourceStatus",
    "resource_status",
]
