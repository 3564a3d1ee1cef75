/**
 * One small SVG chart renderer for every plot of the report: grouped bars, lines, a labelled scatter
 * (optionally on a log x axis) and a heatmap, all drawn with the same frame (title, axes, ticks, grid,
 * axis labels, legend). Text is escaped; numbers are rounded so the files stay small and stable.
 * Lines and scatter points carry a colour and a marker shape per series, so many series stay apart,
 * and a scatter's labels are placed where they overlap no other label or point.
 */

/** Marker shapes, in the order styles cycle through them. */
export const MARKERS = ['circle', 'square', 'triangle-up', 'diamond', 'triangle-down', 'plus', 'star'] as const;
export type Marker = (typeof MARKERS)[number];

/** How a series is drawn: its colour (lines, points, bars) and its points' marker. */
export interface SeriesStyle {
  readonly color: string;
  readonly marker: Marker;
}

interface ChartBase {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
}

/** Grouped bars: one group per category, one bar per series (its style's colour); null draws no bar. */
export interface BarChart extends ChartBase {
  readonly kind: 'bar';
  readonly categories: readonly string[];
  readonly series: readonly { readonly name: string; readonly style?: SeriesStyle; readonly values: readonly (number | null)[] }[];
}

/** Lines with a marker at each point; a series without a style gets `styleAt` of its index. */
export interface LineChart extends ChartBase {
  readonly kind: 'line';
  readonly series: readonly { readonly name: string; readonly style?: SeriesStyle; readonly points: readonly { readonly x: number; readonly y: number }[] }[];
}

/** Points with a text label each, e.g. one point per method; the labels stand in for a legend. */
export interface ScatterChart extends ChartBase {
  readonly kind: 'scatter';
  readonly logX: boolean;
  readonly series: readonly { readonly name: string; readonly style?: SeriesStyle; readonly points: readonly { readonly x: number; readonly y: number; readonly label: string }[] }[];
}

/** Rows of cells over a column index 0..columns-1, coloured by value from 0 to the largest value. */
export interface HeatmapChart extends ChartBase {
  readonly kind: 'heatmap';
  readonly rows: readonly string[];
  readonly values: readonly (readonly number[])[];
  /** What the colour means, shown by the colour bar. */
  readonly valueLabel: string;
}

export type ChartSpec = BarChart | LineChart | ScatterChart | HeatmapChart;

const WIDTH = 760;
const HEIGHT = 440;
const MARGIN = { top: 44, right: 24, bottom: 96, left: 76 };
const LEGEND_WIDTH = 170;
const FONT = 'DejaVu Sans, Helvetica, Arial, sans-serif';
// Tableau 10: distinguishable, and readable by most colour-blind readers.
const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];
const MARKER_RADIUS = 5;
const LABEL_FONT_SIZE = 11;

/**
 * The style of the series at `index`: colour and marker cycle together, 10 colours against 7 shapes,
 * so neighbours differ in both and the first 70 indices (10 x 7, coprime) are pairwise distinct.
 */
export function styleAt(index: number): SeriesStyle {
  return { color: PALETTE[index % PALETTE.length]!, marker: MARKERS[index % MARKERS.length]! };
}

/** Each distinct name's style by its first position in `names`: one style per name wherever it is drawn. */
export function stylesByName(names: readonly string[]): ReadonlyMap<string, SeriesStyle> {
  const distinct = [...new Set(names)];
  return new Map(distinct.map((name, index) => [name, styleAt(index)]));
}

/** Unit outlines of the markers, scaled to about the same ink as a circle of MARKER_RADIUS. */
function markerPath(marker: Marker): string {
  const r = MARKER_RADIUS;
  const polygon = (points: readonly (readonly [number, number])[]) => `M${points.map(([x, y]) => `${round(x * r)} ${round(y * r)}`).join('L')}Z`;
  switch (marker) {
    case 'circle':
      return `M${-r} 0A${r} ${r} 0 1 0 ${r} 0A${r} ${r} 0 1 0 ${-r} 0Z`;
    case 'square':
      return polygon([[-0.9, -0.9], [0.9, -0.9], [0.9, 0.9], [-0.9, 0.9]]);
    case 'triangle-up':
      return polygon([[0, -1.25], [1.15, 0.8], [-1.15, 0.8]]);
    case 'triangle-down':
      return polygon([[0, 1.25], [1.15, -0.8], [-1.15, -0.8]]);
    case 'diamond':
      return polygon([[0, -1.25], [1.25, 0], [0, 1.25], [-1.25, 0]]);
    case 'plus':
      return polygon([[-0.4, -1.2], [0.4, -1.2], [0.4, -0.4], [1.2, -0.4], [1.2, 0.4], [0.4, 0.4], [0.4, 1.2], [-0.4, 1.2], [-0.4, 0.4], [-1.2, 0.4], [-1.2, -0.4], [-0.4, -0.4]]);
    case 'star':
      return polygon(
        Array.from({ length: 10 }, (_, index) => {
          const radius = index % 2 === 0 ? 1.35 : 0.6;
          const angle = (Math.PI / 5) * index - Math.PI / 2;
          return [radius * Math.cos(angle), radius * Math.sin(angle)] as const;
        }),
      );
  }
}

