// The queue (/queue): how busy the cluster is, for everyone; no sign-in and no personal data.

import { api } from "./api.js";
import { Poller, startPage } from "./app.js";
import { $, markRendered } from "./dom.js";
import { absoluteTime, duration, numberFormat, plural, relativeTime } from "./format.js";

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

startPage(queuePage);
