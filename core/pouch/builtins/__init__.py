"""Built-in plugins: behaviour the core ships, registered like any other plugin.

They are listed in ``pouch.kernel.BUILTIN_PLUGINS``; the essential ones cannot
be disabled.
"""
