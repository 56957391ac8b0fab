"""HTTP router of the tool registry: /internal/tools/*."""

from ninja import Router

router = Router()
