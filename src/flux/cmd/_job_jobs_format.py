"""``flux jobs``' fields: their headings, the job-list attributes each needs, named formats.

flux-core 0.88's tables (``JobInfoFormat.headings``, ``job_fields_to_attrs`` and
flux-jobs' built-in formats), so ``-o`` accepts the same fields and names.
Annotation fields (``annotations.X``, ``sched.X``, ``user.X``) are accepted
with headings made from their names, as flux-core does.  ``instance.*``
fields (a job's own Flux instance) are not offered.
"""

from __future__ import annotations

from ._job_outputformat import OutputFormat

_ID = ("id", "id.dec", "id.hex", "id.f58", "id.f58plain", "id.emoji", "id.kvs", "id.words",
       "id.dothex")

HEADINGS = {
    **{name: "JOBID" for name in _ID},
    "userid": "UID", "username": "USER", "urgency": "URG", "priority": "PRI",
    "state": "STATE", "state_single": "S", "state_emoji": "STATE", "name": "NAME",
    "cwd": "CWD", "queue": "QUEUE", "project": "PROJECT", "bank": "BANK",
    "ntasks": "NTASKS", "ncores": "NCORES", "duration": "DURATION", "nnodes": "NNODES",
    "expiration": "EXPIRATION", "t_remaining": "T_REMAINING", "ranks": "RANKS",
    "nodelist": "NODELIST", "success": "SUCCESS", "result": "RESULT",
    "result_abbrev": "RS", "result_emoji": "RESULT", "t_submit": "T_SUBMIT",
    "t_depend": "T_DEPEND", "t_priority": "T_PRIORITY", "t_sched": "T_SCHED",
    "t_run": "T_RUN", "t_cleanup": "T_CLEANUP", "t_inactive": "T_INACTIVE",
    "runtime": "RUNTIME", "status": "STATUS", "status_abbrev": "ST",
    "status_emoji": "STATUS", "waitstatus": "WSTATUS", "returncode": "RC",
    "exception.occurred": "EXCEPTION-OCCURRED", "exception.severity": "EXCEPTION-SEVERITY",
    "exception.type": "EXCEPTION-TYPE", "exception.note": "EXCEPTION-NOTE",
    "annotations": "ANNOTATIONS", "dependencies": "DEPENDENCIES",
    "contextual_info": "INFO", "contextual_time": "TIME",
    "inactive_reason": "INACTIVE-REASON",
    "annotations.sched.t_estimate": "T_ESTIMATE",
    "annotations.sched.reason_pending": "REASON",
    "annotations.sched.resource_summary": "RESOURCES",
    "sched": "SCHED", "sched.t_estimate": "T_ESTIMATE", "sched.reason_pending": "REASON",
    "sched.resource_summary": "RESOURCES", "user": "USER", "uri": "URI", "uri.local": "URI",
}

_ATTRS = {
    **{name: () for name in _ID},
    "userid": ("userid",), "username": ("userid",), "urgency": ("urgency",),
    "priority": ("priority",), "state": ("state",), "state_single": ("state",),
    "state_emoji": ("state",), "name": ("name",), "cwd": ("cwd",), "queue": ("queue",),
    "project": ("project",), "bank": ("bank",), "ntasks": ("ntasks",),
    "ncores": ("ncores",), "duration": ("duration",), "nnodes": ("nnodes",),
    "ranks": ("ranks",), "nodelist": ("nodelist",), "success": ("success",),
    "waitstatus": ("waitstatus",), "returncode": ("waitstatus", "result"),
    "exception.occurred": ("exception_occurred",),
    "exception.severity": ("exception_severity",),
    "exception.type": ("exception_type",), "exception.note": ("exception_note",),
    "result": ("result",), "result_abbrev": ("result",), "result_emoji": ("result",),
    "t_submit": ("t_submit",), "t_depend": ("t_depend",), "t_priority": ("t_priority",),
    "t_sched": ("t_sched",), "t_run": ("t_run",), "t_cleanup": ("t_cleanup",),
    "t_inactive": ("t_inactive",), "runtime": ("t_run", "t_cleanup"),
    "status": ("state", "result"), "status_abbrev": ("state", "result"),
    "status_emoji": ("state", "result"),
    "expiration": ("expiration", "state", "result"),
    "t_remaining": ("expiration", "state", "result"),
    "annotations": ("annotations",), "dependencies": ("dependencies",),
    "contextual_info": ("state", "dependencies", "annotations", "nodelist", "priority",
                        "urgency"),
    "contextual_time": ("state", "t_run", "t_cleanup", "duration"),
    "inactive_reason": ("state", "result", "waitstatus", "exception_occurred",
                        "exception_severity", "exception_type", "exception_note"),
    "sched": ("annotations",), "user": ("annotations",), "uri": ("annotations",),
    "uri.local": ("annotations",),
}

