// The dashboard: devices, live charts, relay switches and command progress (docs/dashboard.md).
// Data comes from the server's JSON API (docs/server.md) and its live WebSocket /api/live.
"use strict";

const MAX_POINTS = 1000; // per chart; older points scroll out
const MAX_EVENTS = 60;
const MAX_COMMANDS = 20;
const GAP_S = 90; // a longer silence (the board was offline) breaks the line instead of bridging it
const STEPS = ["queued", "sent", "accepted"];
const FINAL = ["done", "failed", "expired"];

const S = {
  devices: new Map(), // id -> device summary (docs/server.md "device")
  selected: null,
  charts: new Map(), // "sensor/quantity" -> {x: [], y: [], plot, el}
  lastSeq: 0,
  loading: null, // readings of the selected device that arrive while its history loads
  commands: new Map(), // id -> command, of the selected device
  relayCommand: new Map(), // relay name -> id of its latest command
  ws: null,
  retryMs: 1000,
  loggedIn: false,
};

const $ = (id) => document.getElementById(id);

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function clone(id) {
  return $(id).content.firstElementChild.cloneNode(true);
}

function ago(ms) {
  if (!ms) return "never";
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return s + " s ago";
  if (s < 3600) return Math.floor(s / 60) + " min ago";
  if (s < 86400) return Math.floor(s / 3600) + " h ago";
  return Math.floor(s / 86400) + " d ago";
}

function clock(ms) {
  return ms ? new Date(ms).toLocaleTimeString() : "";
}

function fmt(v) {
  if (typeof v !== "number") return String(v);
  return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2);
}

function compact(obj) {
  return JSON.stringify(obj);
}

// ---- HTTP

async function api(method, path, body) {
  const opts = { method, headers: {}, credentials: "same-origin" };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const r = await fetch(path, opts);
  let data = null;
  try {
    data = await r.json();
  } catch (e) {
    data = null;
  }
  if (r.status === 401 && path !== "/api/login") {
    showLogin("Your session ended: log in again.");
  }
  return { status: r.status, data, retryAfter: r.headers.get("Retry-After") };
}

function errorText(res) {
  const e = res.data && res.data.error;
  return e ? e.message : "HTTP " + res.status;
}

// ---- login

function showLogin(message) {
  S.loggedIn = false;
  if (S.ws) {
    S.ws.onclose = null;
    S.ws.close();
    S.ws = null;
  }
  setLive("off", "logged out");
  $("app").hidden = true;
  $("logout").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message || "";
  $("token").focus();
}

async function login(token) {
  const res = await api("POST", "/api/login", { token });
  if (res.status === 200) return start();
  if (res.status === 429) {
    showLogin("Too many failed attempts: try again in " + (res.retryAfter || "a few") + " s.");
  } else if (res.status === 401) {
    showLogin("Wrong operator token.");
  } else {
    showLogin("Login failed: " + errorText(res));
  }
}

function start() {
  S.loggedIn = true;
  $("login").hidden = true;
  $("app").hidden = false;
  $("logout").hidden = false;
  $("login-error").textContent = "";
  connect();
}

// ---- live updates

function setLive(state, text) {
  const e = $("live");
  e.dataset.state = state;
  e.textContent = text;
}

function connect() {
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/api/live";
  const ws = new WebSocket(url);
  S.ws = ws;
  setLive("connecting", "connecting");
  ws.onopen = () => {
    S.retryMs = 1000;
    setLive("on", "live");
  };
  ws.onmessage = (ev) => onLive(JSON.parse(ev.data));
  ws.onclose = async () => {
    if (S.ws !== ws) return;
    S.ws = null;
    setLive("off", "reconnecting");
    const res = await api("GET", "/api/health");
    if (res.status === 200 && S.loggedIn) {
      // /api/live refuses a browser without a valid session before the upgrade: ask the API why
      const who = await api("GET", "/api/devices");
      if (who.status === 401) return;
    }
    if (!S.loggedIn) return;
    setTimeout(() => S.loggedIn && !S.ws && connect(), S.retryMs);
    S.retryMs = Math.min(S.retryMs * 2, 15000);
  };
}

