// Small progressive enhancements; every page works without them.

// Copy buttons: <button data-copy="#element-id">Copy</button> copies that input's value or text.
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-copy]");
  if (!button) return;
  var source = document.querySelector(button.getAttribute("data-copy"));
  if (!source || !navigator.clipboard) return;
  var text = "value" in source ? source.value : source.textContent;
  navigator.clipboard.writeText(text.trim()).then(function () {
    var label = button.textContent;
    button.textContent = "Copied";
    setTimeout(function () { button.textContent = label; }, 1500);
  });
});

// An htmx request that fails outright (404, 500, network) would otherwise do nothing visible.
document.addEventListener("htmx:responseError", function (event) {
  showProblem("Something went wrong (" + event.detail.xhr.status + "). Please reload the page.");
});
document.addEventListener("htmx:sendError", function () {
  showProblem("The server could not be reached. Check your connection and try again.");
});

function showProblem(text) {
  var main = document.getElementById("main");
  if (!main) return;
  var list = main.querySelector(".flashes");
  if (!list) {
    list = document.createElement("ul");
    list.className = "flashes";
    list.setAttribute("role", "alert");
    main.prepend(list);
  }
  var item = document.createElement("li");
  item.className = "flash error";
  item.textContent = text;
  list.appendChild(item);
}

// Quick picks for "at most N activations": <button data-fill-max-activations="10">.
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-fill-max-activations]");
  if (!button || !button.form) return;
  button.form.max_activations.value = button.getAttribute("data-fill-max-activations");
});
// Sandbox Telegram: a sent message clears the box, and the newest message stays in view.
document.addEventListener("htmx:afterRequest", function (event) {
  var form = event.target.closest("form[data-reset-on-send]");
  if (form && event.detail.successful) form.reset();
});
function scrollConversation() {
  var box = document.getElementById("conversation");
  if (!box) return;
  var count = box.querySelector(".messages");
  var seen = box.getAttribute("data-seen");
  var now = count ? count.getAttribute("data-count") : "0";
  if (seen !== now) {
    box.scrollTop = box.scrollHeight;
    box.setAttribute("data-seen", now);
  }
}
document.addEventListener("DOMContentLoaded", scrollConversation);
document.addEventListener("htmx:afterSwap", scrollConversation);
