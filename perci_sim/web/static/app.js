// The dashboard page: renders the participant's view from /ui/api/state, keeps it live
// from /ui/events (Server-Sent Events), and signs documents in this browser.
import { complianceChart } from "./chart.js";
import {
  api,
  clock,
  countdownHtml,
  esc,
  flash,
  formatLocal,
  Refused,
  stateBadge,
  t,
  tick,
  timeHtml,
} from "./common.js";
import { confirmSigning, deepFreeze, fingerprint } from "./preview.js";
import { jwsHeader, jwsPayload, loadSigningKey, signDocument } from "./sign.js";

const page = document.body.dataset.page;
let state = null;
let signer = null;
const knownAlerts = new Set();
let markReady;
/** Resolved once the first state is drawn (a key file picked earlier waits for it). */
const ready = new Promise((resolve) => (markReady = resolve));

if (page === "dashboard" || page === "order") start();

async function start() {
  document.addEventListener("click", onClick);
  document.getElementById("key-file")?.addEventListener("change", onKeyFile);
  document.getElementById("issue-form")?.addEventListener("submit", onIssue);
  await refresh();
  markReady();
  connect(page === "order" ? 0 : state.last_seq);
  setInterval(tick, 500);
}

// --- live updates -------------------------------------------------------------------

let source = null;
function connect(after) {
  const live = document.getElementById("live-status");
  source = new EventSource(`/ui/events?after=${after}`);
  let wasDown = false;
  source.onopen = () => {
    live.textContent = t("app.live.on");
    live.className = "live on";
    // After a broker restart: re-read everything (clock included); the stream itself
    // resumed from Last-Event-ID.
    if (wasDown) scheduleRefresh();
    wasDown = false;
  };
  source.onerror = () => {
    live.textContent = t("app.live.off");
    live.className = "live off";
    wasDown = true; // EventSource reconnects by itself, with Last-Event-ID
  };
  source.addEventListener("perci", (message) => {
    const event = JSON.parse(message.data);
    if (page === "order" && event.order_id !== document.body.dataset.order) return;
    if (event.kind === "deadline_missed") {
      const order = state?.orders?.find((o) => o.order_id === event.order_id);
      const text = t("alerts.breach", { reference: order?.reference_number ?? event.order_id, hsp: order?.hsp_id ?? "" });
      flash(text, "error");
    }
    scheduleRefresh();
  });
}

// At most one refresh a second, whatever the rate of events (no polling storm).
let refreshTimer = 0;
let lastRefresh = 0;
function scheduleRefresh() {
  if (refreshTimer) return;
  const wait = Math.max(150, 1000 - (Date.now() - lastRefresh));
  refreshTimer = setTimeout(async () => {
    refreshTimer = 0;
    lastRefresh = Date.now();
    try {
      await refresh();
    } catch (error) {
      console.warn("refresh failed", error);
    }
  }, wait);
}

async function refresh() {
  const focused = document.activeElement?.dataset?.focus;
  if (page === "order") {
    const data = await api(`/ui/api/orders/${encodeURIComponent(document.body.dataset.order)}`);
    state = { me: { id: document.body.dataset.participant, role: document.body.dataset.role }, ...data };
    clock.sync(data.clock);
    renderOrder(data);
  } else {
    state = await api("/ui/api/state");
    clock.sync(state.clock);
    renderDashboard();
  }
  tick();
  if (focused) document.querySelector(`[data-focus="${CSS.escape(focused)}"]`)?.focus();
}

function referenceOf(orderId) {
  return state?.orders?.find((o) => o.order_id === orderId)?.reference_number ?? orderId;
}

// --- rendering -----------------------------------------------------------------------

function put(id, html) {
  const element = document.getElementById(id);
  if (element) element.innerHTML = html;
}

function table(headers, rows, caption = "") {
  if (!rows.length) return `<p>${esc(t("app.none"))}</p>`;
  // The receipt time is on the order's page too: narrow screens drop its column first.
  const head = headers
    .map((h) => `<th scope="col"${h === "orders.received" ? ' class="col-received"' : ""}>${esc(t(h))}</th>`)
    .join("");
  const cap = caption ? `<caption class="sr-only">${esc(caption)}</caption>` : "";
  return `<table>${cap}<thead><tr>${head}</tr></thead><tbody>${rows.join("")}</tbody></table>`;
}

