"""The e-mails a user receives about a job, composed from the job alone: a plain text and an HTML version saying the
same thing.

* accepted: the upload became a job and waits for the cluster;
* rejected: nothing ran, with every problem found (config.json's problems as a list);
* finished: the metrics (a key figure the run did not measure says "not measured"), the layout thumbnail shown
  inline (a CID image next to the HTML), links;
* failed, cancelled, timed out: the stage, the error excerpt (else the last lines of the log), links.

A design from git says where it came from ("Source: URL ref @ commit"); a job that reused an earlier identical run's
results, or reruns another job with changes, names that job and links to its page.

Every one ends saying how to get no e-mails. User strings (design and file names, reasons, logs) are escaped in the
HTML and lose control characters in the subject, so an upload can neither inject markup nor headers.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from shared.domain.job import GitOrigin, Job, JobState
from shared.domain.mail import MailImage, OutgoingMail
from shared.domain.metrics import KEY_METRICS, NOT_MEASURED, Metrics

PRODUCT = "OpenLane Cloud"
THUMBNAIL_FILENAME = "layout-thumb.png"
THUMBNAIL_SIZE = 320  # render.THUMB_SIZE: the <img> keeps its place while a client loads the picture
MAX_SUBJECT_CHARS = 160
CONFIG_PREFIX = "config.json: "
CONFIG_SEPARATOR = "; "  # how DesignConfigError joins its problems

_METRIC_LABELS = (
    ("cell_count", "Cells", "{:,d}"),
    ("area_um2", "Cell area (µm²)", "{:,.1f}"),
    ("die_area_um2", "Die area (µm²)", "{:,.1f}"),
    ("core_area_um2", "Core area (µm²)", "{:,.1f}"),
    ("utilization_pct", "Utilization (%)", "{:.1f}"),
    ("clock_period_ns", "Clock period (ns)", "{:.3g}"),
    ("wns_ns", "Worst negative slack (ns)", "{:.3f}"),
    ("tns_ns", "Total negative slack (ns)", "{:.3f}"),
    ("hold_wns_ns", "Hold worst neg. slack (ns)", "{:.3f}"),
    ("hold_tns_ns", "Hold total neg. slack (ns)", "{:.3f}"),
    ("setup_violations", "Setup violations", "{:,d}"),
    ("hold_violations", "Hold violations", "{:,d}"),
    ("max_frequency_mhz", "Max frequency (MHz)", "{:,.1f}"),
    ("max_slew_violations", "Max slew violations", "{:,d}"),
    ("max_cap_violations", "Max capacitance violations", "{:,d}"),
    ("max_fanout_violations", "Max fanout violations", "{:,d}"),
    ("power_total_w", "Power (mW)", "{:,.3f}"),  # shown in mW: Metrics holds watts
    ("wire_length_um", "Wire length (µm)", "{:,.0f}"),
    ("drc_errors", "DRC errors", "{:d}"),
    ("lvs_match", "LVS", "{}"),
    ("routing_failures", "Routing failures", "{:d}"),
    ("antenna_violating_nets", "Antenna violations (nets)", "{:,d}"),
    ("antenna_violating_pins", "Antenna violations (pins)", "{:,d}"),
    ("lint_errors", "Lint errors", "{:,d}"),
    ("lint_warnings", "Lint warnings", "{:,d}"),
    ("inferred_latches", "Inferred latches", "{:,d}"),
    ("unmapped_cells", "Unmapped cells", "{:,d}"),
    ("synthesis_check_errors", "Synthesis check errors", "{:,d}"),
    ("runtime_s", "Flow runtime (s)", "{:,.1f}"),
    ("peak_memory_mb", "Peak memory (MB)", "{:,.0f}"),
)
_COUNT_FORMATS = ("{:d}", "{:,d}")
_HEADLINES = {
    JobState.QUEUED: "was accepted",
    JobState.SUCCEEDED: "finished successfully",
    JobState.FAILED: "failed",
    JobState.CANCELLED: "was cancelled",
    JobState.TIMEOUT: "hit its time limit",
    JobState.REJECTED: "was rejected",
}
_SUBJECT_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_OPT_OUT = (
    f"You get this e-mail because you uploaded a design to {PRODUCT} with e-mails on. To upload a design without "
    "any e-mails about it, use 'olc submit --no-email', or give the uploaded object the metadata notify=false."
)
_STYLE_BODY = "font-family:Arial,Helvetica,sans-serif;font-size:14px;line-height:1.45;color:#1f2328"
_STYLE_CELL = "padding:3px 12px 3px 0;vertical-align:top"
_STYLE_PRE = "background:#f6f8fa;border:1px solid #d0d7de;padding:8px;font-size:12px;white-space:pre-wrap"
_STYLE_FOOTER = "color:#57606a;font-size:12px;border-top:1px solid #d0d7de;padding-top:8px;margin-top:24px"


@dataclass(frozen=True)
class MailLinks:
    """Where the e-mail points: the job's page, the download of its results, and the results' location."""

    job_page: str | None = None
    download: str | None = None
    results_uri: str | None = None


@dataclass
class _Content:
    """One e-mail's content, written out twice (text, HTML) by `_compose`."""

    headline: str
    intro: str
    facts: list[tuple[str, str]]
    problems: tuple[str, list[str]] | None = None
    metrics: list[tuple[str, str]] | None = None
    image_cid: str | None = None
    excerpt: tuple[str, str] | None = None
    links: list[tuple[str, str]] | None = None
    closing: str | None = None


