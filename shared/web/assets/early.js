// The page's first API call, started from the <head> while the page's modules still load: what the page draws first
// waits for this answer, so it should not wait for the scripts as well. A classic script (no imports, nothing to
// wait for); api.js takes the answer up when the page asks for exactly this path with the same sign-in, and asks
// again itself otherwise (no sign-in yet, a token link, another path, a failed fetch).
(() => {
  const JOB_ID = /^j[0-9a-f]{19}$/;
  // Page (data-page) -> its first call: jobs-page.js loadPage() and job-page.js start() ask for exactly these.
  const FIRST = {
    jobs: () => "/v1/jobs?limit=25",
    job: () => {
      const id = location.pathname.split("/")[2] || "";
      return JOB_ID.test(id) ? `/v1/jobs/${id}?include=log,artifacts&lines=200` : null;
    },
  };
  const script = document.currentScript;
  const first = script && FIRST[script.dataset.page];
  if (!first || location.hash.includes("token=")) return; // a token link signs in anew: api.js reads it first
  let token = null;
  try {
    token = sessionStorage.getItem("olc.idToken");
  } catch {
    return; // storage disabled: nobody is signed in
  }
  const path = first();
  if (!token || !path) return;
  const reply = fetch(path, {
    headers: { Accept: "application/json", Authorization: `Bearer ${token}` },
    cache: "no-store",
    credentials: "omit",
  });
  reply.catch(() => {}); // api.js asks again
  window.olcEarly = { path, token, reply };
})();
