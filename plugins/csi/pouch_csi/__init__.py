"""pouch-csi: a volume driver for CSI (Container Storage Interface) drivers.

It will speak the CSI gRPC services (Identity, Controller, Node) to a driver's
socket and take each volume through attach → stage → publish per container,
and back on removal, every step idempotent. Not implemented yet: the plugin
skips itself.
"""
