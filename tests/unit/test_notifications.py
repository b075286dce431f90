"""The e-mails: what each kind says (text and HTML alike), when the Notifier sends them, and the MIME message."""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest
from fakes import FakeJobs, FakeMailer, FakeStore

from shared.adapters.smtp_mailer import build_message
from shared.domain.design import DesignSpec, Resources
from shared.domain.job import GitOrigin, Job, JobState, SourceObject, advance, new_job
from shared.domain.mail import MailImage, OutgoingMail
from shared.domain.metrics import Metrics
from shared.domain.notifications import MailLinks, job_accepted_mail, job_ended_mail, rejection_problems
from shared.domain.upload import job_id_for, results_prefix
from shared.services.notify import THUMBNAIL_MAX_BYTES, Notifier

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
OWNER = "ada@example.com"
BASE = "https://olc.example.org"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
HOSTILE = "<script>alert('x')</script> & \"friends\""
SOURCE = SourceObject("designs", f"{OWNER}/spm.tar.gz", 1001)
JOB_ID = job_id_for(SOURCE)
PREFIX = results_prefix(OWNER, JOB_ID)
THUMB_NAME = f"{PREFIX}files/render/layout-thumb.png"
LINKS = MailLinks(
    job_page=f"{BASE}/jobs/{JOB_ID}",
    download=f"{BASE}/v1/jobs/{JOB_ID}/download",
    results_uri=f"gs://results/{PREFIX}",
)


def queued(**changes: object) -> Job:
    design = DesignSpec("spm", "spm", ("src/spm.v",), clock_port="clk", flow="qflow-osu035")
    job = new_job(
        job_id=JOB_ID,
        owner=OWNER,
        source=SOURCE,
        at=T0,
        design_name="spm",
        flow="qflow-osu035",
        design_root="spm/",
        design=design,
        resources=Resources(cpus=2, memory_mb=4096, time_limit_minutes=45),
        results_prefix=PREFIX,
    )
    return replace(job, **changes)  # type: ignore[arg-type]


def ended(state: JobState, reason: str | None = None, **details: object) -> Job:
    running = advance(queued(), JobState.RUNNING, T0 + timedelta(minutes=1))
    assert running is not None
    job = advance(running, state, T0 + timedelta(minutes=5), reason, **details)
    assert job is not None
    return job


def succeeded(**details: object) -> Job:
    return ended(
        JobState.SUCCEEDED,
        metrics=Metrics(cell_count=377, area_um2=77920.0, wns_ns=0.0, drc_errors=0, lvs_match=True, runtime_s=9.5),
        flow_runtime_s=151.0,
        stage="render",
        artifacts={
            "gds": f"gs://results/{PREFIX}files/qflow/layout/spm.gds",
            "layout_png": f"gs://results/{PREFIX}files/render/layout.png",
            "layout_thumb_png": f"gs://results/{THUMB_NAME}",
        },
        **details,
    )


def rejected(reason: str) -> Job:
    return new_job(job_id=JOB_ID, owner=OWNER, source=SOURCE, at=T0, rejected_reason=reason)


class Mail:
    """A Notifier over fakes, with the thumbnail of the succeeded run in the results bucket."""

    def __init__(self, job: Job, *, thumbnail: bytes | None = PNG) -> None:
        self.jobs = FakeJobs(job)
        self.mailer = FakeMailer()
        self.store = FakeStore()
        if thumbnail is not None:
            self.store.put("results", THUMB_NAME, thumbnail)
        self.notifier = Notifier(self.jobs, self.mailer, "results", BASE + "/", self.store)

    def stored(self) -> Job:
        job = self.jobs.get(JOB_ID)
        assert job is not None
        return job


def parsed(mail: OutgoingMail) -> EmailMessage:
    """The message as a mail client reads it back from the wire."""
    raw = build_message(mail, "OpenLane Cloud <noreply@openlane.cloud>").as_bytes()
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def structure(message: EmailMessage) -> list[str]:
    return [part.get_content_type() for part in message.walk()]


