// Steward's small behaviours. No inline scripts: the CSP forbids them.
(function () {
  "use strict";

  // The dismissed message takes its focused button with it: focus would fall to <body>, and
  // the next Tab start again from the top of the page. It goes to the next message's own
  // Dismiss, or else to the main content, where the message was.
  function dismissFlash(event) {
    var button = event.target.closest("[data-dismiss]");
    if (!button) {
      return;
    }
    var flash = button.parentElement;
    var hadFocus = flash.contains(document.activeElement);
    var next = flash.nextElementSibling || flash.previousElementSibling;
    next = next && next.querySelector("[data-dismiss]");
    flash.remove();
    if (hadFocus) {
      focusQuietly(next || document.getElementById("main"));
    }
  }

  // Focus on an element that may take none of its own: focusable by script for as long as
  // it holds it (a <main> focusable for good would take the focus of every click on its text).
  function focusQuietly(element) {
    if (!element) {
      return;
    }
    if (!element.matches("a[href], button, input, select, textarea, summary, [tabindex]")) {
      element.setAttribute("tabindex", "-1");
      element.addEventListener("blur", function () { element.removeAttribute("tabindex"); }, { once: true });
    }
    element.focus();
  }

  function closeMenusOnOutsideClick(event) {
    document.querySelectorAll("details.usermenu[open]").forEach(function (menu) {
      if (!menu.contains(event.target)) {
        menu.removeAttribute("open");
      }
    });
  }

  // Open, the menu covers what is below it: it closes on Escape (focus back on its summary)
  // and when focus moves on past it, as well as on a click outside.
  function closeMenuOnEscape(event) {
    if (event.key !== "Escape") {
      return;
    }
    document.querySelectorAll("details.usermenu[open]").forEach(function (menu) {
      menu.removeAttribute("open");
      if (menu.contains(document.activeElement)) {
        menu.querySelector("summary").focus();
      }
    });
  }

  function closeMenuWhenFocusLeaves(event) {
    var menu = event.target.closest && event.target.closest("details.usermenu[open]");
    // No relatedTarget: a click on the panel's text, or the window losing focus.
    if (menu && event.relatedTarget && !menu.contains(event.relatedTarget)) {
      menu.removeAttribute("open");
    }
  }

  // A form that replaces itself over htmx takes the focused button with it, and focus
  // would fall back to <body>: the next Tab leaves the page and the outcome goes unread.
  // Focus goes instead to what the new content names (data-focus-after-swap: a finished
  // answer's Retry or Copy, a renamed conversation's Rename; the newest, in a list), else to
  // what it says first: an alert, the first refused field (its error is its description), a
  // status, or else the content itself.
  var focusedBeforeSwap = null;

  function rememberFocus(event) {
    focusedBeforeSwap = event.detail.shouldSwap ? document.activeElement : null;
  }

  function focusLostInSwap(event) {
    var lost = focusedBeforeSwap;
    focusedBeforeSwap = null;  // once per swap: afterSwap also fires for out-of-band pieces
    var active = document.activeElement;
    if (!lost || lost === document.body || document.body.contains(lost) || (active && active !== document.body)) {
      return;
    }
    var replaced = event.detail.target;
    var content = replaced && document.body.contains(replaced)
      ? replaced
      : (replaced && replaced.id && document.getElementById(replaced.id)) || event.target;
    if (!content || !document.body.contains(content)) {
      return;
    }
    var named = content.querySelectorAll("[data-focus-after-swap]");
    var next = named[named.length - 1]
      || content.querySelector("[role=alert], .form-error")
      || content.querySelector("[aria-invalid=true]")
      || content.querySelector("[role=status], .field-error")
      || content;
    if (!next.matches("a[href], button, input, select, textarea, summary, [tabindex]")) {
      next.setAttribute("tabindex", "-1");
    }
    next.focus();
  }

  function confirmDangerous(event) {
    var form = event.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }

  // Ctrl+Enter (or Cmd+Enter) sends the message box's form.
  function sendOnCtrlEnter(event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && event.target.matches(".composer textarea")) {
      event.preventDefault();
      event.target.form.requestSubmit();
    }
  }

  // The shortcut is told only where there is a keyboard to press it on (and without this
  // script there is no shortcut): on a phone the box just says what it is for. The words
  // with the shortcut are the box's data-keys-hint; its own placeholder, the words without.
  var keyboard = window.matchMedia("(hover: hover) and (pointer: fine) and (min-width: 641px)");

  function hintKeys() {
    document.querySelectorAll("textarea[data-keys-hint]").forEach(function (box) {
      if (box.dataset.placeholder === undefined) {
        box.dataset.placeholder = box.placeholder;
      }
      box.placeholder = keyboard.matches ? box.dataset.keysHint : box.dataset.placeholder;
    });
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

  // A form whose errors come back in what it swaps in, not with the form itself (the audit
  // filters: the list of events says why they cannot be applied). After each swap each field
  // is marked invalid, and described by its error (Django's "<id>_error"), while the page
  // shows one; and no longer once the filters are fine.
  function markFieldsFromErrors() {
    document.querySelectorAll("form[data-errors-in-swap]").forEach(function (form) {
      Array.prototype.forEach.call(form.elements, function (field) {
        if (field.id) {
          markField(field, document.getElementById(field.id + "_error"));
        }
      });
    });
  }

  function markField(field, error) {
    var errorId = field.id + "_error";
    var ids = (field.getAttribute("aria-describedby") || "").split(/\s+/).filter(function (id) {
      return id && id !== errorId;
    });
    if (error) {
      ids.push(errorId);
      field.setAttribute("aria-invalid", "true");
    } else {
      field.removeAttribute("aria-invalid");
    }
    if (ids.length) {
      field.setAttribute("aria-describedby", ids.join(" "));
    } else {
      field.removeAttribute("aria-describedby");
    }
  }

  // An htmx request that failed (a server error, a refusal the page has no place for, the
  // network) changed nothing on screen: the click seemed ignored. Said at the top of the
  // page instead, the newest failure only, unless the page's own script said it in place.
  var REFUSED = {
    400: "That request could not be read. Nothing was changed: reload the page and try again.",
    403: "That was refused: you may have been signed out, or no longer hold the role it needs. Nothing was changed: reload the page.",
    404: "That is no longer there: it may have been deleted meanwhile. Nothing was changed: reload the page.",
    413: "That was more than Steward takes at once. Nothing was changed: shorten it and try again.",
    429: "Too many requests at once. Nothing was changed: wait a moment and try again.",
  };

  function sayRequestFailed(event) {
    var status = event.detail.xhr ? event.detail.xhr.status : 0;
    var words = REFUSED[status] || (status
      ? "Something went wrong on Steward's side (error " + status + "). Reload the page to see whether it went through, then try again."
      : "Steward could not be reached. Reload the page to see whether it went through, then try again.");
    window.setTimeout(function () {  // after the other listeners: one may have said it
      if (!event.defaultPrevented) {
        flashError(words);
      }
    }, 0);
  }

  function flashError(words) {
    var messages = document.getElementById("messages");
    if (!messages) {
      return;
    }
    var old = messages.querySelector("[data-request-failed]");
    if (old) {
      old.remove();
    }
    var flash = document.createElement("div");
    flash.className = "flash flash-error";
    flash.setAttribute("role", "alert");
    flash.dataset.requestFailed = "";
    var text = document.createElement("span");
    text.textContent = words;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "flash-close";
    close.dataset.dismiss = "";
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "×";
    flash.append(text, close);
    messages.append(flash);
  }

  // --- copying ------------------------------------------------------------------------------
  // navigator.clipboard exists only on HTTPS (and on localhost): over plain HTTP from another
  // machine there is none, and a browser may refuse it. Then ``source`` is selected and copied
  // the older way; should even that be refused, it stays selected for Ctrl+C. ``say`` shows
  // "Copied" (or how to copy it by hand), then nothing (the button's own words) 1.5 s later.
  function copy(source, text, say) {
    if (!navigator.clipboard) {
      copySelected(source, say);
      return;
    }
    navigator.clipboard.writeText(text).then(function () {
      sayForAWhile(source, say, "Copied");
    }, function () {
      copySelected(source, say);
    });
  }

  function copySelected(source, say) {
    var selection = window.getSelection();
    var range = document.createRange();
    range.selectNodeContents(source);
    selection.removeAllRanges();
    selection.addRange(range);
    var copied = false;
    try {
      copied = document.execCommand("copy");
    } catch (error) {
      copied = false;
    }
    if (copied) {
      selection.removeAllRanges();
    }
    sayForAWhile(source, say, copied ? "Copied" : "Press Ctrl+C");
  }

  function sayForAWhile(holder, say, words) {
    window.clearTimeout(Number(holder.dataset.copyTimer || 0));
    say(words);
    sayIn(copyStatus, words);
    holder.dataset.copyTimer = window.setTimeout(function () { say(""); }, 1500);
  }

  // A button's own words changing is not read out: "Copied" is said in a status line too,
  // made when the page loads (a live region added and filled at once may go unannounced).
  var copyStatus = document.createElement("p");
  copyStatus.className = "visually-hidden";
  copyStatus.setAttribute("role", "status");
  document.body.appendChild(copyStatus);

  // Words into a status line: emptied first and filled a moment later, so that the same
  // words again are news to a screen reader too.
  function sayIn(status, words) {
    status.textContent = "";
    window.setTimeout(function () { status.textContent = words; }, 100);
  }

  // A Copy button: <button data-copy="<selector of what it copies>"> (an answer's, a new
  // API token's), and data-copy-without="<selector>": parts left out (a letter's notes for
  // the officer's screen).
  function copyFrom(event) {
    var button = event.target.closest && event.target.closest("[data-copy]");
    var source = button && document.querySelector(button.dataset.copy);
    if (source) {
      copy(source, textWithout(source, button.dataset.copyWithout), function (words) {
        // Its own markup (words only a screen reader reads, too), never "Copied".
        button.dataset.label = button.dataset.label || button.innerHTML;
        if (words) {
          button.textContent = words;
        } else {
          button.innerHTML = button.dataset.label;
        }
      });
    }
  }

  // innerText keeps the lines as laid out, so the parts left out are hidden while it is
  // read: nothing is painted in between.
  function textWithout(source, without) {
    var parts = without ? Array.prototype.slice.call(source.querySelectorAll(without)) : [];
    var shown = parts.map(function (part) { return part.style.display; });
    parts.forEach(function (part) { part.style.display = "none"; });
    var text = source.innerText;
    parts.forEach(function (part, index) { part.style.display = shown[index]; });
    return text;
  }

  // A page loaded again to show how something ended (a request's run) says so: its
  // message takes the focus, so a screen reader reads it rather than the page from the top.
  function focusAnnouncement() {
    var announcement = document.querySelector("[data-announce]");
    if (announcement) announcement.focus();
  }

  window.Steward = { copy: copy, sayIn: sayIn };  // chat.js copies code blocks, and speaks

  document.addEventListener("DOMContentLoaded", focusAnnouncement);
  document.addEventListener("DOMContentLoaded", hintKeys);
  document.addEventListener("htmx:load", hintKeys);  // a message box swapped in
  keyboard.addEventListener("change", hintKeys);
  document.addEventListener("htmx:responseError", sayRequestFailed);
  document.addEventListener("htmx:sendError", sayRequestFailed);
  document.addEventListener("change", checkFileSize);
  document.addEventListener("submit", holdOversizedFiles, true);
  document.addEventListener("click", dismissFlash);
  document.addEventListener("click", copyFrom);
  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("[data-print]")) {
      window.print(); // a training card's, a letter's "Print" button
    }
  });
  document.addEventListener("keydown", sendOnCtrlEnter);
  document.addEventListener("click", closeMenusOnOutsideClick);
  document.addEventListener("keydown", closeMenuOnEscape);
  document.addEventListener("focusout", closeMenuWhenFocusLeaves);
  document.addEventListener("htmx:beforeSwap", rememberFocus);
  document.addEventListener("htmx:afterSwap", focusLostInSwap);
  document.addEventListener("htmx:afterSwap", markFieldsFromErrors);
  document.addEventListener("submit", confirmDangerous, true);
})();
