// Jobs and sweep runs side by side (/compare?jobs=J1,J2:3): one table of every metric, the first column as the
// reference, each other figure with its difference to it and whether that is better or worse (the API decides, from
// the domain's one list of metric directions); the settings the runs differ in; CSV and JSON downloads.

import { ApiError, api, auth, showError, signIn } from "./api.js";
import { startPage } from "./app.js";
import { $, badge, h, markRendered, setLive } from "./dom.js";
import { describeMetric, jobPath, NOT_MEASURED, numberFormat, plural } from "./format.js";

const VERDICT_WORDS = {
  better: "better",
  worse: "worse",
  equal: "same",
  different: "different",
  reference_not_measured: "reference not measured",
};
const BETTER_WORDS = { lower: "lower is better", higher: "higher is better" };
const CORNER = /^corners\.(.+)\.([a-z_]+)$/;

/** A metric's label: the job page's own ("Cell area"), or "corner nom_tt setup_ws_ns" for a timing corner's. */
export function metricLabel(metric) {
  const corner = CORNER.exec(metric);
  return corner ? `${corner[1]} ${corner[2]}` : describeMetric(metric, {}).label;
}

/** A figure as the job page shows it ("77,920 µm²", "match"); "not measured" when the run did not measure it. */
export function figureText(metric, value) {
  if (value === null || value === undefined) return NOT_MEASURED;
  if (CORNER.test(metric) && typeof value === "number") {
    return `${numberFormat.format(value)}${metric.endsWith("_ns") ? " ns" : ""}`;
  }
  return describeMetric(metric, { [metric]: value }).text;
}

/** A difference with its sign and the metric's unit, and in percent of the reference: "+2,180.5 µm² (+2.8%)". */
export function differenceText(metric, cell) {
  if (typeof cell.difference !== "number") return "";
  const sign = (number) => (number > 0 ? "+" : number < 0 ? "-" : "±");
  const size = Math.abs(cell.difference);
  // A run time's text rounds ("< 1 s"): a difference is written in seconds instead.
  const text = metric === "runtime_s" ? `${numberFormat.format(size)} s` : figureText(metric, size);
  const amount = `${sign(cell.difference)}${text}`;
  if (typeof cell.percent !== "number") return amount;
  return `${amount} (${sign(cell.percent)}${numberFormat.format(Math.abs(cell.percent))}%)`;
}