function onLive(m) {
  if (m.type === "devices") {
    S.devices = new Map(m.devices.map((d) => [d.id, d]));
    renderDevices();
    const want = S.selected || hashDevice() || (m.devices[0] && m.devices[0].id);
    if (want && S.devices.has(want)) select(want, S.selected === want);
    else if (S.selected && !S.devices.has(S.selected)) unselect();
  } else if (m.type === "device") {
    S.devices.set(m.device.id, m.device);
    soon();
    if (m.device.id === S.selected) renderDevice();
    else if (!S.selected) select(m.device.id);
  } else if (m.type === "readings") {
    const d = S.devices.get(m.device);
    const heard = Math.max(...m.readings.map((r) => r.received || 0));
    if (d && heard > (d.last_seen || 0)) {
      d.last_seen = heard; // the server stores readings as they come: the board was just heard from
      soon();
      if (m.device === S.selected) $("d-seen").dataset.ms = heard;
    }
    if (m.device !== S.selected) return;
    if (S.loading) S.loading.push(...m.readings);
    else addReadings(m.readings);
  } else if (m.type === "command") {
    if (m.command.device === S.selected) addCommand(m.command);
  } else if (m.type === "event") {
    if (m.event.device === S.selected) addEvent(m.event, true);
  } else if (m.type === "removed") {
    S.devices.delete(m.device);
    renderDevices();
    if (m.device === S.selected) unselect();
  }
}

// ---- device list

let listDue = null;
function soon() {
  // a large fleet sends many updates a second: the list is redrawn at most 4 times a second
  if (listDue === null) listDue = setTimeout(() => ((listDue = null), renderDevices()), 250);
}

function hashDevice() {
  const m = /^#device=(.+)$/.exec(location.hash);
  return m ? decodeURIComponent(m[1]) : null;
}

function renderDevices() {
  const list = $("device-list");
  const ids = [...S.devices.keys()].sort();
  $("device-count").textContent = "(" + ids.length + ")";
  $("no-devices").hidden = ids.length > 0;
  const rows = new Map([...list.children].map((li) => [li.dataset.device, li]));
  for (const [id, li] of rows) if (!S.devices.has(id)) li.remove();
  let prev = null;
  for (const id of ids) {
    const d = S.devices.get(id);
    let li = rows.get(id);
    if (!li) {
      li = clone("t-device");
      li.dataset.device = id;
      li.querySelector(".name").textContent = id;
      li.querySelector("button").onclick = () => {
        select(id);
        $("detail").scrollIntoView({ block: "start" });
      };
    }
    li.dataset.state = d.state;
    li.classList.toggle("selected", id === S.selected);
    li.querySelector(".state").textContent = d.state;
    li.querySelector(".seen").dataset.ms = d.last_seen || "";
    li.querySelector(".seen").textContent = ago(d.last_seen);
    if (prev ? prev.nextSibling !== li : list.firstChild !== li) list.insertBefore(li, prev ? prev.nextSibling : list.firstChild);
    prev = li;
  }
}

// ---- one device

function unselect() {
  S.selected = null;
  $("device").hidden = true;
  $("pick").hidden = false;
  renderDevices();
}

async function select(id, refresh) {
  if (S.selected === id && !refresh) return;
  const fresh = S.selected !== id;
  S.selected = id;
  if (location.hash !== "#device=" + encodeURIComponent(id)) {
    history.replaceState(null, "", "#device=" + encodeURIComponent(id));
  }
  $("pick").hidden = true;
  $("device").hidden = false;
  if (fresh) {
    for (const c of S.charts.values()) if (c.plot) c.plot.destroy();
    S.charts.clear();
    $("charts").replaceChildren();
    $("relays").replaceChildren();
    $("commands").replaceChildren();
    $("events").replaceChildren();
    S.commands.clear();
    S.relayCommand.clear();
    S.lastSeq = 0;
  }
  renderDevices();
  renderDevice();
  // History first; live readings that arrive meanwhile wait in S.loading.
  S.loading = [];
  const q = S.lastSeq ? "after=" + S.lastSeq + "&limit=" + MAX_POINTS : "limit=" + MAX_POINTS;
  const enc = encodeURIComponent(id);
  const [rd, cm, ev] = await Promise.all([
    api("GET", "/api/devices/" + enc + "/readings?" + q),
    api("GET", "/api/devices/" + enc + "/commands?limit=" + MAX_COMMANDS),
    api("GET", "/api/devices/" + enc + "/events?limit=" + MAX_EVENTS),
  ]);
  if (S.selected !== id) return;
  const pending = S.loading || [];
  S.loading = null;
  if (rd.status === 200) addReadings(rd.data.readings);
  addReadings(pending);
  if (cm.status === 200) cm.data.commands.slice().reverse().forEach(addCommand);
  if (ev.status === 200) {
    const known = new Set([...$("events").children].map((li) => li.dataset.id));
    ev.data.events.filter((e) => !known.has(String(e.id))).forEach((e) => addEvent(e, true));
  }
}