def metric_rows(metrics: Metrics | None) -> list[tuple[str, str]]:
    """Label and value of each figure: KEY_METRICS always (NOT_MEASURED when the run did not measure one), the
    others when measured. No rows at all when the run measured nothing (e.g. it failed before synthesis)."""
    values = metrics.to_dict() if metrics else {}
    if not values:
        return []
    rows = []
    for key, label, fmt in _METRIC_LABELS:
        if key in values:
            rows.append((label, _metric_text(key, values[key], fmt)))
        elif key in KEY_METRICS:
            rows.append((label, NOT_MEASURED))
    return rows


def _metric_text(key: str, value: object, fmt: str) -> str:
    if key == "lvs_match":
        return "match" if value else "MISMATCH"
    if key == "power_total_w" and isinstance(value, int | float):
        value = value * 1000
    if fmt in _COUNT_FORMATS and isinstance(value, float) and value.is_integer():
        value = int(value)  # a count stored as 3.0 still reads 3
    return fmt.format(value)


def rejection_problems(reason: str | None) -> tuple[str, list[str]]:
    """What to list for a rejection: a lead-in and one item per problem (DesignConfigError joins several)."""
    if not reason:
        return "The upload could not be used.", []
    if reason.startswith(CONFIG_PREFIX):
        items = [p for p in reason[len(CONFIG_PREFIX) :].split(CONFIG_SEPARATOR) if p.strip()]
        count = "this problem" if len(items) == 1 else f"these {len(items)} problems"
        return f"config.json has {count}:", items
    return "The problem:", [reason]


def thumbnail_cid(job: Job) -> str:
    return f"layout-{job.id}@openlane.cloud"


def source_line(git: GitOrigin) -> str:
    """Where a design from git came from: `URL ref @ commit (folder PATH)`; no commit while it is being fetched."""
    at = f" @ {git.commit}" if git.commit else ""
    folder = f" (folder {git.path})" if git.path else ""
    return f"{git.url} {git.ref}{at}{folder}"


def reuse_text(job_id: str) -> str:
    return f"same inputs as job {job_id}: results reused"


