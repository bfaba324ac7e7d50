"""Job ingest: the checks a submitted jobspec passes before it becomes a job.

``jobspec`` parses a jobspec (JSON or YAML text, or a dict) and validates it
against RFC 25's version 1 schema, shipped in ``schema/``, so a bad submission
is refused with one line naming what is wrong and where.
"""
