"""A reference server for the store HTTP contract (see bot.store.http), over any backend.

Integrators can compare their store's API with it; the tests run HttpStore against it.
"""

from __future__ import annotations

from fastapi import FastAPI, Header, HTTPException, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from bot.store.base import MAX_AVAILABILITY_IDS, StoreBackend


class ResetRequest(BaseModel):
    """Body of POST /password-resets."""

    email: str = Field(min_length=3, max_length=254)


def create_store_api(backend: StoreBackend, token: str | None = None) -> FastAPI:
    """The contract's two endpoints, answered by `backend`."""
    app = FastAPI(title="Store API (reference)")

    def check(authorization: str | None) -> None:
        if token and authorization != f"Bearer {token}":
            raise HTTPException(401, "Missing or wrong bearer token.")

    @app.post("/password-resets", status_code=202)
    def password_reset(body: ResetRequest, authorization: str | None = Header(None)) -> Response:
        check(authorization)
        outcome = backend.request_password_reset(body.email)
        return Response(status_code=429 if outcome == "rate_limited" else 202)

    @app.get("/orders/{number}")
    def order(
        number: str,
        email: str = Query(..., max_length=254),
        authorization: str | None = Header(None),
    ) -> dict:
        check(authorization)
        found = backend.find_order(number, email)
        if found is None:
            raise HTTPException(404, "No order with that number and email.")
        return found.to_dict()

    @app.get("/products/availability")
    def availability(
        ids: str = Query(..., max_length=4000, description="Feed item ids, comma-separated."),
        authorization: str | None = Header(None),
    ) -> dict:
        check(authorization)
        wanted = [i.strip() for i in ids.split(",") if i.strip()]
        if not wanted or len(wanted) > MAX_AVAILABILITY_IDS:
            raise HTTPException(422, f"ids: give 1 to {MAX_AVAILABILITY_IDS} item ids.")
        found = backend.product_availability(wanted)
        return {"items": [found[i].to_dict() for i in wanted if i in found]}

    return app
