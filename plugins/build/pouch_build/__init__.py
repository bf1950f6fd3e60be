"""pouch-build: pouch's image builder (``pouch build``, ``POST /build``, ``docker build``).

``classic`` builds a Dockerfile the way docker's classic builder does: each
step an image, ``RUN`` steps in containers on the engine's runtimes, files
from the context (``.dockerignore`` honoured) or other stages into layers.
Its own distribution because it needs Docker's Dockerfile parser (the
``dockerfile`` package), which an engine that only runs containers does
without.
"""

__version__ = "0.1.0"
