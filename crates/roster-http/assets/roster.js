// Roster's pages: small enhancements over forms that work the same without this script.
// Served by the binary at /pages/roster.js and loaded with `defer` by the account pages and
// the admin console, whose Content-Security-Policy allows `script-src 'self'` and nothing
// else: no inline script, no eval, nothing from another site.
//
// - A "Copy" button after every value shown once (`data-copy` holds the button's words,
//   `data-copied` what it announces once copied): a new API key, a client's or a webhook's
//   secret, a reset or invitation link, the two-step secret, backup codes.
// - A typed confirmation (`data-expect` on its field: the text to type, compared trimmed as
//   the server compares it) keeps its form's submit button disabled until the text matches.
(function () {
  "use strict";

  // The text of a shown-once element: a list's items one a line, else its text.
  function textOf(element) {
    var items = element.querySelectorAll("li");
    if (items.length > 0) {
      return Array.prototype.map
        .call(items, function (item) {
          return item.textContent.trim();
        })
        .join("\n");
    }
    return element.textContent.trim();
  }

  // Copying where the Clipboard API is missing or refused: a selected, off-screen textarea.
  function copyBySelection(text) {
    var buffer = document.createElement("textarea");
    buffer.value = text;
    buffer.setAttribute("readonly", "");
    buffer.setAttribute("aria-hidden", "true");
    buffer.tabIndex = -1;
    buffer.className = "copy-buffer";
    document.body.appendChild(buffer);
    buffer.select();
    var copied = false;
    try {
      copied = document.execCommand("copy");
    } catch (error) {
      copied = false;
    }
    document.body.removeChild(buffer);
    return copied;
  }

  function addCopyButton(element) {
    var holder = document.createElement("span");
    holder.className = "copy";
    var button = document.createElement("button");
    button.type = "button";
    button.className = "secondary";
    button.textContent = element.getAttribute("data-copy") || "Copy";
    if (element.id) {
      button.setAttribute("aria-describedby", element.id);
    }
    var status = document.createElement("span");
    status.setAttribute("role", "status");
    holder.appendChild(button);
    holder.appendChild(status);
    button.addEventListener("click", function () {
      var text = textOf(element);
      var done = function () {
        status.textContent = element.getAttribute("data-copied") || "";
      };
      var fallback = function () {
        if (copyBySelection(text)) {
          done();
        }
      };
      status.textContent = "";
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(text).then(done, fallback);
      } else {
        fallback();
      }
    });
    element.insertAdjacentElement("afterend", holder);
  }

  function guardTypedConfirmation(field) {
    var expected = field.getAttribute("data-expect");
    var form = field.form;
    if (!expected || !form) {
      return;
    }
    var buttons = form.querySelectorAll("button[type=submit], button:not([type])");
    var update = function () {
      var matches = field.value.trim() === expected;
      Array.prototype.forEach.call(buttons, function (button) {
        button.disabled = !matches;
      });
    };
    field.addEventListener("input", update);
    update();
  }

  function enhance() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-copy]"), addCopyButton);
    Array.prototype.forEach.call(document.querySelectorAll("input[data-expect]"), guardTypedConfirmation);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", enhance);
  } else {
    enhance();
  }
})();
