"""REST: `GET /api/reports` (issue 16), supervisors only: figures over a range of days as
JSON, or one of its tables as a CSV download. Every answer is `no-store`: a report is
per account and changes as the day goes on."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from chat_server.core.errors import ChatError, ErrorCode
from chat_server.service import reports
from chat_server.web.api import JSONResponse, error_json, supervisor_or_error
from chat_server.web.runtime import runtime

NO_STORE = {"Cache-Control": "no-store"}
FORMATS = ("json", "csv")


async def report(request: Request) -> Response:
    """`?from=YYYY-MM-DD&to=YYYY-MM-DD[&compare=0|1][&site=ID][&format=csv&table=T]`; any
    bad parameter is a 400 `{error: "bad_request", message}` naming it."""
    agent = await supervisor_or_error(request)
    if isinstance(agent, Response):
        return _no_store(agent)
    q = request.query_params
    fmt, table, compare = q.get("format", "json"), q.get("table"), q.get("compare", "1")
    if fmt not in FORMATS:
        return _bad(f"format is one of {', '.join(FORMATS)}")
    if table is not None and table not in reports.TABLES:
        return _bad(f"table is one of {', '.join(reports.TABLES)}")
    if compare not in ("0", "1"):
        return _bad("compare is 0 or 1")
    query = reports.Query(
        start=q.get("from") or None,
        end=q.get("to") or None,
        compare=compare == "1",
        site=q.get("site") or None,
    )
    try:
        found = await reports.report(runtime(request).node, query)
    except ChatError as exc:
        if exc.code is ErrorCode.BAD_REQUEST:
            return _bad(exc.message)
        raise
    if fmt == "json":
        return JSONResponse(found, headers=NO_STORE)
    table = table or "summary"
    name = f"report-{table}-{found['from']}-{found['to']}.csv"
    return Response(
        reports.csv_table(found, table),
        media_type="text/csv; charset=utf-8",
        headers={**NO_STORE, "Content-Disposition": f'attachment; filename="{name}"'},
    )


def _bad(message: str) -> Response:
    return _no_store(error_json(400, "bad_request", message))


def _no_store(response: Response) -> Response:
    response.headers.update(NO_STORE)
    return response