function renderDevice() {
  const d = S.devices.get(S.selected);
  if (!d) return;
  $("d-id").textContent = d.id;
  const st = $("d-state");
  st.textContent = d.state;
  st.dataset.state = d.state;
  $("d-seen").dataset.ms = d.last_seen || "";
  $("d-seen").textContent = "last seen " + ago(d.last_seen);
  $("d-safe").hidden = !d.safe_mode;
  const info = [
    ["board", d.board],
    ["chip", d.chip],
    ["firmware", d.fw],
    ["reset", d.reset],
    ["address", d.address],
    ["connected", d.connected_since ? clock(d.connected_since) : "no"],
    ["readings up to seq", d.last_seq],
    ["dropped", d.dropped],
    ["config", d.config],
  ];
  const dl = $("d-info");
  dl.replaceChildren();
  for (const [k, v] of info) {
    if (v === null || v === undefined || v === "") continue;
    const div = el("div");
    div.append(el("dt", "", k), el("dd", "", String(v)));
    dl.append(div);
  }
  renderRelays(d);
  for (const s of d.sensors || []) for (const [q, unit] of s.quantities || []) chart(s.name, q, unit);
  $("no-sensors").hidden = S.charts.size > 0;
}

// ---- relays and commands

function renderRelays(d) {
  const ul = $("relays");
  const relays = d.relays || [];
  $("no-relays").hidden = relays.length > 0;
  const rows = new Map([...ul.children].map((li) => [li.dataset.relay, li]));
  for (const [name, li] of rows) if (!relays.some((r) => r.name === name)) li.remove();
  for (const r of relays) {
    let li = rows.get(r.name);
    if (!li) {
      li = clone("t-relay");
      li.dataset.relay = r.name;
      li.querySelector(".name").textContent = r.name;
      const sw = li.querySelector("input[role=switch]");
      sw.setAttribute("aria-label", r.name);
      sw.onchange = () => {
        const want = sw.checked;
        sw.checked = !want; // the switch shows the board's state, not the wish
        command(r.name, "relay.set", { relay: r.name, on: want });
      };
      li.querySelector(".pulse-btn").onclick = () => {
        const ms = Math.round(Number(li.querySelector(".ms").value));
        if (!(ms >= 1 && ms <= 3600000)) {
          showOutcome(li, "failed", "pulse length: give 1 to 3600000 ms");
          return;
        }
        command(r.name, "relay.pulse", { relay: r.name, ms });
      };
      li.querySelector(".pulse-btn").setAttribute("aria-label", "pulse " + r.name);
      ul.append(li);
    }
    li.dataset.on = r.on ? "true" : "false";
    li.querySelector("input[role=switch]").checked = !!r.on;
    li.querySelector(".on-off").textContent = r.on ? "on" : "off";
  }
}

async function command(relay, method, params) {
  const li = relayRow(relay);
  if (li) showOutcome(li, "sending", "sending " + method);
  const res = await api("POST", "/api/devices/" + encodeURIComponent(S.selected) + "/commands", {
    method,
    params,
    timeout: 30,
  });
  if (res.status === 201) addCommand(res.data.command);
  else if (li) showOutcome(li, "failed", "refused: " + errorText(res));
}

function relayRow(name) {
  return [...$("relays").children].find((li) => li.dataset.relay === name);
}

function showOutcome(li, state, text) {
  const p = li.querySelector(".progress");
  p.hidden = false;
  p.dataset.state = state;
  li.querySelector(".outcome").textContent = text;
}

