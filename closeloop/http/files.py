"""File downloads the REST API and the dashboard both serve: exports (CSV/JSON) and stored attachments."""

from __future__ import annotations

from pathlib import Path

from starlette.responses import FileResponse, StreamingResponse

from closeloop.bootstrap import App
from closeloop.domain.inbound_mail import content_disposition, served_type
from closeloop.services.inbound.attachments import attachment_file
from closeloop.services.reads import exports
from closeloop.services.reads.exports import ExportFormat

_MEDIA = {ExportFormat.CSV: "text/csv; charset=utf-8", ExportFormat.JSON: "application/json"}


def download(rows: list[dict], columns: tuple[str, ...], fmt: ExportFormat, name: str) -> StreamingResponse:
    """A streamed attachment ``name.csv`` / ``name.json`` of ``rows`` (CSV formula cells neutralised by
    :func:`closeloop.services.reads.exports.render`)."""
    return StreamingResponse(exports.render(rows, columns, fmt), media_type=_MEDIA[fmt],
                             headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"'})


def attachment_response(app: App, complaint_id: int, attachment_id: int) -> FileResponse:
    """The stored file of an attachment as a download (the API's and the dashboard's; the caller has checked
    the complaint's scope): ``Content-Disposition: attachment`` with the sender's name made safe, the sniffed
    type when it is a safe one (else ``application/octet-stream``), ``nosniff`` and a sandboxing CSP.
    Raises ``NotFound`` (404) as :func:`~closeloop.services.inbound.attachments.attachment_file` does."""
    listed, path = attachment_file(app.sessions, complaint_id, attachment_id, Path(app.settings.attachment_dir))
    return FileResponse(path, media_type=served_type(listed.content_type), headers={
        "Content-Disposition": content_disposition(listed.filename, f"attachment-{listed.id}"),
        "X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox; default-src 'none'",
        "Cache-Control": "private, no-store"})
