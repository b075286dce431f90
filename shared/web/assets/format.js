// Formatting for the status pages: job states, times, durations, sizes, counts and metrics. Plain functions of
// their arguments, no DOM: what reaches the page is built from these strings by dom.js's h(), as text.

export const ACTIVE = new Set(["QUEUED", "SUBMITTED", "RUNNING"]);
export const STATE_LABELS = {
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

