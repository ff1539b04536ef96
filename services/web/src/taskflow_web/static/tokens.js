// The API tokens page: a Copy button for the token shown once (hidden without scripts,
// where the field itself can be selected and copied).
(() => {
  if (window.taskflowCopy) return;
  window.taskflowCopy = true;
  const reveal = () => {
    for (const button of document.querySelectorAll("[data-copy]")) {
      if (navigator.clipboard) button.hidden = false;
    }
  };
  document.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const field = document.getElementById(button.dataset.copy);
    if (!field) return;
    try {
      await navigator.clipboard.writeText(field.value);
      const done = document.querySelector(`[data-copied="${button.dataset.copy}"]`);
      if (done) done.hidden = false;
    } catch {
      field.select();
    }
  });
  document.addEventListener("htmx:afterSettle", reveal);
  reveal();
})();
