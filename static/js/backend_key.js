// The backend form: a key typed in "API key" replaces the variable named beside it, as the
// server does when the form is saved (governance.forms.BackendForm). The variable's field is
// emptied while a key is typed, so what is seen is what is saved, and filled in again if the
// key is cleared. Listening on the document: htmx swaps the form out on a refused save.
(function () {
  "use strict";

  function keyTyped(event) {
    var key = event.target;
    if (key.name !== "credential" || !key.form || key.form.id !== "backend-form") {
      return;
    }
    var variable = key.form.elements.namedItem("credential_env");
    if (!variable) {
      return;
    }
    if (key.value.trim() && variable.value) {
      variable.dataset.replaced = variable.value;
      variable.value = "";
    } else if (!key.value.trim() && variable.dataset.replaced && !variable.value) {
      variable.value = variable.dataset.replaced;
      delete variable.dataset.replaced;
    }
  }

  document.addEventListener("input", keyTyped);
})();
