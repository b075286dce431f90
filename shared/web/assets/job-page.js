// One job (/jobs/<id>): state, progress, facts (with where a design from git came from, and the job whose results
// it reused or which it reruns), metrics, a sweep's runs, the timeline, the log tail, the layout picture and the
// downloads; cancel, delete, and run again with changes. Follows an active job live without a reload.

import { api, apiPath, auth, showError, signIn } from "./api.js";
import { Poller, startPage } from "./app.js";
import { $, badge, h, markRendered, notice, safeUrl, setBadge, setLive, timeElement, timing } from "./dom.js";
import {
  ACTIVE,
  absoluteTime,
  bytes,
  canRerun,
  clockTime,
  coreHours,
  cornerFails,
  cornerText,
  describeMetric,
  designPath,
  duration,
  jobName,
  jobPath,
  lineage,
  metricKeys,
  NOT_MEASURED,
  numberFormat,
  parseOverrides,
  plural,
  problemList,
  RERUN_FIELDS,
  shortCommit,
  STATE_LABELS,
  stageLabel,
  startText,
} from "./format.js";

// The figures a grid sweep's table shows, with their short column headings.
const SWEEP_FIGURES = { area_um2: "Area", wns_ns: "WNS", drc_errors: "DRC", lvs_match: "LVS" };
const JOB_ID = /^j[0-9a-f]{19}$/;
// A sweep's Pareto plot as SVG (shared/adapters/pareto_plot.py) is shown inline, so that its points' links lead to
// the runs' rows on this page. It is ours, but is first reduced to drawing and links to job pages: no script, style,
// foreign content, event attribute or outside reference is kept.
const SVG_NS = "http://www.w3.org/2000/svg";
const SVG_ELEMENTS = new Set(["svg", "g", "defs", "clipPath", "path", "use", "a", "title", "rect", "circle", "line"]);
const MAX_SVG_CHARS = 2_000_000;

function cleanSvg(text) {
  const parsed = new DOMParser().parseFromString(text, "image/svg+xml");
  const root = parsed.documentElement;
  if (root.namespaceURI !== SVG_NS || root.localName !== "svg" || parsed.getElementsByTagName("parsererror").length) {
    return null;
  }
  for (const node of root.querySelectorAll("*")) {
    if (node.namespaceURI !== SVG_NS || !SVG_ELEMENTS.has(node.localName)) node.remove();
  }
  for (const node of [root, ...root.querySelectorAll("*")]) {
    for (const attribute of [...node.attributes]) {
      const name = attribute.localName.toLowerCase();
      if (name.startsWith("on") || (name === "href" && !svgLinkAllowed(node.localName, attribute.value))) {
        node.removeAttributeNode(attribute);
      }
    }
  }
  return document.importNode(root, true);
}

/** A <use> may point inside the drawing, an <a> to a job page of this site; nothing else. */
function svgLinkAllowed(element, value) {
  if (element === "use") return value.startsWith("#");
  if (element !== "a") return false;
  try {
    const url = new URL(value, location.href);
    return url.origin === location.origin && url.pathname.startsWith("/jobs/");
  } catch {
    return false;
  }
}

