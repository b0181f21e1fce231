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

  // Keep the newest turn in view: when a message is sent, and as its answer grows,
  // unless the reader has scrolled up to read something else.
  var following = true;

  function atBottom() {
    return window.innerHeight + window.scrollY >= document.body.scrollHeight - 80;
  }

  function scrollToNewest(event) {
    var target = event.detail.target;
    if (target && target.id === "message-list") {
      following = true;
      var last = target.lastElementChild;
      if (last) {
        last.scrollIntoView({ block: "end" });
      }
    }
  }

  function readerScrolledUp(event) {
    if ((event.type === "wheel" && event.deltaY < 0) || (event.type === "keydown" && /^(PageUp|ArrowUp|Home)$/.test(event.key))) {
      following = false;
    }
  }

  function readerCameBack() {
    if (atBottom()) {
      following = true;
    }
  }

  function followAnswer(event) {
    var turn = event.target.closest && event.target.closest(".turn");
    if (turn && following) {
      turn.scrollIntoView({ block: "end" });
    }
  }

  document.addEventListener("click", dismissFlash);
  document.addEventListener("click", copyText);
  document.addEventListener("keydown", sendOnCtrlEnter);
  document.addEventListener("htmx:afterSwap", scrollToNewest);
  document.addEventListener("wheel", readerScrolledUp, { passive: true });
  document.addEventListener("keydown", readerScrolledUp);
  document.addEventListener("touchmove", function () { following = atBottom(); }, { passive: true });
  window.addEventListener("scroll", readerCameBack, { passive: true });
  document.addEventListener("htmx:sseMessage", followAnswer);
  document.addEventListener("click", closeMenusOnOutsideClick);
  document.addEventListener("submit", confirmDangerous, true);
})();
