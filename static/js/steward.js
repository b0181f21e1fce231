// Steward's small behaviours. No inline scripts: the CSP forbids them.
(function () {
  "use strict";

  function dismissFlash(event) {
    var button = event.target.closest("[data-dismiss]");
    if (button) {
      button.parentElement.remove();
    }
  }

  function closeMenusOnOutsideClick(event) {
    document.querySelectorAll("details.usermenu[open]").forEach(function (menu) {
      if (!menu.contains(event.target)) {
        menu.removeAttribute("open");
      }
    });
  }

  function confirmDangerous(event) {
    var form = event.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }

  // Copy an answer's text: <button data-copy="#turn-… .md">.
  function copyText(event) {
    var button = event.target.closest("[data-copy]");
    if (!button || !navigator.clipboard) {
      return;
    }
    var source = document.querySelector(button.dataset.copy);
    if (source) {
      navigator.clipboard.writeText(source.innerText).then(function () {
        var label = button.textContent;
        button.textContent = "Copied";
        window.setTimeout(function () { button.textContent = label; }, 1500);
      });
    }
  }

  // Ctrl+Enter (or Cmd+Enter) sends the message box's form.
  function sendOnCtrlEnter(event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && event.target.matches(".composer textarea")) {
      event.preventDefault();
      event.target.form.requestSubmit();
    }
  }

  document.addEventListener("click", dismissFlash);
  document.addEventListener("click", copyText);
  document.addEventListener("keydown", sendOnCtrlEnter);
  document.addEventListener("click", closeMenusOnOutsideClick);
  document.addEventListener("submit", confirmDangerous, true);
})();