# ---------------------------------------------------------------------------------------------- content
def test_accepted_mail_says_what_was_queued_and_where_to_follow_it() -> None:
    mail = job_accepted_mail(queued(queue_position=3), LINKS)
    assert mail.to == OWNER
    assert mail.subject == f"[OpenLane Cloud] spm: job {JOB_ID} was accepted"
    for words in (
        f"Your upload spm.tar.gz was accepted as job {JOB_ID} for design spm",
        "qflow-osu035",
        "2 CPUs, 4,096 MB, at most 45 min",
        "Place in the queue:  3",
        f"Job page:  {BASE}/jobs/{JOB_ID}",
        "olc submit --no-email",
    ):
        assert words in mail.text, words
    assert "/download" not in mail.text  # nothing to download yet
    assert f"<a href='{BASE}/jobs/{JOB_ID}'>Job page</a>" in (mail.html or "")
    assert mail.images == ()


def test_finished_mail_has_metrics_picture_and_links() -> None:
    mail = job_ended_mail(succeeded(), LINKS, PNG)
    html = mail.html or ""
    assert mail.subject == f"[OpenLane Cloud] spm: job {JOB_ID} finished successfully"
    for words in (
        "Cells                        377",
        "Cell area (µm²)              77,920.0",
        "LVS                          match",
        "Run time:        2 min 31 s",
        f"Layout picture:  gs://results/{PREFIX}files/render/layout.png",
        f"Download the results:  {BASE}/v1/jobs/{JOB_ID}/download",
        f"Results:               gs://results/{PREFIX}",
        "The HTML version of this e-mail shows a picture of the layout.",
        "notify=false",
    ):
        assert words in mail.text, words
    (image,) = mail.images
    assert (image.content_id, image.data, image.subtype) == (f"layout-{JOB_ID}@openlane.cloud", PNG, "png")
    assert f"<img src='cid:layout-{JOB_ID}@openlane.cloud' width='320' height='320'" in html
    assert "<td style='padding:3px 12px 3px 0;vertical-align:top'>Cells</td>" in html
    assert f"<a href='{BASE}/v1/jobs/{JOB_ID}/download'>Download the results</a>" in html
    assert f"Results: <code>gs://results/{PREFIX}</code>" in html


def test_finished_mail_without_a_picture_says_nothing_of_one() -> None:
    mail = job_ended_mail(succeeded(), LINKS, None)
    assert mail.images == ()
    assert "<img" not in (mail.html or "") and "picture of the layout" not in mail.text


@pytest.mark.parametrize(
    ("state", "reason", "subject", "words"),
    [
        (
            JobState.FAILED,
            "the flow failed in stage 'routing' (exit 2)",
            "failed",
            ["Your job", "failed in stage 'routing'.", "  | ERROR: congestion"],
        ),
        (JobState.CANCELLED, "cancelled by the owner", "was cancelled", ["was cancelled.", "cancelled by the owner"]),
        (JobState.TIMEOUT, None, "hit its time limit", ["stopped at its limit of 45 min", "OLC_TIME_LIMIT_MINUTES"]),
    ],
)
def test_mails_of_runs_that_did_not_finish(state: JobState, reason: str | None, subject: str, words: list[str]) -> None:
    job = ended(state, reason, stage="routing", error_excerpt="ERROR: congestion\nrouting stopped")
    mail = job_ended_mail(job, LINKS, PNG)
    assert mail.subject == f"[OpenLane Cloud] spm: job {JOB_ID} {subject}"
    assert re.search(r"^  Stage:\s+routing$", mail.text, re.MULTILINE)
    for expected in [*words, "Error excerpt from the flow:", f"{BASE}/v1/jobs/{JOB_ID}/download", "--no-email"]:
        assert expected in mail.text, expected
    assert "<pre style=" in (mail.html or "") and "ERROR: congestion\nrouting stopped</pre>" in (mail.html or "")
    assert mail.images == ()  # the picture is for finished layouts only


def test_a_failure_without_an_excerpt_shows_the_last_lines_of_the_log() -> None:
    job = ended(JobState.FAILED, "no manifest", stage="routing", log_tail="pass 7\npass 8")
    mail = job_ended_mail(job, LINKS)
    assert "Last lines of the log:\n  | pass 7\n  | pass 8" in mail.text
    assert "Error excerpt" not in mail.text


