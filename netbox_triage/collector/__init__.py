"""The Monit collector: an endpoint speaking the protocol of Monit's `set mmonit <url>`, the silence job,
and the fleet's coverage summary. See docs/monitoring.md.

``ready()`` imports :mod:`.jobs` so the silence job registers as a NetBox system job.
"""
