// The pgveil dashboard: reads and drives /api/v1 with the token the user typed. Everything the API
// returns is written as text (textContent), never as HTML.
"use strict";

const API = "/api/v1";
const REFRESH_MS = 2000;
let token = sessionStorage.getItem("pgveil-token") || "";
let timer = null;

function $(id) { return document.getElementById(id); }

function el(tag, text, attrs) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  return e;
}

function row(cells, attrs) {
  const tr = el("tr", null, attrs);
  for (const c of cells) {
    const td = el("td");
    if (c instanceof Node) td.appendChild(c); else td.textContent = c === null || c === undefined ? "" : String(c);
    tr.appendChild(td);
  }
  return tr;
}

class Unauthorized extends Error {}

async function call(method, path, body) {
  const init = { method, headers: {} };
  if (token) init.headers["Authorization"] = "Bearer " + token;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const r = await fetch(API + path, init);
  let data = null;
  try { data = await r.json(); } catch (_) { data = null; }
  if (r.status === 401) throw new Unauthorized((data && data.message) || "a token is required");
  if (!r.ok) throw new Error((data && data.message) || (r.status + " " + r.statusText));
  return data;
}

function bytes(n) {
  if (n === null || n === undefined) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
}

function when(t) { return t ? new Date(t).toLocaleString() : ""; }

function say(text, isError) {
  const m = $("message");
  m.textContent = text;
  m.className = isError ? "error" : "";
}

function showLogin(why) {
  if (timer) { clearInterval(timer); timer = null; }
  $("main").hidden = true;
  $("logout").hidden = true;
  $("login").hidden = false;
  if (why) $("login-why").textContent = why;
  $("token").focus();
}

function button(label, cls, action) {
  const b = el("button", label, { type: "button", class: cls });
  b.addEventListener("click", async () => {
    b.disabled = true;
    try { say(await action()); } catch (e) {
      if (e instanceof Unauthorized) showLogin(e.message); else say(e.message, true);
    } finally {
      b.disabled = false;
      refresh();
    }
  });
  return b;
}

function jobRow(job) {
  const schedule = job.schedule ? job.schedule.cron + " (" + job.schedule.timezone + ")" : "on demand";
  const last = job.last ? job.last.state + (job.last.backup ? " · " + job.last.backup : "") +
    (job.last.finished ? " · " + when(job.last.finished) : "") : "none yet";
  const running = job.running ? "task " + job.running : "";
  const now = button("Back up now", "backup-now", async () => {
    const r = await call("POST", "/jobs/" + encodeURIComponent(job.name) + "/backups");
    return "Backup " + (r.backup || "") + " started: task " + r.task;
  });
  return row([job.name, schedule, when(job.next_runs[0]), last, running, now],
    { "data-job": job.name });
}

function progress(t) {
  const p = t.progress || {};
  const parts = [];
  if (p.table) parts.push(p.table);
  if (p.tables_done) parts.push(p.tables_done + " tables");
  if (p.rows) parts.push(p.rows + " rows");
  if (p.bytes) parts.push(bytes(p.bytes));
  if (p.artifacts_done && p.artifacts_done.length) parts.push("done: " + p.artifacts_done.join(", "));
  if (p.upload_parts) parts.push(p.upload_parts + " parts uploaded");
  return parts.join(" · ");
}

function taskRow(t) {
  const live = t.state === "queued" || t.state === "running";
  const actions = live ? button("Cancel", "cancel", async () => {
    await call("POST", "/tasks/" + t.id + "/cancel");
    return "Task " + t.id + " cancelled";
  }) : "";
  const state = el("span", t.state, { class: "state state-" + t.state });
  return row([t.id, t.job, t.kind, t.backup, state, progress(t), when(t.started), t.error, actions],
    { "data-task": String(t.id), "data-kind": t.kind, "data-state": t.state });
}

function backupsOf(job, list) {
  const box = el("div", null, { "data-backups": job.name });
  box.appendChild(el("h2", "Backups of " + job.name));
  const table = el("table", null, { class: "backups" });
  const head = el("tr");
  for (const h of ["Backup", "State", "Where", "Size", "Rows", "Finished", ""]) head.appendChild(el("th", h));
  table.appendChild(el("thead")).appendChild(head);
  const body = el("tbody");
  if (!list.length) body.appendChild(row(["no backups yet", "", "", "", "", "", ""]));
  for (const b of list.slice().reverse()) {
    const size = Object.entries(b.bytes || {}).map(([k, v]) => k + " " + bytes(v)).join(", ");
    const path = "/jobs/" + encodeURIComponent(job.name) + "/backups/" + encodeURIComponent(b.id);
    const actions = el("span");
    if (b.state === "complete") {
      actions.appendChild(button("Verify", "verify", async () => {
        const r = await call("POST", path + "/verify", { restore_check: false });
        return "Verification of " + b.id + " started: task " + r.task;
      }));
      if (job.local && job.remote && b.where === "remote") {
        actions.appendChild(button("Pull", "pull", async () => {
          const r = await call("POST", path + "/pull");
          return "Pull of " + b.id + " started: task " + r.task;
        }));
      }
    }
    body.appendChild(row([b.id, b.state + (b.damage ? ": " + b.damage : ""), b.where, size,
      b.rows, when(b.finished_at), actions], { "data-backup": b.id, "data-state": b.state }));
  }
  table.appendChild(body);
  box.appendChild(table);
  return box;
}

function replace(tbody, rows) {
  tbody.replaceChildren(...rows);
}

async function refresh() {
  try {
    const jobs = (await call("GET", "/jobs")).jobs;
    const tasks = (await call("GET", "/tasks?limit=30")).tasks;
    const backups = await Promise.all(jobs.map(j =>
      call("GET", "/jobs/" + encodeURIComponent(j.name) + "/backups")
        .then(r => r.backups, e => { if (e instanceof Unauthorized) throw e; return []; })));
    replace($("jobs").tBodies[0], jobs.map(jobRow));
    replace($("tasks").tBodies[0], tasks.map(taskRow));
    $("backups").replaceChildren(...jobs.map((j, i) => backupsOf(j, backups[i])));
    $("status").textContent = "updated " + new Date().toLocaleTimeString();
    $("login").hidden = true;
    $("main").hidden = false;
    $("logout").hidden = !token;
    if (!timer) timer = setInterval(refresh, REFRESH_MS);
  } catch (e) {
    if (e instanceof Unauthorized) showLogin(token ? "That token was refused." : null);
    else $("status").textContent = "not updated: " + e.message;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", ev => {
    ev.preventDefault();
    token = $("token").value.trim();
    $("token").value = "";
    sessionStorage.setItem("pgveil-token", token);
    refresh();
  });
  $("logout").addEventListener("click", () => {
    token = "";
    sessionStorage.removeItem("pgveil-token");
    showLogin(null);
  });
  refresh();
});
