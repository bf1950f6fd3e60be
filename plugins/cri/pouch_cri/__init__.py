"""pouch-cri: the Kubernetes CRI (``runtime.v1``) server as a pouchd service.

It will serve the RuntimeService and ImageService over ``/run/pouch/cri.sock``
for kubelet and crictl, mapping pod sandboxes onto the engine's sandboxes. Not
implemented yet: the plugin skips itself.
"""
