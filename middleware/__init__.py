"""One pure-ASGI class per concern, each usable alone; `state` names what they share."""

from interlingua.middleware.auth import AuthMiddleware
from interlingua.middleware.dialect import DialectMiddleware
from interlingua.middleware.metering import MeteringMiddleware
from interlingua.middleware.normalise import NormalisationMiddleware
from interlingua.middleware.reencode import ReencodeMiddleware
from interlingua.middleware.routing import RoutingMiddleware

__all__ = ["AuthMiddleware", "DialectMiddleware", "MeteringMiddleware", "NormalisationMiddleware",
           "ReencodeMiddleware", "RoutingMiddleware"]
