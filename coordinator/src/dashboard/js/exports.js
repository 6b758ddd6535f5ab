"use strict";
// Every table can leave the page, on the console and in reports: its rows
// as CSV, or as JSON objects keyed by its header, as they are shown.

function download(name, type, body) {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([body], { type }));
  link.download = name;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}
function csvRow(values) {
  return values.map((v) => { const s = String(v); return /[",\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s; }).join(",");
}

// A table's header and the rows under it that have a cell per column (a
// "nothing yet" row spans them all and is left out).
function tableRows(table) {
  const head = [...table.querySelectorAll("thead th")].map((th, i) => th.textContent.trim() || `column ${i + 1}`);
  const rows = [...table.querySelectorAll("tbody tr")]
    .filter((tr) => tr.cells.length === head.length)
    .map((tr) => [...tr.cells].map((td) => td.textContent.trim()));
  return { head, rows };
}
function tableCsv(table) {
  const { head, rows } = tableRows(table);
  return [head, ...rows].map(csvRow).join("\n") + "\n";
}
function tableJson(table) {
  const { head, rows } = tableRows(table);
  return JSON.stringify(rows.map((row) => Object.fromEntries(head.map((h, i) => [h, row[i]]))), null, 2) + "\n";
}

// CSV and JSON buttons under each table of `root` marked `data-export`
// (its value names the files), added once.
function addTableExports(root) {
  for (const table of root.querySelectorAll("table[data-export]")) {
    if (table.dataset.exportsAdded) continue;
    table.dataset.exportsAdded = "true";
    const name = table.dataset.export;
    const bar = document.createElement("div");
    bar.className = "table-exports";
    for (const [kind, type, make] of [["CSV", "text/csv", tableCsv], ["JSON", "application/json", tableJson]]) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = kind;
      button.className = "export";
      button.dataset.kind = kind.toLowerCase();
      button.setAttribute("aria-label", `${name} as ${kind}`);
      button.addEventListener("click", () => download(`${name}.${kind.toLowerCase()}`, type, make(table)));
      bar.appendChild(button);
    }
    const holder = table.closest(".table-scroll") || table;
    holder.after(bar);
  }
}
