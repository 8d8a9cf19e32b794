// "See what you sign": before the page signs a document, the user reads the whole of it.
//
// The broker drafts the document (drafts.py) and the page checks the members the user
// chose; but a party is bound by everything it signs, and a buggy or compromised broker
// could add members that check does not cover. So the page shows the complete document
// (the very object it then signs, frozen so nothing can change it in between), a summary
// read from that object, and the SHA-256 of its RFC 8785 canonical JSON: the bytes the
// signature covers, and the fingerprint the broker records as the event's payload_sha256.
import { esc, formatLocal, t } from "./common.js";
import { canonicalJson } from "./sign.js";

/** Freeze ``value`` and everything in it: what is shown is what is signed. */
export function deepFreeze(value) {
  if (value && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const member of Object.values(value)) deepFreeze(member);
  }
  return value;
}

/** Hex SHA-256 of the canonical JSON of ``doc`` (UTF-8), as the broker computes it. */
export async function fingerprint(doc) {
  const bytes = new TextEncoder().encode(canonicalJson(doc));
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The key members of ``doc`` as [label key, text | [texts]], read from the document itself. */
export function summary(kind, doc, referenceOf) {
  const rows = [["confirm.type", t("doc." + kind)]];
  const a = doc.section_a ?? {};
  const b = doc.section_b ?? {};
  if (kind === "removal_order") {
    rows.push(["confirm.reference", a.reference_number]);
    rows.push(["confirm.addressee", `${a.addressee?.name ?? ""} (${a.addressee?.hsp_id ?? ""})`]);
    rows.push(["confirm.urls", (b.content ?? []).map((c) => c.url)]);
    rows.push(["confirm.reasons", (b.reasons ?? []).map((r) => t("issue.reason." + r))]);
    if (doc.emergency?.is_emergency) rows.push(["confirm.emergency", doc.emergency.justification]);
    return rows;
  }
  if (kind === "feedback" || kind === "impossibility") {
    rows.push(["confirm.reference", a.issuing_file_reference]);
    rows.push(["confirm.issuer", a.issuing_authority]);
  } else {
    rows.push(["confirm.reference", referenceOf(doc.order_id)]);
  }
  if (kind === "feedback") {
    rows.push(["confirm.measure", t("confirm.measure." + b.measure)]);
  } else if (kind === "impossibility") {
    rows.push(["confirm.reasons", (b.reasons ?? []).map((r) => t("annex3.reason." + r))]);
    rows.push(["confirm.further", b.further_information]);
    if (b.clarification_required) rows.push(["confirm.clarification_required", b.clarification_required]);
  } else if (kind === "clarification") {
    rows.push(["confirm.clarification", doc.clarification]);
  } else if (kind === "withdrawal") {
    rows.push(["confirm.withdrawal_reason", doc.reason]);
  } else if (kind === "grounds_ceased") {
    rows.push(["confirm.ceased_at", formatLocal(Date.parse(doc.ceased_at))]);
    rows.push(["confirm.explanation", doc.explanation]);
  }
  return rows;
}

function summaryHtml(rows) {
  return rows
    .map(([label, value]) => {
      const shown = Array.isArray(value)
        ? `<ul>${value.map((v) => `<li>${esc(v)}</li>`).join("")}</ul>`
        : esc(value);
      return `<dt>${esc(t(label))}</dt><dd>${shown}</dd>`;
    })
    .join("");
}

/**
 * Show ``doc`` (frozen by the caller) in a modal dialog; resolve true when the user
 * chooses "Sign and send", false on Cancel or Escape. Focus goes back to ``opener`` (or,
 * if a live re-render replaced it, to the control with the same ``data-focus`` key).
 */
export async function confirmSigning(kind, doc, { opener = null, referenceOf = (id) => id } = {}) {
  const sha = await fingerprint(doc);
  const dialog = document.createElement("dialog");
  dialog.id = "sign-preview";
  dialog.className = "sign-preview";
  dialog.setAttribute("aria-labelledby", "sign-preview-h");
  dialog.setAttribute("aria-describedby", "sign-preview-intro");
  dialog.innerHTML = `<form method="dialog" class="stack">
<h2 id="sign-preview-h" tabindex="-1">${esc(t("confirm.title", { what: t("doc." + kind) }))}</h2>
<p id="sign-preview-intro">${esc(t("confirm.intro"))}</p>
<dl class="sign-summary">${summaryHtml(summary(kind, doc, referenceOf))}</dl>
<h3 id="sign-preview-doc-h">${esc(t("confirm.document"))}</h3>
<p class="note">${esc(t("confirm.document_note"))}</p>
<pre id="sign-preview-json" tabindex="0" role="region" aria-labelledby="sign-preview-doc-h">${esc(JSON.stringify(doc, null, 2))}</pre>
<details><summary>${esc(t("confirm.canonical"))}</summary><pre id="sign-preview-canonical">${esc(canonicalJson(doc))}</pre></details>
<p class="fingerprint">${esc(t("confirm.fingerprint"))} <code id="sign-preview-sha">${sha}</code></p>
<div class="row"><button type="submit" value="sign" id="sign-preview-send">${esc(t("confirm.sign"))}</button>
<button type="submit" value="cancel" id="sign-preview-cancel" class="secondary">${esc(t("confirm.cancel"))}</button></div></form>`;
  document.body.append(dialog);
  const focusKey = opener?.dataset?.focus;
  const answer = new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      const signed = dialog.returnValue === "sign";
      dialog.remove();
      const back =
        opener?.isConnected || !focusKey ? opener : document.querySelector(`[data-focus="${CSS.escape(focusKey)}"]`);
      back?.focus();
      resolve(signed);
    });
  });
  dialog.returnValue = "";
  dialog.showModal();
  // The heading, not a button: the user starts at the top and reads down (WAI-ARIA APG).
  dialog.querySelector("#sign-preview-h").focus();
  return answer;
}
