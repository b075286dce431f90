// Formatting for the status pages: job states, times, durations, sizes, counts and metrics. Plain functions of
// their arguments, no DOM: what reaches the page is built from these strings by dom.js's h(), as text.

// FETCHING: a design submitted from git is being fetched; it then waits in the queue like an upload.
export const ACTIVE = new Set(["FETCHING", "QUEUED", "SUBMITTED", "RUNNING"]);
export const STATE_LABELS = {
  FETCHING: "Fetching",
  QUEUED: "Queued",
  SUBMITTED: "Starting",
  RUNNING: "Running",
  SUCCEEDED: "Succeeded",
  FAILED: "Failed",
  CANCELLED: "Cancelled",
  TIMEOUT: "Timed out",
  REJECTED: "Rejected",
};

export const numberFormat = new Intl.NumberFormat("en", { maximumFractionDigits: 2 });

/** A timeline stage: "step 6 of 10 · Yosys.Synthesis" inside an OpenLane flow, else the stage's name. */
export function stageLabel(event) {
  if (!event.step) return event.name;
  return `step ${event.step}${event.steps ? ` of ${event.steps}` : ""} · ${event.name}`;
}

export function plural(count, word) {
  return `${count} ${word}${count === 1 ? "" : "s"}`;
}

/** "just now", "3 min ago", "in 4 min", "2 h ago", "yesterday", "5 days ago", then the date. */
export function relativeTime(iso, now = Date.now()) {
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

export function absoluteTime(iso) {
  const at = Date.parse(iso);
  return Number.isNaN(at) ? "" : new Date(at).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}

export function clockTime(iso) {
  const at = Date.parse(iso);
  return Number.isNaN(at) ? "" : new Date(at).toLocaleTimeString(undefined, { hour12: false });
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "—";
  if (seconds < 1) return "< 1 s";
  if (seconds < 60) return `${Math.round(seconds)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** Short runs use thousandths of a core hour: two significant digits keep them from showing as 0. */
export function coreHours(value) {
  if (value === 0) return "0";
  return value < 1 ? value.toPrecision(2).replace(/0+$/, "") : numberFormat.format(value);
}

export function bytes(size) {
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

export function jobName(job) {
  if (job.design_name) return job.design_name;
  const file = (job.upload && job.upload.name) || "";
  return file.split("/").pop() || job.id;
}

/** An estimate that is due (or overdue: the queue moved slower than usual) says so instead of "2 min ago". */
export function startText(iso) {
  return Date.parse(iso) - Date.now() < 45000 ? "any moment" : relativeTime(iso);
}

export function queueText(job) {
  if (job.state !== "QUEUED") return "";
  const parts = [];
  if (job.queue_position) parts.push(`#${job.queue_position} in line`);
  if (job.estimated_start_at) parts.push(`starts ${startText(job.estimated_start_at)}`);
  return parts.join(" · ") || "waiting";
}

// ------------------------------------------------------------------------------------------------ metrics
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
export const NOT_MEASURED = "not measured";

/** The metrics a job page lists, in order: the known ones the run measured and the key figures (`keyMetrics`:
 * shared/domain/metrics.py KEY_METRICS, which the page carries) even when it did not, then any others by name. The
 * timing corners get their own row. */
export function metricKeys(metrics, keyMetrics) {
  const known = Object.keys(METRICS).filter((key) => key in metrics || keyMetrics.includes(key));
  const others = Object.keys(metrics).filter((key) => !(key in METRICS) && key !== "corners").sort();
  return [...known, ...others];
}

/** One metric as shown: its label, its value as text and whether it needs attention. The API leaves out what the
 * run did not measure: such a figure says "not measured", never 0 or "match". */
export function describeMetric(key, metrics) {
  const [label, format, bad] = METRICS[key] || [key, (v) => String(v)];
  if (!(key in metrics) || metrics[key] === null) return { label, text: NOT_MEASURED, measured: false, warn: false };
  const value = metrics[key];
  return { label, text: format(value), measured: true, warn: bad ? bad(value) : false };
}

/** One timing corner's figures, e.g. "setup WNS -0.21 ns, TNS -1.48 ns, 9 violations · hold WNS 0 ns". */
export function cornerText(figures) {
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
export function cornerFails(figures) {
  return ["setup_wns_ns", "hold_wns_ns"].some((key) => typeof figures[key] === "number" && figures[key] < 0);
}


// ------------------------------------------------------------------------------------------------ git, reuse, reruns
/** A design name as config.json's DESIGN_NAME allows it (shared/domain/config_schema.py IDENTIFIER). */
export const DESIGN_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const JOB_ID = /^j[0-9a-f]{19}$/;

/** The page of a design's runs, or null for a name that cannot be one (it then gets no link). */
export function designPath(name) {
  return typeof name === "string" && DESIGN_NAME.test(name) ? `/designs/${name}` : null;
}

/** A job's page on this site, or null for something that is not a job id. */
export function jobPath(id) {
  return typeof id === "string" && JOB_ID.test(id) ? `/jobs/${id}` : null;
}

/** The first 12 hex digits of a commit; "" while the ref is not resolved yet. */
export function shortCommit(sha) {
  return typeof sha === "string" ? sha.slice(0, 12) : "";
}

/** Where a design from git came from, on one line: "https://host/repo.git main @ 1a2b3c4d5e6f (folder spm)". */
export function gitText(git) {
  if (!git) return "";
  const at = git.commit ? ` @ ${shortCommit(git.commit)}` : "";
  return `${git.url} ${git.ref}${at}${git.path ? ` (folder ${git.path})` : ""}`;
}

/** What a run was made from, short: "main @ 1a2b3c4d5e6f" (git; the ref alone while fetching), else the file name. */
export function sourceText(job) {
  if (job.git) return job.git.commit ? `${job.git.ref} @ ${shortCommit(job.git.commit)}` : job.git.ref;
  const file = (job.upload && job.upload.name) || "";
  return file.split("/").pop() || "—";
}

/** How a job relates to others: [{ lead, id, tail }], e.g. "same inputs as job " + X + ": results reused". */
export function lineage(job) {
  const notes = [];
  if (job.reused_from) notes.push({ lead: "same inputs as job ", id: job.reused_from, tail: ": results reused" });
  if (job.parent_job) notes.push({ lead: "rerun of job ", id: job.parent_job, tail: "" });
  return notes;
}

const ENDED_RUNS = new Set(["SUCCEEDED", "FAILED", "CANCELLED", "TIMEOUT"]);

/** A finished job may be run again with changes; a rejected one never ran, an active one has not finished. */
export function canRerun(job) {
  return ENDED_RUNS.has(job.state);
}

/** The variables the rerun form offers: [name, kind]; a number field's value is sent as a JSON number. */
export const RERUN_FIELDS = [
  ["CLOCK_PERIOD", "number"],
  ["SYNTH_STRATEGY", "text"],
  ["FP_CORE_UTIL", "number"],
  ["PL_TARGET_DENSITY", "number"],
];
const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const VARIABLE = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

/** A KEY=VALUE line's value as JSON: a number, true or false, a JSON list, object or "string" when written as one,
 * else the text itself. Throws SyntaxError for broken JSON. */
export function overrideValue(text) {
  const value = text.trim();
  if (NUMBER.test(value)) return Number(value);
  if (value === "true" || value === "false") return value === "true";
  if (/^[[{"]/.test(value)) return JSON.parse(value);
  return value;
}

/** A rerun's overrides from the form. `fields`: [name, kind, text] per field ("" keeps the job's value);
 * `lines`: the free "KEY=VALUE" text (blank lines and # comments skipped); `original`: the values the fields were
 * prefilled with, sent only when changed. Returns { overrides, problems }. */
export function parseOverrides(fields, lines, original = {}) {
  const overrides = {};
  const problems = [];
  for (const [name, kind, raw] of fields) {
    const text = String(raw ?? "").trim();
    if (!text || (name in original && String(original[name]) === text)) continue;
    if (kind === "number") {
      if (NUMBER.test(text)) overrides[name] = Number(text);
      else problems.push(`${name} must be a number`);
    } else {
      overrides[name] = text;
    }
  }
  String(lines || "")
    .split("\n")
    .forEach((line, index) => {
      const text = line.trim();
      if (!text || text.startsWith("#")) return;
      const where = `line ${index + 1}`;
      const equals = text.indexOf("=");
      const key = equals > 0 ? text.slice(0, equals).trim() : "";
      if (!VARIABLE.test(key)) {
        problems.push(`${where}: write KEY=VALUE, with a variable name such as GRT_ADJUSTMENT as the key`);
      } else if (key in overrides) {
        problems.push(`${where}: ${key} is given twice`);
      } else if (!text.slice(equals + 1).trim()) {
        problems.push(`${where}: ${key} has no value`);
      } else {
        try {
          overrides[key] = overrideValue(text.slice(equals + 1));
        } catch {
          problems.push(`${where}: the value of ${key} is not valid JSON`);
        }
      }
    });
  if (!problems.length && !Object.keys(overrides).length) {
    problems.push("Nothing to change: give at least one new value.");
  }
  return { overrides, problems };
}

/** The problems a refused request lists (its error's `problems`, or `details`), each as one line of text. */
export function problemList(error) {
  const body = error || {};
  const details = body.details;
  const found = body.problems || (details && details.problems) || (Array.isArray(details) ? details : []);
  return (Array.isArray(found) ? found : [found]).map((problem) => {
    if (problem && typeof problem === "object") {
      const where = problem.key || problem.field || problem.variable || problem.path || "";
      const what = problem.message || problem.problem || JSON.stringify(problem);
      return where ? `${where}: ${what}` : what;
    }
    return String(problem);
  });
}
