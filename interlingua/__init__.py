"""Interlingua, an AI API gateway, under one import name.

The repository keeps the design's three layers at its top (`app/`, `middleware/`, `adapters/`);
installed, they are `interlingua.app`, `interlingua.middleware` and `interlingua.adapters`, so the
gateway never shadows, and is never shadowed by, a project's own `app` package. This folder holds
that root and links to the three, so that the repository imports as the wheel installs.
"""

from interlingua.app import create_app

__all__ = ["create_app"]
