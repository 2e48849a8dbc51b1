"""ClickTime API v2 client: envelope, paging, errors. Transport-agnostic."""

from __future__ import annotations

from typing import Any, Iterable

from reconciler.clicktime import assumptions
from reconciler.clicktime.transport import Request, Response, Transport
from reconciler.errors import ApiError, IncompleteFetchError


def error_messages(body: Any) -> list[str]:
    """ClickTime's `errors[].Message`, tolerating the `Detail`/`Title` keys seen in the wild."""
    if not isinstance(body, dict):
        return []
    messages = []
    for item in body.get("errors") or []:
        if isinstance(item, dict):
            text = item.get("Message") or item.get("Detail") or item.get("Title") or ""
            if item.get("Field"):
                text = f"{item['Field']}: {text}"
            messages.append(text or str(item))
        else:
            messages.append(str(item))
    return messages


class ClickTimeClient:
    def __init__(self, transport: Transport, page_size: int = assumptions.REQUESTED_PAGE_SIZE) -> None:
        self.transport = transport
        self.page_size = page_size
        self.calls = 0

    def close(self) -> None:
        self.transport.close()

    def request(
        self, method: str, path: str, query: Iterable[tuple[str, str]] = (), body: Any = None
    ) -> Any:
        """Send one request; return the envelope's body, or raise ApiError.

        A 2xx answer with a non-empty `errors` array is a failure too."""
        self.calls += 1
        response: Response = self.transport.send(Request(method, path, tuple(query), body))
        messages = error_messages(response.body)
        if not 200 <= response.status < 300 or messages:
            raise ApiError(response.status, method, path, messages)
        return response.body

    def list(self, collection: str, filters: Iterable[tuple[str, str]] = ()) -> list[dict[str, Any]]:
        """Every record of a collection, active and inactive, de-duplicated by ID.

        Stops on page.count, a missing links.next or an empty page; a result shorter than
        page.count is an error, never a smaller account."""
        query = [*filters]
        if not any(name == "IsActive" for name, _ in query):
            query += [("IsActive", "true"), ("IsActive", "false")]
        records: dict[str, dict[str, Any]] = {}
        offset, count = 0, None
        for _ in range(assumptions.MAX_PAGES):
            body = self.request(
                "GET", f"/{collection}", [*query, ("limit", str(self.page_size)), ("offset", str(offset))]
            )
            data = body.get("data") or []
            page = body.get("page") or {}
            for record in data:
                records.setdefault(record["ID"], record)
            count = page.get("count", count)
            limit = int(page.get("limit") or len(data) or self.page_size)
            offset = int(page.get("offset", offset)) + limit
            links = page.get("links") or {}
            if not data or (count is not None and offset >= count) or ("next" in links and not links["next"]):
                break
        else:
            raise ApiError(0, "GET", f"/{collection}", [f"more than {assumptions.MAX_PAGES} pages"])
        if count is not None and len(records) < count:
            raise IncompleteFetchError(
                0, "GET", f"/{collection}",
                [f"incomplete list: page.count says {count} records, {len(records)} arrived"],
            )
        return list(records.values())

    def company(self) -> dict[str, Any]:
        return self.request("GET", "/Company")["data"]

    def create(self, collection: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", f"/{collection}", body=body)["data"]

    def update(self, collection: str, record_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.request("PATCH", f"/{collection}/{record_id}", body=body)["data"]

    def delete(self, collection: str, record_id: str) -> None:
        self.request("DELETE", f"/{collection}/{record_id}")

    def assigned_ids(self, job_id: str, sub: str) -> list[str]:
        data = self.request("GET", f"/Jobs/{job_id}/{sub}")["data"] or []
        # Some configurations return objects instead of bare ID strings: accept both.
        return [item["ID"] if isinstance(item, dict) else item for item in data]

    def assign(self, job_id: str, sub: str, target_id: str) -> None:
        self.request("POST", f"/Jobs/{job_id}/{sub}", body={assumptions.ASSIGNMENT_BODY_FIELD[sub]: target_id})

    def unassign(self, job_id: str, sub: str, target_id: str) -> None:
        self.request("DELETE", f"/Jobs/{job_id}/{sub}/{target_id}")
