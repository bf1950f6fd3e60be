"""pouch-runc: the OCI runtime driver for runc and crun.

Containers run under conmon, the Debian package's per-container monitor, so
they outlive pouchd and their exit codes land in files. The driver is not
implemented yet: the plugin checks the host and then skips itself, so
``pouch plugin ls`` shows it as skipped with the reason.
"""
