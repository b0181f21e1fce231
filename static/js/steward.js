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
        button.dataset.label = button.dataset.label || button.textContent;  // not "Copied"
        button.textContent = "Copied";
        window.setTimeout(function () { button.textContent = button.dataset.label; }, 1500);
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

  // A file over its field's limit (<input type="file" data-max-bytes="…">) is refused
  // before it is sent, with the limit in words.
  function checkFileSize(event) {
    var input = event.target;
    if (!input.matches || !input.matches("input[type=file][data-max-bytes]")) {
      return;
    }
    var limit = Number(input.dataset.maxBytes);
    var file = input.files && input.files[0];
    var megabytes = function (bytes) { return (bytes / 1024 / 1024).toFixed(1).replace(/\.0$/, ""); };
    input.setCustomValidity(
      file && file.size > limit
        ? "This file is " + megabytes(file.size) + " MB; the limit is " + megabytes(limit) + " MB."
        : ""
    );
    input.reportValidity();
  }

  // ... and its form is not sent: the forms are novalidate (the server's messages are the
  // ones shown), so neither the browser nor htmx would stop it.
  function holdOversizedFiles(event) {
    var form = event.target;
    var inputs = form.querySelectorAll ? form.querySelectorAll("input[type=file][data-max-bytes]") : [];
    for (var i = 0; i < inputs.length; i++) {
      if (inputs[i].validity.customError) {
        event.preventDefault();
        event.stopImmediatePropagation();
        inputs[i].reportValidity();
        return;
      }
    }
  }

  document.addEventListener("change", checkFileSize);
  document.addEventListener("submit", holdOversizedFiles, true);
  document.addEventListener("click", dismissFlash);
  document.addEventListener("click", copyText);
  document.addEventListener("keydown", sendOnCtrlEnter);
  document.addEventListener("click", closeMenusOnOutsideClick);
  document.addEventListener("submit", confirmDangerous, true);
})();
