"""The e-mails a user receives, composed from the job alone (plain text and HTML)."""

from __future__ import annotations

import html

from shared.domain.job import Job, JobState
from shared.domain.metrics import Metrics
from shared.ports import OutgoingMail

_METRIC_LABELS = (
    ("cell_count", "Cells", "{:d}"),
    ("area_um2", "Cell area (um^2)", "{:,.1f}"),
    ("wns_ns", "Worst negative slack (ns)", "{:.3f}"),
    ("tns_ns", "Total negative slack (ns)", "{:.3f}"),
    ("max_frequency_mhz", "Max frequency (MHz)", "{:.1f}"),
    ("drc_errors", "DRC errors", "{:d}"),
    ("lvs_match", "LVS", "{}"),
    ("runtime_s", "Flow runtime (s)", "{:.1f}"),
    ("peak_memory_mb", "Peak memory (MB)", "{:.0f}"),
)
_HEADLINES = {
    JobState.SUCCEEDED: "finished successfully",
    JobState.FAILED: "failed",
    JobState.CANCELLED: "was cancelled",
    JobState.TIMEOUT: "hit its time limit",
    JobState.REJECTED: "was rejected",
}


def metric_rows(metrics: Metrics | None) -> list[tuple[str, str]]:
    values = metrics.to_dict() if metrics else {}
    rows = []
    for key, label, fmt in _METRIC_LABELS:
        if key in values:
            value = values[key]
            text = ("match" if value else "MISMATCH") if key == "lvs_match" else fmt.format(value)
            rows.append((label, text))
    return rows


def job_ended_mail(job: Job, *, results_uri: str | None, status_url: str | None) -> OutgoingMail:
    design = job.design_name or job.source.name.rsplit("/", 1)[-1]
    subject = f"[OpenLane Cloud] {design}: job {job.id} {_HEADLINES.get(job.state, job.state.value)}"
    lines = [f"Your job {job.id} for design {design} {_HEADLINES.get(job.state, job.state.value)}.", ""]
    lines.append(f"Upload:  {job.source.uri}")
    if job.reason:
        lines.append(f"Reason:  {job.reason}")
    rows = metric_rows(job.metrics)
    if rows:
        lines += ["", "Metrics:"] + [f"  {label:<28} {value}" for label, value in rows]
    if job.error_excerpt:
        lines += [
            "",
            "Error excerpt from the flow:",
            *("  " + line for line in job.error_excerpt.splitlines()),
        ]
    if results_uri:
        lines += ["", f"Results: {results_uri}"]
    if status_url:
        lines.append(f"Status:  {status_url}")
    if job.state is JobState.REJECTED:
        lines += ["", "Your upload is kept unchanged; fix the problem and upload again."]
    text = "\n".join(lines) + "\n"
    return OutgoingMail(
        to=job.owner, subject=subject, text=text, html=_html(job, design, rows, results_uri, status_url)
    )


def _html(job: Job, design: str, rows: list[tuple[str, str]], results_uri: str | None, status_url: str | None) -> str:
    e = html.escape
    parts = [f"<p>Your job <b>{e(job.id)}</b> for design <b>{e(design)}</b> {e(_HEADLINES.get(job.state, ''))}.</p>"]
    if job.reason:
        parts.append(f"<p><b>Reason:</b> {e(job.reason)}</p>")
    if rows:
        cells = "".join(f"<tr><td>{e(label)}</td><td align='right'>{e(value)}</td></tr>" for label, value in rows)
        parts.append(f"<table>{cells}</table>")
    if job.error_excerpt:
        parts.append(f"<pre>{e(job.error_excerpt)}</pre>")
    if results_uri:
        parts.append(f"<p>Results: <code>{e(results_uri)}</code></p>")
    if status_url:
        parts.append(f"<p><a href='{e(status_url)}'>Job page</a></p>")
    return "<html><body>" + "".join(parts) + "</body></html>"
