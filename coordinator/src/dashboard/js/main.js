"use strict";
// Loads the page's data, then refreshes each part on its own period.

// Runs `refresh` `ms` after its last answer came back, so a slow call is
// never asked again while it is still being answered.
function every(ms, refresh) {
  const loop = async () => {
    try {
      await refresh();
    } finally {
      setTimeout(loop, ms);
    }
  };
  setTimeout(loop, ms);
}

async function start() {
  addTableExports(document);
  let answer = await api("/api/v1/presets");
  while (!answer.ok) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    answer = await api("/api/v1/presets");
  }
  presets = answer.body.presets;
  $("#preset").innerHTML = presets.map((p) => `<option>${text(p.name)}</option>`).join("");
  if (!$("#target").value) $("#target").value = location.protocol + "//" + location.hostname + ":8088";
  await loadLibrary();
  fillSpec();
  await refreshCampaigns();
  await refreshScenarios();
  refreshCluster();
  openFromAddress();
  // Loaded: presets, campaigns and runs are on the page.
  document.body.dataset.ready = "true";
  every(3000, refreshCampaign);
  every(5000, refreshErrors);
  every(5000, refreshSessions);
  every(3000, refreshCampaigns);
  every(2000, refreshScenarios);
  every(5000, refreshCluster);
  every(10000, refreshStreams);
  every(2000, () => ($("#log-follow").checked ? refreshLogs() : null));
  $("#tab-streams").addEventListener("click", refreshStreams);
  $("#tab-cluster").addEventListener("click", refreshLogs);
}
start();
