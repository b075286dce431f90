// The status pages' DOM helpers: building elements, the page-wide notice and live line, and the marks that tell
// tests and the benchmark what is on screen. Everything that comes from the API reaches the page through
// textContent or attribute setters (h() below), never as HTML, and links from it are used only when they are
// http(s) URLs (safeUrl).

import { STATE_LABELS, absoluteTime, relativeTime } from "./format.js";

// ------------------------------------------------------------------------------------------------ elements
export const $ = (id) => document.getElementById(id);

/** An element with properties and children; strings become text nodes, so they are never parsed as HTML. */
export function h(tag, props = {}, ...children) {
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
export function safeUrl(url) {
  try {
    const parsed = new URL(url, location.href);
    return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : null;
  } catch {
    return null;
  }
}

// ------------------------------------------------------------------------------------------------ page-wide
export function notice(text, kind = "info") {
  const box = $("notice");
  if (!box) return;
  box.hidden = !text;
  box.className = `notice ${kind}`;
  box.textContent = text || "";
}

export function setLive(text) {
  const live = $("live-status");
  if (live) live.textContent = text;
}

/** When a part of the page was first drawn (ms since navigation start), for the benchmark (bench/status_page.py). */
const timings = {};
window.olcTimings = timings;
export function timing(step) {
  timings[step] ??= performance.now();
}

/** Tells tests and the benchmark that the page's data is on screen, and when (ms since navigation start). */
export function markRendered(view) {
  const body = document.body;
  body.dataset.view = view;
  if (!body.dataset.rendered) {
    timing("rendered");
    window.olcRenderedAt = timings.rendered;
    body.dataset.rendered = "1";
  }
}

// ------------------------------------------------------------------------------------------------ job parts
/** A <time> that says "3 min ago" and keeps saying the right thing (see refreshRelativeTimes). */
export function timeElement(iso) {
  if (!iso) return h("span", { class: "muted", text: "—" });
  return h("time", { datetime: iso, title: absoluteTime(iso), dataset: { relative: "" }, text: relativeTime(iso) });
}

export function refreshRelativeTimes() {
  const now = Date.now();
  for (const node of document.querySelectorAll("time[data-relative]")) {
    const iso = node.getAttribute("datetime");
    if (iso) node.textContent = relativeTime(iso, now);
  }
}

export function badge(state) {
  return h("span", { class: "badge", dataset: { state }, text: STATE_LABELS[state] || state });
}

export function setBadge(node, state) {
  node.dataset.state = state;
  node.textContent = STATE_LABELS[state] || state;
}
