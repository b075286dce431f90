// The runs of one design (/designs/<name>): the signed-in user's jobs of that design, newest first, with what each
// was made from (the git ref and commit, or the uploaded file) and the key figures; live while a run is active.

import { api, auth, showError, signIn } from "./api.js";
import { Poller, startPage } from "./app.js";
import { $, badge, h, markRendered, setLive, timeElement } from "./dom.js";
import { ACTIVE, DESIGN_NAME, describeMetric, jobPath, shortCommit, sourceText } from "./format.js";

const designPage = {
  PAGE_SIZE: 50,
  MAX_LIST: 500, // the API's largest page
  name: "",
  jobs: [],
  cursor: null,
  poller: null,
  wired: false,

  async start() {
    this.name = decodeURIComponent(location.pathname.split("/")[2] || "");
    if (!DESIGN_NAME.test(this.name)) {
      this.notFound();
      return;
    }
    document.title = `Runs of ${this.name} · OpenLane Cloud`;
    if (!auth.read()) {
      signIn.show(`Sign in to see the runs of ${this.name}.`);
      return;
    }
    signIn.hide();
    $("design-name").textContent = this.name;
    $("content").hidden = false;
    this.wire();
    this.jobs = [];
    this.cursor = null;
    await this.loadPage();
    markRendered("design");
    this.poller ??= new Poller(
      () => this.refresh(),
      () => (this.jobs.some((job) => ACTIVE.has(job.state)) ? 5000 : null),
    );
    this.poller.start();
  },

  wire() {
    if (this.wired) return;
    this.wired = true;
    $("load-more").addEventListener("click", () => this.loadPage().catch(showError));
  },

  notFound() {
    $("content").hidden = true;
    $("not-found").hidden = false;
    document.title = "No such design · OpenLane Cloud";
    setLive("");
    markRendered("not-found");
  },

  query(limit, cursor) {
    const query = new URLSearchParams({ design: this.name, limit: String(limit) });
    if (cursor) query.set("cursor", cursor);
    return `/v1/jobs?${query}`;
  },

  async loadPage() {
    const button = $("load-more");
    button.disabled = true;
    try {
      const page = await api(this.query(this.PAGE_SIZE, this.cursor));
      const shown = new Set(this.jobs.map((job) => job.id));
      this.jobs.push(...page.jobs.filter((job) => !shown.has(job.id)));
      this.cursor = page.next_cursor;
    } finally {
      button.disabled = false;
    }
    this.render();
  },

  /** While a run is active: the runs shown so far again, in one call (a design has few runs; at most a page of
   * the API's largest size is followed live). */
  async refresh() {
    const page = await api(this.query(Math.min(Math.max(this.jobs.length, this.PAGE_SIZE), this.MAX_LIST)));
    this.jobs = page.jobs;
    this.cursor = page.next_cursor;
    this.render();
  },

  render() {
    const keyMetrics = (document.body.dataset.keyMetrics || "").split(",").filter(Boolean);
    const headings = ["Job", "Created", "State", "Source", ...keyMetrics.map((key) => describeMetric(key, {}).label)];
    $("runs-head").replaceChildren(
      h("tr", {}, ...headings.map((text, index) => h("th", { scope: "col", class: index > 3 ? "num" : null, text }))),
    );
    $("runs-body").replaceChildren(...this.jobs.map((job) => this.row(job, keyMetrics)));
    $("runs-empty").hidden = this.jobs.length > 0;
    $("runs-table").hidden = this.jobs.length === 0;
    $("load-more").hidden = !this.cursor;
  },

  row(job, keyMetrics) {
    const path = jobPath(job.id);
    const link = path ? h("a", { href: path, class: "job-link mono", text: job.id }) : job.id;
    const reused = job.reused_from ? h("span", { class: "job-id", text: `results of ${job.reused_from}` }) : null;
    const git = job.git;
    const sourceTitle = git ? [git.url, git.commit || "not resolved yet", git.path].filter(Boolean).join(" ") : null;
    const source = h("span", { class: git ? "mono" : null, title: sourceTitle, text: sourceText(job) });
    const metrics = job.metrics || null;
    const figures = keyMetrics.map((key) => {
      if (!metrics) return h("td", { class: "num muted", text: "–" }); // no figures (yet)
      const { text, measured, warn } = describeMetric(key, metrics);
      return h("td", { class: `num${warn ? " bad" : ""}${measured ? "" : " muted"}`, text });
    });
    return h(
      "tr",
      { dataset: { jobId: job.id, state: job.state, commit: git && git.commit ? shortCommit(git.commit) : "" } },
      h("td", {}, link, reused),
      h("td", {}, timeElement(job.created_at)),
      h("td", {}, badge(job.state)),
      h("td", {}, source),
      ...figures,
    );
  },
};

startPage(designPage);
