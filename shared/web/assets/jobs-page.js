// My jobs (/): the signed-in user's jobs, newest first, updated in place while any is active; the upload form.

import { api, ApiError, auth, showError, signIn } from "./api.js";
import { Poller, startPage } from "./app.js";
import { $, badge, h, markRendered, safeUrl, timeElement } from "./dom.js";
import { ACTIVE, bytes, jobName, queueText, STATE_LABELS } from "./format.js";

const jobsPage = {
  PAGE_SIZE: 25,
  rows: new Map(), // job id -> { row, job, signature }
  cursor: null,
  filter: "",
  uploads: new Map(), // object name of an upload from this page -> when it was sent, until its job appears
  newest: "", // creation time of the newest job seen, shown or not (the filter may hide it)
  polls: 0,
  poller: null,
  wired: false,

  async start() {
    if (!auth.read()) {
      signIn.show("Sign in to see your jobs.");
      return;
    }
    signIn.hide();
    $("content").hidden = false;
    this.wire();
    await this.reload();
    this.poller ??= new Poller(() => this.refresh(), () => this.delay());
    this.poller.start();
  },

  wire() {
    if (this.wired) return;
    this.wired = true;
    $("state-filter").addEventListener("change", (event) => {
      this.filter = event.target.value;
      this.reload().catch(showError);
    });
    $("load-more").addEventListener("click", () => this.loadPage().catch(showError));
    $("upload-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.upload().catch(showError);
    });
  },

  async reload() {
    this.rows.clear();
    $("jobs-body").replaceChildren();
    this.cursor = null;
    await this.loadPage();
    markRendered("jobs");
  },

  async loadPage() {
    const query = new URLSearchParams({ limit: String(this.PAGE_SIZE) });
    if (this.filter) query.set("state", this.filter);
    if (this.cursor) query.set("cursor", this.cursor);
    const button = $("load-more");
    button.disabled = true;
    try {
      const page = await api(`/v1/jobs?${query}`);
      for (const job of page.jobs) {
        this.place(job, true);
        this.noteNewest(job);
      }
      this.cursor = page.next_cursor;
    } finally {
      button.disabled = false;
    }
    button.hidden = !this.cursor;
    this.showEmpty();
  },

  /** Polling, cheap in Firestore reads: one query for my active jobs (documents read = active jobs, not all of
   * them), one read per job that has just left the active states, and now and then the newest job alone (two
   * reads), which finds jobs sent with olc or from another tab even when they ended between two polls. */
  async refresh() {
    this.polls += 1;
    const page = await api(`/v1/jobs?state=${[...ACTIVE].join(",")}&limit=100`);
    const seen = new Set();
    for (const job of page.jobs) {
      seen.add(job.id);
      this.noteNewest(job);
      if (this.rows.has(job.id) || this.wanted(job)) this.place(job, false);
    }
    // With more than 100 active jobs the answer is cut; rows older than its last one were simply not asked about.
    const oldest = page.next_cursor && page.jobs.length ? page.jobs[page.jobs.length - 1].created_at : null;
    const ended = [...this.rows.values()].filter(
      ({ job }) => ACTIVE.has(job.state) && !seen.has(job.id) && (!oldest || job.created_at > oldest),
    );
    await Promise.all(ended.map(({ job }) => this.reread(job.id)));
    this.matchUploads(page.jobs);
    if (this.uploads.size || seen.size === 0 || this.polls % 3 === 0) await this.findNew();
    this.forgetLostUploads();
    this.showEmpty();
  },

  noteNewest(job) {
    if (job.created_at > this.newest) this.newest = job.created_at;
  },

  async findNew() {
    const top = (await api("/v1/jobs?limit=1")).jobs[0];
    if (!top) return;
    if (top.created_at <= this.newest) {
      this.matchUploads([top]); // shown already, or an upload rejected at once (never among the active jobs)
      return;
    }
    // Something arrived since the last look: the few newest jobs cover it (one upload, or a short burst).
    const page = await api("/v1/jobs?limit=10");
    for (const job of page.jobs) {
      if (job.created_at > this.newest && this.wanted(job)) this.place(job, false);
    }
    for (const job of page.jobs) this.noteNewest(job);
    this.matchUploads(page.jobs);
  },

  async reread(id) {
    try {
      this.place(await api(`/v1/jobs/${id}`), false);
    } catch (error) {
      if (error.status === 404) this.remove(id); // deleted meanwhile (from another tab or olc)
      else throw error;
    }
  },

  /** Jobs uploaded from this page: their id is not known before ingest names them, so look for the object. */
  matchUploads(jobs) {
    for (const job of jobs) {
      const name = job.upload && job.upload.name;
      if (!this.uploads.has(name)) continue;
      this.uploads.delete(name);
      const entry = this.rows.get(job.id);
      if (entry) {
        entry.row.classList.add("fresh");
        entry.row.querySelector("a")?.focus({ preventScroll: true });
      }
      const rejected = job.state === "REJECTED";
      const label = (STATE_LABELS[job.state] || job.state).toLowerCase();
      const what = rejected ? `was rejected: ${job.reason || "see the job page"}` : `is ${label}`;
      this.uploadStatus(`Your job ${jobName(job)} ${what}.`, rejected ? "error" : "ok");
    }
  },

  forgetLostUploads() {
    for (const [name, sent] of this.uploads) {
      if (Date.now() - sent > 120000) {
        this.uploads.delete(name);
        this.uploadStatus("The upload arrived, but no job has appeared for it yet. It will show up here.", "error");
      }
    }
  },

  wanted(job) {
    return !this.filter || this.filter.split(",").includes(job.state);
  },

  delay() {
    if (this.uploads.size) return 2000;
    for (const { job } of this.rows.values()) if (ACTIVE.has(job.state)) return 4000;
    return 15000; // still look now and then: jobs submitted with olc appear without a reload
  },

  /** Adds or updates a job's row in place; new rows go where their creation time puts them (newest first). */
  place(job, append) {
    const existing = this.rows.get(job.id);
    if (existing) {
      this.fill(existing, job);
      return;
    }
    const entry = { row: h("tr", { dataset: { jobId: job.id } }), job, signature: "" };
    let before = null;
    if (!append) {
      for (const other of this.rows.values()) {
        if (other.job.created_at < job.created_at && (!before || other.job.created_at > before.job.created_at)) {
          before = other;
        }
      }
      // Older than everything shown while more pages exist: it belongs to a page not loaded yet.
      if (!before && this.cursor) return;
    }
    this.rows.set(job.id, entry);
    $("jobs-body").insertBefore(entry.row, before ? before.row : null);
    this.fill(entry, job);
  },

  fill(entry, job) {
    const progress = job.progress || null;
    const signature = JSON.stringify([
      job.state,
      job.stage,
      job.queue_position,
      job.estimated_start_at,
      job.design_name,
      progress && progress.stages_done,
    ]);
    entry.job = job;
    if (signature === entry.signature) return; // unchanged: keep focus and selection in the row
    entry.signature = signature;
    const row = entry.row;
    row.dataset.state = job.state;
    let stage = job.stage || "—";
    if (job.state === "FETCHING") {
      stage = job.git ? `fetching ${job.git.ref}` : "fetching";
    } else if (progress && progress.stages_total && ACTIVE.has(job.state)) {
      stage += ` (${progress.stages_done}/${progress.stages_total})`;
    } else if (progress && progress.stages_total && job.state === "SUCCEEDED") {
      stage = `all ${progress.stages_total} done`; // the last stage's name says nothing once all have run
    }
    const queue = queueText(job);
    row.replaceChildren(
      h(
        "td",
        { class: "cell-design", dataset: { label: "Design" } },
        h("a", { href: `/jobs/${encodeURIComponent(job.id)}`, class: "job-link", text: jobName(job) }),
        h("span", { class: "job-id", text: job.id }),
      ),
      h("td", { class: "cell-state", dataset: { label: "State" } }, badge(job.state)),
      h("td", { class: stage !== "—" ? "cell-stage" : "cell-stage empty-cell", dataset: { label: "Stage" } }, stage),
      h("td", { class: queue ? "cell-queue" : "cell-queue empty-cell", dataset: { label: "Queue" } }, queue || "—"),
      h("td", { class: "cell-created", dataset: { label: "Created" } }, timeElement(job.created_at)),
    );
  },

  remove(id) {
    const entry = this.rows.get(id);
    if (!entry) return;
    entry.row.remove();
    this.rows.delete(id);
  },

  showEmpty() {
    const empty = $("jobs-empty");
    empty.hidden = this.rows.size > 0;
    if (this.filter && !this.rows.size) empty.textContent = "No jobs in this state.";
    else empty.textContent = "No jobs yet. Upload a design archive above, or use olc submit.";
    $("jobs-table").hidden = this.rows.size === 0;
  },

  uploadStatus(text, kind = "") {
    const status = $("upload-status");
    status.className = `upload-status ${kind}`;
    status.textContent = text;
  },

  async upload() {
    const file = $("upload-file").files[0];
    if (!file) {
      this.uploadStatus("Choose a design archive first.", "error");
      return;
    }
    const button = $("upload-button");
    const progress = $("upload-progress");
    button.disabled = true;
    this.uploadStatus("Asking for an upload link…");
    try {
      const ticket = await api("/v1/uploads", {
        method: "POST",
        json: { file_name: file.name, notify: $("upload-notify").checked },
      });
      this.uploadStatus(`Uploading ${file.name} (${bytes(file.size)})…`);
      progress.value = 0;
      progress.hidden = false;
      await putFile(ticket, file, (percent) => {
        progress.value = percent;
        progress.textContent = `${percent}%`;
      });
      this.uploads.set(ticket.object_name, Date.now());
      this.uploadStatus("Uploaded. Waiting for the job to appear…");
      $("upload-form").reset();
      this.poller?.now();
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return;
      this.uploadStatus(error.message, "error");
    } finally {
      button.disabled = false;
      progress.hidden = true;
    }
  },
};

/** PUTs the file to the signed URL with exactly the headers the ticket names (they are part of the signature). */
function putFile(ticket, file, onProgress) {
  return new Promise((resolve, reject) => {
    const url = safeUrl(ticket.upload_url);
    if (!url) {
      reject(new Error("The service sent an unusable upload link."));
      return;
    }
    const request = new XMLHttpRequest();
    request.open(ticket.method || "PUT", url);
    for (const [name, value] of Object.entries(ticket.headers || {})) {
      // The browser sets Host itself (scripts may not); it is signed, and it is the URL's host anyway.
      if (name.toLowerCase() !== "host") request.setRequestHeader(name, value);
    }
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(Math.round((100 * event.loaded) / event.total));
    });
    request.addEventListener("load", () => {
      if (request.status >= 200 && request.status < 300) resolve();
      else reject(new Error(`Storage refused the upload (HTTP ${request.status}). Try again in a moment.`));
    });
    request.addEventListener("error", () =>
      reject(new Error("The upload did not reach storage: check your connection, then try again.")),
    );
    request.send(file);
  });
}

startPage(jobsPage);
