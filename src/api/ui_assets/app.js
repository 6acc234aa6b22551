// The operator's page: plain DOM, the REST API only, with the token of this tab's session.
"use strict";

const $ = (sel) => document.querySelector(sel);
const TOKEN_KEY = "fluidform.token";
let streamAbort = null;

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children.flat()) e.append(c instanceof Node ? c : document.createTextNode(c == null ? "" : String(c)));
  return e;
}

const badge = (s) => el("span", { class: "badge s-" + s, "data-state": s }, String(s).replaceAll("_", " "));

function status(text, error) {
  const s = $("#status");
  s.textContent = text || "";
  s.className = error ? "error" : "muted";
}

async function api(method, path, body) {
  const headers = { Authorization: "Bearer " + sessionStorage.getItem(TOKEN_KEY) };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  const data = text ? JSON.parse(text) : null;
  if (r.status === 401) {
    showLogin("The token was refused: " + (data && data.detail));
    throw new Error("unauthorized");
  }
  if (!r.ok) throw new Error((data && (data.detail || data.title)) || r.statusText);
  return data;
}

async function listAll(path) {
  let items = [];
  let next = null;
  do {
    const sep = path.includes("?") ? "&" : "?";
    const page = await api("GET", path + (next ? sep + "cursor=" + encodeURIComponent(next) : ""));
    items = items.concat(page.items);
    next = page.next;
  } while (next);
  return items;
}

function showLogin(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  document.querySelectorAll(".view").forEach((v) => (v.hidden = true));
  $("#login").hidden = false;
  $("#logout").hidden = true;
  $("#login-error").textContent = message || "";
}

// ---- runtimes

async function showRuntimes() {
  const tbody = $("#runtimes tbody");
  const items = await listAll("/v1/runtimes");
  const rows = await Promise.all(
    items.map(async (r) => {
      try {
        return await api("GET", `/v1/runtimes/${r.namespace}/${r.name}`);
      } catch {
        return r;
      }
    }),
  );
  tbody.replaceChildren(
    ...rows.map((r) => {
      const st = r.status || {};
      const drift = (st.drift || []).length;
      return el(
        "tr",
        { class: "pick", "data-runtime": `${r.namespace}/${r.name}`, onclick: () => showResolution(r.namespace, r.name) },
        el("td", {}, `${r.namespace}/${r.name}`),
        el("td", {}, r.cluster),
        el("td", {}, r.kind),
        el("td", {}, r.generation),
        el("td", {}, st.sync ? badge(st.sync) : ""),
        el("td", {}, drift ? `${drift} field${drift > 1 ? "s" : ""}` : "none"),
      );
    }),
  );
  if (!rows.length) tbody.append(el("tr", {}, el("td", { colspan: 6, class: "muted" }, "No runtimes yet.")));
}

async function showResolution(ns, name) {
  const r = await api("GET", `/v1/runtimes/${ns}/${name}/resolved`);
  const comps = Object.entries(r.components).filter(([, c]) => c);
  $("#resolution").replaceChildren(
    el(
      "div",
      { class: "card", id: "resolved" },
      el("h3", {}, `${ns}/${name} on ${r.cluster}: which layer won`),
      el(
        "table",
        {},
        el("thead", {}, el("tr", {}, el("th", {}, "Component"), el("th", {}, "Layer"), el("th", {}, "Pulls with"))),
        el(
          "tbody",
          {},
          comps.map(([k, c]) =>
            el(
              "tr",
              { "data-component": k },
              el("td", {}, k),
              el("td", {}, badge(c.source)),
              el("td", {}, (c.imagePullSecrets || []).map((s) => s.name || JSON.stringify(s)).join(", ")),
            ),
          ),
        ),
      ),
      el("p", { class: "muted" }, "Bound credentials: " + (Object.entries(r.bindings).map(([k, v]) => `${k} v${v}`).join(", ") || "none")),
    ),
  );
}

// ---- plans

function diffLines(o) {
  return (o.diff || []).map((d) =>
    el(
      "div",
      {},
      el("div", { class: "muted" }, `  ${d.path}`),
      d.before == null ? "" : el("div", { class: "del" }, "  - " + JSON.stringify(d.before)),
      d.after == null ? "" : el("div", { class: "add" }, "  + " + JSON.stringify(d.after)),
    ),
  );
}

async function showPlan(id) {
  const p = await api("GET", `/v1/plans/${encodeURIComponent(id)}`);
  const s = p.summary;
  $("#plan").replaceChildren(
    el(
      "div",
      { class: "card", id: "plan-card" },
      el("h3", {}, `Plan ${p.id}`),
      el("p", {}, Object.entries(s).map(([k, v]) => `${k}: ${v}`).join(" · ")),
      el(
        "div",
        { class: "diff" },
        p.objects.map((o) =>
          el(
            "div",
            { "data-object": `${o.kind}/${o.name}` },
            el("strong", {}, `${o.action} ${o.kind} ${o.namespace}/${o.name} (${o.cluster})`),
            diffLines(o),
          ),
        ),
      ),
    ),
  );
}

// ---- rotations

async function showRotations() {
  const items = await listAll("/v1/rotations");
  $("#rotations tbody").replaceChildren(
    ...items.map((r) =>
      el(
        "tr",
        { class: "pick", "data-rotation": r.id, onclick: () => openRotation(r.id) },
        el("td", {}, r.id),
        el("td", {}, r.credential),
        el("td", {}, `v${r.fromVersion ?? "?"} → v${r.toVersion}`),
        el("td", {}, badge(r.state)),
        el("td", {}, `${r.healthyBatches}/${r.batches}`),
      ),
    ),
  );
  if (!items.length) $("#rotations tbody").append(el("tr", {}, el("td", { colspan: 5, class: "muted" }, "No rotations yet.")));
}