function describe(c) {
  if (c.state === "done") {
    const r = c.result;
    if (r && typeof r === "object" && "relay" in r && "on" in r) {
      return "done: " + r.relay + " " + (r.on ? "on" : "off") + (r.ms ? " for " + r.ms + " ms" : "");
    }
    return "done: " + compact(r);
  }
  if (c.state === "failed" || (c.state === "expired" && c.error)) {
    const e = c.error || {};
    return c.state + ": " + (e.code || "") + (e.message ? " - " + e.message : "");
  }
  if (c.state === "expired") return "expired: no result before the deadline";
  if (c.state === "queued") {
    const d = S.devices.get(c.device);
    return d && d.state !== "online" ? "queued: waits for the device" : "queued";
  }
  return c.state;
}

function addCommand(c) {
  const old = S.commands.get(c.id);
  if (old && Object.keys(old.at || {}).length > Object.keys(c.at || {}).length) return; // stale
  S.commands.set(c.id, c);
  const relay = c.params && c.params.relay;
  if (relay && c.method.startsWith("relay.")) {
    const cur = S.commands.get(S.relayCommand.get(relay));
    if (!cur || cur.id === c.id || (cur.at.queued || 0) <= (c.at.queued || 0)) {
      S.relayCommand.set(relay, c.id);
      const li = relayRow(relay);
      if (li) renderProgress(li, c);
    }
  }
  renderCommand(c);
}

function renderProgress(li, c) {
  const ol = li.querySelector(".steps");
  ol.replaceChildren();
  const final = FINAL.includes(c.state) ? c.state : "done";
  // A board answers an instant command with its result alone: the result implies "accepted".
  const answered = (c.state === "done" || c.state === "failed") && c.at && c.at[c.state];
  for (const step of STEPS.concat([final])) {
    const item = el("li", "", step);
    const t = (c.at && c.at[step]) || (step === "accepted" && answered);
    item.dataset.step = step;
    if (t) {
      item.classList.add("reached");
      item.title = clock(t);
    }
    if (step === c.state) item.classList.add("current");
    ol.append(item);
  }
  showOutcome(li, c.state, c.method + " " + describe(c));
  li.querySelector(".progress").dataset.command = c.id;
}

function renderCommand(c) {
  const ul = $("commands");
  let li = [...ul.children].find((x) => x.dataset.id === c.id);
  if (!li) {
    li = el("li");
    li.dataset.id = c.id;
    ul.prepend(li);
    while (ul.children.length > MAX_COMMANDS) ul.lastChild.remove();
  }
  li.dataset.state = c.state;
  li.replaceChildren(
    el("time", "muted", clock(c.at && c.at.queued)),
    el("span", "what", c.method + " " + compact(c.params || {})),
    el("span", "badge", c.state),
    el("span", "detail-text", describe(c).replace(/^\w+:? ?/, "")),
  );
  li.querySelector(".badge").dataset.state = c.state;
  li.title = c.id + " - " + Object.entries(c.at || {}).map(([k, v]) => k + " " + clock(v)).join(", ");
}

// ---- events

function eventText(e) {
  const d = e.data || {};
  if (e.kind === "relay") return d.relay + " " + (d.on ? "on" : "off") + (d.cause ? " (" + d.cause + ")" : "");
  if (e.kind === "sensor") {
    if (d.ok) return d.sensor + " works again";
    const err = d.error || {};
    return d.sensor + " failing: " + (err.code || "") + (err.message ? " - " + err.message : "");
  }
  if (e.kind === "link") {
    if (d.state === "online") return "online" + (d.address ? " from " + d.address : "");
    if (d.state === "offline") return "offline" + (d.code ? " (close code " + d.code + ")" : "");
    return d.state;
  }
  if (e.kind === "error") return (d.code || "error") + ": " + (d.message || compact(d));
  return compact(d);
}

function addEvent(e, newest) {
  const ul = $("events");
  if ([...ul.children].some((x) => x.dataset.id === String(e.id))) return;
  const li = el("li");
  li.dataset.id = e.id;
  li.dataset.kind = e.kind;
  const bad = e.kind === "error" || (e.kind === "sensor" && !(e.data || {}).ok);
  if (bad) li.classList.add("error");
  li.append(el("time", "muted", clock(e.time)), el("span", "badge", e.kind), el("span", "", eventText(e)));
  if (newest) ul.prepend(li);
  else ul.append(li);
  while (ul.children.length > MAX_EVENTS) ul.lastChild.remove();
}