def test_rejected_mail_lists_every_config_problem() -> None:
    reason = "config.json: DESIGN_NAME 'my design' is not an identifier; 'dir::rtl/*.v' matches no file; and 2 more"
    mail = job_ended_mail(rejected(reason), MailLinks(job_page=f"{BASE}/jobs/{JOB_ID}"))
    assert mail.subject == f"[OpenLane Cloud] spm.tar.gz: job {JOB_ID} was rejected"
    assert (
        "config.json has these 3 problems:\n"
        "  - DESIGN_NAME 'my design' is not an identifier\n"
        "  - 'dir::rtl/*.v' matches no file\n"
        "  - and 2 more\n"
    ) in mail.text
    assert "fix what is listed above and upload again" in mail.text
    html = mail.html or ""
    assert "<ul><li>DESIGN_NAME &#x27;my design&#x27; is not an identifier</li><li>" in html
    assert html.count("<li>") == 3


@pytest.mark.parametrize(
    ("reason", "lead", "items"),
    [
        ("config.json: CLOCK_PERIOD 'soon' is not a number", "config.json has this problem:", 1),
        ("'notes.txt' is not a design archive: upload a .tar.gz", "The problem:", 1),
        (None, "The upload could not be used.", 0),
    ],
)
def test_rejection_problems(reason: str | None, lead: str, items: int) -> None:
    assert rejection_problems(reason)[0] == lead
    assert len(rejection_problems(reason)[1]) == items


def test_user_strings_are_escaped_in_html_and_cannot_break_the_subject() -> None:
    job = ended(
        JobState.FAILED,
        HOSTILE,
        design_name=f"evil\r\nBcc: victim@example.com {HOSTILE}",
        stage=HOSTILE,
        error_excerpt=f"</pre>{HOSTILE}",
    )
    mail = job_ended_mail(job, LINKS)
    html = mail.html or ""
    assert "<script>" not in html and "</pre><script" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;friends&quot;" in html
    assert "\n" not in mail.subject and "\r" not in mail.subject
    assert mail.subject.startswith("[OpenLane Cloud] evil Bcc: victim@example.com <script>")
    message = parsed(mail)
    assert message["Bcc"] is None and message["To"] == OWNER
    assert HOSTILE in message.get_body(("plain",)).get_content()  # plain text needs no escaping


def test_a_long_design_name_is_cut_in_the_subject() -> None:
    mail = job_accepted_mail(queued(design_name="d" * 500), LINKS)
    assert len(mail.subject) == 160 and mail.subject.endswith("…")


# ---------------------------------------------------------------------------------- git, reuse, reruns
COMMIT = "1a2b3c4d5e6f" + "7" * 28
GIT = GitOrigin("https://git.example.org/ada/examples.git", "main", "spm", COMMIT)
OTHER_JOB = "j" + "0" * 19
PARENT_JOB = "j" + "1" * 19


def test_a_design_from_git_says_where_it_came_from_when_accepted_and_when_ended() -> None:
    source = f"Source:     https://git.example.org/ada/examples.git main @ {COMMIT} (folder spm)"
    accepted = job_accepted_mail(queued(git=GIT), LINKS)
    assert source in accepted.text
    assert "Your design from https://git.example.org/ada/examples.git (main) was accepted as job" in accepted.text
    assert "Upload:" not in accepted.text  # the packed design is an implementation detail
    for state in (JobState.SUCCEEDED, JobState.FAILED):
        mail = job_ended_mail(ended(state, git=GIT), LINKS)
        assert re.search(
            rf"^  Source:\s+https://git\.example\.org/ada/examples\.git main @ {COMMIT} \(folder spm\)$",
            mail.text,
            re.MULTILINE,
        ), mail.text
        assert f"https://git.example.org/ada/examples.git main @ {COMMIT} (folder spm)</td>" in (mail.html or "")
    # Rejected (e.g. the fetch failed): the source, and nothing of an upload to fix.
    refused = replace(rejected("the ref 'mian' does not exist"), git=GitOrigin(GIT.url, "mian"))
    mail = job_ended_mail(refused, LINKS)
    assert re.search(r"^  Source:\s+https://git\.example\.org/ada/examples\.git mian$", mail.text, re.MULTILINE)
    assert "submit again" in mail.text and "upload again" not in mail.text
    # An upload's ended mails stay as they were: no source line.
    assert "Source:" not in job_ended_mail(succeeded(), LINKS).text


