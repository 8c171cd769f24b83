// A small SVG chart writer for docs/benchmarks.md: line charts (scaling curves) and grouped
// horizontal bar charts. Plain SVG 1.1 with inline styles, readable by browsers and GitHub.

const PALETTE = ['#1f6feb', '#d1242f', '#1a7f37', '#9a6700', '#8250df', '#57606a'];
const FONT = 'font-family="sans-serif" font-size="12"';

const escape = (text) => String(text).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
const round = (x) => Math.round(x * 10) / 10;

/** Round numbers for an axis from 0 to at least `max`: about five steps of 1, 2 or 5 x 10^k. */
function ticks(max) {
  if (!(max > 0)) return [0, 1];
  const raw = max / 5;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw);
  const out = [];
  for (let v = 0; v < max + step; v += step) out.push(v);
  return out;
}

const label = (v) => (v >= 10000 ? `${v / 1000}k` : String(v));

function legend(names, x, y) {
  return names
    .map((name, i) => {
      const top = y + i * 18;
      return `<rect x="${x}" y="${top - 9}" width="12" height="12" fill="${PALETTE[i % PALETTE.length]}"/><text x="${x + 18}" y="${top + 1}" ${FONT}>${escape(name)}</text>`;
    })
    .join('\n');
}

/**
 * A line chart. `series`: [{ name, points: [[x, y], ...] }]; x on a log2 scale when `logX`.
 * Returns the SVG text.
 */
export function lineChart({ title, xLabel, yLabel, series, logX = false, width = 640, height = 360 }) {
  const left = 64;
  const right = 170;
  const top = 36;
  const bottom = 48;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const xs = [...new Set(series.flatMap((s) => s.points.map(([x]) => x)))].sort((a, b) => a - b);
  const fx = logX ? Math.log2 : (x) => x;
  const [x0, x1] = [fx(xs[0]), fx(xs.at(-1))];
  const px = (x) => left + (x1 === x0 ? plotW / 2 : ((fx(x) - x0) / (x1 - x0)) * plotW);
  const yTicks = ticks(Math.max(...series.flatMap((s) => s.points.map(([, y]) => y))));
  const yMax = yTicks.at(-1);
  const py = (y) => top + plotH - (y / yMax) * plotH;
  const parts = [
    `<text x="${width / 2}" y="20" text-anchor="middle" ${FONT} font-weight="bold">${escape(title)}</text>`,
    ...yTicks.map(
      (v) => `<line x1="${left}" x2="${left + plotW}" y1="${round(py(v))}" y2="${round(py(v))}" stroke="#d0d7de"/><text x="${left - 6}" y="${round(py(v)) + 4}" text-anchor="end" ${FONT}>${label(v)}</text>`,
    ),
    ...xs.map((x) => `<text x="${round(px(x))}" y="${top + plotH + 18}" text-anchor="middle" ${FONT}>${x}</text>`),
    `<text x="${left + plotW / 2}" y="${height - 8}" text-anchor="middle" ${FONT}>${escape(xLabel)}</text>`,
    `<text x="14" y="${top + plotH / 2}" text-anchor="middle" transform="rotate(-90 14 ${top + plotH / 2})" ${FONT}>${escape(yLabel)}</text>`,
    `<line x1="${left}" x2="${left}" y1="${top}" y2="${top + plotH}" stroke="#57606a"/>`,
    ...series.map((s, i) => {
      const color = PALETTE[i % PALETTE.length];
      const points = s.points.map(([x, y]) => `${round(px(x))},${round(py(y))}`);
      const dots = s.points.map(([x, y]) => `<circle cx="${round(px(x))}" cy="${round(py(y))}" r="3" fill="${color}"/>`);
      return `<polyline fill="none" stroke="${color}" stroke-width="2" points="${points.join(' ')}"/>\n${dots.join('')}`;
    }),
    legend(
      series.map((s) => s.name),
      left + plotW + 16,
      top + 10,
    ),
  ];
  return svg(width, height, parts);
}

/**
 * Grouped horizontal bars. `groups`: [{ label, bars: [{ name, value }] }]; bars of the same name
 * share a colour. Each bar is labelled with its value and `unit`.
 */
export function barChart({ title, unit, groups, width = 640 }) {
  const names = [...new Set(groups.flatMap((g) => g.bars.map((b) => b.name)))];
  const left = 150;
  const right = 170;
  const top = 36;
  const barH = 14;
  const gap = 12;
  const rows = groups.reduce((n, g) => n + g.bars.length, 0);
  const plotW = width - left - right;
  const height = top + rows * (barH + 2) + groups.length * gap + 30;
  const xTicks = ticks(Math.max(...groups.flatMap((g) => g.bars.map((b) => b.value))));
  const xMax = xTicks.at(-1);
  const parts = [
    `<text x="${width / 2}" y="20" text-anchor="middle" ${FONT} font-weight="bold">${escape(title)}</text>`,
    ...xTicks.map((v) => {
      const x = round(left + (v / xMax) * plotW);
      return `<line x1="${x}" x2="${x}" y1="${top - 4}" y2="${height - 26}" stroke="#d0d7de"/><text x="${x}" y="${height - 12}" text-anchor="middle" ${FONT}>${label(v)}</text>`;
    }),
  ];
  let y = top;
  for (const group of groups) {
    parts.push(`<text x="${left - 8}" y="${y + ((barH + 2) * group.bars.length) / 2 + 4}" text-anchor="end" ${FONT}>${escape(group.label)}</text>`);
    for (const bar of group.bars) {
      const w = round((bar.value / xMax) * plotW);
      const color = PALETTE[names.indexOf(bar.name) % PALETTE.length];
      parts.push(`<rect x="${left}" y="${y}" width="${w}" height="${barH}" fill="${color}"/><text x="${left + w + 4}" y="${y + barH - 3}" ${FONT}>${escape(`${bar.value} ${unit}`)}</text>`);
      y += barH + 2;
    }
    y += gap;
  }
  parts.push(legend(names, left + plotW + 60, top + 10));
  return svg(width, height, parts);
}

function svg(width, height, parts) {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">\n<rect width="100%" height="100%" fill="#ffffff"/>\n${parts.join('\n')}\n</svg>\n`;
}
