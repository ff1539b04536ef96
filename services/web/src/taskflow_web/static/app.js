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
// The board: drag a card onto another column. The drop submits the card's own "Move to"
// form (the keyboard and no-script path) with the column's status, so htmx posts it with
// its version (If-Match at the API); the board comes back as the API has it, so a refused
// move (412, 403) puts the card back beside the message.
document.addEventListener("dragstart", function (event) {
  var card = event.target.closest && event.target.closest(".task-card[draggable=true]");
  if (!card) return;
  event.dataTransfer.setData("text/plain", card.id);
  event.dataTransfer.effectAllowed = "move";
  card.classList.add("dragging");
});
document.addEventListener("dragend", function (event) {
  var card = event.target.closest && event.target.closest(".task-card");
  if (card) card.classList.remove("dragging");
});
["dragover", "dragleave", "drop"].forEach(function (type) {
  document.addEventListener(type, function (event) {
    var column = event.target.closest && event.target.closest(".column[data-status]");
    if (!column) return;
    event.preventDefault();
    column.classList.toggle("drop", type === "dragover");
    if (type !== "drop") return;
    var card = document.getElementById(event.dataTransfer.getData("text/plain"));
    var form = card && card.querySelector("form.move");
    var select = form && form.querySelector("select[name=status]");
    var status = column.getAttribute("data-status");
    if (!select || !select.querySelector('option[value="' + status + '"]')) return;
    select.value = status;
    column.querySelector(".cards").appendChild(card);
    form.requestSubmit();
  });
});
