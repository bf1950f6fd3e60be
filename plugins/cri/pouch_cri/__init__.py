"""pouch-cri: the Kubernetes CRI (``runtime.v1``) server as a pouchd service.

It serves the RuntimeService and ImageService on ``/run/pouch/cri.sock`` for
kubelet, crictl and critest, with pods as the engine's sandboxes. The socket
listens from pouchd's start; grpc is loaded when the first client connects.
"""
