// Owner control: "All on this page" ticks every code checkbox of the list. Works with htmx
// swapping the list, since the listener sits on the document.
document.addEventListener("change", function (event) {
  var box = event.target.closest("[data-select-all]");
  if (!box) return;
  document.querySelectorAll(box.getAttribute("data-select-all")).forEach(function (item) {
    item.checked = box.checked;
  });
});
