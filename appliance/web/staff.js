// The front desk's page works without this script. With it: the link's
// date and time are read in this browser's time zone (the clinic's), the
// form starts at today and the next quarter hour, the link can be copied
// with one click, and the room's state refreshes by itself.
"use strict";

(function () {
  const two = (n) => String(n).padStart(2, "0");

  const make = document.getElementById("make");
  if (make) {
    const date = document.getElementById("date");
    const start = document.getElementById("start");
    const offset = document.getElementById("offset");
    const now = new Date(Date.now() + 15 * 60 * 1000);
    now.setMinutes(Math.ceil(now.getMinutes() / 15) * 15, 0, 0);
    if (!date.value) date.value = now.getFullYear() + "-" + two(now.getMonth() + 1) + "-" + two(now.getDate());
    if (!start.value) start.value = two(now.getHours()) + ":" + two(now.getMinutes());
    make.addEventListener("submit", () => {
      // Minutes from local time to UTC on that day (summer time included).
      const at = new Date(date.value + "T" + start.value);
      offset.value = isNaN(at.getTime()) ? "" : String(at.getTimezoneOffset());
    });
  }

  const copy = document.getElementById("copy");
  const link = document.getElementById("link");
  if (copy && link && navigator.clipboard) {
    copy.hidden = false;
    copy.addEventListener("click", () => {
      navigator.clipboard.writeText(link.value).then(
        () => { copy.textContent = "Copied"; },
        () => { link.select(); }
      );
    });
  }

  const state = document.getElementById("room-state");
  if (state) {
    let asked = 0;
    const refresh = () => {
      // A desk left open all day asks every 10 s; after 8 hours it stops.
      if (++asked > 2880) return;
      fetch("state", { credentials: "same-origin", cache: "no-store" })
        .then((r) => {
          // The session ended (15 minutes without a click, or logged out
          // elsewhere): show the login rather than a desk that cannot act.
          if (r.status === 401) location.reload();
          return r.ok ? r.json() : null;
        })
        .then((s) => {
          if (!s) return;
          state.dataset.state = s.state;
          state.textContent = s.words;
        })
        .catch(() => {});
    };
    setInterval(refresh, 10000);
  }
})();