/** The party columns of an order row: the HSP, the authority, or (a reader's view) both. */
const PARTY_COLUMNS = { hsp: ["hsp_id"], authority: ["authority_id"], both: ["authority_id", "hsp_id"] };
const PARTY_HEADERS = { hsp: ["orders.hsp"], authority: ["orders.authority"], both: ["orders.authority", "orders.hsp"] };

function orderRow(order, { actions = "", party = "hsp" } = {}) {
  const parties = PARTY_COLUMNS[party].map((member) => `<td>${esc(order[member])}</td>`).join("");
  const breached = order.state === "overdue" || order.state === "executed_late";
  const emergency = order.emergency ? ` <span class="tag">${esc(t("orders.emergency"))}</span>` : "";
  return `<tr data-order="${esc(order.order_id)}" class="${breached ? "breached" : ""}">
<td class="ref"><a href="/ui/orders/${esc(order.order_id)}" data-focus="open:${esc(order.order_id)}">${esc(order.reference_number)}</a>${emergency}</td>
${parties}<td>${stateBadge(order.state)}</td>
<td class="col-received">${timeHtml(order.received_at)}</td><td>${countdownHtml(order)}</td>${actions}</tr>`;
}

/** ``actions``: null (no column) or order -> the row's actions cell. */
function ordersTable(orders, party, actions = null) {
  const headers = ["orders.reference", ...PARTY_HEADERS[party]];
  headers.push("orders.state", "orders.received", "orders.time_left");
  if (actions) headers.push("orders.actions");
  const rows = orders.map((o) => orderRow(o, { party, actions: actions ? actions(o) : "" }));
  return table(headers, rows);
}

function button(action, order, label, extra = "") {
  const id = esc(order.order_id);
  return `<button type="button" data-action="${action}" data-order="${id}" data-focus="${action}:${id}" ${extra}>${esc(t(label))}</button>`;
}

function inboxActions(order) {
  const answerable = ["delivered", "acknowledged", "overdue"].includes(order.state);
  const parts = [];
  if (order.state === "delivered") parts.push(button("ack", order, "inbox.acknowledge"));
  if (answerable) {
    parts.push(button("removed", order, "inbox.feedback"));
    parts.push(button("disabled", order, "inbox.feedback_disabled"));
    parts.push(button("annex3", order, "inbox.impossibility"));
  }
  // Art. 3(7): the force majeure is over; the order gets a fresh hour.
  if (order.state === "suspended_force_majeure") parts.push(button("grounds", order, "inbox.grounds_ceased"));
  return `<td class="actions"><div class="buttons">${parts.join("")}</div></td>`;
}

/** The authority's actions on an order it issued: withdraw it while the broker accepts a
 * withdrawal (the states of /ui/api/state's ``withdrawable``, from domain/states.py). */
function authorityActions(order) {
  const parts = [];
  if ((state.withdrawable ?? []).includes(order.state)) parts.push(button("withdraw", order, "orders.withdraw"));
  return `<td class="actions"><div class="buttons">${parts.join("")}</div></td>`;
}

function figuresTable(figures) {
  const rows = figures.map((f) => {
    const pct = f.compliance_pct === null ? "—" : `${f.compliance_pct}%`;
    const name = f.hsp_id === null ? `<strong>${esc(t("figures.total"))}</strong>` : esc(f.hsp_id);
    return `<tr><th scope="row">${name}</th><td>${f.issued}</td><td>${f.executed}</td><td>${f.executed_late}</td><td>${f.overdue}</td><td>${f.open}</td><td>${pct}</td></tr>`;
  });
  return table(
    ["figures.hsp", "figures.issued", "figures.executed", "figures.executed_late", "figures.overdue", "figures.open", "figures.compliance"],
    rows,
  );
}