_ANNOTATION_PREFIXES = ("annotations.", "sched.", "user.")


def fields_to_attrs(fields: list[str]) -> set[str]:
    """The job-list attributes the fields need (the id always comes)."""
    attrs: set[str] = set()
    for field in fields:
        if field.startswith(_ANNOTATION_PREFIXES):
            attrs.add("annotations")
        else:
            attrs.update(_ATTRS[field])
    return attrs


def job_format(fmt: str) -> OutputFormat:
    """A parsed jobs format; unknown annotation fields get headings of their own."""
    from string import Formatter

    headings = dict(HEADINGS)
    for _, field, _, _ in Formatter().parse(fmt):
        if not field or field in headings:
            continue
        if field.startswith("annotations."):
            headings[field] = field[len("annotations."):].upper()
        elif field.startswith(("sched.", "user.")):
            headings[field] = field.upper()
    return OutputFormat(fmt, headings)


#: name -> (description, format), flux-core 0.88's built-in flux-jobs formats
FORMATS = {
    "default": ("Default flux-jobs format string",
                ("{id.f58:>12} ?:{queue:<8.8} +:{username:<8} {name:<10.10+} "
                 "{status_abbrev:>2.2} {ntasks:>6} {nnodes:>6h} "
                 "{contextual_time!F:>8h} {contextual_info}")),
    "cute": ("Cute flux-jobs format string (default with emojis)",
             ("{id.f58:>12} ?:{queue:<8.8} +:{username:<8} {name:<10.10+} "
              "{status_emoji:>5.5} {ntasks:>6} {nnodes:>6h} "
              "{contextual_time!F:>8h} {contextual_info}")),
    "long": ("Extended flux-jobs format string",
             ("{id.f58:>12} ?:{queue:<8.8} +:{username:<8} {name:<10.10+} "
              "{status:>9.9} {ntasks:>6} {nnodes:>6h} "
              "{t_submit!d:%b%d %R::>12} {t_remaining!F:>12h} "
              "{contextual_time!F:>8h} {contextual_info}")),
    "deps": ("Show job urgency, priority, and dependencies",
             ("{id.f58:>12} ?:{queue:<8.8} {name:<10.10+} {urgency:<3} "
              "{priority:<12} {state:<8.8} {dependencies}")),
    "endreason": ("Show why each job ended",
                  ("{id.f58:>12} ?:{queue:<8.8} +:{username:<8} {name:<10.10+} "
                   "{status_abbrev:>2.2} {t_inactive!d:%b%d %R::>12h} {inactive_reason}")),
}


def format_string(name: str, formats: dict | None = None, tool: str = "flux-jobs",
                  config_name: str = "flux-jobs") -> str:
    """``-o NAME``: a format as given (it has ``{``), a named one, or ``help`` (exits).

    ``formats`` are the tool's named formats (flux jobs' by default); the
    default one may be overridden by ``FLUX_<TOOL>_FORMAT_DEFAULT``; ``help``
    names the configuration they belong to (flux pgrep's are flux-jobs').
    """
    import os
    import re
    import sys

    if formats is None:
        formats = FORMATS
    if "{" in name:
        return name
    if name == "help":
        print(f"\nConfigured {config_name} output formats:\n")
        for fname, (description, _) in formats.items():
            print(f"  {fname:<12} {description}")
        sys.exit(0)
    if name.startswith("get-config="):
        fname = name.split("=", 1)[1]
        if fname not in formats:
            raise ValueError(f"--format: No such format {fname}")
        description, fmt = formats[fname]
        print(f"[formats.{fname}]")
        print(f'description = "{description}"')
        print(f'format = "{fmt}"')
        sys.exit(0)
    if name == "default":
        var = tool.replace("-", "_").upper() + "_FORMAT_DEFAULT"
        override = os.environ.get(var)
        if override is not None:
            if "{" in override:
                return override
            name = override
    if name in formats:
        return formats[name][1]
    guess = re.sub(r"\w+", r"{\g<0>}", name)
    raise ValueError(f"--format: No such format {name} (Did you mean '{guess}'?)")
