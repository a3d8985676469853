// The live cluster page: polls this node's /cluster and /cluster/nodes (every member's /cluster, fetched by this
// node) once a second. Text only (textContent): node ids and addresses come from peers.
"use strict";

const $ = (id) => document.getElementById(id);

function text(id, value) { $(id).textContent = value; }

function cell(row, value, className) {
  const td = document.createElement("td");
  if (className) td.className = className;
  if (value instanceof Node) td.appendChild(value); else td.textContent = value;
  row.appendChild(td);
  return td;
}

function badge(status) {
  const span = document.createElement("span");
  span.className = "badge " + status;
  span.textContent = status;
  return span;
}

const ms = (v) => (v === null || v === undefined ? "–" : v.toFixed(v < 10 ? 2 : 1) + " ms");
const count = (v) => (v === null || v === undefined ? "–" : Math.round(v).toLocaleString("en"));

function renderSelf(self) {
  text("node-id", self.nodeId);
  const status = $("node-status");
  status.className = "badge " + self.status;
  status.textContent = self.status;
  text("view-id", self.viewId);
  text("coordinator", self.coordinator ?? "–");
  text("member-count", self.members.length);
  text("store", self.store + " over " + self.transport);
  text("acks", self.replication.effectiveAcks + " of " + self.replication.acks + " acks");
}

function renderMembers(self, nodes) {
  const body = $("members");
  const rows = [];
  for (const member of self.members) {
    const entry = nodes.find((n) => n.nodeId === member.nodeId);
    const status = entry && entry.reachable ? entry.status : null;
    const row = document.createElement("tr");
    row.dataset.node = member.nodeId;
    const name = cell(row, member.nodeId);
    if (member.nodeId === self.nodeId) name.appendChild(Object.assign(document.createElement("span"), { className: "tag", textContent: "this node" }));
    if (member.nodeId === self.coordinator) name.appendChild(Object.assign(document.createElement("span"), { className: "tag", textContent: "coordinator" }));
    cell(row, badge(status ? status.status : "Unreachable"));
    cell(row, member.ringPosition);
    cell(row, member.ringRange + " (" + (member.ringShare * 100).toFixed(1) + " %)");
    cell(row, member.publicAddress || "–");
    cell(row, status ? count(status.sessions) : "–", "num");
    cell(row, status ? ms(status.replication.commitP50Ms) : "–", "num");
    cell(row, status ? ms(status.replication.commitP99Ms) : "–", "num");
    for (const key of ["repairs", "drops", "rejected", "lockWaits", "lockConflicts"]) cell(row, status ? count(status.figures[key]) : "–", "num");
    if (entry && !entry.reachable) row.title = entry.error || "unreachable";
    rows.push(row);
  }
  body.replaceChildren(...rows);
}

async function getJson(path) {
  const response = await fetch(path, { cache: "no-store" });
  if (!response.ok) throw new Error(path + " answered " + response.status);
  return response.json();
}

async function refresh() {
  try {
    const [self, nodes] = await Promise.all([getJson("/cluster"), getJson("/cluster/nodes")]);
    renderSelf(self);
    renderMembers(self, nodes);
    $("error").style.display = "none";
    text("updated", new Date().toLocaleTimeString());
  } catch (e) {
    $("error").textContent = "Cannot reach this node: " + e.message;
    $("error").style.display = "block";
  }
}

$("lookup").addEventListener("submit", async (event) => {
  event.preventDefault();
  const id = $("session-id").value.trim();
  const list = $("session");
  const facts = [];
  try {
    const s = await getJson("/cluster/sessions/" + encodeURIComponent(id));
    facts.push(["found", s.found ? "yes, held by " + s.heldBy : "no (unknown, expired or removed)"]);
    facts.push(["owner", (s.owner ?? "–") + " (ring position " + s.ringPosition + ")"]);
    facts.push(["backups", s.backups.length ? s.backups.join(", ") : "–"]);
    if (s.found) {
      facts.push(["version", s.version], ["size", s.sizeBytes.toLocaleString("en") + " bytes in " + s.attributes + (s.attributes === 1 ? " attribute" : " attributes")]);
      facts.push(["last writer", s.lastWriter], ["created", s.createdAt], ["last access", s.lastAccessedAt], ["expires", s.expiresAt]);
    }
  } catch (e) {
    facts.push(["error", e.message]);
  }
  list.replaceChildren(...facts.flatMap(([k, v]) => [
    Object.assign(document.createElement("dt"), { textContent: k }),
    Object.assign(document.createElement("dd"), { textContent: String(v) }),
  ]));
  list.dataset.loaded = id;
});

refresh();
setInterval(refresh, 1000);