/** A marker centred on (x, y); the white outline keeps touching markers apart. */
function markerAt(x: number, y: number, style: SeriesStyle, tooltip: string): string {
  return `<path transform="translate(${round(x)} ${round(y)})" d="${markerPath(style.marker)}" fill="${style.color}" stroke="#fff" stroke-width="1"><title>${escapeXml(tooltip)}</title></path>`;
}

interface Box {
  readonly left: number;
  readonly top: number;
  readonly right: number;
  readonly bottom: number;
}

const overlaps = (a: Box, b: Box) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;

/**
 * The width of a text in DejaVu Sans (the first font asked for, and the widest of them), estimated
 * per character from the font size: within a few percent above librsvg's rendering for method names.
 */
export function textWidth(content: string, fontSize: number): number {
  let ems = 0;
  for (const character of content) {
    if ("ijlI.,:;|!'".includes(character)) ems += 0.3;
    else if ('frt-()[]/ '.includes(character)) ems += 0.42;
    else if ('mwMW'.includes(character)) ems += 0.98;
    else if (character !== character.toLowerCase()) ems += 0.76;
    else ems += 0.64;
  }
  return ems * fontSize;
}

/** The box a text drawn at (x, baseline y), anchored at its start, covers: ascenders 0.8 em up, descenders 0.3 em down. */
export function textBox(x: number, y: number, content: string, fontSize: number): Box {
  return { left: x, top: y - fontSize * 0.8, right: x + textWidth(content, fontSize), bottom: y + fontSize * 0.3 };
}

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => `&${{ '&': 'amp', '<': 'lt', '>': 'gt', '"': 'quot', "'": 'apos' }[character]!};`);
}

const round = (value: number) => Math.round(value * 100) / 100;

/** A short tick label: 1500 -> 1.5k, 2e6 -> 2M, 0.25 -> 0.25. */
export function formatTick(value: number): string {
  const magnitude = Math.abs(value);
  for (const [size, suffix] of [
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
  ] as const) {
    if (magnitude >= size) return `${Number((value / size).toPrecision(3))}${suffix}`;
  }
  return `${Number(value.toPrecision(3))}`;
}

interface Scale {
  (value: number): number;
  readonly ticks: readonly number[];
}

/**
 * A linear scale with about 5 ticks at multiples of 1, 2 or 5 times a power of ten. Its bounds are
 * widened to the ticks around min and max, or with `exact` kept at min and max (a heatmap's
 * columns fill the axis exactly) with the ticks inside.
 */
function linearScale(min: number, max: number, rangeStart: number, rangeEnd: number, exact = false): Scale {
  const span = max > min ? max - min : Math.abs(max) || 1;
  const rough = span / 5;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((factor) => factor * power).find((candidate) => candidate >= rough)!;
  const low = exact ? min : Math.floor(min / step) * step;
  const high = exact ? max : Math.max(Math.ceil(max / step) * step, low + step);
  const ticks: number[] = [];
  for (let tick = Math.ceil(low / step - 1e-9) * step; tick <= high + step * 1e-9; tick += step) ticks.push(Number(tick.toPrecision(12)));
  const scale = (value: number) => rangeStart + ((value - low) / (high - low)) * (rangeEnd - rangeStart);
  return Object.assign(scale, { ticks });
}

/** A log10 scale over whole decades, a tick per decade. */
function logScale(min: number, max: number, rangeStart: number, rangeEnd: number): Scale {
  const low = Math.floor(Math.log10(min));
  const high = Math.max(Math.ceil(Math.log10(max)), low + 1);
  const ticks = Array.from({ length: high - low + 1 }, (_, index) => 10 ** (low + index));
  const scale = (value: number) => rangeStart + ((Math.log10(value) - low) / (high - low)) * (rangeEnd - rangeStart);
  return Object.assign(scale, { ticks });
}