def test_the_source_line_is_escaped_in_html() -> None:
    hostile = GitOrigin(f"https://git.example.org/{HOSTILE}.git", f"<b>{HOSTILE}", "", None)
    mail = job_ended_mail(ended(JobState.FAILED, git=hostile), LINKS)
    html = mail.html or ""
    assert "<script>" not in html and "<b>" not in html
    assert "&lt;b&gt;&lt;script&gt;" in html
    assert f"https://git.example.org/{HOSTILE}.git <b>{HOSTILE}" in mail.text  # plain text as it is


def test_a_reused_result_names_the_job_it_came_from_with_its_page() -> None:
    job = succeeded(reused_from=OTHER_JOB, core_hours=0.0, git=GIT)
    mail = job_ended_mail(job, LINKS, PNG)
    html = mail.html or ""
    assert re.search(rf"^  Reused:\s+same inputs as job {OTHER_JOB}: results reused$", mail.text, re.MULTILINE)
    assert f"It had the same inputs as job {OTHER_JOB}, so that run's results were reused" in mail.text
    assert f"Job {OTHER_JOB} (results reused):  {BASE}/jobs/{OTHER_JOB}" in mail.text
    assert f"<a href='{BASE}/jobs/{OTHER_JOB}'>Job {OTHER_JOB} (results reused)</a>" in html
    assert f"same inputs as job {OTHER_JOB}: results reused</td>" in html
    # No base URL: no page to link to, the fact stays.
    bare = job_ended_mail(job, MailLinks())
    assert "results reused" in bare.text and "/jobs/" not in bare.text


def test_a_rerun_names_the_job_it_reruns() -> None:
    mail = job_accepted_mail(queued(parent_job=PARENT_JOB), LINKS)
    assert re.search(rf"^  Rerun of:\s+job {PARENT_JOB}$", mail.text, re.MULTILINE)
    assert f"<a href='{BASE}/jobs/{PARENT_JOB}'>Job {PARENT_JOB} (rerun of)</a>" in (mail.html or "")
    ended_mail = job_ended_mail(ended(JobState.CANCELLED, "cancelled by the owner", parent_job=PARENT_JOB), LINKS)
    assert f"Rerun of:  job {PARENT_JOB}" in ended_mail.text


# -------------------------------------------------------------------------------------------- notifier
def test_accepted_then_finished_each_once_with_the_thumbnail_inline() -> None:
    run = Mail(queued())
    run.notifier.job_accepted(queued())
    run.notifier.job_accepted(run.stored())  # a redelivered upload event
    run.jobs.mutate(JOB_ID, lambda _: replace(succeeded(), notified=run.stored().notified))
    run.notifier.job_ended(run.stored())
    run.notifier.job_ended(run.stored())

    accepted, finished = run.mailer.sent
    assert "was accepted" in accepted.subject and "finished successfully" in finished.subject
    assert run.stored().notified == ("accepted", "ended")
    (image,) = finished.images
    assert image.data == PNG
    assert f"{BASE}/jobs/{JOB_ID}" in finished.text  # the trailing slash of the base URL is not doubled


@pytest.mark.parametrize(
    "job",
    [queued(notifications_enabled=False), queued(owner=""), ended(JobState.FAILED, "x")],
    ids=["opted-out", "no-owner", "already-ended"],
)
def test_no_accepted_mail_when_off_ownerless_or_ended(job: Job) -> None:
    run = Mail(job)
    run.notifier.job_accepted(job)
    assert run.mailer.sent == [] and run.stored().notified == ()


def test_no_accepted_mail_once_the_stored_job_has_ended() -> None:
    """Ingest hands over the job it created; the run may have ended (and mailed) since."""
    run = Mail(ended(JobState.SUCCEEDED))
    run.notifier.job_accepted(queued())
    assert run.mailer.sent == []


def test_opting_out_silences_the_end_mail_too() -> None:
    job = succeeded(notifications_enabled=False)
    run = Mail(job)
    run.notifier.job_ended(job)
    assert run.mailer.sent == []