function renderDashboard() {
  const role = state.me.role;
  const speed = document.getElementById("clock-speed");
  speed.textContent = state.clock.speed === 1 ? t("clock.real_time") : t("clock.speed", { speed: state.clock.speed });
  if (document.body.dataset.view === "reader") {
    // Court, Europol, content provider: the orders the API lets them read, nothing to sign.
    put("orders-table", ordersTable(state.orders, "both"));
    return;
  }
  put("figures-table", figuresTable(state.figures));
  if (role === "authority") {
    put("orders-table", ordersTable(state.orders, "hsp", authorityActions));
    renderClarifications(state.clarifications);
    const select = document.getElementById("issue-hsp");
    if (select && !select.options.length) {
      select.innerHTML = state.hsps.map((h) => `<option value="${esc(h.id)}">${esc(h.name)} (${esc(h.id)})</option>`).join("");
    }
  } else if (role === "hsp") {
    put("inbox-table", ordersTable(state.inbox, "authority", inboxActions));
    put("orders-table", ordersTable(state.orders, "authority"));
  } else {
    renderFacilitator();
  }
}

function renderClarifications(waiting) {
  const list = document.getElementById("clarify-list");
  // Keyed update: an answer being typed survives live refreshes.
  if (!waiting.length) {
    list.innerHTML = `<p>${esc(t("app.none"))}</p>`;
    return;
  }
  list.querySelector(":scope > p")?.remove();
  const ids = new Set(waiting.map((o) => o.order_id));
  for (const item of list.querySelectorAll("form[data-order]")) {
    if (!ids.has(item.dataset.order)) item.remove();
  }
  for (const order of waiting) {
    if (list.querySelector(`form[data-order="${CSS.escape(order.order_id)}"]`)) continue;
    const id = esc(order.order_id);
    const form = document.createElement("form");
    form.dataset.order = order.order_id;
    form.className = "stack clarify";
    form.innerHTML = `<p><a href="/ui/orders/${id}">${esc(order.reference_number)}</a>: ${esc(t("clarify.asked", { hsp: order.hsp_id, question: order.question }))}</p>
<label for="clarify-${id}">${esc(t("clarify.answer"))}</label>
<textarea id="clarify-${id}" name="clarification" rows="2" required></textarea>
<button type="submit" data-focus="clarify:${id}">${esc(t("clarify.submit"))}</button>`;
    form.addEventListener("submit", onClarify);
    list.append(form);
  }
}

function hhmm(seconds) {
  const minutes = Math.floor(seconds / 60);
  return `${String(Math.floor(minutes / 60)).padStart(2, "0")}:${String(minutes % 60).padStart(2, "0")}`;
}

function renderFacilitator() {
  const drill = document.getElementById("drill-clock");
  if (!drill.firstChild) drill.innerHTML = `<time id="drill-now" class="broker-now"></time> <span id="drill-speed"></span>`;
  document.getElementById("drill-speed").textContent = t("drill.speed", { speed: state.clock.speed });
  put("chart-box", complianceChart(state.series));
  put("figures-table", figuresTable(state.figures));
  put("orders-table", ordersTable(state.orders, "hsp"));
  const breached = state.orders
    .filter((o) => o.state === "overdue" || o.state === "executed_late")
    .sort((a, b) => (b.deadline_at || "").localeCompare(a.deadline_at || ""));
  const alerts = breached.map((o) => {
    const fresh = !knownAlerts.has(o.order_id);
    knownAlerts.add(o.order_id);
    const text = t("alerts.breach", { reference: o.reference_number, hsp: o.hsp_id });
    return `<li class="${fresh ? "new" : ""}">${timeHtml(o.deadline_at, { short: true })} ${esc(text)}</li>`;
  });
  put("alerts-list", alerts.join("") || `<li class="none">${esc(t("alerts.empty"))}</li>`);
  const injects = state.injects.map(
    (i) => `<li>${timeHtml(i.at, { short: true })} <span class="offset">T+${esc(hhmm(i.offset_s))}</span> <strong>${esc(i.kind)}</strong> ${esc(i.text)}</li>`,
  );
  put("timeline-list", injects.join("") || `<li class="none">${esc(t("timeline.empty"))}</li>`);
}

