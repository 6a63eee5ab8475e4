// report.html's behaviour: the candidate table (drawn a page at a time, sorted by a click on a header) and
// two 3Dmol.js viewers showing one candidate as generated next to its relaxed form (unit cell, bonds,
// repeated cells).
"use strict";

(function () {
  const PAGE_SIZE = 100;
  const WRAPPED = new Set(["decomposition", "error"]); // long text; the other cells keep to one line
  const collator = new Intl.Collator(undefined, { numeric: true });

  function compare(x, y, numeric, ascending) {
    if (x === y) return 0;
    if (x === null) return 1; // missing values go last in either direction
    if (y === null) return -1;
    const order = numeric ? x - y : collator.compare(x, y);
    return ascending ? order : -order;
  }

  function formatted(value, kind, digits) {
    if (value === null) return "";
    if (kind === "number") return value.toFixed(digits);
    if (kind === "count") return value.toFixed(0);
    if (kind === "flag") return value ? "yes" : "no";
    return value;
  }

  // The rows live in the page as JSON and are drawn a page at a time, so a screen of 10^5 candidates
  // neither lays out 10^5 table rows nor re-lays them out on every sort.
  function setUpTable() {
    const data = JSON.parse(document.getElementById("table-data").textContent);
    const table = document.getElementById("candidates");
    const headers = table.tHead.rows[0].cells;
    const viewable = new Set(data.viewable);
    const idColumn = data.columns.findIndex((column) => column.key === "id");
    let order = data.rows.map((_, index) => index);
    let page = 0;

    function drawRow(body, row) {
      const tr = body.insertRow();
      data.columns.forEach((column, index) => {
        const cell = tr.insertCell();
        cell.textContent = formatted(row[index], column.kind, data.digits);
        if (column.kind === "number" || column.kind === "count") cell.className = "number";
        if (WRAPPED.has(column.key)) cell.className = "wrap";
        if (index === idColumn && viewable.has(row[index])) {
          const button = document.createElement("button");
          Object.assign(button, { className: "view", textContent: "3D", title: "show in the 3D view" });
          button.dataset.id = row[index];
          cell.appendChild(button);
        }
      });
    }

    function draw() {
      const body = document.createElement("tbody");
      const first = page * PAGE_SIZE;
      const last = Math.min(first + PAGE_SIZE, order.length);
      for (const index of order.slice(first, last)) drawRow(body, data.rows[index]);
      table.replaceChild(body, table.tBodies[0]);
      document.getElementById("shown").textContent = `rows ${first + 1}–${last} of ${order.length}`;
      document.getElementById("previous").disabled = page === 0;
      document.getElementById("next").disabled = last >= order.length;
    }

    Array.from(headers).forEach((header, column) =>
      header.addEventListener("click", () => {
        const numeric = header.classList.contains("number") || header.classList.contains("count");
        const ascending = header.getAttribute("aria-sort") !== "ascending";
        for (const cell of headers) cell.removeAttribute("aria-sort");
        header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        const key = (index) => data.rows[index][column];
        order = [...order].sort((x, y) => compare(key(x), key(y), numeric, ascending) || x - y);
        page = 0;
        draw();
      })
    );
    document.getElementById("previous").addEventListener("click", () => { page -= 1; draw(); });
    document.getElementById("next").addEventListener("click", () => { page += 1; draw(); });
    draw();
  }

  // Draws one structure; returns how many atoms are shown (0: none to draw).
  function drawStructure(viewer, cif, repeat) {
    viewer.clear();
    if (!cif) {
      viewer.render();
      return 0;
    }
    const model = viewer.addModel(cif, "cif");
    viewer.addUnitCell(model);
    // repeat 1 adds the periodic images on the cell's faces, edges and corners; n > 1 shows n×n×n cells
    viewer.replicateUnitCell(repeat, repeat, repeat, model, true);
    viewer.setStyle({}, { sphere: { scale: 0.3 }, stick: { radius: 0.12 } });
    viewer.zoomTo();
    viewer.render();
    return model.selectedAtoms({}).length;
  }

  // 3Dmol.js antialiases by drawing at twice the size; without a GPU (SwiftShader, llvmpipe) that makes every
  // frame take seconds, so a software renderer draws without it.
  function softwareRenderer() {
    const gl = document.createElement("canvas").getContext("webgl");
    if (!gl) return false;
    const info = gl.getExtension("WEBGL_debug_renderer_info");
    const name = String(gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
    const lose = gl.getExtension("WEBGL_lose_context");
    if (lose) lose.loseContext();
    return /swiftshader|llvmpipe|softpipe|software/i.test(name);
  }

  function setUpViewers() {
    const data = document.getElementById("structures");
    if (!data) return;
    const status = document.getElementById("viewer-status");
    if (typeof $3Dmol === "undefined") {
      status.textContent = "3Dmol.js did not load: no 3D views";
      return;
    }
    const structures = JSON.parse(data.textContent);
    const select = document.getElementById("candidate");
    const repeat = document.getElementById("repeat");
    const config = { backgroundColor: "white", antialias: !softwareRenderer() };
    let viewers;
    try {
      viewers = ["raw", "relaxed"].map((kind) => $3Dmol.createViewer(document.getElementById(`view-${kind}`), config));
    } catch (error) {
      status.textContent = `no 3D views (WebGL unavailable?): ${error}`;
      return;
    }
    function show() {
      const entry = structures[select.value];
      const atoms = ["raw", "relaxed"].map((kind, index) =>
        drawStructure(viewers[index], entry[kind], Number(repeat.value))
      );
      document.getElementById("caption").textContent = entry.caption;
      status.dataset.atoms = atoms.join(" ");
      status.dataset.antialias = config.antialias;
      const relaxed = atoms[1] ? `${atoms[1]} atoms shown` : "none (the relaxation failed)";
      status.textContent = `${select.value}: candidate ${atoms[0]} atoms shown; relaxed ${relaxed}`;
    }
    select.addEventListener("change", show);
    repeat.addEventListener("change", show);
    document.getElementById("candidates").addEventListener("click", (event) => {
      const button = event.target.closest("button.view");
      if (!button) return;
      select.value = button.dataset.id;
      show();
      document.getElementById("viewer").scrollIntoView();
    });
    show();
  }

  setUpTable();
  setUpViewers();
})();
