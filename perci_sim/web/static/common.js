// Shared helpers of the dashboard pages: messages, escaping, times, the broker clock,
// the session-authenticated JSON calls.

const messages = JSON.parse(document.getElementById("perci-messages").textContent);

/** The catalogue message ``key`` with ``{name}`` placeholders filled (i18n.py). */
export function t(key, params = {}) {
  let text = messages[key] ?? key;
  for (const [name, value] of Object.entries(params)) text = text.split("{" + name + "}").join(value);
  return text;
}

export function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const lang = document.documentElement.lang || undefined;
const local = new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "medium" });
const localTime = new Intl.DateTimeFormat(lang, { timeStyle: "medium" });

/** A <time> in the viewer's time zone, with the UTC instant on hover (title). */
export function timeHtml(iso, { short = false } = {}) {
  if (!iso) return "";
  const at = new Date(iso);
  const shown = short ? localTime.format(at) : local.format(at);
  return `<time datetime="${esc(iso)}" title="${esc(at.toISOString())} UTC">${esc(shown)}</time>`;
}

/** An instant in the viewer's time zone and language. */
export function formatLocal(ms) {
  return local.format(new Date(ms));
}

export function setTime(element, ms) {
  const at = new Date(ms);
  element.dateTime = at.toISOString();
  element.title = at.toISOString() + " UTC";
  element.textContent = local.format(at);
}

/**
 * The broker's clock as the page estimates it: the last reading plus the wall time
 * since, times the broker's speed (a drill runs at e.g. 60x, so countdowns do too).
 */
export const clock = {
  base: Date.now(),
  perf0: performance.now(),
  speed: 1,
  sync(reading) {
    this.base = Date.parse(reading.now);
    this.perf0 = performance.now();
    this.speed = reading.speed;
  },
  now() {
    return this.base + (performance.now() - this.perf0) * this.speed;
  },
};

/** "1:02:03" / "12:05" for a duration in ms. */
export function duration(ms) {
  const total = Math.floor(Math.abs(ms) / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

const csrf = document.querySelector('meta[name="csrf-token"]').content;

export class Refused extends Error {
  constructor(problem) {
    super(problem.detail || problem.title || "refused");
    this.problem = problem;
  }
}

/** A JSON call to the dashboard's API, with the session cookie and the CSRF token. */
export async function api(path, { method = "GET", body } = {}) {
  const response = await fetch(path, {
    method,
    credentials: "same-origin",
    headers: { Accept: "application/json", "Content-Type": "application/json", "X-CSRF-Token": csrf },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401) {
    window.location.assign("/ui/login");
    throw new Refused({ detail: "signed out" });
  }
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Refused(data);
  return data;
}

let flashTimer = 0;
/** Tell the user what happened (a polite live region; errors stay until the next one). */
export function flash(text, kind = "ok") {
  const box = document.getElementById("flash");
  if (!box) return;
  box.textContent = text;
  box.className = "flash " + kind;
  box.setAttribute("role", kind === "error" ? "alert" : "status");
  clearTimeout(flashTimer);
  if (kind !== "error") flashTimer = setTimeout(() => (box.textContent = ""), 15000);
}

export function stateBadge(state) {
  return `<span class="state state-${esc(state)}">${esc(t("state." + state))}</span>`;
}

const OPEN = new Set(["delivered", "acknowledged", "overdue"]);
/** The countdown cell of an order; ``tick`` keeps it running at the broker's speed. */
export function countdownHtml(order) {
  if (order.state === "suspended_force_majeure" || order.state === "clarification_requested") {
    return `<span class="paused">${esc(t("orders.paused"))}</span>`;
  }
  if (!OPEN.has(order.state) || !order.deadline_at) return esc(t("orders.done"));
  return `<span class="countdown" data-deadline="${esc(order.deadline_at)}"></span>`;
}

/** Update every countdown and clock on the page from the estimated broker time. */
export function tick() {
  const now = clock.now();
  for (const cell of document.querySelectorAll("[data-deadline]")) {
    const left = Date.parse(cell.dataset.deadline) - now;
    const overdue = left < 0;
    cell.textContent = overdue ? t("orders.overdue_by", { time: duration(left) }) : duration(left);
    cell.classList.toggle("late", overdue);
    cell.classList.toggle("soon", !overdue && left < 15 * 60 * 1000);
    cell.closest("tr")?.classList.toggle("breached", overdue);
  }
  for (const element of document.querySelectorAll("time.broker-now")) setTime(element, now);
}
