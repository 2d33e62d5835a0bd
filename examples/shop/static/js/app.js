// Proves the script ran: the page's status line and a data attribute change.
document.addEventListener("DOMContentLoaded", function () {
  document.body.dataset.ready = "yes";
  document.getElementById("status").textContent = "Ready";
});
