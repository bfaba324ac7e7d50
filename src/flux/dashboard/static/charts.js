// Small SVG line charts for the dashboard: no library, no network.
// drawLineChart(container, series, {window}) draws each series ({name, color, points: [[t, v]]})
// over the last `window` seconds (default 300), with a y axis from 0 to the largest value and a legend.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const CHART_COLORS = ["#2f6fde", "#1f9d55", "#d64545", "#c98a00", "#7c3aed", "#0891b2",
                      "#db2777", "#4b5563"];

function svgEl(name, attrs) {
  const el = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  return el;
}

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function drawLineChart(container, series, opts) {
  const width = container.clientWidth || 420, height = (opts && opts.height) || 150;
  const left = 40, right = 8, top = 8, bottom = 18;
  // the last `window` seconds at most; a shorter history fills the width (30 s at least)
  const maxWindow = (opts && opts.window) || 300;
  let tmax = 0, tfirst = Infinity;
  for (const s of series) for (const [t] of s.points) { tmax = Math.max(tmax, t); tfirst = Math.min(tfirst, t); }
  if (!tmax) tmax = Date.now() / 1000;
  const windowSec = Math.min(maxWindow, Math.max(30, tmax - tfirst));
  const tmin = tmax - windowSec;
  let vmax = 0;
  for (const s of series) for (const [t, v] of s.points) if (t >= tmin) vmax = Math.max(vmax, v);
  vmax = niceMax(vmax);
  const x = (t) => left + (width - left - right) * (t - tmin) / windowSec;
  const y = (v) => top + (height - top - bottom) * (1 - v / vmax);

  const svg = svgEl("svg", {width: width, height: height, role: "img"});
  svg.appendChild(svgEl("line", {x1: left, y1: y(0), x2: width - right, y2: y(0), class: "axis"}));
  svg.appendChild(svgEl("line", {x1: left, y1: top, x2: left, y2: y(0), class: "axis"}));
  for (const frac of [0, 0.5, 1]) {
    const label = svgEl("text", {x: left - 4, y: y(vmax * frac) + 3, "text-anchor": "end"});
    label.textContent = String(+(vmax * frac).toPrecision(3));
    svg.appendChild(label);
  }
  const span = windowSec >= 120 ? Math.round(windowSec / 60) + " min" : Math.round(windowSec) + " s";
  for (const [frac, text] of [[0, "-" + span], [1, "now"]]) {
    const label = svgEl("text", {x: left + frac * (width - left - right), y: height - 4,
                                 "text-anchor": frac ? "end" : "start"});
    label.textContent = text;
    svg.appendChild(label);
  }
  series.forEach((s, i) => {
    const pts = s.points.filter(([t]) => t >= tmin).map(([t, v]) => x(t).toFixed(1) + "," + y(v).toFixed(1));
    if (pts.length) {
      svg.appendChild(svgEl("polyline", {points: pts.join(" "), fill: "none",
                                         stroke: s.color || CHART_COLORS[i % CHART_COLORS.length],
                                         "stroke-width": 1.5}));
    }
  });
  const legend = document.createElement("div");
  legend.className = "legend";
  series.forEach((s, i) => {
    const item = document.createElement("span");
    const swatch = svgEl("svg", {width: 10, height: 10});
    swatch.appendChild(svgEl("rect", {width: 10, height: 10,
                                      fill: s.color || CHART_COLORS[i % CHART_COLORS.length]}));
    item.appendChild(swatch);
    item.appendChild(document.createTextNode(" " + s.name));
    legend.appendChild(item);
  });
  container.replaceChildren(svg, legend);
}

window.drawLineChart = drawLineChart;
window.CHART_COLORS = CHART_COLORS;
