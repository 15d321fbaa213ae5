"""PhotoRoom-compatible endpoints, so that a PhotoRoom client switches by changing its base URL and API key:
POST /v1/segment (PhotoRoom's Remove Background API) and GET/POST /v2/edit (its Image Editing API).

Parameters keep PhotoRoom's names, defaults and output formats. Whatever this service cannot honour (AI backgrounds,
relighting, upscaling, per-side padding...) is refused with a 400 that names the parameter, never ignored. Errors use
PhotoRoom's JSON shapes: {"detail", "status_code", "type"} on /v1 and {"error": {"message"}} on /v2.
"""

from api.photoroom.app import photoroom_app

__all__ = ["photoroom_app"]
