// The conversation page: sending a message and reading its answer on one response, and
// keeping the newest turn in view. No inline scripts: the CSP forbids them.
(function () {
  "use strict";

  // --- keeping the newest turn in view, unless the reader scrolled up to read -----------

  var following = true;

  function atBottom() {
    return window.innerHeight + window.scrollY >= document.body.scrollHeight - 80;
  }

  function follow(turn) {
    if (turn && following) {
      turn.scrollIntoView({ block: "end" });
      if (!turn.nextElementSibling) {
        showMessageBox(turn);
      }
    }
  }

  // Below 821px the message box is in the page's flow under the thread, not stuck to the
  // screen's bottom (there it would take a quarter of a phone's screen, and most of what
  // the on-screen keyboard leaves). Following the newest turn to the screen's bottom left
  // the box just under it, out of view: scrolled to before every message. The page goes on
  // down to the box's bottom, as far as the end of the turn stays in view. From 821px the
  // box sticks to the screen's bottom (unless the window is short too: chat.css): in view
  // already, nothing moves.
  function showMessageBox(newest) {
    var box = document.getElementById("composer");
    if (!box) {
      return;
    }
    var below = box.getBoundingClientRect().bottom + 12 - window.innerHeight;
    var clear = parseFloat(window.getComputedStyle(document.documentElement).scrollPaddingTop) || 0;
    var room = newest.getBoundingClientRect().bottom - clear;  // the turn's end stays below the top bar
    if (below > 0 && room > 0) {
      window.scrollBy(0, Math.min(below, room));
    }
  }

  // --- keeping a focused control clear of the message box -----------------------------------
  // Where the box sticks to the screen's bottom, a control that tabbing scrolls into view
  // stops the box's height (--composer-h, steward.css's scroll-padding-bottom) above the
  // bottom. The height is measured, not guessed: a preview's reasons make the box 200-270px
  // tall, and a fixed 12rem let a focused badge sit wholly under it (WCAG 2.4.11). A new box
  // comes with each send, so whichever box the page has is the one watched.
  var boxResized = window.ResizeObserver && new ResizeObserver(noteBoxHeight);
  var watchedBox = null;

  function noteBoxHeight() {
    var height = watchedBox && watchedBox.isConnected ? watchedBox.getBoundingClientRect().height : 0;
    if (height) {
      document.documentElement.style.setProperty("--composer-h", Math.ceil(height) + "px");
    } else {
      document.documentElement.style.removeProperty("--composer-h");
    }
  }

  function watchBoxHeight() {
    var box = document.getElementById("composer");
    if (!boxResized || box === watchedBox) {
      return;
    }
    if (watchedBox) {
      boxResized.unobserve(watchedBox);
    }
    watchedBox = box;
    if (box) {
      boxResized.observe(box);  // reports its first size at once
    } else {
      noteBoxHeight();
    }
  }

  // Sending brings the new turns into view, wherever the reader was.
  function followNewest() {
    following = true;
    follow(document.querySelector("#message-list > :last-child"));
  }

  function scrollToNewest(event) {
    var target = event.detail.target;
    if (target && target.id === "message-list") {
      followNewest();
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
    follow(event.target.closest && event.target.closest(".turn"));
  }

  // --- saying how an answer ended ---------------------------------------------------------
  // The thread is no live region: each chunk re-renders the whole answer so far, which a
  // screen reader would read out again from its first word. The answer is aria-busy while
  // it is written; when its finished turn replaces it, #answer-status says so, once.

  var ENDINGS = {
    "turn-done": "The answer is complete.",
    "turn-failed": "No answer came back.",
    "turn-cancelled": "The answer was stopped."
  };

  function announceEnd(event) {
    var turn = event.target;
    var replaced = event.detail.target;
    if (!turn.matches || !turn.matches(".turn") || turn.hasAttribute("aria-busy")
        || !replaced || replaced.id !== turn.id || !replaced.hasAttribute("aria-busy")) {
      return;
    }
    follow(turn);  // it came with its actions (Copy, Retry): they, and the box, come into view
    if (!document.querySelector("#message-list > .turn[aria-busy]")) {
      document.querySelectorAll(".send-error[data-until=answered]").forEach(function (hint) {
        describeBox(hint, false);
        hint.remove();
      });
    }
    var ending = Object.keys(ENDINGS).filter(function (name) { return turn.classList.contains(name); })[0];
    if (ending) {
      sayAboutAnswer(ENDINGS[ending]);
    }
  }

  function sayAboutAnswer(words) {
    var status = document.getElementById("answer-status");
    if (status) {
      window.Steward.sayIn(status, words);
    }
  }

  // --- sending ---------------------------------------------------------------------------
  // The message box's form names a second address (data-send-live) whose response is the
  // new turns and then the answer as it is written, as server-sent events in the body of
  // the POST: the first words need no second request. Should that response break, the
  // answer's own event stream takes over (the turn fetched again opens it). htmx's hx-post
  // on the form stays for browsers that cannot read a response as it arrives.

  function sendLive(event) {
    var form = event.target;
    if (!form.matches("form[data-send-live]") || !window.fetch || !window.TextDecoder || !window.htmx) {
      return;
    }
    event.preventDefault();
    event.stopImmediatePropagation();  // htmx's own submit handler stays out
    var button = form.querySelector("button[type=submit]");
    if (button.disabled) {
      return;  // already sending
    }
    if (document.querySelector("#message-list > .turn[aria-busy]")) {
      // The server would refuse it, and its refusal stayed beside the box after the answer
      // had come. Said here instead, and taken back when the answer has come.
      notSent(form, "An answer is still on its way: send this once it has come, or stop it. Your text is still here.");
      form.querySelector(".send-error").dataset.until = "answered";
      return;
    }
    var text = form.querySelector("textarea");
    var refusal = tooLong(text);
    if (refusal) {
      notSent(form, "Not sent: " + refusal + " Your text is still here.");
      return;
    }
    button.disabled = true;
    var sentText = text.value;
    htmx.trigger(text, "htmx:abort");  // the preview of what is being sent is moot
    fetch(form.dataset.sendLive, {
      method: "POST",
      body: new FormData(form),
      headers: { "HX-Request": "true", "HX-Current-URL": window.location.href, "Accept": "text/event-stream" },
      credentials: "same-origin",
      redirect: "manual"
    }).then(function (response) {
      return answered(form, response, sentText);
    }).catch(function () {
      notSent(form, "Steward could not be reached, or the connection broke. Reload the page to see whether your message went; its text is still here.");
    }).then(function () {
      button.disabled = false;
    });
  }

  function answered(form, response, sentText) {
    if (response.type === "opaqueredirect" || response.headers.get("HX-Refresh") === "true") {
      if (response.type === "opaqueredirect") {
        keepDraft();  // not sent: the page goes elsewhere first (a second factor to set up)
      }
      window.location.reload();  // sent elsewhere (a second factor to set up), or the category changed
      return null;
    }
    var redirect = response.headers.get("HX-Redirect");
    if (redirect) {
      keepDraft();  // not sent: signed out, or a new policy to acknowledge first
      window.location.assign(redirect);
      return null;
    }
    if ((response.headers.get("Content-Type") || "").indexOf("text/event-stream") === 0) {
      return readAnswer(response.body.getReader(), sentText);
    }
    return response.text().then(function (html) {
      var target = response.headers.get("HX-Retarget");
      if (!response.ok && !target) {
        notSent(form, "Not sent: something went wrong on Steward's side (error " + response.status + "). Your text is still here; try again in a moment.");
        return;
      }
      var typed = messageBox().value;
      htmx.swap(target || "#message-list", html, { swapStyle: response.headers.get("HX-Reswap") || "beforeend" });
      if (!target) {
        followNewest();  // htmx.swap's afterSwap names no target for scrollToNewest
        keepTyping(sentText, typed);
      } else {
        keepTyping(null, typed);  // refused: the box comes back with the text, as it was sent
      }
    });
  }

  function messageBox() {
    return document.getElementById("composer-text") || { value: "" };
  }

  // The new turns come with a fresh message box in place of the one that sent. What was
  // typed into it meanwhile stays (the sent text left out, should the author have typed
  // on after it); a blocked message comes back whole, to mend and send again (the server
  // neither kept it nor sends it back). Focus goes back into the box, unless the author
  // has moved on elsewhere: the button that sent went with the old box.
  function keepTyping(sentText, typed) {
    var box = document.getElementById("composer-text");
    if (!box) {
      return;
    }
    var rest = typed;
    var turns = document.querySelectorAll("#message-list > .turn");
    var newest = turns[turns.length - 1];
    var blocked = newest && newest.matches(".turn-user.turn-blocked");
    if (sentText !== null && !blocked && typed.indexOf(sentText) === 0) {
      rest = typed.slice(sentText.length).replace(/^\s+/, "");
    }
    if (box.value !== rest) {
      box.value = rest;
      box.dispatchEvent(new Event("input", { bubbles: true }));  // the preview, for what is there
    }
    var active = document.activeElement;
    if (!active || active === document.body || box.form.contains(active)) {
      focusAtEnd(box, { preventScroll: true });
    }
  }

  // Past the longest message Steward takes, the box says so itself, in the server's words
  // (data-too-long, its numbers left to fill in): a paste of megabytes is not posted again at
  // every pause for a preview, nor sent only to be refused (past 2.5 MB the server reads none
  // of it, and a browser may drop the upload before the refusal arrives). Counted as the
  // server counts: characters, trimmed.
  function tooLong(box) {
    var limit = Number(box.dataset && box.dataset.maxChars);
    var refusal = box.dataset && box.dataset.tooLong;
    var text = box.value.trim();
    if (!limit || !refusal || text.length <= limit) {
      return "";
    }
    var count = text.length - (text.match(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g) || []).length;
    if (count <= limit) {
      return "";
    }
    // As Python writes {n:,}: 2,621,447.
    return refusal.replace("{count}", count.toLocaleString("en-US"))
      .replace("{limit}", limit.toLocaleString("en-US"));
  }

  // Said as soon as the box holds it (the count brought up to date at each pause in typing,
  // not read out at every key), and kept: a preview of what the box held before, arriving
  // late, does not replace it.
  function sayTooLong(box, recount) {
    var preview = document.getElementById("preview");
    var refusal = box && box.id === "composer-text" && preview ? tooLong(box) : "";
    if (!refusal) {
      return false;
    }
    if (preview.dataset.tooLong === undefined || (recount && preview.dataset.tooLong !== refusal)) {
      var outcome = document.createElement("span");
      outcome.className = "preview-outcome preview-blocked";
      outcome.textContent = "Too long to send";
      var reason = document.createElement("span");
      reason.className = "preview-reason";
      reason.textContent = refusal;
      preview.replaceChildren(outcome, reason);
      preview.dataset.tooLong = refusal;
      previewShown = { node: null, html: null };  // the server's next preview replaces this one
    }
    return true;
  }

  function typedTooLong(event) {
    if (sayTooLong(event.target, false)) {
      htmx.trigger(event.target, "htmx:abort");  // a preview on its way is of other text
    }
  }

  function previewTooLong(event) {
    if (sayTooLong(event.detail.elt, true)) {
      event.preventDefault();  // not posted: said here
    }
  }

  // The preview sits in a live region: swapped in again at every pause in typing, the same
  // words were read out again each time, over the writer's own typing.
  var previewShown = { node: null, html: null };

  function samePreviewStays(event) {
    var target = event.detail.target;
    if (target && target.id === "preview" && (tooLong(messageBox())
        || (target === previewShown.node && event.detail.serverResponse === previewShown.html))) {
      event.detail.shouldSwap = false;
    }
  }

  function notePreview(event) {
    var target = event.detail.target;
    if (target && target.id === "preview" && event.detail.xhr) {
      previewShown = { node: document.getElementById("preview"), html: event.detail.xhr.responseText };
    }
  }

  // The first answer names a new conversation: the tab says the new name too.
  function titleInTab() {
    var title = document.getElementById("conversation-title");
    if (title && document.title.indexOf(title.textContent + " · ") !== 0) {
      document.title = title.textContent + " · Steward";
    }
  }

  function notSent(form, message) {
    var error = form.querySelector(".send-error");
    if (error) {
      delete error.dataset.until;
    }
    if (!error) {
      error = document.createElement("p");
      error.id = "send-error";
      error.className = "field-error send-error";
      error.setAttribute("role", "alert");
      form.querySelector(".composer-foot").before(error);
    }
    error.textContent = message;
    describeBox(error, true);
  }

  // Why a message was not sent describes the message box, as a refused field's error does:
  // read again when the writer comes back to the box. Taken off with the words.
  function describeBox(error, describes) {
    var form = error.closest("form");
    var box = form && form.querySelector("textarea");
    if (!box) {
      return;
    }
    var ids = (box.getAttribute("aria-describedby") || "").split(/\s+/).filter(function (id) {
      return id && id !== error.id;
    });
    if (describes) {
      ids.push(error.id);
    }
    if (ids.length) {
      box.setAttribute("aria-describedby", ids.join(" "));
    } else {
      box.removeAttribute("aria-describedby");
    }
  }

  function readAnswer(reader, sentText) {
    var decoder = new TextDecoder();
    var pending = "";
    var turn = null;
    var ended = false;

    function handle(name, data) {
      if (name === "sent") {
        var typed = messageBox().value;
        htmx.swap("#message-list", data, { swapStyle: "beforeend" });
        var live = document.querySelectorAll("#message-list > .turn[data-live]");
        turn = live[live.length - 1] || null;
        if (turn) {
          sayAboutAnswer("Sent. The answer is on its way.");  // the box that sent it is gone
        }
        followNewest();
        keepTyping(sentText, typed);
      } else if ((name === "chunk" || name === "waiting") && turn) {
        htmx.swap(turn.querySelector(".md"), data, { swapStyle: "innerHTML" });
        follow(turn);
      } else if (name === "end" && turn) {
        ended = true;
        htmx.trigger(turn.querySelector(".turn-settle"), "sse:end");  // fetch the finished turn
      }
    }

    function resume() {
      if (turn && !ended && document.body.contains(turn)) {
        htmx.ajax("GET", turn.dataset.resume, { target: turn, swap: "outerHTML" });
      }
    }

    function pump() {
      return reader.read().then(function (result) {
        if (result.done) {
          resume();
          return null;
        }
        pending += decoder.decode(result.value, { stream: true });
        var blocks = pending.split("\n\n");
        pending = blocks.pop();
        blocks.forEach(function (block) {
          var event = parseEvent(block);
          handle(event.name, event.data);
        });
        return pump();
      });
    }

    return pump().catch(function (error) {
      if (!turn) {
        throw error;  // nothing arrived: the sender says so
      }
      resume();
    });
  }

  function parseEvent(block) {
    var name = "message";
    var data = [];
    block.split("\n").forEach(function (line) {
      if (line.indexOf("event:") === 0) {
        name = line.slice(6).trim();
      } else if (line.indexOf("data:") === 0) {
        data.push(line.slice(line.charAt(5) === " " ? 6 : 5));
      }
    });
    return { name: name, data: data.join("\n") };
  }

  // A "Cancel" inside a <details> (the rename form), or Escape in its form, closes it and
  // puts the title back.
  function closeDetails(cancel) {
    var details = cancel.closest("details");
    var form = cancel.closest("form");
    if (form) {
      form.reset();
    }
    if (details) {
      details.open = false;
      details.querySelector("summary").focus();
    }
  }
  document.addEventListener("click", function (event) {
    var cancel = event.target.closest("[data-close-details]");
    if (cancel) {
      closeDetails(cancel);
    }
  });
  document.addEventListener("keydown", function (event) {
    var form = event.key === "Escape" && event.target.closest && event.target.closest("form");
    var cancel = form && form.querySelector("[data-close-details]");
    if (cancel) {
      event.preventDefault();
      closeDetails(cancel);
    }
  });
  // Opening the rename form puts the cursor in its field (the title selected, unless it
  // comes back refused: then it is what was typed, to mend).
  document.addEventListener("toggle", function (event) {
    if (event.target.classList && event.target.classList.contains("rename") && event.target.open) {
      var input = event.target.querySelector("input[name=title]");
      if (input) {
        input.focus();
        if (!input.hasAttribute("aria-invalid")) {
          input.select();
        }
      }
    }
  }, true);

  // --- opening a conversation --------------------------------------------------------------
  // A conversation opens at its newest turn, the one to go on from (not at its first
  // question, screens above), unless the address names a place or the browser put the
  // reader back where they were. A new one has nothing to read: the cursor goes in the box.
  function openAtNewest() {
    if (!document.getElementById("message-list")) {
      return;
    }
    if (restoreDraft()) {
      return;
    }
    if (document.getElementById("thread-empty")) {
      var box = document.getElementById("composer-text");
      if (box && (!document.activeElement || document.activeElement === document.body)) {
        box.focus();
      }
    } else if (!window.location.hash && window.scrollY === 0) {
      follow(document.querySelector("#message-list > :last-child"));
    }
  }

  // --- a draft through a trip the page did not choose ---------------------------------------
  // A request answered "go elsewhere first" (the session ended: sign in again; a new policy
  // to acknowledge) took the whole page away, and what was in the box with it. It is kept
  // in this tab's sessionStorage for that trip only: put back, and taken out, when the
  // same conversation opens again within the hour; never kept on leaving by choice.
  var DRAFT_KEY = "steward.chat.draft";
  var DRAFT_MS = 60 * 60 * 1000;

  function keepDraft() {
    var box = document.getElementById("composer-text");
    if (!box || !box.value.trim()) {
      return;
    }
    try {
      window.sessionStorage.setItem(DRAFT_KEY, JSON.stringify({ path: window.location.pathname, text: box.value, at: Date.now() }));
    } catch (error) {
      // storage refused (private mode, full): nothing more to do
    }
  }

  function restoreDraft() {
    var draft = null;
    try {
      draft = JSON.parse(window.sessionStorage.getItem(DRAFT_KEY) || "null");
    } catch (error) {
      return false;
    }
    var current = draft && Date.now() - draft.at < DRAFT_MS;
    if (draft && (draft.path === window.location.pathname || !current)) {
      window.sessionStorage.removeItem(DRAFT_KEY);  // taken out, or too old to keep
    }
    var box = document.getElementById("composer-text");
    if (!current || draft.path !== window.location.pathname || !box || box.value) {
      return false;
    }
    box.value = draft.text;
    box.dispatchEvent(new Event("input", { bubbles: true }));  // the preview, checked again
    focusAtEnd(box);
    return true;
  }

  function focusAtEnd(box, options) {
    box.focus(options);
    box.setSelectionRange(box.value.length, box.value.length);
  }

  document.addEventListener("htmx:beforeOnLoad", function (event) {
    var xhr = event.detail.xhr;
    if (xhr && xhr.getResponseHeader("HX-Redirect")) {
      keepDraft();
    }
  });

  // --- earlier turns ------------------------------------------------------------------------
  // A long conversation opens at its newest turns; "Show earlier messages" puts the page
  // before them above. The turn the reader was looking at stays where it was on the screen;
  // focus, if it was on the link, goes to the newest of the turns loaded (reading on goes
  // down into where the reader was), without scrolling.
  var keptInPlace = null;

  function keepReadingPlace(event) {
    var earlier = event.detail.target;
    if (earlier.id === "earlier-turns") {
      var turn = document.querySelector("#message-list > .turn");
      keptInPlace = turn && {
        turn: turn,
        top: turn.getBoundingClientRect().top,
        focused: earlier.contains(document.activeElement),
      };
    }
  }

  function backToReadingPlace() {
    if (!keptInPlace) {
      return;
    }
    var turn = keptInPlace.turn;
    window.scrollBy(0, turn.getBoundingClientRect().top - keptInPlace.top);
    var loaded = turn.previousElementSibling;
    if (keptInPlace.focused && loaded && loaded.matches(".turn")) {
      loaded.setAttribute("tabindex", "-1");
      loaded.focus({ preventScroll: true });
    }
    keptInPlace = null;
  }

  // --- a code block's own Copy --------------------------------------------------------------
  // Each code block of a finished answer gets a button that copies its code alone. Its words
  // come from CSS (::before), so that the answer's own Copy, which takes the answer's text,
  // does not take them too.
  function addCodeCopies() {
    document.querySelectorAll("#message-list > .turn:not([aria-busy]) .md pre").forEach(function (pre) {
      if (pre.parentElement.classList.contains("code-block")) {
        return;
      }
      var block = document.createElement("div");
      block.className = "code-block";
      var button = document.createElement("button");
      button.type = "button";
      button.className = "button button-small code-copy";
      button.setAttribute("aria-label", "Copy code");
      pre.before(block);
      block.append(button, pre);
    });
  }

  function copyCode(event) {
    var button = event.target.closest && event.target.closest(".code-copy");
    if (button) {
      var pre = button.parentElement.querySelector("pre");
      window.Steward.copy(pre, pre.innerText.replace(/\n$/, ""), function (words) {
        button.setAttribute("aria-label", words || "Copy code");
        button.classList.toggle("code-copied", Boolean(words));
      });
    }
  }

  document.addEventListener("click", copyCode);
  document.addEventListener("htmx:afterSettle", addCodeCopies);
  addCodeCopies();
  watchBoxHeight();
  document.addEventListener("htmx:load", watchBoxHeight);  // whatever swapped a new box in
  if (document.readyState === "complete") {
    openAtNewest();
  } else {
    window.addEventListener("load", openAtNewest);  // laid out with its styles and images
  }
  document.addEventListener("submit", sendLive, true);  // capturing: before htmx's, on the form
  // htmx's send (where the live one cannot run) drops the preview of what is being sent, as
  // the live one does; a newer preview replaces an older one (hx-sync on the message box).
  document.addEventListener("htmx:beforeRequest", function (event) {
    var form = event.detail.elt;
    if (form.matches && form.matches("form[data-send-live]")) {
      htmx.trigger(form.querySelector("textarea"), "htmx:abort");
    }
  });
  document.addEventListener("htmx:beforeRequest", previewTooLong);
  document.addEventListener("input", typedTooLong, true);  // capturing: a paste's event may not bubble
  document.addEventListener("htmx:beforeSwap", samePreviewStays);
  document.addEventListener("htmx:oobAfterSwap", titleInTab);  // named by the first answer
  document.addEventListener("htmx:afterSettle", titleInTab);  // renamed: the heading swapped in
  document.addEventListener("htmx:afterSwap", notePreview);
  document.addEventListener("htmx:afterSwap", scrollToNewest);
  document.addEventListener("htmx:beforeSwap", keepReadingPlace);
  document.addEventListener("htmx:afterSwap", backToReadingPlace);  // before the next paint
  document.addEventListener("htmx:afterSettle", announceEnd);  // classes are settled by then
  document.addEventListener("wheel", readerScrolledUp, { passive: true });
  document.addEventListener("keydown", readerScrolledUp);
  document.addEventListener("touchmove", function () { following = atBottom(); }, { passive: true });
  window.addEventListener("scroll", readerCameBack, { passive: true });
  document.addEventListener("htmx:sseMessage", followAnswer);
})();