function settingText(value) {
  if (value === null || value === undefined) return "not set";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

const comparePage = {
  jobs: "",
  data: null,
  wired: false,

  async start() {
    this.jobs = new URL(location.href).searchParams.get("jobs") || "";
    if (!this.jobs.trim()) {
      this.notFound("Name the jobs to compare.");
      return;
    }
    if (!auth.read()) {
      signIn.show("Sign in to compare your runs.");
      return;
    }
    signIn.hide();
    this.wire();
    let data;
    try {
      data = await api(this.query());
    } catch (error) {
      // 404: a job that is not (or no longer) the caller's, or a run a sweep does not have; 400: not a list of jobs.
      if (error instanceof ApiError && [400, 404].includes(error.status)) this.notFound(error.message);
      else if (error.status !== 401) {
        showError(error);
        markRendered("error");
      }
      return;
    }
    this.render(data);
    setLive("The figures as they were on loading: reload for newer ones.");
    markRendered("compare");
  },

  query(format) {
    const query = new URLSearchParams({ jobs: this.jobs });
    if (format) query.set("format", format);
    return `/v1/compare?${query}`;
  },

  wire() {
    if (this.wired) return;
    this.wired = true;
    $("export-csv").addEventListener("click", () => this.download("csv").catch(showError));
    $("export-json").addEventListener("click", () => this.download("json").catch(showError));
  },

  notFound(message) {
    $("content").hidden = true;
    $("not-found").hidden = false;
    $("not-found-text").textContent = message;
    document.title = "Nothing to compare · OpenLane Cloud";
    setLive("");
    markRendered("not-found");
  },

  render(data) {
    this.data = data;
    const entries = data.entries || [];
    const designs = [...new Set(entries.map((entry) => entry.design_name).filter(Boolean))];
    const what = designs.length === 1 ? `${designs[0]}: ` : "";
    $("compare-title").textContent = `${what}${plural(entries.length, "run")} side by side`;
    document.title = `Compare ${what}${plural(entries.length, "run")} · OpenLane Cloud`;
    $("content").hidden = false;
    $("compare-head").replaceChildren(
      h(
        "tr",
        {},
        h("th", { scope: "col", text: "Metric" }),
        ...entries.map((entry, index) => this.heading(entry, index)),
      ),
    );
    $("compare-settings").replaceChildren(...(data.settings || []).map((setting) => this.settingRow(setting)));
    $("compare-body").replaceChildren(...(data.rows || []).map((row) => this.metricRow(row)));
  },

  /** A column's heading: the run (linking to its job's page), its design and state; the first is the reference. */
  heading(entry, index) {
    const path = jobPath(entry.job_id);
    const ref = path
      ? h("a", { href: path, class: "mono", text: entry.ref })
      : h("span", { class: "mono", text: entry.ref });
    return h(
      "th",
      { scope: "col", class: index === 0 ? "reference" : null, dataset: { ref: entry.ref } },
      ref,
      h("span", { class: "compare-design", text: entry.design_name || "—" }),
      badge(entry.state),
      index === 0 ? h("span", { class: "reference-tag", text: "reference" }) : null,
    );
  },

  settingRow(setting) {
    const [first, ...others] = setting.values;
    return h(
      "tr",
      { class: "setting", dataset: { setting: setting.name } },
      h(
        "th",
        { scope: "row" },
        h("span", { class: "mono", text: setting.name }),
        h("span", { class: "hint", text: "setting" }),
      ),
      h("td", { text: settingText(first) }),
      ...others.map((value) => {
        const same = JSON.stringify(value) === JSON.stringify(first);
        return h("td", { class: same ? null : "differs", text: settingText(value) });
      }),
    );
  },

  metricRow(row) {
    const better = BETTER_WORDS[row.better] || "same or different";
    return h(
      "tr",
      { dataset: { metric: row.metric } },
      h("th", { scope: "row" }, metricLabel(row.metric), h("span", { class: "hint", text: better })),
      ...row.cells.map((cell) => this.cell(row.metric, cell)),
    );
  },

  cell(metric, cell) {
    if (cell.value === null || cell.value === undefined) {
      return h("td", { class: "muted", dataset: { verdict: cell.verdict }, text: NOT_MEASURED });
    }
    const value = figureText(metric, cell.value);
    if (cell.verdict === "reference") return h("td", { dataset: { verdict: cell.verdict }, text: value });
    const difference = differenceText(metric, cell);
    const word = VERDICT_WORDS[cell.verdict] || cell.verdict;
    return h(
      "td",
      { class: `verdict-${cell.verdict}`, dataset: { verdict: cell.verdict } },
      value,
      h(
        "span",
        { class: "difference" },
        difference ? `${difference} · ` : "",
        h("span", { class: "verdict", text: word }),
      ),
    );
  },

  /** The export routes need the Authorization header: fetched here and handed to the browser as a file. */
  async download(format) {
    const status = $("export-status");
    const button = $(`export-${format}`);
    button.disabled = true;
    status.textContent = `Preparing the ${format.toUpperCase()}…`;
    try {
      const reply = await api(this.query(format), { raw: true });
      const blob = await reply.blob();
      const disposition = reply.headers.get("Content-Disposition") || "";
      const match = /filename="?([^";]+)"?/.exec(disposition);
      const name = match ? match[1] : `compare.${format}`;
      const url = URL.createObjectURL(blob);
      const link = h("a", { href: url, download: name, hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
      status.textContent = `Downloaded ${name}.`;
    } catch (error) {
      status.textContent = "";
      throw error;
    } finally {
      button.disabled = false;
    }
  },
};

startPage(comparePage);