// ---- charts

function chart(sensor, quantity, unit) {
  const key = sensor + "/" + quantity;
  let c = S.charts.get(key);
  if (c) return c;
  const fig = clone("t-chart");
  fig.dataset.chart = key;
  fig.querySelector(".title").textContent = sensor + " \u00b7 " + quantity.replace(/_/g, " ");
  fig.querySelector(".unit").textContent = unit || "";
  $("charts").append(fig);
  c = { x: [], y: [], plot: null, el: fig, unit };
  S.charts.set(key, c);
  $("no-sensors").hidden = true;
  const box = fig.querySelector(".plot");
  if (typeof uPlot === "undefined") {
    box.textContent = "The chart library is missing: run `make setup`.";
    return c;
  }
  c.plot = new uPlot(
    {
      width: Math.max(200, box.clientWidth || 300),
      height: 160,
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true } },
      axes: [{ size: 30 }, { size: 48 }],
      series: [{}, { label: quantity, stroke: "#2b7bb9", width: 2, fill: "rgba(43,123,185,0.08)" }],
    },
    [c.x, c.y],
    box,
  );
  new ResizeObserver(() => {
    const w = box.clientWidth;
    if (w && c.plot && Math.abs(w - c.plot.width) > 2) c.plot.setSize({ width: w, height: 160 });
  }).observe(box);
  return c;
}

function addReadings(readings) {
  const touched = new Set();
  for (const r of readings) {
    if (r.seq <= S.lastSeq) continue;
    S.lastSeq = r.seq;
    const t = (r.clock === "utc" ? r.ts : r.received) / 1000;
    if (r.error) {
      for (const c of S.charts.values()) {
        if (c.el.dataset.chart.startsWith(r.sensor + "/")) {
          const p = c.el.querySelector(".chart-error");
          p.hidden = false;
          p.textContent = clock(t * 1000) + " " + r.error.code + ": " + r.error.message;
        }
      }
      continue;
    }
    for (const [q, v, unit] of r.values || []) {
      if (typeof v !== "number") continue;
      const c = chart(r.sensor, q, unit);
      let i = c.x.length;
      while (i > 0 && c.x[i - 1] > t) i--; // nearly always appends
      if (i === c.x.length && i > 0 && t - c.x[i - 1] > GAP_S) {
        c.x.push(c.x[i - 1] + 1);
        c.y.push(null);
        i++;
      }
      c.x.splice(i, 0, t);
      c.y.splice(i, 0, v);
      if (c.x.length > MAX_POINTS) {
        c.x.shift();
        c.y.shift();
      }
      const fig = c.el;
      fig.querySelector(".value").textContent = fmt(c.y[c.y.length - 1]);
      fig.dataset.seq = r.seq;
      fig.dataset.points = c.x.length;
      fig.querySelector(".chart-error").hidden = true;
      touched.add(c);
    }
  }
  for (const c of touched) if (c.plot) c.plot.setData([c.x, c.y]);
}

// ---- start

setInterval(() => {
  for (const e of document.querySelectorAll("[data-ms]")) {
    const ms = Number(e.dataset.ms);
    e.textContent = (e.id === "d-seen" ? "last seen " : "") + ago(ms);
  }
}, 1000);

$("login-form").onsubmit = (ev) => {
  ev.preventDefault();
  login($("token").value.trim());
};

$("logout").onclick = async () => {
  await api("POST", "/api/logout");
  showLogin("Logged out.");
};

window.addEventListener("hashchange", () => {
  const id = hashDevice();
  if (id && id !== S.selected && S.devices.has(id)) select(id);
});

(async function boot() {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (m) {
    // a link with the token (make sim prints one): log in, then drop the token from the address bar
    history.replaceState(null, "", location.pathname);
    return login(decodeURIComponent(m[1]));
  }
  const res = await fetch("/api/devices", { credentials: "same-origin" });
  if (res.status === 200) start();
  else showLogin();
})();