interface Frame {
  readonly left: number;
  readonly right: number;
  readonly top: number;
  readonly bottom: number;
}

function text(x: number, y: number, content: string, attributes = ''): string {
  return `<text x="${round(x)}" y="${round(y)}"${attributes === '' ? '' : ` ${attributes}`}>${escapeXml(content)}</text>`;
}

function frameFor(legend: boolean): Frame {
  return { left: MARGIN.left, right: WIDTH - MARGIN.right - (legend ? LEGEND_WIDTH : 0), top: MARGIN.top, bottom: HEIGHT - MARGIN.bottom };
}

/** Characters of a bold 16-unit title that fit the width (about 9.5 units each). */
const TITLE_CHARACTERS = Math.floor((WIDTH - 20) / 9.5);

/** Title, axis labels and the plot's border: the parts every chart shares. */
function decorations(spec: ChartSpec, frame: Frame): string[] {
  const middleY = (frame.top + frame.bottom) / 2;
  // Titles come from the records (a method's own line): a longer one is cut, whole in the document's <title>.
  const title = spec.title.length > TITLE_CHARACTERS ? `${spec.title.slice(0, TITLE_CHARACTERS - 1)}…` : spec.title;
  return [
    text(WIDTH / 2, 26, title, 'text-anchor="middle" font-size="16" font-weight="bold"'),
    text((frame.left + frame.right) / 2, HEIGHT - 10, spec.xLabel, 'text-anchor="middle" font-size="13"'),
    text(18, middleY, spec.yLabel, `text-anchor="middle" font-size="13" transform="rotate(-90 18 ${round(middleY)})"`),
    `<rect x="${frame.left}" y="${frame.top}" width="${frame.right - frame.left}" height="${frame.bottom - frame.top}" fill="none" stroke="#333"/>`,
  ];
}

function yAxis(scale: Scale, frame: Frame): string[] {
  return scale.ticks.flatMap((tick) => {
    const y = round(scale(tick));
    return [
      `<line x1="${frame.left}" y1="${y}" x2="${frame.right}" y2="${y}" stroke="#e0e0e0"/>`,
      `<line x1="${frame.left - 5}" y1="${y}" x2="${frame.left}" y2="${y}" stroke="#333"/>`,
      text(frame.left - 8, y + 4, formatTick(tick), 'text-anchor="end" font-size="11"'),
    ];
  });
}

function xAxis(scale: Scale, frame: Frame): string[] {
  return scale.ticks.flatMap((tick) => {
    const x = round(scale(tick));
    return [
      `<line x1="${x}" y1="${frame.top}" x2="${x}" y2="${frame.bottom}" stroke="#e0e0e0"/>`,
      `<line x1="${x}" y1="${frame.bottom}" x2="${x}" y2="${frame.bottom + 5}" stroke="#333"/>`,
      text(x, frame.bottom + 18, formatTick(tick), 'text-anchor="middle" font-size="11"'),
    ];
  });
}

/** Category labels under bands; slanted when they would not fit side by side. */
function categoryAxis(categories: readonly string[], frame: Frame): string[] {
  const band = (frame.right - frame.left) / categories.length;
  const slanted = categories.some((category) => category.length * 6.5 > band);
  return categories.map((full, index) => {
    // Slanted labels get the bottom margin; longer ones are cut (whole in each bar's tooltip).
    const category = slanted && full.length > 16 ? `${full.slice(0, 15)}…` : full;
    const x = frame.left + band * (index + 0.5);
    const y = frame.bottom + 16;
    return slanted
      ? text(x, y, category, `text-anchor="end" font-size="11" transform="rotate(-35 ${round(x)} ${round(y)})"`)
      : text(x, y, category, 'text-anchor="middle" font-size="11"');
  });
}

/** Legend entries: a swatch for bars, a stroke with the series' marker for lines. */
function legend(entries: readonly LegendEntry[], frame: Frame): string[] {
  const x = frame.right + 14;
  const lineHeight = Math.min(18, (HEIGHT - MARGIN.top) / Math.max(entries.length, 1));
  return entries.flatMap(({ name, label, style, line }, index) => {
    const y = frame.top + index * lineHeight;
    const key = line
      ? [`<line x1="${x - 4}" y1="${round(y + 6)}" x2="${x + 16}" y2="${round(y + 6)}" stroke="${style.color}" stroke-width="2"/>`, markerAt(x + 6, y + 6, style, name)]
      : [`<rect x="${x}" y="${round(y)}" width="12" height="12" fill="${style.color}"/>`];
    return [...key, text(x + 22, y + 10, label, 'font-size="11"')];
  });
}

