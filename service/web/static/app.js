// Progressive enhancement: without JavaScript the form posts to the page and the server renders the result.
// Served as a file of its own: the page's Content-Security-Policy allows no inline script or style.
"use strict";
(function () {
  const form = document.getElementById("upload-form");
  const input = document.getElementById("file-input");
  const drop = document.getElementById("drop");
  const results = document.getElementById("results");
  const recentBody = document.querySelector("#recent tbody");
  const canvas = document.getElementById("canvas");
  const ctx = canvas.getContext("2d");

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // A file name may be 255 characters: one line, cut with an ellipsis, the whole name on hover.
  function named(name, tag) {
    const e = el(tag || "span", "fname", name);
    e.title = name;
    return e;
  }

  function showResults(items) {
    results.replaceChildren();
    for (const r of items) {
      const box = el("div", r.error ? "result error" : "result");
      box.dataset.testid = "result";
      if (r.error) {
        box.append(named(r.filename || ""), el("span", "msg", r.error.code + ": " + r.error.message));
      } else {
        const digit = el("div", "digit", String(r.digit));
        digit.dataset.testid = "digit";
        const meta = el("div", "meta");
        meta.append(named(r.filename), el("span", "conf", (r.confidence * 100).toFixed(1) + " %"));
        const img = el("img", "frame");
        img.alt = "what the model saw";
        if (r.frame_png) img.src = r.frame_png;
        const bars = el("ol", "bars");
        r.probabilities.forEach(function (p, i) {
          const li = el("li");
          const bar = el("progress", "bar");
          bar.max = 1;
          bar.value = p;
          li.append(el("span", "lbl", String(i)), bar);
          bars.append(li);
        });
        box.append(digit, meta, img, bars);
      }
      results.append(box);
    }
  }

  async function send(body, headers) {
    results.replaceChildren(el("p", "hint", "Recognising…"));
    try {
      // Relative URLs: the page works behind a proxy that serves it under a path prefix.
      const resp = await fetch("v1/predict?include=frame", { method: "POST", body: body, headers: headers || {} });
      const data = await resp.json();
      showResults(data.predictions || [{ filename: "", error: data.error }]);
    } catch (err) {
      results.replaceChildren(el("p", "hint", "The request failed: " + err));
    }
    refreshRecent();
  }

  async function refreshRecent() {
    if (!recentBody) return;  // the history is not shown to this client
    try {
      const resp = await fetch("v1/predictions?limit=10");
      if (!resp.ok) return;
      const data = await resp.json();
      recentBody.replaceChildren();
      for (const r of data.items) {
        const tr = el("tr");
        tr.append(el("td", "", r.created_at.slice(11, 19)), named(r.filename, "td"),
          el("td", "", String(r.digit)), el("td", "", (r.confidence * 100).toFixed(1) + " %"));
        recentBody.append(tr);
      }
    } catch (err) { /* the table simply stays as it was */ }
  }

  function uploadFiles(files) {
    if (!files || !files.length) return;
    const fd = new FormData();
    for (const f of files) fd.append("file", f, f.name);
    send(fd);
  }

  form.addEventListener("submit", function (ev) { ev.preventDefault(); uploadFiles(input.files); });
  input.addEventListener("change", function () { uploadFiles(input.files); });
  ["dragenter", "dragover"].forEach(function (t) {
    drop.addEventListener(t, function (ev) { ev.preventDefault(); drop.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach(function (t) {
    drop.addEventListener(t, function (ev) { ev.preventDefault(); drop.classList.remove("over"); });
  });
  drop.addEventListener("drop", function (ev) { uploadFiles(ev.dataTransfer.files); });

  // Canvas: white strokes on black, like MNIST itself; pointer events cover mouse, pen and touch.
  function clear() { ctx.fillStyle = "#000"; ctx.fillRect(0, 0, canvas.width, canvas.height); }
  clear();
  ctx.lineWidth = 18; ctx.lineCap = "round"; ctx.lineJoin = "round"; ctx.strokeStyle = "#fff";
  let drawing = false;
  function pos(ev) {
    const r = canvas.getBoundingClientRect();
    return [(ev.clientX - r.left) * canvas.width / r.width, (ev.clientY - r.top) * canvas.height / r.height];
  }
  canvas.addEventListener("pointerdown", function (ev) {
    drawing = true; canvas.setPointerCapture(ev.pointerId);
    const [x, y] = pos(ev); ctx.beginPath(); ctx.moveTo(x, y); ctx.lineTo(x + 0.1, y + 0.1); ctx.stroke();
  });
  canvas.addEventListener("pointermove", function (ev) {
    if (!drawing) return;
    const [x, y] = pos(ev); ctx.lineTo(x, y); ctx.stroke();
  });
  ["pointerup", "pointercancel"].forEach(function (t) { canvas.addEventListener(t, function () { drawing = false; }); });
  document.getElementById("clear-button").addEventListener("click", clear);
  document.getElementById("draw-button").addEventListener("click", function () {
    canvas.toBlob(function (blob) { send(blob, { "Content-Type": "image/png", "X-Filename": "canvas.png" }); }, "image/png");
  });
})();
