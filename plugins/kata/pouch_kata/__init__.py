"""pouch-kata: a VM runtime driver, one QEMU micro-VM per sandbox.

The sandbox's root filesystem will be shared into the guest (virtiofs), its
network is a tap in the sandbox's namespace, and exec, signals and exit codes
travel over virtio-serial to a guest agent. Not implemented yet: the plugin
checks the host (KVM, QEMU) and then skips itself.
"""
