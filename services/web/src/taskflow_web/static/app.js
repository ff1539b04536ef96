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
// A live refresh of the board while a card is held would take the card from under the
// pointer and end the drag: refreshes wait for the drop (whose answer is the whole board,
// read afresh, so they are dropped) or for a drag given up (then they run).
var heldRefreshes = null;
function holdingACard() {
  return heldRefreshes !== null;
}
document.addEventListener("dragstart", function (event) {
  var card = event.target.closest && event.target.closest(".task-card[draggable=true]");
  if (!card) return;
  event.dataTransfer.setData("text/plain", card.id);
  event.dataTransfer.effectAllowed = "move";
  card.classList.add("dragging");
  heldRefreshes = [];
});
document.addEventListener("dragend", function (event) {
  var card = event.target.closest && event.target.closest(".task-card");
  if (card) card.classList.remove("dragging");
  var held = heldRefreshes || [];
  heldRefreshes = null;
  held.forEach(function (refresh) { refresh(); });
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
    heldRefreshes = [];
    form.requestSubmit();
  });
});
// Live updates (notifications/): one EventSource per signed-in page on /events (web relays
// notify's stream with the person's token; the browser's Last-Event-ID resumes it). The
// page is signed in when it has #live-toast; boosted navigation keeps the same source.
//   notification  -> the unread badge, a polite toast, and on /notifications the item on top
//   unread        -> the unread badge (another tab marked something read)
//   task.changed  -> refreshes the parts of the page about that task (the convention below)
//   reset         -> events were lost: reload the page
// Convention for pages that show tasks (the board, /tasks/{id}): an element with
// data-live-task="<task id>" (a card, the task's panel), or data-live-project="<project id>"
// (a board or list, for tasks created or deleted there), that also has an hx-get of its own
// fragment and hx-trigger="taskflow:changed", is refreshed when that task (or a task of that
// project) changes: app.js calls htmx.trigger(el, "taskflow:changed", <the event's data>).
(function () {
  var source = null;
  var toastTimer = null;

  function setBadge(count) {
    var text = count > 99 ? "99+" : count > 0 ? String(count) : "";
    var badge = document.getElementById("unread-badge");
    if (badge) {
      badge.textContent = text;
      badge.hidden = !text;
    }
    labelBadge();
  }

  // The link's accessible name says the count (also after a swap brought a new badge).
  function labelBadge() {
    var badge = document.getElementById("unread-badge");
    var link = document.querySelector("[data-unread-link]");
    var text = badge && !badge.hidden ? badge.textContent.trim() : "";
    if (link) link.setAttribute("aria-label", text ? "Notifications, " + text + " unread" : "Notifications");
  }

  function toast(text) {
    var region = document.getElementById("live-toast");
    if (!region) return;
    region.textContent = text;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { region.textContent = ""; }, 8000);
  }

  function hrefOf(n) {
    // A link's path on this site only (as notifications/rules.py's href_of): a link or
    // path that starts with two slashes (a backslash is one) is another host.
    if (n.link && !/^[\/\\]{2}/.test(n.link.replace(/[\t\n\r]/g, ""))) {
      try {
        var url = new URL(n.link, window.location.href);
        if (url.pathname.indexOf("//") !== 0) return url.pathname + url.search;
      } catch (e) { /* not a URL: fall through */ }
    }
    if (n.task_id) return "/tasks/" + n.task_id;
    if (n.team_id) return "/teams/" + n.team_id;
    return null;
  }

  // The feed's first page gets the new item on top, made from the page's own template.
  function prepend(n) {
    var list = document.querySelector("[data-live-feed]");
    var template = document.getElementById("notification-template");
    if (!list || !template || document.getElementById("n-" + n.id)) return;
    var item = template.content.firstElementChild.cloneNode(true);
    item.id = "n-" + n.id;
    var link = item.querySelector(".notification-title a");
    var href = hrefOf(n);
    if (href) {
      link.setAttribute("href", href);
      link.textContent = n.title;
    } else {
      var strong = document.createElement("strong");
      strong.textContent = n.title;
      link.replaceWith(strong);
    }
    var body = item.querySelector(".notification-body");
    if (body) body.textContent = n.body || "";
    var time = item.querySelector("time");
    if (time) {
      time.setAttribute("datetime", n.created_at);
      time.textContent = new Date(n.created_at).toLocaleString();
    }
    var form = item.querySelector("form");
    if (form) {
      var action = "/notifications/" + n.id + "/read";
      form.setAttribute("action", action);
      form.setAttribute("hx-post", action);
      form.setAttribute("hx-target", "#n-" + n.id);
      var label = form.querySelector(".vh");
      if (label) label.textContent = ": " + n.title;
    }
    list.insertBefore(item, list.firstElementChild);
    var empty = document.getElementById("feed-empty");
    if (empty) empty.remove();
    if (window.htmx) window.htmx.process(item);
  }

  function refreshTask(data) {
    if (!window.htmx) return;
    if (holdingACard()) {
      heldRefreshes.push(function () { refreshTask(data); });
      return;
    }
    var selector = '[data-live-task="' + data.task_id + '"]';
    if (data.project_id) selector += ', [data-live-project="' + data.project_id + '"]';
    document.querySelectorAll(selector).forEach(function (el) {
      window.htmx.trigger(el, "taskflow:changed", data);
    });
  }

  function on(type, handle) {
    source.addEventListener(type, function (event) {
      var data;
      try { data = JSON.parse(event.data); } catch (e) { return; }
      handle(data);
    });
  }

  function connect() {
    var region = document.getElementById("live-toast");
    if (!region) { // signed out (or never in): no stream
      if (source) { source.close(); source = null; }
      return;
    }
    if (source || !window.EventSource) return;
    source = new EventSource(region.getAttribute("data-live-events") || "/events");
    on("notification", function (n) {
      setBadge(n.unread_count);
      toast("New notification: " + n.title);
      prepend(n);
    });
    on("unread", function (data) { setBadge(data.unread_count); });
    on("task.changed", refreshTask);
    on("reset", function () { window.location.reload(); });
    on("signed-out", function () { source.close(); source = null; });
  }

  document.addEventListener("DOMContentLoaded", connect);
  document.addEventListener("htmx:afterSettle", connect);
  document.addEventListener("htmx:afterSettle", labelBadge);
})();
// A boosted page swaps the body's content, not the body itself: its hx-headers (the CSRF
// token htmx sends with every request) would stay the previous page's, which signing in
// replaces. Each page the server sends carries its own: keep the body's in step with it.
document.addEventListener("htmx:beforeSwap", function (event) {
  var xhr = event.detail.xhr;
  var found = xhr && /<body[^>]*\shx-headers='([^']*)'/.exec(xhr.responseText || "");
  if (found) document.body.setAttribute("hx-headers", found[1].replace(/&#34;|&quot;/g, '"'));
});
