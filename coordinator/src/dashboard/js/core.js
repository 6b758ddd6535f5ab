"use strict";
// The page's common parts: the API with its token, problems, tabs, confirmations, downloads.

const $ = (selector) => document.querySelector(selector);
const tokenInput = $("#token");
tokenInput.value = localStorage.getItem("throng-token") || "";
tokenInput.addEventListener("change", () => localStorage.setItem("throng-token", tokenInput.value));

function showProblem(problem) {
  // Also on the console, where a browser's tools (and tests) keep a history.
  if (problem && problem !== $("#problem").textContent) console.warn("problem: " + problem);
  $("#problem").textContent = problem;
}

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (tokenInput.value) headers["Authorization"] = "Bearer " + tokenInput.value;
  let response;
  try {
    response = await fetch(path, Object.assign({}, options, { headers }));
  } catch (error) {
    // The coordinator is restarting or the network is down: say so, and let
    // the periodic refreshes try again.
    showProblem("cannot reach the coordinator (" + error.message + "); retrying");
    return { ok: false, status: 0, body: {} };
  }
  const body = await response.json().catch(() => ({}));
  showProblem(response.ok || response.status === 400 ? "" : (body.detail || response.statusText));
  return { ok: response.ok, status: response.status, body };
}


// Tabs; the address says which is open (`#cluster`), so a link opens it.
for (const button of document.querySelectorAll("header button[data-tab]")) {
  button.addEventListener("click", () => {
    for (const b of document.querySelectorAll("header button[data-tab]")) b.classList.toggle("on", b === button);
    for (const s of document.querySelectorAll("main section")) s.classList.toggle("on", s.id === button.dataset.tab);
    history.replaceState(null, "", "#" + button.dataset.tab);
  });
}

// Opens what the address names: a tab (`#streams`, `#cluster`) or one
// campaign (`#campaign/ID`).
function openFromAddress() {
  const hash = decodeURIComponent(location.hash.slice(1));
  if (hash.startsWith("campaign/")) {
    select(hash.slice("campaign/".length));
    return;
  }
  const tab = document.querySelector(`header button[data-tab="${CSS.escape(hash)}"]`);
  if (tab) tab.click();
}


// A confirmation before an action that changes something: Enter or the
// first button goes ahead, Escape or Cancel does not.
let pending = null;
function confirmThen(message, action) {
  pending = action;
  $("#confirm-text").textContent = message;
  $("#confirm").classList.add("on");
  $("#confirm-yes").focus();
}
function closeConfirm() { $("#confirm").classList.remove("on"); pending = null; }
$("#confirm-yes").addEventListener("click", async () => {
  const action = pending;
  closeConfirm();
  if (action) await action();
  refreshScenarios();
  refreshCampaigns();
});
$("#confirm-no").addEventListener("click", closeConfirm);
$("#confirm").addEventListener("keydown", (e) => { if (e.key === "Escape") closeConfirm(); });