def job_accepted_mail(job: Job, links: MailLinks) -> OutgoingMail:
    design = _design(job)
    facts = [("Design", design), *_origin_facts(job, upload=True)]
    if job.flow:
        facts.append(("Flow", job.flow))
    facts.append(("Resources", _resources(job)))
    if job.queue_position:
        facts.append(("Place in the queue", str(job.queue_position)))
    content = _Content(
        headline=f"Job {job.id} accepted",
        intro=(
            f"Your {_submission(job)} was accepted as job {job.id} for design {design}. It waits for a free "
            "slot on the cluster; you will get another e-mail when it has ended."
        ),
        facts=facts,
        links=_link_list(links, downloads=False, job=job),
    )
    return _compose(job, f"job {job.id} {_HEADLINES[JobState.QUEUED]}", content, None)


def job_ended_mail(job: Job, links: MailLinks, thumbnail: bytes | None = None) -> OutgoingMail:
    """The e-mail for a job in a terminal state. `thumbnail`, a PNG, is shown inline when the job succeeded."""
    if job.state is JobState.REJECTED:
        return _compose(job, f"job {job.id} {_HEADLINES[job.state]}", _rejected(job, links), None)
    headline = _HEADLINES.get(job.state, job.state.value.lower())
    image = thumbnail if job.state is JobState.SUCCEEDED and thumbnail else None
    content = _finished(job, links, image is not None) if job.state is JobState.SUCCEEDED else _stopped(job, links)
    return _compose(job, f"job {job.id} {headline}", content, image)


# ------------------------------------------------------------------------------------------------- content
def _rejected(job: Job, links: MailLinks) -> _Content:
    kept = (
        "Nothing was changed in your repository; fix what is listed above and submit again."
        if job.git is not None
        else "Your upload is kept unchanged; fix what is listed above and upload again."
    )
    return _Content(
        headline=f"Job {job.id} rejected",
        intro=f"Your {_submission(job)} was rejected, so nothing was run.",
        facts=_origin_facts(job, upload=True),
        problems=rejection_problems(job.reason),
        links=_link_list(links, downloads=False, job=job),
        closing=kept,
    )


def _finished(job: Job, links: MailLinks, with_image: bool) -> _Content:
    design = _design(job)
    facts = [("Design", design), *_origin_facts(job, upload=False), ("Flow", job.flow or "-")]
    if job.flow_runtime_s is not None:
        facts.append(("Run time", _duration(job.flow_runtime_s)))
    picture = job.artifacts.get("layout_png")
    if picture:
        facts.append(("Layout picture", picture))
    if job.design is not None and job.design.sweep is not None:
        # A sweep: the figures below are the best run's; the table compares every run.
        facts.append(("Sweep", job.reason or f"{len(job.design.sweep.runs)} runs"))
        search = job.design.sweep.search
        if search is not None:
            ended = sum(1 for r in job.runs if r.ended)
            facts.append(("Search", f"{search.describe()}; {ended} of {search.budget} runs (seed {search.seed})"))
        facts.append(("Objective", job.design.sweep.objective.describe()))
        for label, key in (("Comparison table", "comparison_csv"), ("Pareto plot", "pareto_png")):
            if key in job.artifacts:
                facts.append((label, job.artifacts[key]))
    facts += [("Warning", warning) for warning in job.warnings]
    reused = (
        f" It had the same inputs as job {job.reused_from}, so that run's results were reused instead of running again."
        if job.reused_from
        else ""
    )
    return _Content(
        headline=f"{design} finished",
        intro=f"Your job {job.id} for design {design} finished successfully.{reused}",
        facts=facts,
        metrics=metric_rows(job.metrics),
        image_cid=thumbnail_cid(job) if with_image else None,
        links=_link_list(links, downloads=True, job=job),
    )