/** A series' style: its own, else the one of its index. */
const seriesStyle = (series: { readonly style?: SeriesStyle }, index: number) => series.style ?? styleAt(index);

function finiteValues(values: readonly (number | null)[]): number[] {
  return values.filter((value): value is number => value !== null && Number.isFinite(value));
}

function barBody(spec: BarChart, frame: Frame): string[] {
  const values = finiteValues(spec.series.flatMap((series) => series.values));
  const y = linearScale(Math.min(0, ...values), Math.max(0, ...values), frame.bottom, frame.top);
  const band = (frame.right - frame.left) / spec.categories.length;
  const barWidth = (band * 0.8) / spec.series.length;
  const bars = spec.series.flatMap((series, seriesIndex) =>
    series.values.flatMap((value, categoryIndex) => {
      if (value === null || !Number.isFinite(value)) return [];
      const x = frame.left + band * categoryIndex + band * 0.1 + barWidth * seriesIndex;
      const top = Math.min(y(value), y(0));
      const height = Math.abs(y(value) - y(0));
      return [
        `<rect x="${round(x)}" y="${round(top)}" width="${round(barWidth)}" height="${round(height)}" fill="${seriesStyle(series, seriesIndex).color}"><title>${escapeXml(`${series.name}, ${spec.categories[categoryIndex]}: ${formatTick(value)}`)}</title></rect>`,
      ];
    }),
  );
  return [...yAxis(y, frame), ...bars, ...categoryAxis(spec.categories, frame)];
}

function lineBody(spec: LineChart, frame: Frame): string[] {
  const points = spec.series.flatMap((series) => series.points);
  const fullX = linearScale(Math.min(...points.map((point) => point.x)), Math.max(...points.map((point) => point.x)), frame.left, frame.right);
  // Whole-number x (epochs) gets whole-number ticks only.
  const x = points.every((point) => Number.isInteger(point.x)) ? Object.assign((value: number) => fullX(value), { ticks: fullX.ticks.filter(Number.isInteger) }) : fullX;
  const y = linearScale(Math.min(...points.map((point) => point.y)), Math.max(...points.map((point) => point.y)), frame.bottom, frame.top);
  const lines = spec.series.flatMap((series, index) => {
    const style = seriesStyle(series, index);
    return [
      `<polyline fill="none" stroke="${style.color}" stroke-width="2" points="${series.points.map((point) => `${round(x(point.x))},${round(y(point.y))}`).join(' ')}"/>`,
      ...series.points.map((point) => markerAt(x(point.x), y(point.y), style, `${series.name}, ${formatTick(point.x)}: ${formatTick(point.y)}`)),
    ];
  });
  return [...yAxis(y, frame), ...xAxis(x, frame), ...lines];
}

function scatterBody(spec: ScatterChart, frame: Frame): string[] {
  const points = spec.series.flatMap((series) => series.points);
  const xs = points.map((point) => point.x);
  const ys = points.map((point) => point.y);
  const x = (spec.logX ? logScale : linearScale)(Math.min(...xs), Math.max(...xs), frame.left, frame.right);
  const y = linearScale(Math.min(...ys), Math.max(...ys), frame.bottom, frame.top);
  const marks = spec.series.flatMap((series, index) =>
    series.points.map((point) => ({ x: x(point.x), y: y(point.y), label: point.label, style: seriesStyle(series, index), tooltip: `${series.name}: ${formatTick(point.x)}, ${formatTick(point.y)}` })),
  );
  const labels = placeLabels(marks, frame);
  // Leader lines first, markers over them, labels last: nothing hides a label.
  return [
    ...yAxis(y, frame),
    ...xAxis(x, frame),
    ...labels.flatMap((label) => (label.leader === null ? [] : [`<line x1="${round(label.leader.x1)}" y1="${round(label.leader.y1)}" x2="${round(label.leader.x2)}" y2="${round(label.leader.y2)}" stroke="#888" stroke-width="0.8"/>`])),
    ...marks.map((mark) => markerAt(mark.x, mark.y, mark.style, mark.tooltip)),
    ...labels.map((label) => text(label.x, label.y, label.text, `font-size="${LABEL_FONT_SIZE}"`)),
  ];
}

