"use strict";
// Loads the page's data, then refreshes each part on its own period.

async function start() {
  let answer = await api("/api/v1/presets");
  while (!answer.ok) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    answer = await api("/api/v1/presets");
  }
  presets = answer.body.presets;
  $("#preset").innerHTML = presets.map((p) => `<option>${text(p.name)}</option>`).join("");
  if (!$("#target").value) $("#target").value = location.protocol + "//" + location.hostname + ":8088";
  fillSpec();
  await refreshCampaigns();
  await refreshScenarios();
  refreshCluster();
  // Loaded: presets, campaigns and runs are on the page.
  document.body.dataset.ready = "true";
  setInterval(refreshCampaign, 3000);
  setInterval(refreshErrors, 5000);
  setInterval(refreshSessions, 5000);
  setInterval(refreshCampaigns, 3000);
  setInterval(refreshScenarios, 2000);
  setInterval(refreshCluster, 5000);
  setInterval(refreshStreams, 10000);
  setInterval(() => { if ($("#log-follow").checked) refreshLogs(); }, 2000);
  $("#tab-streams").addEventListener("click", refreshStreams);
  $("#tab-cluster").addEventListener("click", refreshLogs);
}
start();
