// phonehook console: the only script, loaded from this file (the CSP allows
// no inline script). Everything works without it; it only helps.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // A form is sent once: a second click would send a second test message
  // or a second swap.
  document.querySelectorAll("form[method=post]").forEach(function (form) {
    form.addEventListener("submit", function () {
      form.querySelectorAll("button[type=submit]").forEach(function (b) {
        window.setTimeout(function () { b.disabled = true; }, 0);
      });
    });
  });
  // Times are shown in UTC as the log stores them; the local time is a
  // tooltip away.
  document.querySelectorAll("time[datetime]").forEach(function (t) {
    var when = new Date(t.getAttribute("datetime"));
    if (!isNaN(when)) { t.title = when.toLocaleString(); }
  });
});