interface PlacedLabel {
  readonly text: string;
  /** Start and baseline of the text. */
  readonly x: number;
  readonly y: number;
  /** From the marker's edge to the nearest point of the label, for a label placed away from its point. */
  readonly leader: { readonly x1: number; readonly y1: number; readonly x2: number; readonly y2: number } | null;
}

/** How far a label sits from its point's centre; beyond LEADER_DISTANCE a leader line joins them. */
const LABEL_GAP = MARKER_RADIUS + 3;
const LEADER_DISTANCE = LABEL_GAP + 6;

/**
 * Places each point's label, in order, at the nearest free candidate: boxes left or right of the point
 * in a few columns and a stack of rows, or centred above or below it. Free means inside the plot and
 * overlapping no label placed before it and no marker. Ties keep the candidates' order (right, then
 * left, up before down), so the placement is deterministic. A label with no free candidate takes the
 * nearest one inside the plot (the points are then too dense for any placement).
 */
function placeLabels(marks: readonly { readonly x: number; readonly y: number; readonly label: string }[], frame: Frame): PlacedLabel[] {
  const height = LABEL_FONT_SIZE * 1.1;
  const reach = MARKER_RADIUS * 1.35 + 1;
  const markers = marks.map((mark): Box => ({ left: mark.x - reach, top: mark.y - reach, right: mark.x + reach, bottom: mark.y + reach }));
  const placed: Box[] = [];
  return marks.map((mark) => {
    const width = textWidth(mark.label, LABEL_FONT_SIZE);
    const at = (left: number, centreY: number): Box => ({ left, top: centreY - height / 2, right: left + width, bottom: centreY + height / 2 });
    const candidates: Box[] = [];
    for (let column = 0; column < 4; column += 1) {
      for (let row = 0; row <= 12; row += 1) {
        for (const sign of row === 0 ? [0] : [-1, 1]) {
          const offset = LABEL_GAP + column * (width / 2 + LABEL_GAP);
          candidates.push(at(mark.x + offset, mark.y + sign * row * height), at(mark.x - offset - width, mark.y + sign * row * height));
        }
      }
    }
    candidates.push(at(mark.x - width / 2, mark.y - LABEL_GAP - height / 2), at(mark.x - width / 2, mark.y + LABEL_GAP + height / 2));
    const distance = (box: Box) => Math.hypot(Math.max(box.left - mark.x, 0, mark.x - box.right), Math.max(box.top - mark.y, 0, mark.y - box.bottom));
    const inside = candidates.filter((box) => box.left >= frame.left + 2 && box.right <= frame.right - 2 && box.top >= frame.top + 2 && box.bottom <= frame.bottom - 2);
    // Array.prototype.sort is stable: equal distances keep the candidates' order.
    const ordered = (inside.length > 0 ? inside : candidates).map((box, index) => ({ box, index, distance: distance(box) })).sort((a, b) => a.distance - b.distance || a.index - b.index);
    const chosen = (ordered.find(({ box }) => !placed.some((other) => overlaps(box, other)) && !markers.some((marker) => overlaps(box, marker))) ?? ordered[0]!).box;
    placed.push(chosen);
    const nearestX = Math.min(Math.max(mark.x, chosen.left), chosen.right);
    const nearestY = Math.min(Math.max(mark.y, chosen.top), chosen.bottom);
    const length = Math.hypot(nearestX - mark.x, nearestY - mark.y);
    const leader = length > LEADER_DISTANCE ? { x1: mark.x + ((nearestX - mark.x) / length) * reach, y1: mark.y + ((nearestY - mark.y) / length) * reach, x2: nearestX, y2: nearestY } : null;
    return { text: mark.label, x: chosen.left, y: chosen.bottom - LABEL_FONT_SIZE * 0.3, leader };
  });
}

/** White to dark blue. */
function heat(fraction: number): string {
  const channel = (from: number, to: number) => Math.round(from + (to - from) * Math.min(Math.max(fraction, 0), 1));
  return `rgb(${channel(255, 8)},${channel(255, 48)},${channel(255, 107)})`;
}

