// A small hand-written SVG line chart: one-hour compliance over simulated time.
import { esc, t } from "./common.js";

const W = 640;
const H = 220;
const PAD = { left: 44, right: 12, top: 12, bottom: 28 };

/** SVG for points [{at, pct, decided}] (time order); an accessible text alternative. */
export function complianceChart(points) {
  if (!points.length) return `<p>${esc(t("chart.empty"))}</p>`;
  const times = points.map((p) => Date.parse(p.at));
  const t0 = times[0];
  const t1 = Math.max(times[times.length - 1], t0 + 1);
  const x = (ms) => PAD.left + ((ms - t0) / (t1 - t0)) * (W - PAD.left - PAD.right);
  const y = (pct) => PAD.top + (1 - pct / 100) * (H - PAD.top - PAD.bottom);
  let path = "";
  points.forEach((p, i) => {
    // A step line: the share holds until the next decision.
    const px = x(times[i]).toFixed(1);
    const py = y(p.pct).toFixed(1);
    path += i === 0 ? `M${px},${py}` : `H${px}V${py}`;
  });
  const last = points[points.length - 1];
  const grid = [0, 50, 90, 100]
    .map(
      (v) =>
        `<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${y(v)}" y2="${y(v)}" class="grid"/>` +
        `<text x="${PAD.left - 6}" y="${y(v) + 4}" class="axis" text-anchor="end">${v}%</text>`,
    )
    .join("");
  const fmt = new Intl.DateTimeFormat(document.documentElement.lang || undefined, {
    timeStyle: "short",
  });
  const summary = t("chart.summary", { pct: `${last.pct}%` });
  return `<figure class="chart">
<svg viewBox="0 0 ${W} ${H}" role="img" aria-labelledby="chart-t chart-d" id="compliance-chart">
<title id="chart-t">${esc(t("chart.title"))}</title><desc id="chart-d">${esc(summary)}</desc>
${grid}
<text x="${PAD.left}" y="${H - 8}" class="axis">${esc(fmt.format(new Date(t0)))}</text>
<text x="${W - PAD.right}" y="${H - 8}" class="axis" text-anchor="end">${esc(fmt.format(new Date(t1)))}</text>
<path d="${path}" class="line"/>
<circle cx="${x(times[times.length - 1])}" cy="${y(last.pct)}" r="4" class="dot"/>
</svg>
<figcaption>${esc(summary)} (${last.decided})</figcaption>
</figure>`;
}