function renderOrder(data) {
  const order = data.order;
  document.getElementById("order-title").textContent = t("history.title", { reference: order.reference_number });
  const rows = [
    ["orders.authority", esc(order.authority_id)],
    ["orders.hsp", esc(order.hsp_id)],
    ["orders.state", stateBadge(order.state)],
    ["orders.received", timeHtml(order.received_at)],
    ["orders.time_left", countdownHtml(order)],
  ];
  // A content provider before the HSP's copy (Art. 11(2)): the broker withholds the order.
  if (order.document === null) rows.push(["orders.document", esc(t("orders.document_withheld"))]);
  put("order-summary", rows.map(([k, v]) => `<dt>${esc(t(k))}</dt><dd>${v}</dd>`).join(""));
  const events = data.events.map((e) => {
    const signer = e.document ? esc(jwsHeader(e.document).kid) : esc(t("history.broker"));
    const change = e.data.state ? `${esc(e.data.from_state ?? "")} → ${stateBadge(e.data.state)}` : "";
    const breach = e.kind === "deadline_missed" ? ' class="breached"' : "";
    return `<tr${breach}><td>${e.seq}</td><td>${timeHtml(e.received_at)}</td><td>${esc(e.kind)}</td><td>${signer}</td><td>${change}</td><td>${receiptHtml(e)}</td></tr>`;
  });
  put("history-table", table(["history.seq", "history.time", "history.kind", "history.signer", "history.state", "history.receipt"], events));
  showFingerprints(data.events);
}

function receiptHtml(event) {
  const parts = [];
  if (event.receipt) {
    const receipt = jwsPayload(event.receipt);
    const text = t("history.receipt_details", { received: receipt.received_at, sha: receipt.document_sha256 });
    parts.push(`<details><summary>${esc(jwsHeader(event.receipt).kid)}</summary><p>${esc(text)}</p><pre>${esc(event.receipt)}</pre></details>`);
  }
  if (event.document) {
    const payload = JSON.stringify(jwsPayload(event.document), null, 2);
    // The fingerprint the signer saw before signing ("see what you sign"), filled in
    // by showFingerprints once the table is on the page.
    const print = `<p>${esc(t("confirm.fingerprint"))} <code class="doc-fingerprint" data-seq="${event.seq}"></code></p>`;
    parts.push(`<details><summary>${esc(t("history.document"))}</summary>${print}<pre>${esc(payload)}</pre></details>`);
  }
  return parts.join("");
}

/** SHA-256 of each shown document's canonical JSON: what the signer's dialog showed. */
async function showFingerprints(events) {
  for (const event of events) {
    const slot = document.querySelector(`code.doc-fingerprint[data-seq="${event.seq}"]`);
    if (slot && event.document) slot.textContent = await fingerprint(jwsPayload(event.document));
  }
}

// --- signing and sending -------------------------------------------------------------

async function onKeyFile(event) {
  const status = document.getElementById("key-status");
  const file = event.target.files[0];
  signer = null;
  if (!file) return;
  await ready;
  try {
    const loaded = await loadSigningKey(await file.text());
    if (loaded.participantId !== state.me.id) {
      status.textContent = t("key.wrong_participant", { owner: loaded.participantId });
      status.className = "error";
      return;
    }
    const me = await api("/ui/api/me");
    const registered = me.keys.find((k) => k.kid === loaded.kid && k.status === "active");
    if (!registered) {
      status.textContent = t("key.not_registered", { kid: loaded.kid });
      status.className = "error";
      return;
    }
    signer = loaded;
    status.textContent = t("key.loaded", { kid: loaded.kid, alg: loaded.alg });
    status.className = "ok";
  } catch (error) {
    status.textContent = t("key.unusable", { error: error.message });
    status.className = "error";
  }
}

/** What is signed without the confirmation dialog: the acknowledgement, which carries
 * nothing beyond the order's id and hash (its members are checked exactly, onClick), so the
 * crisis room's acknowledgement stays one click. */
const SIGNED_WITHOUT_PREVIEW = new Set(["acknowledgement"]);
const ACK_MEMBERS = "message_id,message_type,order_id,order_sha256,sender,sent_at";

