// TaskFlow web: small enhancements over pages that work without scripts.
// htmx swaps error pages and re-rendered forms (4xx) like any page, so a form's problems
// show where a plain post would show them; a 5xx page is shown too.
document.addEventListener("DOMContentLoaded", function () {
  if (window.htmx) {
    window.htmx.config.responseHandling = [
      { code: "204", swap: false },
      { code: "[2345]..", swap: true },
    ];
    window.htmx.config.historyCacheSize = 0; // pages hold per-person data: never from cache
  }
});
// After a swap, the first invalid field (or the top of the form) gets focus, as after a load.
document.addEventListener("htmx:afterSettle", function () {
  var target = document.querySelector("[aria-invalid=true], #form-error");
  if (target) target.focus();
});
