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

  document.addEventListener("click", dismissFlash);
  document.addEventListener("click", closeMenusOnOutsideClick);
  document.addEventListener("submit", confirmDangerous, true);
})();