const jobPage = {
  id: "",
  job: null,
  poller: null,
  wired: false,
  artifactsShown: false,
  runShown: false, // the row a plot's link asked for (#run-N) was scrolled to
  rerunFor: "", // the job whose values the rerun form holds (filled once, so a refresh never undoes typing)
  rerunOriginal: {}, // the design's values the form was prefilled with: sent only when changed
  pickedRuns: new Set(), // the sweep runs ticked to compare (kept while live refreshes redraw the table)

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
      job = await api(this.path()); // early.js asked for this already, as the page started
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
    this.showLog(job.log);
    timing("log");
    this.showArtifacts(job.artifacts);
    timing("files");
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
    $("compare-runs").addEventListener("click", () => this.compareRuns());
    $("rerun-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.rerun().catch(showError);
    });
  },

  /** The job with its log tail and, once it has ended, its files: one request, one read of the job (early.js
   * starts the first one). */
  path() {
    return `/v1/jobs/${this.id}?include=log,artifacts&lines=200`;
  },

  /** While the job is active: the job with its live log every poll (one request, one read). */
  async refresh() {
    let job;
    try {
      job = await api(this.path());
    } catch (error) {
      if (error.status === 404) {
        this.poller.stop();
        this.notFound();
        return;
      }
      throw error;
    }
    this.render(job);
    this.showLog(job.log);
    if (!ACTIVE.has(job.state)) {
      this.showArtifacts(job.artifacts);
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
    this.renderLineage(job);
    this.renderAlert(job);
    this.renderProgress(job);
    this.renderFacts(job);
    this.renderMetrics(job);
    this.renderSweep(job);
    this.renderTimeline(job);
    $("cancel-button").hidden = !ACTIVE.has(job.state);
    $("delete-button").hidden = ACTIVE.has(job.state);
    this.renderRerun(job);
  },

  /** "same inputs as job X: results reused" and "rerun of job X", each linking to job X's page. */
  renderLineage(job) {
    const notes = lineage(job).map(({ lead, id, tail }) => {
      const path = jobPath(id);
      const target = path ? h("a", { href: path, class: "mono", text: id }) : h("span", { class: "mono", text: id });
      return h("span", { class: "lineage-note" }, lead, target, tail);
    });
    $("job-lineage").replaceChildren(...notes);
    $("job-lineage").hidden = notes.length === 0;
  },

  renderAlert(job) {
    const box = $("job-alert");
    let title = "";
    let text = "";
    let kind = "error";
    if (job.state === "REJECTED") {
      title = job.git ? "This submission was rejected" : "This upload was rejected";
      text = job.reason || (job.git ? "The design could not be fetched or used." : "The archive could not be used.");
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
    if (job.state === "FETCHING") {
      // Nothing to count yet: the design (and so its flow's stages) is still being fetched.
      $("job-progress").hidden = false;
      $("job-progress-bar").style.width = "0%";
      const from = job.git ? ` from ${job.git.url} (${job.git.ref})` : "";
      $("job-progress-text").textContent = `Fetching the design${from}…`;
      return;
    }
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
    const designPage = designPath(job.design_name);
    if (designPage) {
      add("Design", h("a", { href: designPage, title: `Every run of ${job.design_name}`, text: job.design_name }));
    }
    const fetching = job.state === "FETCHING" ? "fetching the design" : null;
    add("Stage", fetching || (ACTIVE.has(job.state) && job.progress && job.progress.current) || job.stage || "—");
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
    if (job.git) this.gitFacts(job.git, ACTIVE.has(job.state), fact);
    else if (job.upload && job.upload.name) {
      const size = job.upload.size ? ` (${bytes(job.upload.size)})` : "";
      fact(true, "Upload", `${job.upload.name.split("/").pop()}${size}`);
    }
    add("Last change", timeElement(job.updated_at));
    add("E-mail", job.notifications_enabled ? "when it ends" : "off");
    $("job-facts").replaceChildren(...facts);
  },

  /** Where a design from git came from: the repository, the ref asked for, the commit it resolved to (short, the
   * whole SHA in its title) and the design's folder in the repository. */
  gitFacts(git, active, fact) {
    const url = safeUrl(git.url);
    const repository = url ? h("a", { href: url, rel: "noopener", target: "_blank", text: git.url }) : git.url;
    fact(true, "Repository", repository);
    fact(false, "Ref", h("span", { class: "mono", text: git.ref }));
    const commit = git.commit
      ? h("span", { class: "mono", title: git.commit, text: shortCommit(git.commit) })
      : h("span", { class: "muted", text: active ? "not resolved yet" : "not resolved" });
    fact(false, "Commit", commit);
    fact(false, "Design folder", git.path ? h("span", { class: "mono", text: git.path }) : "the repository's top");
  },

  renderMetrics(job) {
    const metrics = job.metrics || {};
    $("metrics-section").hidden = Object.keys(metrics).length === 0;
    // What the run did not measure says so (format.js describeMetric), never 0 or "match".
    const keyMetrics = (document.body.dataset.keyMetrics || "").split(",");
    const rows = metricKeys(metrics, keyMetrics).map((key) => {
      const { label, text, measured, warn } = describeMetric(key, metrics);
      if (!measured) {
        return h(
          "tr",
          { class: "not-measured", dataset: { metric: key } },
          h("th", { scope: "row", text: label }),
          h("td", { class: "muted", text }),
        );
      }
      return h(
        "tr",
        { class: warn ? "bad" : "", dataset: { metric: key } },
        h("th", { scope: "row", text: label }),
        h("td", {}, text, warn ? h("span", { class: "flag", text: " needs attention" }) : null),
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
    const search = sweep.search;
    // A search's own objectives come first (its front is drawn in them); a grid shows the signoff figures.
    const objectives = search ? search.objectives.map((o) => Object.entries(o)[0]) : [];
    const figures = search
      ? [...new Set([...objectives.map(([, metric]) => metric), "area_um2", "wns_ns"])]
      : Object.keys(SWEEP_FIGURES);
    const searching = search
      ? ` ${search.strategy.toUpperCase()} search of ${objectives.map((o) => o.join(" ")).join(", ")}` +
        ` (seed ${search.seed}): ${search.progress}, in batches of ${search.batch}.`
      : "";
    $("sweep-objective").textContent = `Objective: ${sweep.objective}.${searching}`;
    this.showSearchFront(job);
    const heading = (key) => SWEEP_FIGURES[key] || describeMetric(key, {}).label;
    const headings = ["Run", "State", ...names, ...figures.map(heading)];
    $("sweep-head").replaceChildren(h("tr", {}, ...headings.map((t) => h("th", { scope: "col", text: t }))));
    const rows = sweep.runs.map((run) => {
      const metrics = run.metrics || {};
      const missing = Object.keys(metrics).length ? NOT_MEASURED : "–"; // "–": the run has no figures (yet)
      const best = run.run === sweep.best_run;
      const pick = h("input", {
        type: "checkbox",
        class: "run-pick",
        "aria-label": `Compare run ${run.run}`,
        checked: this.pickedRuns.has(run.run),
      });
      pick.addEventListener("change", () => this.pickRun(run.run, pick.checked));
      return h(
        "tr",
        { class: best ? "best" : "", id: `run-${run.run}`, dataset: { run: String(run.run), state: run.state } },
        h("th", { scope: "row" }, h("label", { class: "run-label" }, pick, best ? `${run.run} (best)` : `${run.run}`)),
        h("td", { text: run.stage && run.state === "RUNNING" ? `${run.state} · ${run.stage}` : run.state }),
        ...names.map((name) => h("td", { text: String(run.settings[name]) })),
        ...figures.map((key) => h("td", { text: key in metrics ? String(metrics[key]) : missing })),
      );
    });
    $("sweep-body").replaceChildren(...rows);
    this.scrollToRun();
    $("compare-runs-bar").hidden = sweep.runs.length < 2;
    this.showPicked();
  },

  /** "Compare selected runs": 2 to 10 ticked runs open the compare page, in run order, the first as reference. */
  pickRun(run, on) {
    if (on) this.pickedRuns.add(run);
    else this.pickedRuns.delete(run);
    this.showPicked();
  },

  showPicked() {
    const count = this.pickedRuns.size;
    $("compare-runs").disabled = count < 2 || count > 10;
    let hint = "Tick 2 to 10 runs to compare them.";
    if (count === 1) hint = "1 run ticked: tick at least one more.";
    else if (count > 10) hint = `${count} runs ticked: compare at most 10.`;
    else if (count > 1) hint = `${count} runs ticked; the first is the reference.`;
    $("compare-runs-hint").textContent = hint;
  },

  compareRuns() {
    const runs = [...this.pickedRuns].sort((a, b) => a - b);
    if (runs.length < 2 || runs.length > 10) return;
    location.assign(`/compare?jobs=${runs.map((run) => `${this.id}:${run}`).join(",")}`);
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

  /** The log tail the job came with (null: no log, or none yet). */
  showLog(tail) {
    if (!tail) {
      $("log-section").hidden = true;
      return;
    }
    const pre = $("log");
    const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8;
    pre.textContent = tail.lines.length ? tail.lines.join("\n") : "(nothing logged yet)";
    $("log-source").textContent = tail.source === "live" ? "live, from the running stage" : tail.source;
    $("log-section").hidden = false;
    if (atEnd) pre.scrollTop = pre.scrollHeight; // follow the end unless the reader scrolled up
  },

  /** A search between batches: its Pareto front so far (written after each batch), fetched once per batch. */
  async showSearchFront(job) {
    const search = job.sweep && job.sweep.search;
    if (!search || !job.links.pareto || job.links.artifacts) return; // once the job ends, showArtifacts shows it
    const batch = search.batches_submitted;
    if (this.frontShownFor === batch) return;
    this.frontShownFor = batch;
    try {
      const listing = await api(`/v1/jobs/${encodeURIComponent(job.id)}/artifacts`);
      this.showPareto(listing.artifacts || []);
    } catch (error) {
      this.frontShownFor = undefined; // try again on the next refresh
      if (error.status !== 404) throw error;
    }
  },

  /** The run's files the job came with once it has ended (null before): downloads, the layout, a sweep's plot. */
  showArtifacts(files) {
    const job = this.job;
    if (this.artifactsShown || !files) return;
    this.artifactsShown = true;
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

  /** Arrived from a point of the Pareto plot (/jobs/<id>?run=N#run-N): once the sweep's rows exist, show that row. */
  scrollToRun() {
    if (this.runShown || !/^#run-\d+$/.test(location.hash)) return;
    const row = document.getElementById(location.hash.slice(1));
    if (!row) return;
    this.runShown = true;
    row.scrollIntoView({ block: "center" });
  },

  /** A sweep's Pareto plot, through the listing's signed links like the layout picture: the SVG inline, each run's
   * point a link to its row; the PNG when there is no SVG or it cannot be read (an <img> SVG would not follow
   * links). */
  async showPareto(files) {
    const find = (path) => {
      const file = files.find((f) => f.path === path);
      return file ? safeUrl(file.url) : null;
    };
    const alt = `Area against worst slack for every run of ${jobName(this.job)}`;
    const svg = find("sweep/pareto.svg");
    if (svg) {
      try {
        const reply = await fetch(svg, { credentials: "omit" });
        const text = reply.ok ? await reply.text() : "";
        const plot = text.length <= MAX_SVG_CHARS ? cleanSvg(text) : null;
        if (plot) {
          for (const [name, value] of Object.entries({ width: 800, height: 560, class: "pareto-image" })) {
            plot.setAttribute(name, String(value));
          }
          plot.setAttribute("aria-label", `${alt}; each point links to its run`);
          plot.addEventListener("click", (event) => this.followRunLink(event));
          $("pareto-image").replaceWith(plot);
          plot.id = "pareto-image";
          return;
        }
      } catch {
        // Unreadable here (offline, or the bucket does not allow it): the PNG below.
      }
    }
    const png = find("sweep/pareto.png");
    if (!png) return;
    const image = $("pareto-image");
    image.alt = alt;
    image.src = png;
    image.hidden = false;
  },

  /** A point of the inline plot leads to its run's row on this very page: go there without loading it again. */
  followRunLink(event) {
    const link = event.target.closest("a");
    const href = link && (link.getAttribute("href") || link.getAttributeNS("http://www.w3.org/1999/xlink", "href"));
    if (!href) return;
    const url = new URL(href, location.href);
    if (url.pathname !== location.pathname || !url.hash) return;
    event.preventDefault();
    location.hash = url.hash; // scrolls to the row (id run-N), and Back returns to the plot
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

  /** The "Run again with changes" form: for a finished job that ran (not a rejected one). Prefilled once per job
   * from the design's variables when the API gives them, else the fields stay empty (empty keeps a value). */
  renderRerun(job) {
    const show = canRerun(job);
    $("rerun-section").hidden = !show;
    if (!show || this.rerunFor === job.id) return;
    this.rerunFor = job.id;
    const variables = (job.design && job.design.flow_variables) || {};
    this.rerunOriginal = {};
    for (const [name] of RERUN_FIELDS) {
      const value = variables[name];
      const known = ["number", "string"].includes(typeof value);
      $(`rerun-${name}`).value = known ? String(value) : "";
      if (known) this.rerunOriginal[name] = value;
    }
  },

  showRerunProblems(problems) {
    const list = $("rerun-problems");
    list.replaceChildren(...problems.map((problem) => h("li", { text: problem })));
    list.hidden = problems.length === 0;
  },

  rerunStatus(text, kind = "") {
    const status = $("rerun-status");
    status.className = `upload-status ${kind}`;
    status.textContent = text;
  },

  /** POST /v1/jobs/<id>/rerun with the changed variables; on success, on to the new job's page. */
  async rerun() {
    const fields = RERUN_FIELDS.map(([name, kind]) => [name, kind, $(`rerun-${name}`).value]);
    const { overrides, problems } = parseOverrides(fields, $("rerun-extra").value, this.rerunOriginal);
    this.showRerunProblems(problems);
    if (problems.length) {
      this.rerunStatus("Nothing was started:", "error");
      return;
    }
    const button = $("rerun-button");
    button.disabled = true;
    this.rerunStatus("Starting a new run…");
    let reply;
    try {
      reply = await api(`/v1/jobs/${this.id}/rerun`, { method: "POST", json: { overrides } });
    } catch (error) {
      if (error.status === 400) {
        const listed = problemList(error.error);
        this.showRerunProblems(listed);
        this.rerunStatus(listed.length ? "Nothing was started:" : error.message, "error");
        return;
      }
      this.rerunStatus("");
      throw error;
    } finally {
      button.disabled = false;
    }
    const next = jobPath(reply.job_id) || safeUrl(reply.page);
    this.rerunStatus(`Started job ${reply.job_id}.`, "ok");
    if (next) location.assign(next);
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

startPage(jobPage);
