// pluginctl admin: refresh the live part of the page every two seconds.
// Without this script every page still works; it only saves the reloads.
"use strict";
(function () {
  const status = document.getElementById("live-status");
  const regions = document.querySelectorAll("[data-live]");
  const everyMs = 2000;
  let failures = 0;

  function say(text) {
    if (status) status.textContent = text;
  }

  async function refresh(region) {
    const response = await fetch(region.dataset.live, {
      credentials: "same-origin",
      headers: { accept: "text/html" },
      cache: "no-store",
    });
    if (response.status === 401) {
      window.location.assign("/admin/login?next=" + encodeURIComponent(location.pathname));
      return;
    }
    if (!response.ok) throw new Error("HTTP " + response.status);
    const html = await response.text();
    // a form being used (a button pressed, a field focused) is not swapped away
    if (region.contains(document.activeElement) && document.activeElement !== document.body) return;
    if (region.dataset.html !== html) {
      region.dataset.html = html;
      region.innerHTML = html;
    }
  }

  async function tick() {
    if (!document.hidden) {
      try {
        await Promise.all(Array.from(regions, refresh));
        failures = 0;
        say("live · " + new Date().toLocaleTimeString());
      } catch (error) {
        failures += 1;
        say("not connected to the host (" + error.message + "), retrying");
      }
    }
    setTimeout(tick, failures ? Math.min(10000, everyMs * 2 ** failures) : everyMs);
  }

  if (regions.length) setTimeout(tick, everyMs);
})();
