"""One pure-ASGI class per concern, each usable alone; `state` names what they share."""

from middleware.auth import AuthMiddleware
from middleware.dialect import DialectMiddleware
from middleware.metering import MeteringMiddleware
from middleware.normalise import NormalisationMiddleware
from middleware.reencode import ReencodeMiddleware
from middleware.routing import RoutingMiddleware

__all__ = ["AuthMiddleware", "DialectMiddleware", "MeteringMiddleware", "NormalisationMiddleware",
           "ReencodeMiddleware", "RoutingMiddleware"]
