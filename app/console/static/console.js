// The console's only script; every page works without it. It does two things:
// asks before a form marked data-confirm is sent (declining, rejecting, ...), and
// refreshes the triage queue (an element with data-refresh-seconds) in place while
// nobody is typing in it, so new requests show up without a reload.
"use strict";

document.addEventListener("submit", function (event) {
  var message = event.target.getAttribute("data-confirm");
  if (message && !window.confirm(message)) {
    event.preventDefault();
  }
});

function startRefreshing(region) {
  var seconds = parseInt(region.getAttribute("data-refresh-seconds"), 10);
  if (!(seconds > 0)) {
    return;
  }
  function someoneIsTyping() {
    var fields = region.querySelectorAll("input[type=text]");
    for (var i = 0; i < fields.length; i++) {
      if (fields[i].value !== "" || fields[i] === document.activeElement) {
        return true;
      }
    }
    return false;
  }
  window.setInterval(function () {
    if (document.hidden || someoneIsTyping()) {
      return;
    }
    fetch(window.location.href, { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (html === null || someoneIsTyping()) {
          return;
        }
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById(region.id);
        if (fresh) {
          region.replaceChildren.apply(region, Array.from(fresh.childNodes));
        }
      })
      .catch(function () { /* offline for a moment: the next tick tries again */ });
  }, seconds * 1000);
}

document.addEventListener("DOMContentLoaded", function () {
  var regions = document.querySelectorAll("[data-refresh-seconds]");
  for (var i = 0; i < regions.length; i++) {
    startRefreshing(regions[i]);
  }
});
