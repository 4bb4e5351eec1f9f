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
  // "digit": one digit per picture (v1/predict); "number": a whole number (v1/read).
  let mode = "digit";

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
        if (r.uncertain) meta.append(el("span", "uncertain", "uncertain"));
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

  // A reading: the picture with a box around each digit and the digit under it, then the text.
  async function showReading(r, picture) {
    const box = el("div", r.error ? "reading error" : "reading");
    box.dataset.testid = "reading";
    if (r.error) {
      box.append(named(r.filename || ""), el("span", "msg", r.error.code + ": " + r.error.message));
      return box;
    }
    const text = el("div", "number", r.text);
    text.dataset.testid = "number";
    const meta = el("div", "meta");
    meta.append(named(r.filename), el("span", "conf", (r.confidence * 100).toFixed(1) + " %"));
    if (r.uncertain) meta.append(el("span", "uncertain", "uncertain"));
    box.append(text, meta);
    if (picture) {
      // createImageBitmap needs no URL: the page's policy allows no blob: images.
      const bitmap = await createImageBitmap(picture);
      const scale = Math.min(1, 560 / bitmap.width);
      const view = el("canvas", "boxes");
      view.dataset.testid = "boxes";
      view.width = Math.round(bitmap.width * scale);
      view.height = Math.round(bitmap.height * scale) + 36;
      const g = view.getContext("2d");
      g.fillStyle = "#fff"; g.fillRect(0, 0, view.width, view.height);
      g.drawImage(bitmap, 0, 0, view.width, view.height - 36);
      g.lineWidth = 2; g.strokeStyle = "#2f6fed"; g.fillStyle = "#1d2330";
      g.font = "bold 24px system-ui, sans-serif"; g.textAlign = "center";
      for (const d of r.digits) {
        const [x, y, w, h] = d.box.map(function (v) { return v * scale; });
        g.strokeStyle = d.uncertain ? "#b42318" : "#2f6fed";
        g.strokeRect(x, y, w, h);
        g.fillText(String(d.digit), x + w / 2, view.height - 10);
      }
      box.append(view);
    }
    return box;
  }

  async function send(body, headers, pictures) {
    results.replaceChildren(el("p", "hint", "Recognising…"));
    try {
      // Relative URLs: the page works behind a proxy that serves it under a path prefix.
      const url = mode === "number" ? "v1/read" : "v1/predict?include=frame";
      const resp = await fetch(url, { method: "POST", body: body, headers: headers || {} });
      const data = await resp.json();
      if (mode === "number") {
        const items = data.readings || [{ filename: "", error: data.error }];
        const shown = await Promise.all(items.map(function (r, i) { return showReading(r, pictures && pictures[i]); }));
        results.replaceChildren(...shown);
      } else {
        showResults(data.predictions || [{ filename: "", error: data.error }]);
      }
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
          el("td", "", r.text || String(r.digit)), el("td", "", (r.confidence * 100).toFixed(1) + " %"));
        recentBody.append(tr);
      }
    } catch (err) { /* the table simply stays as it was */ }
  }

  function uploadFiles(files) {
    if (!files || !files.length) return;
    const fd = new FormData();
    for (const f of files) fd.append("file", f, f.name);
    send(fd, {}, Array.from(files));
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
    canvas.toBlob(function (blob) {
      send(blob, { "Content-Type": "image/png", "X-Filename": "canvas.png" }, [blob]);
    }, "image/png");
  });

  // Number mode: a wide canvas for several digits, and readings instead of single digits.
  function setMode(next) {
    mode = next;
    const wide = mode === "number";
    canvas.width = wide ? 700 : 280;
    canvas.height = wide ? 200 : 280;
    canvas.classList.toggle("wide", wide);
    ctx.lineWidth = wide ? 12 : 18; ctx.lineCap = "round"; ctx.lineJoin = "round"; ctx.strokeStyle = "#fff";
    clear();
    document.getElementById("draw-button").textContent = wide ? "Read number" : "Recognise drawing";
  }
  document.querySelectorAll('input[name="mode"]').forEach(function (radio) {
    radio.addEventListener("change", function () { if (radio.checked) setMode(radio.value); });
  });
})();