function heatmapBody(spec: HeatmapChart, frame: Frame): string[] {
  const columns = Math.max(...spec.values.map((row) => row.length));
  const largest = Math.max(...spec.values.flat());
  const rowHeight = (frame.bottom - frame.top) / spec.rows.length;
  const x = linearScale(0, columns, frame.left, frame.right, true);
  const cellWidth = (frame.right - frame.left) / columns;
  const cells = spec.values.flatMap((row, rowIndex) =>
    row.flatMap((value, column) =>
      value > 0
        ? [`<rect x="${round(frame.left + column * cellWidth)}" y="${round(frame.top + rowIndex * rowHeight)}" width="${round(cellWidth)}" height="${round(rowHeight)}" fill="${heat(value / largest)}"/>`]
        : [],
    ),
  );
  const rowLabels = spec.rows.map((label, index) => text(frame.left - 8, frame.top + rowHeight * (index + 0.5) + 4, label, 'text-anchor="end" font-size="11"'));
  // Colour bar: the legend's place, from 0 at the bottom to the largest value at the top.
  const barX = frame.right + 24;
  const steps = 20;
  const stepHeight = (frame.bottom - frame.top) / steps;
  const colourBar = [
    ...Array.from({ length: steps }, (_, step) => `<rect x="${barX}" y="${round(frame.bottom - (step + 1) * stepHeight)}" width="16" height="${round(stepHeight)}" fill="${heat((step + 0.5) / steps)}"/>`),
    text(barX + 22, frame.top + 10, formatTick(largest), 'font-size="11"'),
    text(barX + 22, frame.bottom, '0', 'font-size="11"'),
    text(barX, frame.top - 8, spec.valueLabel, 'font-size="11"'),
  ];
  return [...xAxis(x, frame), ...cells, ...rowLabels, ...colourBar];
}

function body(spec: ChartSpec, frame: Frame): string[] {
  switch (spec.kind) {
    case 'bar':
      return barBody(spec, frame);
    case 'line':
      return lineBody(spec, frame);
    case 'scatter':
      return scatterBody(spec, frame);
    case 'heatmap':
      return heatmapBody(spec, frame);
  }
}

interface LegendEntry {
  readonly name: string;
  /** The name as shown: cut to the legend's width. */
  readonly label: string;
  readonly style: SeriesStyle;
  /** A line chart's entry: a stroke with the marker instead of a swatch. */
  readonly line: boolean;
}

/**
 * The legend: none for a heatmap, for a scatter (its points are labelled) or for a single series the
 * y axis label already names.
 */
function legendEntries(spec: ChartSpec): readonly LegendEntry[] {
  if (spec.kind === 'heatmap' || spec.kind === 'scatter' || (spec.series.length === 1 && spec.series[0]!.name === spec.yLabel)) return [];
  // The legend column is LEGEND_WIDTH wide: longer names are cut, whole in each mark's tooltip.
  return spec.series.map((series, index) => ({
    name: series.name,
    label: series.name.length > 24 ? `${series.name.slice(0, 23)}…` : series.name,
    style: seriesStyle(series, index),
    line: spec.kind === 'line',
  }));
}

/** Throws a RangeError for a chart with nothing to draw: callers skip such plots before rendering. */
function checkData(spec: ChartSpec): void {
  const empty =
    spec.kind === 'heatmap'
      ? spec.rows.length === 0 || spec.rows.length !== spec.values.length || spec.values.every((row) => row.length === 0)
      : spec.kind === 'bar'
        ? spec.categories.length === 0 || finiteValues(spec.series.flatMap((series) => series.values)).length === 0
        : spec.series.every((series) => series.points.length === 0);
  if (empty) throw new RangeError(`chart ${JSON.stringify(spec.title)} has no data to draw`);
  if (spec.kind === 'scatter' && spec.logX && spec.series.some((series) => series.points.some((point) => !(point.x > 0)))) {
    throw new RangeError(`chart ${JSON.stringify(spec.title)}: a log x axis needs positive x values`);
  }
}

/** The chart as a standalone SVG document of 760 x 440 user units. */
export function renderChart(spec: ChartSpec): string {
  checkData(spec);
  const entries = legendEntries(spec);
  const frame = frameFor(entries.length > 0 || spec.kind === 'heatmap');
  const parts = [...body(spec, frame), ...decorations(spec, frame), ...legend(entries, frame)];
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="${FONT}">`,
    `<title>${escapeXml(spec.title)}</title>`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#fff"/>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}

export const CHART_SIZE = { width: WIDTH, height: HEIGHT } as const;