def _stopped(job: Job, links: MailLinks) -> _Content:
    design = _design(job)
    headline = _HEADLINES.get(job.state, job.state.value.lower())
    step = job.stages[-1] if job.stages and job.stages[-1].name == job.stage else None
    kind = "step" if step is not None and step.step is not None else "stage"
    where = f" in {kind} {job.stage!r}" if job.stage and job.state is JobState.FAILED else ""
    facts = [("Design", design), *_origin_facts(job, upload=False), ("Flow", job.flow or "-")]
    if job.reason:
        facts.append(("Reason", job.reason))
    if job.stage:
        facts.append(("Step" if kind == "step" else "Stage", step.describe() if step is not None else job.stage))
    if job.flow_runtime_s is not None:
        facts.append(("Run time", _duration(job.flow_runtime_s)))
    # The manifest's excerpt (error lines, then the log's end) says more; the live tail is the fallback.
    if job.error_excerpt:
        excerpt = ("Error excerpt from the flow", job.error_excerpt)
    elif job.log_tail:
        excerpt = ("Last lines of the log", job.log_tail)
    else:
        excerpt = None
    closing = "The logs of every stage that ran are among the results."
    if job.state is JobState.TIMEOUT:
        closing = (
            f"The run was stopped at its limit of {job.resources.time_limit_minutes} min. A design may ask for more "
            "time with OLC_TIME_LIMIT_MINUTES in config.json. " + closing
        )
    return _Content(
        headline=f"{design} {headline}",
        intro=f"Your job {job.id} for design {design} {headline}{where}.",
        facts=facts,
        metrics=metric_rows(job.metrics),
        excerpt=excerpt,
        links=_link_list(links, downloads=True, job=job),
        closing=closing,
    )


def _origin_facts(job: Job, *, upload: bool) -> list[tuple[str, str]]:
    """Where the design came from (git: "Source"; else, with `upload`, the uploaded object) and the jobs this one
    reused or reruns."""
    facts = []
    if job.git is not None:
        facts.append(("Source", source_line(job.git)))
    elif upload:
        facts.append(("Upload", job.source.uri))
    if job.reused_from:
        facts.append(("Reused", reuse_text(job.reused_from)))
    if job.parent_job:
        facts.append(("Rerun of", f"job {job.parent_job}"))
    return facts


def _link_list(links: MailLinks, *, downloads: bool, job: Job) -> list[tuple[str, str]]:
    found = [("Job page", links.job_page)]
    if downloads:
        found += [("Download the results", links.download), ("Results", links.results_uri)]
    # The pages of the jobs this one reused or reruns sit next to its own.
    own = f"/jobs/{job.id}"
    if links.job_page and links.job_page.endswith(own):
        base = links.job_page.removesuffix(job.id)
        if job.reused_from:
            found.append((f"Job {job.reused_from} (results reused)", base + job.reused_from))
        if job.parent_job:
            found.append((f"Job {job.parent_job} (rerun of)", base + job.parent_job))
    return [(label, url) for label, url in found if url]


# ----------------------------------------------------------------------------------------------- rendering
def _compose(job: Job, subject_tail: str, content: _Content, image: bytes | None) -> OutgoingMail:
    subject = _subject(f"[{PRODUCT}] {_design(job)}: {subject_tail}")
    images = (MailImage(content.image_cid, image, "png", THUMBNAIL_FILENAME),) if image and content.image_cid else ()
    return OutgoingMail(to=job.owner, subject=subject, text=_text(content), html=_html(content), images=images)


def _text(content: _Content) -> str:
    lines = [content.intro, ""]
    width = max((len(label) for label, _ in content.facts), default=0)
    lines += [f"  {label + ':':<{width + 1}}  {value}" for label, value in content.facts]
    if content.problems:
        lead, items = content.problems
        lines += ["", lead, *(f"  - {item}" for item in items)]
    if content.metrics:
        lines += ["", "Metrics:", *(f"  {label:<28} {value}" for label, value in content.metrics)]
    if content.image_cid:
        lines += ["", "The HTML version of this e-mail shows a picture of the layout."]
    if content.excerpt:
        title, text = content.excerpt
        lines += ["", f"{title}:", *(f"  | {line}" for line in text.splitlines())]
    if content.links:
        width = max(len(label) for label, _ in content.links)
        lines += ["", *(f"{label + ':':<{width + 1}}  {url}" for label, url in content.links)]
    if content.closing:
        lines += ["", content.closing]
    lines += ["", "-- ", _OPT_OUT]
    return "\n".join(lines) + "\n"


