// What every status page does: start itself once the sign-in is known, follow token links opened in the same tab,
// keep "3 min ago" times right, and poll the API while it has something to follow (Poller).
// Each page is its own module (jobs-page.js, job-page.js, queue-page.js) and hands itself to startPage().

import { account, ApiError, auth, showError, signIn } from "./api.js";
import { markRendered, notice, refreshRelativeTimes, setLive } from "./dom.js";

/** Runs `task` again after `delay()` ms (null: not now) while the tab is visible; a hidden tab costs nothing,
 * and coming back refreshes at once. Failures slow it down instead of stopping it. */
export class Poller {
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

/** Starts `page` (an object with an async start()): signs in from a token link first, and starts it again when
 * someone signs in later. */
export function startPage(page) {
  signIn.page = page;
  auth.takeFromFragment();
  account.render();
  page.start().catch((error) => {
    showError(error);
    markRendered("error");
  });
  // A token link opened in a tab already showing this page only changes the fragment: no new page load.
  window.addEventListener("hashchange", () => {
    if (auth.takeFromFragment()) signIn.signedIn(auth.read());
  });
  setInterval(refreshRelativeTimes, 30000);
}
