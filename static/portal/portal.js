// Behaviour that would otherwise need inline script: kept here so the CSP forbids all inline code.
document.addEventListener("htmx:responseError", function (event) {
  var box = document.getElementById("messages");
  if (!box) return;
  var status = event.detail.xhr.status;
  var p = document.createElement("p");
  p.className = "msg error";
  p.setAttribute("role", "status");
  p.textContent = status === 403 ? "Your role does not allow this action." :
    status === 404 ? "Not found: it may be gone." : "The request failed (" + status + "). Try again.";
  box.replaceChildren(p);
});
document.addEventListener("htmx:sendError", function () {
  var box = document.getElementById("messages");
  if (!box) return;
  var p = document.createElement("p");
  p.className = "msg error";
  p.textContent = "The portal did not answer. Check your connection and try again.";
  box.replaceChildren(p);
});
// Count down every element that carries data-ends-at (an ISO time).
function tickCountdowns() {
  var now = Date.now();
  document.querySelectorAll("[data-ends-at]").forEach(function (el) {
    var left = Math.max(0, Math.round((Date.parse(el.dataset.endsAt) - now) / 1000));
    var h = Math.floor(left / 3600), m = Math.floor((left % 3600) / 60), s = left % 60;
    el.textContent = (h ? h + "h " : "") + (h || m ? m + "m " : "") + s + "s";
  });
}
setInterval(tickCountdowns, 1000);
document.addEventListener("htmx:afterSettle", tickCountdowns);
document.addEventListener("DOMContentLoaded", tickCountdowns);