def _html(content: _Content) -> str:
    e = _escape
    parts = [f"<h2 style='font-size:18px;margin:0 0 12px'>{e(content.headline)}</h2>", f"<p>{e(content.intro)}</p>"]
    if content.facts:
        rows = "".join(
            f"<tr><td style='{_STYLE_CELL};color:#57606a'>{e(label)}</td><td style='{_STYLE_CELL}'>{e(value)}</td></tr>"
            for label, value in content.facts
        )
        parts.append(f"<table style='border-collapse:collapse'>{rows}</table>")
    if content.problems:
        lead, items = content.problems
        parts.append(f"<p><b>{e(lead)}</b></p>")
        if items:
            parts.append("<ul>" + "".join(f"<li>{e(item)}</li>" for item in items) + "</ul>")
    if content.image_cid:
        parts.append(
            f"<p><img src='cid:{e(content.image_cid)}' width='{THUMBNAIL_SIZE}' height='{THUMBNAIL_SIZE}' "
            "alt='Picture of the layout' style='border:1px solid #d0d7de'></p>"
        )
    if content.metrics:
        rows = "".join(
            f"<tr><td style='{_STYLE_CELL}'>{e(label)}</td><td style='{_STYLE_CELL};text-align:right'>{e(value)}</td>"
            "</tr>"
            for label, value in content.metrics
        )
        parts.append(f"<h3 style='font-size:15px'>Metrics</h3><table style='border-collapse:collapse'>{rows}</table>")
    if content.excerpt:
        title, text = content.excerpt
        parts.append(f"<h3 style='font-size:15px'>{e(title)}</h3><pre style='{_STYLE_PRE}'>{e(text)}</pre>")
    if content.links:
        items = []
        for label, url in content.links:
            if url.startswith(("https://", "http://")):
                items.append(f"<a href='{e(url)}'>{e(label)}</a>")
            else:  # gs:// is no link a mail client opens; show it to copy
                items.append(f"{e(label)}: <code>{e(url)}</code>")
        parts.append("<p>" + "<br>".join(items) + "</p>")
    if content.closing:
        parts.append(f"<p>{e(content.closing)}</p>")
    parts.append(f"<p style='{_STYLE_FOOTER}'>{e(_OPT_OUT)}</p>")
    body = "".join(parts)
    return f"<!DOCTYPE html><html><head><meta charset='utf-8'></head><body style='{_STYLE_BODY}'>{body}</body></html>"


def _escape(value: str) -> str:
    return html.escape(value, quote=True)


def _subject(text: str) -> str:
    subject = _SUBJECT_UNSAFE.sub(" ", text).strip()
    return subject if len(subject) <= MAX_SUBJECT_CHARS else subject[: MAX_SUBJECT_CHARS - 1] + "…"


def _design(job: Job) -> str:
    return job.design_name or _file_name(job)


def _file_name(job: Job) -> str:
    return job.source.name.rsplit("/", 1)[-1]


def _submission(job: Job) -> str:
    """What the user sent: "upload spm.tar.gz", or "design from https://host/repo.git (main)"."""
    if job.git is not None:
        return f"design from {job.git.url} ({job.git.ref})"
    return f"upload {_file_name(job)}"


def _resources(job: Job) -> str:
    r = job.resources
    return f"{r.cpus} CPU{'s' if r.cpus != 1 else ''}, {r.memory_mb:,} MB, at most {r.time_limit_minutes} min"


def _duration(seconds: float) -> str:
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"
