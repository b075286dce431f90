// The status pages' one script: sign-in, calls to the JSON API, and drawing what it answers.
// Everything that comes from the API reaches the page through textContent or attribute setters, never as HTML, and
// links from it are used only when they are http(s) URLs.
"use strict";

(() => {
  const body = document.body;
  const CONFIG = {
    page: body.dataset.page || "",
    clientId: body.dataset.clientId || "",
    // Anything but "local" is treated as production, so a misconfigured shell never accepts tokens from a link.
    local: body.dataset.environment === "local",
  };
  const TOKEN_KEY = "olc.idToken";
  const JOB_ID = /^j[0-9a-f]{19}$/;
  const ACTIVE = new Set(["QUEUED", "SUBMITTED", "RUNNING"]);
  const STATE_LABELS = {
    QUEUED: "Queued",
    SUBMITTED: "Starting",
    RUNNING: "Running",
    SUCCEEDED: "Succeeded",
    FAILED: "Failed",
    CANCELLED: "Cancelled",
    TIMEOUT: "Timed out",
    REJECTED: "Rejected",
  };

  // ------------------------------------------------------------------------------------------------ DOM helpers
  const $ = (id) => document.getElementById(id);

  /** An element with properties and children; strings become text nodes, so they are never parsed as HTML. */
  function h(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = String(value);
      else if (key === "dataset") Object.assign(node.dataset, value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    node.append(...children.filter((child) => child !== null && child !== undefined && child !== false));
    return node;
  }

  /** `url` if it is an http(s) URL, else null: a javascript: link from a compromised answer must not be clickable. */
  function safeUrl(url) {
    try {
      const parsed = new URL(url, location.href);
      return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : null;
    } catch {
      return null;
    }
  }

  /** The API path of a link the API gave, so calls stay same-origin even when STATUS_BASE_URL names another host. */
  function apiPath(link) {
    const url = new URL(link, location.href);
    if (!url.pathname.startsWith("/v1/")) throw new ApiError(0, "bad_link", "The service sent an unexpected link.");
    return url.pathname + url.search;
  }

  function notice(text, kind = "info") {
    const box = $("notice");
    if (!box) return;
    box.hidden = !text;
    box.className = `notice ${kind}`;
    box.textContent = text || "";
  }

  function setLive(text) {
    const live = $("live-status");
    if (live) live.textContent = text;
  }

  /** When a part of the page was first drawn (ms since navigation start), for the benchmark (bench/status_page.py). */
  const timings = {};
  window.olcTimings = timings;
  function timing(step) {
    timings[step] ??= performance.now();
  }

  /** Tells tests and the benchmark that the page's data is on screen, and when (ms since navigation start). */
  function markRendered(view) {
    body.dataset.view = view;
    if (!body.dataset.rendered) {
      timing("rendered");
      window.olcRenderedAt = timings.rendered;
      body.dataset.rendered = "1";
    }
  }

  // ------------------------------------------------------------------------------------------------ formatting
  const numberFormat = new Intl.NumberFormat("en", { maximumFractionDigits: 2 });

  /** A timeline stage: "step 6 of 10 · Yosys.Synthesis" inside an OpenLane flow, else the stage's name. */
  function stageLabel(event) {
    if (!event.step) return event.name;
    return `step ${event.step}${event.steps ? ` of ${event.steps}` : ""} · ${event.name}`;
  }

  function plural(count, word) {
    return `${count} ${word}${count === 1 ? "" : "s"}`;
  }

  /** "just now", "3 min ago", "in 4 min", "2 h ago", "yesterday", "5 days ago", then the date. */
  function relativeTime(iso, now = Date.now()) {
    const at = Date.parse(iso);
    if (Number.isNaN(at)) return "";
    const seconds = Math.round((at - now) / 1000);
    const away = Math.abs(seconds);
    const say = (text) => (seconds > 0 ? `in ${text}` : `${text} ago`);
    if (away < 45) return seconds > 0 ? "in a few seconds" : "just now";
    if (away < 3600) return say(`${Math.max(1, Math.round(away / 60))} min`);
    if (away < 86400) return say(`${Math.round(away / 3600)} h`);
    const days = Math.round(away / 86400);
    if (days === 1) return seconds > 0 ? "tomorrow" : "yesterday";
    if (days < 7) return say(`${days} days`);
    return new Date(at).toLocaleDateString(undefined, { day: "numeric", month: "short", year: "numeric" });
  }

  function absoluteTime(iso) {
    const at = Date.parse(iso);
    return Number.isNaN(at) ? "" : new Date(at).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
  }

  function clockTime(iso) {
    const at = Date.parse(iso);
    return Number.isNaN(at) ? "" : new Date(at).toLocaleTimeString(undefined, { hour12: false });
  }

  /** A <time> that says "3 min ago" and keeps saying the right thing (see refreshRelativeTimes). */
  function timeElement(iso) {
    if (!iso) return h("span", { class: "muted", text: "—" });
    return h("time", { datetime: iso, title: absoluteTime(iso), dataset: { relative: "" }, text: relativeTime(iso) });
  }

  function refreshRelativeTimes() {
    const now = Date.now();
    for (const node of document.querySelectorAll("time[data-relative]")) {
      const iso = node.getAttribute("datetime");
      if (iso) node.textContent = relativeTime(iso, now);
    }
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "—";
    if (seconds < 1) return "< 1 s";
    if (seconds < 60) return `${Math.round(seconds)} s`;
    const minutes = Math.floor(seconds / 60);
    if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`;
    return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
  }

  /** Short runs use thousandths of a core hour: two significant digits keep them from showing as 0. */
  function coreHours(value) {
    if (value === 0) return "0";
    return value < 1 ? value.toPrecision(2).replace(/0+$/, "") : numberFormat.format(value);
  }

  function bytes(size) {
    if (size === null || size === undefined) return "";
    const units = ["B", "KB", "MB", "GB"];
    let value = size;
    let unit = 0;
    while (value >= 1000 && unit < units.length - 1) {
      value /= 1000;
      unit += 1;
    }
    return `${unit === 0 ? value : value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
  }

  function badge(state) {
    return h("span", { class: "badge", dataset: { state }, text: STATE_LABELS[state] || state });
  }

  function setBadge(node, state) {
    node.dataset.state = state;
    node.textContent = STATE_LABELS[state] || state;
  }

  function jobName(job) {
    if (job.design_name) return job.design_name;
    const file = (job.upload && job.upload.name) || "";
    return file.split("/").pop() || job.id;
  }

  /** An estimate that is due (or overdue: the queue moved slower than usual) says so instead of "2 min ago". */
  function startText(iso) {
    return Date.parse(iso) - Date.now() < 45000 ? "any moment" : relativeTime(iso);
  }

  function queueText(job) {
    if (job.state !== "QUEUED") return "";
    const parts = [];
    if (job.queue_position) parts.push(`#${job.queue_position} in line`);
    if (job.estimated_start_at) parts.push(`starts ${startText(job.estimated_start_at)}`);
    return parts.join(" · ") || "waiting";
  }

  // ------------------------------------------------------------------------------------------------ sign-in
  const auth = {
    read() {
      try {
        return sessionStorage.getItem(TOKEN_KEY);
      } catch {
        return null; // storage disabled: the user can still read the public queue page
      }
    },
    save(token) {
      try {
        sessionStorage.setItem(TOKEN_KEY, token);
      } catch {
        notice("This browser does not let the page keep your sign-in (session storage is off).", "error");
      }
    },
    forget() {
      try {
        sessionStorage.removeItem(TOKEN_KEY);
      } catch {
        // nothing was stored
      }
    },
    /** The token's claims, for showing who is signed in; the API checks the signature, not the page. */
    claims() {
      const token = this.read();
      if (!token) return null;
      try {
        const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
        const raw = atob(part.padEnd(Math.ceil(part.length / 4) * 4, "="));
        return JSON.parse(new TextDecoder().decode(Uint8Array.from(raw, (c) => c.charCodeAt(0))));
      } catch {
        return null;
      }
    },
    /** Local stack: `#token=...` in the address signs this tab in; the token is taken out of the address at once
     * so it does not stay in the history, in bookmarks or in a copied link. */
    takeFromFragment() {
      if (!location.hash.includes("token=")) return false;
      const params = new URLSearchParams(location.hash.slice(1));
      const token = params.get("token");
      params.delete("token");
      const rest = params.toString();
      history.replaceState(history.state, "", location.pathname + location.search + (rest ? `#${rest}` : ""));
      // In production only Google's sign-in counts: a link carrying someone else's token must not sign the
      // visitor in as them (their uploads would land in that account).
      if (!token || !CONFIG.local) return false;
      this.save(token);
      return true;
    },
  };

  const signIn = {
    gisLoading: null,
    show(message) {
      const section = $("signin");
      if (!section) return;
      for (const id of ["content", "job", "not-found"]) if ($(id)) $(id).hidden = true;
      section.hidden = false;
      $("signin-message").textContent = message;
      setLive("Not signed in.");
      if (!CONFIG.local && CONFIG.clientId) this.google();
      else $("signin-local").hidden = false;
      account.render();
      markRendered("signin");
    },
    hide() {
      if ($("signin")) $("signin").hidden = true;
      notice("");
    },
    /** Google Identity Services: its button gives an ID token for our OAuth client, which the API accepts. */
    google() {
      if (!this.gisLoading) {
        this.gisLoading = new Promise((resolve, reject) => {
          const script = h("script", { src: "https://accounts.google.com/gsi/client", async: true });
          script.addEventListener("load", resolve);
          script.addEventListener("error", reject);
          document.head.append(script);
        });
      }
      this.gisLoading.then(
        () => {
          const gis = window.google.accounts.id;
          gis.initialize({
            client_id: CONFIG.clientId,
            callback: (response) => this.signedIn(response.credential),
            auto_select: true,
            cancel_on_tap_outside: false,
            use_fedcm_for_prompt: true,
          });
          gis.renderButton($("signin-button"), { theme: "outline", size: "large", text: "signin_with", shape: "pill" });
          gis.prompt();
        },
        () => notice("Google sign-in could not be loaded. Check your connection or content blockers.", "error"),
      );
    },
    signedIn(credential) {
      if (!credential) return;
      auth.save(credential);
      this.hide();
      account.render();
      PAGES[CONFIG.page]?.start().catch(showError);
    },
  };

  const account = {
    render() {
      const box = $("account");
      if (!box) return;
      const claims = auth.claims();
      if (!claims || !claims.email) {
        box.replaceChildren();
        return;
      }
      const out = h("button", { class: "link-button", type: "button", text: "Sign out" });
      out.addEventListener("click", () => {
        auth.forget();
        window.google?.accounts?.id?.disableAutoSelect();
        location.reload();
      });
      box.replaceChildren(h("span", { class: "who", title: "Signed in as", text: claims.email }), out);
    },
  };

  // ------------------------------------------------------------------------------------------------ the API
  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  /** Calls the API as the signed-in user. A 401 shows the sign-in; other failures raise ApiError with the
   * API's own message, which is written for people. */
  async function api(path, { method = "GET", json, raw = false, signedIn = true, cache = "no-store" } = {}) {
    const headers = { Accept: "application/json" };
    const token = signedIn ? auth.read() : null;
    if (token) headers.Authorization = `Bearer ${token}`;
    let payload;
    if (json !== undefined) {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(json);
    }
    let reply;
    try {
      reply = await fetch(path, { method, headers, body: payload, cache, credentials: "omit" });
    } catch {
      throw new ApiError(0, "offline", "Cannot reach OpenLane Cloud right now. The page keeps trying by itself.");
    }
    if (raw && reply.ok) return reply;
    const type = reply.headers.get("Content-Type") || "";
    const data = type.includes("json") ? await reply.json().catch(() => null) : null;
    if (reply.status === 401) {
      auth.forget();
      signIn.show("Your sign-in has expired or was not accepted. Please sign in again.");
      throw new ApiError(401, "unauthenticated", "Please sign in.");
    }
    if (!reply.ok) {
      const error = (data && data.error) || {};
      const message = error.message || `The service answered ${reply.status}.`;
      throw new ApiError(reply.status, error.code || "http_error", message);
    }
    return data;
  }

  function showError(error) {
    if (error instanceof ApiError && error.status === 401) return; // the sign-in box says it
    notice(error.message || String(error), "error");
  }

  /** Runs `task` again after `delay()` ms (null: not now) while the tab is visible; a hidden tab costs nothing,
   * and coming back refreshes at once. Failures slow it down instead of stopping it. */
  class Poller {
    constructor(task, delay) {
      this.task = task;
      this.delay = delay;
      this.timer = null;
      this.busy = false;
      this.running = false;
      this.failures = 0;
      document.addEventListener("visibilitychange", () => this.visibilityChanged());
    }
    start() {
      this.running = true;
      this.schedule();
    }
    stop() {
      this.running = false;
      clearTimeout(this.timer);
      this.timer = null;
      this.describe();
    }
    now() {
      this.running = true;
      clearTimeout(this.timer);
      this.timer = null;
      this.tick();
    }
    schedule() {
      clearTimeout(this.timer);
      this.timer = null;
      if (this.running && !this.busy && document.visibilityState === "visible") {
        const wait = this.delay();
        if (wait !== null) this.timer = setTimeout(() => this.tick(), wait * Math.min(2 ** this.failures, 8));
      }
      this.describe();
    }
    async tick() {
      this.timer = null;
      if (!this.running || this.busy || document.visibilityState !== "visible") return;
      this.busy = true;
      try {
        await this.task();
        if (this.failures) notice("");
        this.failures = 0;
      } catch (error) {
        if (error instanceof ApiError && error.status === 401) this.running = false;
        else this.failures += 1;
        showError(error);
      } finally {
        this.busy = false;
        this.schedule();
      }
    }
    visibilityChanged() {
      if (document.visibilityState === "visible") {
        if (this.running) this.tick();
      } else {
        clearTimeout(this.timer);
        this.timer = null;
        this.describe();
      }
    }
    describe() {
      if (document.visibilityState !== "visible" && this.running) setLive("Updates paused while this tab is hidden.");
      else if (this.timer !== null) setLive(`Live: updates every ${Math.round(this.delay() / 1000)} s.`);
      else if (!this.running) setLive("Up to date: nothing is running.");
    }
  }

  // ------------------------------------------------------------------------------------------------ my jobs
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
      const page = await api("/v1/jobs?state=QUEUED,SUBMITTED,RUNNING&limit=100");
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
      if (progress && progress.stages_total && ACTIVE.has(job.state)) {
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
        h("td", { class: job.stage ? "cell-stage" : "cell-stage empty-cell", dataset: { label: "Stage" } }, stage),
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

  // ------------------------------------------------------------------------------------------------ one job
  const METRICS = {
    area_um2: ["Cell area", (v) => `${numberFormat.format(v)} µm²`],
    cell_count: ["Cells", (v) => numberFormat.format(v)],
    die_area_um2: ["Die area", (v) => `${numberFormat.format(v)} µm²`],
    core_area_um2: ["Core area", (v) => `${numberFormat.format(v)} µm²`],
    utilization_pct: ["Utilization", (v) => `${numberFormat.format(v)} %`],
    clock_period_ns: ["Clock period", (v) => `${numberFormat.format(v)} ns`],
    max_frequency_mhz: ["Max. frequency", (v) => `${numberFormat.format(v)} MHz`],
    wns_ns: ["Worst negative slack", (v) => `${numberFormat.format(v)} ns`, (v) => v < 0],
    tns_ns: ["Total negative slack", (v) => `${numberFormat.format(v)} ns`, (v) => v < 0],
    hold_wns_ns: ["Hold worst negative slack", (v) => `${numberFormat.format(v)} ns`, (v) => v < 0],
    hold_tns_ns: ["Hold total negative slack", (v) => `${numberFormat.format(v)} ns`, (v) => v < 0],
    setup_violations: ["Setup violations", (v) => numberFormat.format(v), (v) => v > 0],
    hold_violations: ["Hold violations", (v) => numberFormat.format(v), (v) => v > 0],
    max_slew_violations: ["Max. slew violations", (v) => numberFormat.format(v), (v) => v > 0],
    max_cap_violations: ["Max. capacitance violations", (v) => numberFormat.format(v), (v) => v > 0],
    max_fanout_violations: ["Max. fanout violations", (v) => numberFormat.format(v), (v) => v > 0],
    power_total_w: ["Power", (v) => `${numberFormat.format(v * 1000)} mW`],
    wire_length_um: ["Wire length", (v) => `${numberFormat.format(v)} µm`],
    drc_errors: ["DRC errors", (v) => numberFormat.format(v), (v) => v > 0],
    lvs_match: ["LVS", (v) => (v ? "match" : "mismatch"), (v) => !v],
    routing_failures: ["Routing failures", (v) => numberFormat.format(v), (v) => v > 0],
    antenna_violating_nets: ["Antenna violations (nets)", (v) => numberFormat.format(v), (v) => v > 0],
    antenna_violating_pins: ["Antenna violations (pins)", (v) => numberFormat.format(v), (v) => v > 0],
    lint_errors: ["Lint errors", (v) => numberFormat.format(v), (v) => v > 0],
    lint_warnings: ["Lint warnings", (v) => numberFormat.format(v)],
    inferred_latches: ["Inferred latches", (v) => numberFormat.format(v)],
    unmapped_cells: ["Unmapped cells", (v) => numberFormat.format(v), (v) => v > 0],
    synthesis_check_errors: ["Synthesis check errors", (v) => numberFormat.format(v), (v) => v > 0],
    peak_memory_mb: ["Peak memory", (v) => `${numberFormat.format(v)} MB`],
    runtime_s: ["Flow runtime", (v) => duration(v)],
  };
  /** Listed even when the run did not measure them, then as "not measured" (shared/domain/metrics.py KEY_METRICS). */
  const KEY_METRICS = [
    "cell_count",
    "area_um2",
    "wns_ns",
    "tns_ns",
    "hold_wns_ns",
    "drc_errors",
    "lvs_match",
    "power_total_w",
    "wire_length_um",
    "utilization_pct",
  ];
  const NOT_MEASURED = "not measured";

  /** One timing corner's figures, e.g. "setup WNS -0.21 ns, TNS -1.48 ns, 9 violations · hold WNS 0 ns". */
  function cornerText(figures) {
    const sides = [];
    for (const side of ["setup", "hold"]) {
      const wns = figures[`${side}_wns_ns`];
      const tns = figures[`${side}_tns_ns`];
      const violations = figures[`${side}_violations`];
      const parts = [];
      if (typeof wns === "number") parts.push(`WNS ${numberFormat.format(wns)} ns`);
      if (typeof tns === "number") parts.push(`TNS ${numberFormat.format(tns)} ns`);
      if (typeof violations === "number") parts.push(plural(violations, "violation"));
      if (parts.length) sides.push(`${side} ${parts.join(", ")}`);
    }
    return sides.join(" · ") || NOT_MEASURED;
  }

  /** A corner whose setup or hold slack is negative. */
  function cornerFails(figures) {
    return ["setup_wns_ns", "hold_wns_ns"].some((key) => typeof figures[key] === "number" && figures[key] < 0);
  }

  const jobPage = {
    id: "",
    job: null,
    poller: null,
    wired: false,
    artifactsShown: false,

    async start() {
      this.id = decodeURIComponent(location.pathname.split("/")[2] || "");
      if (!JOB_ID.test(this.id)) {
        this.notFound();
        return;
      }
      if (!auth.read()) {
        signIn.show("Sign in to see this job.");
        return;
      }
      signIn.hide();
      this.wire();
      let job;
      try {
        job = await api(`/v1/jobs/${this.id}`);
      } catch (error) {
        if (error.status === 404) this.notFound();
        else if (error.status !== 401) {
          showError(error);
          markRendered("error");
        }
        return;
      }
      this.render(job);
      timing("job");
      await Promise.all([this.loadLog().then(() => timing("log")), this.loadArtifacts().then(() => timing("files"))]);
      markRendered("job");
      this.poller ??= new Poller(() => this.refresh(), () => (this.job && ACTIVE.has(this.job.state) ? 3000 : null));
      if (ACTIVE.has(job.state)) this.poller.start();
      else this.poller.stop();
    },

    wire() {
      if (this.wired) return;
      this.wired = true;
      $("cancel-button").addEventListener("click", () => this.cancel().catch(showError));
      $("delete-button").addEventListener("click", () => this.remove().catch(showError));
      $("download-all").addEventListener("click", () => this.downloadAll().catch(showError));
    },

    /** While the job is active: its document every poll (one read), its live log while it runs (one more). */
    async refresh() {
      let job;
      try {
        job = await api(`/v1/jobs/${this.id}`);
      } catch (error) {
        if (error.status === 404) {
          this.poller.stop();
          this.notFound();
          return;
        }
        throw error;
      }
      this.render(job);
      const ended = !ACTIVE.has(job.state);
      if (job.state === "RUNNING" || ended) await this.loadLog();
      if (ended) {
        await this.loadArtifacts();
        this.poller.stop();
      }
    },

    notFound() {
      $("job").hidden = true;
      $("not-found").hidden = false;
      document.title = "Job not found · OpenLane Cloud";
      setLive("");
      markRendered("not-found");
    },

    render(job) {
      this.job = job;
      const name = jobName(job);
      const label = STATE_LABELS[job.state] || job.state;
      document.title = `${name} · ${label} · OpenLane Cloud`;
      $("job").hidden = false;
      $("job").dataset.state = job.state;
      $("job-title").textContent = name;
      setBadge($("job-state"), job.state);
      $("job-sub").replaceChildren(
        h("span", { class: "mono", text: job.id }),
        job.flow ? ` · ${job.flow}` : "",
        " · created ",
        timeElement(job.created_at),
      );
      this.renderAlert(job);
      this.renderProgress(job);
      this.renderFacts(job);
      this.renderMetrics(job);
      this.renderSweep(job);
      this.renderTimeline(job);
      $("cancel-button").hidden = !ACTIVE.has(job.state);
      $("delete-button").hidden = ACTIVE.has(job.state);
    },

    renderAlert(job) {
      const box = $("job-alert");
      let title = "";
      let text = "";
      let kind = "error";
      if (job.state === "REJECTED") {
        title = "This upload was rejected";
        text = job.reason || "The archive could not be used.";
      } else if (job.state === "FAILED") {
        title = job.stage ? `The run failed in ${job.stage}` : "The run failed";
        text = job.reason || "";
      } else if (job.state === "TIMEOUT") {
        title = "The run reached its time limit";
        text = job.reason || "Partial results are kept below.";
      } else if (job.state === "CANCELLED") {
        title = "This job was cancelled";
        text = job.reason || "";
        kind = "info";
      } else if (ACTIVE.has(job.state) && job.last_error) {
        title = "Waiting for the cluster";
        text = job.last_error;
        kind = "warning";
      } else if (job.state === "SUCCEEDED" && (job.warnings || []).length) {
        title = "Finished, with a warning";
        text = job.warnings.join("\n");
        kind = "warning";
      }
      const excerpt = job.state === "FAILED" || job.state === "TIMEOUT" ? job.error_excerpt || "" : "";
      box.hidden = !title;
      box.className = `alert ${kind}`;
      $("job-alert-title").textContent = title;
      $("job-alert-text").textContent = text;
      $("job-alert-text").hidden = !text;
      $("job-alert-excerpt").textContent = excerpt;
      $("job-alert-excerpt").hidden = !excerpt;
    },

    renderProgress(job) {
      const progress = job.progress;
      const show = progress && progress.stages_total && !["QUEUED", "REJECTED"].includes(job.state);
      $("job-progress").hidden = !show;
      if (!show) return;
      const done = Math.min(progress.stages_done, progress.stages_total);
      $("job-progress-bar").style.width = `${Math.round((100 * done) / progress.stages_total)}%`;
      const current = progress.current || job.stage;
      const now = ACTIVE.has(job.state) && current ? ` · now: ${current}` : "";
      // A sweep counts its runs, an OpenLane flow its steps ("step 7 of 10: Yosys.Synthesis").
      const unit = { runs: "run", steps: "step" }[progress.unit] || "stage";
      $("job-progress-text").textContent = `${done} of ${plural(progress.stages_total, unit)} done${now}`;
    },

    renderFacts(job) {
      const facts = [];
      const fact = (wide, term, value) =>
        facts.push(h("div", { class: wide ? "wide" : null }, h("dt", { text: term }), h("dd", {}, value)));
      const add = (term, value) => fact(false, term, value);
      const given = (value) => value !== null && value !== undefined;
      add("Stage", (ACTIVE.has(job.state) && job.progress && job.progress.current) || job.stage || "—");
      if (job.state === "QUEUED") {
        add("Place in line", job.queue_position ? `#${job.queue_position}` : "—");
        const estimate = job.estimated_start_at;
        const when = estimate && h("time", { datetime: estimate, title: absoluteTime(estimate) }, startText(estimate));
        add("Expected start", when || "—");
      }
      if (given(job.flow_runtime_s)) add("Run time", duration(job.flow_runtime_s));
      if (given(job.core_hours)) add("Core hours", coreHours(job.core_hours));
      const res = job.resources || {};
      if (res.cpus) {
        const gigabytes = res.memory_mb / 1024;
        const memory = gigabytes >= 1 ? `${numberFormat.format(gigabytes)} GB` : `${res.memory_mb} MB`;
        add("Resources", `${plural(res.cpus, "CPU")} · ${memory} · ${res.time_limit_minutes} min limit`);
      }
      if (job.upload && job.upload.name) {
        const size = job.upload.size ? ` (${bytes(job.upload.size)})` : "";
        fact(true, "Upload", `${job.upload.name.split("/").pop()}${size}`);
      }
      add("Last change", timeElement(job.updated_at));
      add("E-mail", job.notifications_enabled ? "when it ends" : "off");
      $("job-facts").replaceChildren(...facts);
    },

    renderMetrics(job) {
      const metrics = job.metrics || {};
      const keys = Object.keys(metrics);
      $("metrics-section").hidden = keys.length === 0;
      // The API leaves out what the run did not measure: a key figure then says so, never 0 or "match".
      const known = Object.keys(METRICS).filter((key) => key in metrics || KEY_METRICS.includes(key));
      const others = keys.filter((key) => !(key in METRICS) && key !== "corners").sort();
      const rows = [...known, ...others].map((key) => {
        const [label, format, bad] = METRICS[key] || [key, (v) => String(v)];
        if (!(key in metrics) || metrics[key] === null) {
          return h(
            "tr",
            { class: "not-measured", dataset: { metric: key } },
            h("th", { scope: "row", text: label }),
            h("td", { class: "muted", text: NOT_MEASURED }),
          );
        }
        const value = metrics[key];
        const warn = bad ? bad(value) : false;
        return h(
          "tr",
          { class: warn ? "bad" : "", dataset: { metric: key } },
          h("th", { scope: "row", text: label }),
          h("td", {}, format(value), warn ? h("span", { class: "flag", text: " needs attention" }) : null),
        );
      });
      const corners = metrics.corners && typeof metrics.corners === "object" ? metrics.corners : {};
      const names = Object.keys(corners).sort();
      if (names.length) {
        const lines = names.map((name) => {
          const figures = corners[name] || {};
          const fails = cornerFails(figures);
          return h(
            "div",
            { dataset: { corner: name } },
            `${name}: ${cornerText(figures)}`,
            fails ? h("span", { class: "flag", text: " needs attention" }) : null,
          );
        });
        const warn = names.some((name) => cornerFails(corners[name] || {}));
        rows.push(
          h(
            "tr",
            { class: warn ? "bad" : "", dataset: { metric: "corners" } },
            h("th", { scope: "row", text: "Timing corners" }),
            h("td", {}, ...lines),
          ),
        );
      }
      $("metrics-body").replaceChildren(...rows);
    },

    /** A design-space sweep: every run's settings, state and figures; the best run marked. */
    renderSweep(job) {
      const sweep = job.sweep;
      $("sweep-section").hidden = !sweep;
      if (!sweep) return;
      const names = Object.keys(sweep.parameters);
      const figures = ["area_um2", "wns_ns", "drc_errors", "lvs_match"];
      $("sweep-objective").textContent = `Objective: ${sweep.objective}.`;
      $("sweep-head").replaceChildren(
        h("tr", {}, ...["Run", "State", ...names, "Area", "WNS", "DRC", "LVS"].map((t) => h("th", { scope: "col", text: t }))),
      );
      const rows = sweep.runs.map((run) => {
        const metrics = run.metrics || {};
        const missing = Object.keys(metrics).length ? NOT_MEASURED : "–"; // "–": the run has no figures (yet)
        const best = run.run === sweep.best_run;
        return h(
          "tr",
          { class: best ? "best" : "", dataset: { run: String(run.run), state: run.state } },
          h("th", { scope: "row", text: best ? `${run.run} (best)` : String(run.run) }),
          h("td", { text: run.stage && run.state === "RUNNING" ? `${run.state} · ${run.stage}` : run.state }),
          ...names.map((name) => h("td", { text: String(run.settings[name]) })),
          ...figures.map((key) => h("td", { text: key in metrics ? String(metrics[key]) : missing })),
        );
      });
      $("sweep-body").replaceChildren(...rows);
    },

    /** State changes and flow stages (inside OpenLane: its steps), each with how long it lasted (until the next
     * event). */
    renderTimeline(job) {
      const events = job.timeline || [];
      const items = events.map((event, index) => {
        const next = events[index + 1];
        const start = Date.parse(event.at);
        let lasted = "";
        if (next) lasted = duration((Date.parse(next.at) - start) / 1000);
        else if (ACTIVE.has(job.state)) lasted = `${duration((Date.now() - start) / 1000)} so far`;
        const isState = event.kind === "state";
        return h(
          "li",
          { class: `event ${isState ? "event-state" : "event-stage"}`, dataset: { kind: event.kind } },
          h("time", {
            class: "event-at",
            datetime: event.at,
            title: absoluteTime(event.at),
            text: clockTime(event.at),
          }),
          h(
            "span",
            { class: "event-what" },
            isState ? badge(event.name) : h("span", { class: "stage-name", text: stageLabel(event) }),
            event.reason ? h("span", { class: "event-reason", text: event.reason }) : null,
          ),
          h("span", { class: "event-lasted", text: lasted }),
        );
      });
      $("timeline").replaceChildren(...items);
    },

    async loadLog() {
      const job = this.job;
      if (!job.links || !job.links.logs) {
        $("log-section").hidden = true;
        return;
      }
      let tail;
      try {
        tail = await api(`${apiPath(job.links.logs)}?lines=200`);
      } catch (error) {
        if (error.status === 404) {
          $("log-section").hidden = true; // no log (yet)
          return;
        }
        throw error;
      }
      const pre = $("log");
      const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8;
      pre.textContent = tail.lines.length ? tail.lines.join("\n") : "(nothing logged yet)";
      $("log-source").textContent = tail.source === "live" ? "live, from the running stage" : tail.source;
      $("log-section").hidden = false;
      if (atEnd) pre.scrollTop = pre.scrollHeight; // follow the end unless the reader scrolled up
    },

    async loadArtifacts() {
      const job = this.job;
      if (this.artifactsShown || !job.links || !job.links.artifacts) return;
      let listing;
      try {
        listing = await api(apiPath(job.links.artifacts));
      } catch (error) {
        if (error.status === 404) return;
        throw error;
      }
      this.artifactsShown = true;
      const files = listing.artifacts || [];
      const items = [];
      for (const file of files) {
        const url = safeUrl(file.url);
        if (!url) continue;
        items.push(
          h(
            "li",
            {},
            h("a", { href: url, rel: "noopener", target: "_blank", text: file.path }),
            h("span", { class: "size", text: bytes(file.size) }),
          ),
        );
      }
      $("artifacts").replaceChildren(...items);
      $("artifacts-summary").textContent = `All files (${items.length})`;
      $("artifacts-details").open = items.length > 0 && items.length <= 8;
      $("downloads-section").hidden = !job.links.download && items.length === 0;
      $("download-all").hidden = !job.links.download;
      this.showLayout(files);
      this.showPareto(files);
    },

    /** A sweep's Pareto plot, through the listing's signed link like the layout picture. */
    showPareto(files) {
      const plot = files.find((file) => file.path === "sweep/pareto.png");
      const url = plot && safeUrl(plot.url);
      if (!url) return;
      const image = $("pareto-image");
      image.alt = `Area against worst slack for every run of ${jobName(this.job)}`;
      image.src = url;
      image.hidden = false;
    },

    /** The layout picture: the listing's signed link works in an <img>, which cannot send the Authorization
     * header that links.layout needs. */
    showLayout(files) {
      if (!this.job.links.layout) return;
      const find = (pattern) => files.find((file) => pattern.test(file.path));
      const best = this.job.sweep ? this.job.sweep.best_run : null;
      const picture =
        (best !== null && find(new RegExp(`^runs/${best}/files/render/layout\\.png$`))) ||
        find(/(^|\/)render\/layout\.png$/) ||
        find(/(^|\/)layout\.png$/);
      const url = picture && safeUrl(picture.url);
      if (!url) return;
      const image = $("layout-image");
      image.alt = `Layout of ${jobName(this.job)}`;
      image.src = url;
      $("layout-link").href = url;
      $("layout-section").hidden = false;
    },

    async cancel() {
      const job = this.job;
      if (!window.confirm(`Cancel ${jobName(job)}? A running flow is stopped and keeps its partial results.`)) return;
      $("cancel-button").disabled = true;
      try {
        const result = await api(apiPath(job.links.cancel), { method: "POST" });
        $("action-status").textContent = result.message || "Cancelling…";
      } finally {
        $("cancel-button").disabled = false;
      }
      this.poller.now();
    },

    async remove() {
      const job = this.job;
      const question =
        `Delete ${jobName(job)} (${job.id}) and all its results? This cannot be undone. ` +
        "The uploaded archive is kept.";
      if (!window.confirm(question)) return;
      $("delete-button").disabled = true;
      try {
        await api(`/v1/jobs/${job.id}?confirm=${job.id}`, { method: "DELETE" });
      } finally {
        $("delete-button").disabled = false;
      }
      this.poller?.stop();
      $("job").hidden = true;
      notice(`Job ${jobName(job)} was deleted.`, "ok");
      document.title = "Job deleted · OpenLane Cloud";
    },

    /** The ZIP route needs the Authorization header, so it is fetched here and handed to the browser as a file. */
    async downloadAll() {
      const button = $("download-all");
      const status = $("download-status");
      button.disabled = true;
      status.textContent = "Preparing the ZIP…";
      try {
        const reply = await api(apiPath(this.job.links.download), { raw: true });
        const blob = await reply.blob();
        const disposition = reply.headers.get("Content-Disposition") || "";
        const match = /filename="?([^";]+)"?/.exec(disposition);
        const name = match ? match[1] : `${this.job.id}.zip`;
        const url = URL.createObjectURL(blob);
        const link = h("a", { href: url, download: name, hidden: true });
        document.body.append(link);
        link.click();
        link.remove();
        setTimeout(() => URL.revokeObjectURL(url), 60000);
        status.textContent = `Downloaded ${name} (${bytes(blob.size)}).`;
      } catch (error) {
        status.textContent = "";
        throw error;
      } finally {
        button.disabled = false;
      }
    },
  };

  // ------------------------------------------------------------------------------------------------ the queue
  const queuePage = {
    poller: null,
    async start() {
      await this.refresh();
      markRendered("queue");
      this.poller ??= new Poller(() => this.refresh(), () => 5000);
      this.poller.start();
    },
    async refresh() {
      // Public and cached by the API for a few seconds: no sign-in, and the browser's cache may answer.
      const overview = await api("/v1/queue", { signedIn: false, cache: "default" });
      const jobs = overview.jobs || {};
      $("count-queued").textContent = numberFormat.format(jobs.queued ?? 0);
      $("count-submitted").textContent = numberFormat.format(jobs.submitted ?? 0);
      $("count-running").textContent = numberFormat.format(jobs.running ?? 0);
      const waits = overview.wait_seconds || {};
      $("wait-median").textContent = waits.median === null ? "no data yet" : duration(waits.median);
      $("wait-p90").textContent = waits.p90 === null ? "no data yet" : duration(waits.p90);
      $("run-median").textContent =
        overview.median_run_seconds === null ? "no data yet" : duration(overview.median_run_seconds);
      $("sample-size").textContent = `the last ${plural(overview.sample_size, "finished job")}`;
      const at = $("queue-at");
      at.setAttribute("datetime", overview.at);
      at.title = absoluteTime(overview.at);
      at.textContent = relativeTime(overview.at);
    },
  };

  // ------------------------------------------------------------------------------------------------ start
  const PAGES = { jobs: jobsPage, job: jobPage, queue: queuePage };
  auth.takeFromFragment();
  account.render();
  const page = PAGES[CONFIG.page];
  if (page) {
    page.start().catch((error) => {
      showError(error);
      markRendered("error");
    });
    // A token link opened in a tab already showing this page only changes the fragment: no new page load.
    window.addEventListener("hashchange", () => {
      if (auth.takeFromFragment()) signIn.signedIn(auth.read());
    });
  }
  setInterval(refreshRelativeTimes, 30000);
})();
