"""CouncilDesk monitoring agent: reports metrics and inventory of one machine to CouncilDesk.

Standalone on purpose: stdlib plus psutil only, no imports from the rest of the project, so
it can be installed on council machines with ``pip install ./remote/agent``.
"""

__version__ = "1.0.0"
