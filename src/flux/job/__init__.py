"""flux-core's ``flux.job`` package: job ids for now (``JobID``, ``id_parse``, ``id_encode``).

The rest of flux-core's ``flux.job`` (submit, wait, list...) will use the handle; importing this
package stays light: the id code needs no handle.
"""

from flux.job.JobID import JobID, id_encode, id_parse

__all__ = ["JobID", "id_encode", "id_parse"]