@pytest.mark.parametrize(
    ("thumbnail", "link"),
    [
        (None, f"gs://results/{THUMB_NAME}"),  # the render drew nothing
        (b"GIF89a" + b"\x00" * 10, f"gs://results/{THUMB_NAME}"),  # not a PNG
        (PNG + b"\x00" * THUMBNAIL_MAX_BYTES, f"gs://results/{THUMB_NAME}"),  # too big to mail
        (PNG, f"gs://other-bucket/{THUMB_NAME}"),  # not this deployment's results
        (PNG, "gs://results/bob@example.com/jbbbbbbbbbbbbbbbbbbb/files/render/layout-thumb.png"),  # not this job's
    ],
    ids=["missing", "not-png", "too-big", "other-bucket", "other-job"],
)
def test_the_finished_mail_goes_without_a_picture_it_cannot_use(thumbnail: bytes | None, link: str) -> None:
    job = succeeded()
    job = replace(job, artifacts={**job.artifacts, "layout_thumb_png": link})
    run = Mail(job, thumbnail=thumbnail)
    if thumbnail is not None and "bob@" in link:
        run.store.put("results", link.removeprefix("gs://results/"), thumbnail)
    run.notifier.job_ended(job)
    (mail,) = run.mailer.sent
    assert mail.images == () and "<img" not in (mail.html or "")


def test_a_store_error_costs_the_picture_not_the_mail() -> None:
    class BrokenStore(FakeStore):
        def read_bytes(self, bucket: str, name: str, max_bytes: int) -> bytes | None:
            raise RuntimeError("503 from Cloud Storage")

    job = succeeded()
    run = Mail(job)
    notifier = replace(run.notifier, store=BrokenStore())
    notifier.job_ended(job)
    (mail,) = run.mailer.sent
    assert mail.images == ()


def test_no_store_means_no_picture_and_no_base_url_means_no_links() -> None:
    job = succeeded()
    jobs, mailer = FakeJobs(job), FakeMailer()
    Notifier(jobs, mailer, "results").job_ended(job)
    (mail,) = mailer.sent
    assert mail.images == () and "https://" not in mail.text
    assert f"gs://results/{PREFIX}" in mail.text


def test_a_failed_send_releases_the_claim_for_a_later_try() -> None:
    class DownMailer(FakeMailer):
        def send(self, mail: OutgoingMail) -> None:
            raise ConnectionRefusedError("relay down")

    job = queued()
    run = Mail(job)
    replace(run.notifier, mailer=DownMailer()).job_accepted(job)
    assert run.stored().notified == ()
    run.notifier.job_accepted(run.stored())
    assert len(run.mailer.sent) == 1 and run.stored().notified == ("accepted",)


# ------------------------------------------------------------------------------------------ MIME message
def test_message_with_a_picture_is_alternative_text_and_related_html_with_the_image() -> None:
    mail = job_ended_mail(succeeded(), LINKS, PNG)
    message = parsed(mail)
    assert structure(message) == [
        "multipart/alternative",
        "text/plain",
        "multipart/related",
        "text/html",
        "image/png",
    ]
    assert (message["To"], message["Subject"]) == (OWNER, mail.subject)
    assert message["From"] == "OpenLane Cloud <noreply@openlane.cloud>"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Message-ID"].endswith("@openlane.cloud>")
    image = next(part for part in message.walk() if part.get_content_type() == "image/png")
    assert image["Content-ID"] == f"<layout-{JOB_ID}@openlane.cloud>"
    assert image.get_content_disposition() == "inline" and image.get_filename() == "layout-thumb.png"
    assert image.get_content() == PNG
    html = message.get_body(("html",)).get_content()
    assert f"src='cid:{image['Content-ID'][1:-1]}'" in html
    assert "Cells" in message.get_body(("plain",)).get_content()


def test_message_without_a_picture_is_plain_alternative() -> None:
    message = parsed(job_ended_mail(ended(JobState.FAILED, "x"), LINKS))
    assert structure(message) == ["multipart/alternative", "text/plain", "text/html"]


def test_message_without_html_is_plain_text() -> None:
    images = (MailImage("unused@x", PNG),)
    message = parsed(OutgoingMail(to=OWNER, subject="s", text="only text\n", images=images))
    assert structure(message) == ["text/plain"]
    assert message.get_content() == "only text\n"


def test_non_ascii_survives_the_round_trip() -> None:
    mail = OutgoingMail(to=OWNER, subject="Größe µm²", text="Fläche 3 µm²\n", html="<p>Fläche 3 µm²</p>")
    message = parsed(mail)
    assert message["Subject"] == "Größe µm²"
    assert message.get_body(("plain",)).get_content() == "Fläche 3 µm²\n"
    assert "Fläche" in message.get_body(("html",)).get_content()