function batchProgress(b) {
  return { pending: 0, applying: 25, restarting: 60, healthy: 100, failed: 100, rolled_back: 100 }[b.state] ?? 50;
}

function renderRotation(r, events) {
  const cmd = (verb) =>
    el("button", {
      type: "button",
      "data-command": verb,
      onclick: async () => {
        try {
          await api("POST", `/v1/rotations/${r.id}/${verb}`, {});
          status(`${verb} sent`);
          await refreshRotation(r.id);
        } catch (e) {
          status(e.message, true);
        }
      },
    }, verb);
  const actions = [];
  if (r.state === "waiting_approval") actions.push(cmd("approve"));
  if (r.state === "running" || r.state === "waiting_approval") actions.push(cmd("pause"));
  if (r.state === "paused") actions.push(cmd("resume"));
  const card = el(
    "div",
    { class: "card", id: "rotation-card", "data-state": r.state },
    el("h3", {}, `Rotation ${r.id}: ${r.credential} v${r.fromVersion ?? "?"} → v${r.toVersion} `, badge(r.state)),
    r.error ? el("p", { class: "error" }, r.error) : "",
    r.secondsLeft != null ? el("p", { class: "muted" }, `current batch: ${r.secondsLeft}s left`) : "",
    r.nextBatchAt ? el("p", { class: "muted" }, `next batch at ${r.nextBatchAt}`) : "",
    el(
      "div",
      { class: "batches" },
      r.batches.map((b) =>
        el(
          "div",
          { class: "batch state-" + b.state, "data-batch": b.idx, "data-state": b.state },
          el("div", {}, `Batch ${b.idx + 1} `, badge(b.state)),
          el("div", { class: "bar" }, el("span", { class: "p" + batchProgress(b) })),
          b.error ? el("div", { class: "error" }, b.error) : "",
        ),
      ),
    ),
    el("div", { class: "actions" }, actions),
    el("div", { class: "events", id: "rotation-events" }, events.map((e) => el("div", {}, `${e.at} ${e.kind}${e.batch != null ? " batch " + (e.batch + 1) : ""}`))),
  );
  $("#rotation").replaceChildren(card);
}

let current = { id: null, events: [] };

async function refreshRotation(id) {
  const r = await api("GET", `/v1/rotations/${id}`);
  if (current.id !== id) return;
  renderRotation(r, current.events);
  // Its row in the list follows too.
  const row = document.querySelector(`#rotations tr[data-rotation="${id}"]`);
  if (row) {
    row.children[3].replaceChildren(badge(r.state));
    row.children[4].textContent = `${r.batches.filter((b) => b.state === "healthy").length}/${r.batches.length}`;
  }
}

// The event stream, read with fetch (EventSource cannot send the token).
async function follow(id, signal) {
  let last = null;
  while (!signal.aborted && current.id === id) {
    const headers = { Authorization: "Bearer " + sessionStorage.getItem(TOKEN_KEY), Accept: "text/event-stream" };
    if (last) headers["Last-Event-ID"] = last;
    let ended = false;
    try {
      const r = await fetch(`/v1/rotations/${id}/events`, { headers, signal });
      if (!r.ok) break;
      const reader = r.body.getReader();
      const dec = new TextDecoder();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let cut;
        while ((cut = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, cut);
          buf = buf.slice(cut + 2);
          const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("\n");
          const idLine = block.split("\n").find((l) => l.startsWith("id:"));
          if (idLine) last = idLine.slice(3).trim();
          if (data) {
            current.events.push(JSON.parse(data));
            await refreshRotation(id);
          }
        }
      }
      ended = true;
    } catch (e) {
      if (signal.aborted) return;
    }
    const r = await api("GET", `/v1/rotations/${id}`);
    if (ended && !["running", "waiting_approval", "paused", "rolling_back"].includes(r.state)) return;
    await new Promise((res) => setTimeout(res, 1000));
  }
}

async function openRotation(id) {
  if (streamAbort) streamAbort.abort();
  streamAbort = new AbortController();
  current = { id, events: [] };
  await refreshRotation(id);
  follow(id, streamAbort.signal).then(() => showRotations().catch(() => {}));
}

// ---- navigation

async function route() {
  if (!sessionStorage.getItem(TOKEN_KEY)) return showLogin();
  $("#login").hidden = true;
  $("#logout").hidden = false;
  const [view, arg] = (location.hash.slice(1) || "runtimes").split("/");
  document.querySelectorAll(".view").forEach((v) => (v.hidden = v.id !== "view-" + view));
  document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("active", a.dataset.view === view));
  try {
    status("");
    if (view === "runtimes") await showRuntimes();
    if (view === "rotations") {
      await showRotations();
      if (arg) await openRotation(arg);
    }
    if (view === "plan" && arg) await showPlan(arg);
  } catch (e) {
    status(e.message, true);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("#login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("#token").value.trim());
    $("#token").value = "";
    try {
      await api("GET", "/v1/runtimes?limit=1");
      await route();
    } catch (e) {
      if (e.message !== "unauthorized") $("#login-error").textContent = e.message;
    }
  });
  $("#logout").addEventListener("click", () => showLogin());
  $("#plan-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    location.hash = "plan/" + $("#plan-id").value.trim();
  });
  $("#plan-new").addEventListener("click", async () => {
    try {
      const p = await api("POST", "/v1/plans", { all: true });
      location.hash = "plan/" + p.id;
    } catch (e) {
      status(e.message, true);
    }
  });
  window.addEventListener("hashchange", route);
  route();
});
