"""pouch-lxc: a runtime driver for LXC containers.

It will drive the liblxc tools (``lxc-start``, ``lxc-attach`` …) and keep each
container under the lxc monitor so it outlives pouchd. Not implemented yet: the
plugin checks the host and then skips itself (``pouch plugin ls`` shows why).
"""