/**
 * Draft on the broker, check, show the user the whole document ("see what you sign"),
 * sign here, send; return the broker's answer or null (refused, or cancelled: nothing sent).
 */
async function signAndSend(kind, input, check) {
  const opener = document.activeElement;
  if (!signer) {
    flash(t("key.needed"), "error");
    document.getElementById("key-file")?.focus();
    return null;
  }
  try {
    flash(t("action.drafting"));
    const draft = await api(`/ui/api/drafts/${kind}`, { method: "POST", body: input });
    // Frozen: the object shown in the dialog is the object signed, unchanged.
    const doc = deepFreeze(draft.document);
    if (doc.sender !== state.me.id || doc.message_type !== kind || !check(doc)) {
      flash(t("action.draft_mismatch"), "error");
      return null;
    }
    if (!SIGNED_WITHOUT_PREVIEW.has(kind)) {
      flash(t("action.review"), "neutral");
      if (!(await confirmSigning(kind, doc, { opener, referenceOf }))) {
        flash(t("action.not_sent"), "neutral");
        return null;
      }
    }
    flash(t("action.signing"));
    const token = await signDocument(doc, draft.message_type, signer);
    const result = await api(draft.submit_path, { method: "POST", body: { jws: token } });
    const receipt = jwsPayload(result.receipt);
    const received = formatLocal(Date.parse(receipt.received_at));
    flash(t("action.accepted", { what: t("doc." + kind), received }));
    scheduleRefresh();
    return result;
  } catch (error) {
    const detail = error instanceof Refused ? error.message : String(error);
    flash(t("action.refused", { detail }), "error");
    return null;
  }
}

async function onIssue(event) {
  event.preventDefault();
  const form = event.target;
  const data = new FormData(form);
  const input = {
    hsp_id: data.get("hsp_id"),
    urls: data.get("urls"),
    reasons: data.getAll("reasons"),
    details: data.get("details"),
    emergency_justification: data.get("emergency_justification"),
  };
  const urls = input.urls.split("\n").map((u) => u.trim()).filter(Boolean);
  const result = await signAndSend("removal_order", input, (doc) =>
    doc.section_a.addressee.hsp_id === input.hsp_id &&
    JSON.stringify(doc.section_b.content.map((c) => c.url)) === JSON.stringify(urls),
  );
  if (result) form.reset();
}

async function onClarify(event) {
  event.preventDefault();
  const form = event.target;
  const orderId = form.dataset.order;
  const text = new FormData(form).get("clarification").trim();
  const result = await signAndSend("clarification", { order_id: orderId, clarification: text }, (doc) =>
    doc.order_id === orderId && doc.clarification === text,
  );
  if (result) form.remove();
}

async function onClick(event) {
  const target = event.target.closest("button[data-action]");
  if (!target) return;
  const orderId = target.dataset.order;
  const sameOrder = (doc) => doc.order_id === orderId;
  if (target.dataset.action === "ack") {
    // Signed unseen, so nothing but these members: a draft with any other is refused.
    const onlyAck = (doc) =>
      sameOrder(doc) && Object.keys(doc).sort().join() === ACK_MEMBERS && /^[0-9a-f]{64}$/.test(doc.order_sha256);
    await signAndSend("acknowledgement", { order_id: orderId }, onlyAck);
  } else if (target.dataset.action === "removed" || target.dataset.action === "disabled") {
    const measure = target.dataset.action === "removed" ? "removed" : "disabled_all_ms";
    await signAndSend("feedback", { order_id: orderId, measure }, (doc) => sameOrder(doc) && doc.section_b.measure === measure);
  } else if (target.dataset.action === "annex3") {
    openAnnex3(orderId);
  } else if (target.dataset.action === "grounds") {
    // One click, then the document in the dialog; the explanation is the page's standard text.
    const explanation = t("grounds.explanation");
    await signAndSend("grounds_ceased", { order_id: orderId, explanation }, (doc) =>
      sameOrder(doc) && doc.explanation === explanation,
    );
  } else if (target.dataset.action === "withdraw") {
    openWithdraw(orderId);
  }
}

