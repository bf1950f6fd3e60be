"""pouch-cni: a network driver that runs CNI plugin binaries.

It will execute CNI plugins (bridge, host-local, loopback …, the Debian package
containernetworking-plugins) for ADD, DEL, CHECK, STATUS and GC on each
sandbox's network namespace. Not implemented yet: the plugin checks the host
and then skips itself.
"""
