"""Assembly of the gateway: configuration, the app factory, the dispatcher and the CLI."""

from interlingua.app.factory import create_app

__all__ = ["create_app"]