function openWithdraw(orderId) {
  let dialog = document.getElementById("withdraw");
  if (!dialog) {
    dialog = document.createElement("dialog");
    dialog.id = "withdraw";
    dialog.setAttribute("aria-labelledby", "withdraw-h");
    dialog.innerHTML = `<form method="dialog" class="stack">
<h2 id="withdraw-h">${esc(t("withdraw.title"))}</h2><p class="order-ref"></p>
<label for="withdraw-reason">${esc(t("withdraw.reason"))}</label><textarea id="withdraw-reason" name="reason" rows="3" required></textarea>
<div class="row"><button type="submit" value="send" id="withdraw-send">${esc(t("withdraw.submit"))}</button>
<button type="button" value="cancel" id="withdraw-cancel" class="secondary">${esc(t("withdraw.cancel"))}</button></div></form>`;
    document.body.append(dialog);
    dialog.querySelector("#withdraw-cancel").addEventListener("click", () => dialog.close());
    dialog.querySelector("form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const id = dialog.dataset.order;
      const reason = new FormData(event.target).get("reason").trim();
      const result = await signAndSend("withdrawal", { order_id: id, reason }, (doc) => doc.order_id === id && doc.reason === reason);
      if (result) {
        dialog.close();
        event.target.reset();
      }
    });
    // Back to the button that opened it (found by its key; gone once the order is withdrawn).
    dialog.addEventListener("close", () =>
      document.querySelector(`[data-focus="withdraw:${CSS.escape(dialog.dataset.order)}"]`)?.focus(),
    );
  }
  dialog.dataset.order = orderId;
  dialog.querySelector(".order-ref").textContent = referenceOf(orderId);
  dialog.showModal();
  dialog.querySelector("#withdraw-reason").focus();
}

function openAnnex3(orderId) {
  let dialog = document.getElementById("annex3");
  if (!dialog) {
    dialog = document.createElement("dialog");
    dialog.id = "annex3";
    dialog.setAttribute("aria-labelledby", "annex3-h");
    const reasons = ["insufficient_information", "manifest_errors", "force_majeure"]
      .map((r) => `<option value="${r}">${esc(t("annex3.reason." + r))}</option>`)
      .join("");
    dialog.innerHTML = `<form method="dialog" class="stack">
<h2 id="annex3-h">${esc(t("annex3.title"))}</h2><p class="order-ref"></p>
<label for="annex3-reason">${esc(t("annex3.reason"))}</label><select id="annex3-reason" name="reason">${reasons}</select>
<label for="annex3-further">${esc(t("annex3.further"))}</label><textarea id="annex3-further" name="further" rows="2" required></textarea>
<label for="annex3-clar">${esc(t("annex3.clarification_required"))}</label><textarea id="annex3-clar" name="clarification" rows="2"></textarea>
<div class="row"><button type="submit" value="send" id="annex3-send">${esc(t("annex3.submit"))}</button>
<button type="button" value="cancel" id="annex3-cancel">${esc(t("annex3.cancel"))}</button></div></form>`;
    document.body.append(dialog);
    dialog.querySelector("#annex3-cancel").addEventListener("click", () => dialog.close());
    dialog.querySelector("form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const data = new FormData(event.target);
      const reason = data.get("reason");
      const id = dialog.dataset.order;
      const input = {
        order_id: id,
        reasons: [reason],
        further_information: data.get("further"),
        clarification_required: data.get("clarification"),
      };
      const result = await signAndSend("impossibility", input, (doc) => doc.order_id === id && doc.section_b.reasons[0] === reason);
      if (result) {
        dialog.close();
        event.target.reset();
      }
    });
    // Back to the button that opened it (re-rendered meanwhile, so found by its key).
    dialog.addEventListener("close", () =>
      document.querySelector(`[data-focus="annex3:${CSS.escape(dialog.dataset.order)}"]`)?.focus(),
    );
  }
  dialog.dataset.order = orderId;
  dialog.querySelector(".order-ref").textContent = referenceOf(orderId);
  dialog.showModal();
}
