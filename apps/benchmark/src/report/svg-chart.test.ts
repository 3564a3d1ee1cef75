import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { ChartSpec } from './svg-chart';
import { CHART_SIZE, escapeXml, formatTick, MARKERS, renderChart, styleAt, stylesByName, textBox, textWidth } from './svg-chart';

interface XmlSummary {
  readonly root: string;
  /** Element counts by name. */
  readonly counts: Readonly<Record<string, number>>;
  /** Text content, entities decoded. */
  readonly texts: readonly string[];
}

/**
 * A strict check of the subset of XML the charts use: every tag closes in order, attributes are
 * quoted, text holds no raw '<' and only the five predefined entities. Throws on the first fault.
 */
function parseXml(xml: string): XmlSummary {
  const stack: string[] = [];
  const counts: Record<string, number> = {};
  const texts: string[] = [];
  let root = '';
  const decode = (text: string) => {
    if (/&(?!(amp|lt|gt|quot|apos);)/.test(text)) throw new Error(`bad entity in ${JSON.stringify(text)}`);
    return text.replace(/&(amp|lt|gt|quot|apos);/g, (_, name: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" })[name]!);
  };
  const token = /<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|([^<]+)/y;
  while (token.lastIndex < xml.length) {
    const start = token.lastIndex;
    const match = token.exec(xml);
    if (match === null) throw new Error(`malformed XML at ${start}: ${JSON.stringify(xml.slice(start, start + 40))}`);
    const [, closing, name, attributes, selfClosing, text] = match;
    if (text !== undefined) {
      if (text.trim() !== '') {
        if (stack.length === 0) throw new Error('text outside the root element');
        texts.push(decode(text));
      }
    } else if (closing === '/') {
      if (stack.pop() !== name) throw new Error(`</${name}> closes the wrong element`);
    } else {
      decode(attributes ?? '');
      if (stack.length === 0 && root !== '') throw new Error('a second root element');
      if (root === '') root = name!;
      counts[name!] = (counts[name!] ?? 0) + 1;
      if (selfClosing !== '/') stack.push(name!);
    }
  }
  if (stack.length > 0) throw new Error(`unclosed <${stack.at(-1)}>`);
  return { root, counts, texts };
}

const base = { title: 'A <chart> & "more"', xLabel: 'x', yLabel: 'y' };

/** The markers of a chart: centre, outline and colour. */
function markersOf(svg: string): { x: number; y: number; d: string; fill: string }[] {
  return [...svg.matchAll(/<path transform="translate\(([\d.-]+) ([\d.-]+)\)" d="([^"]+)" fill="([^"]+)"/g)].map((match) => ({ x: Number(match[1]), y: Number(match[2]), d: match[3]!, fill: match[4]! }));
}

describe('renderChart', () => {
  it('draws grouped bars, one rect per present value, with escaped text', () => {
    const spec: ChartSpec = {
      ...base,
      kind: 'bar',
      categories: ['1', '2', '3'],
      series: [
        { name: 'cifar & <dtd>', values: [0.5, 0.25, null] },
        { name: "it's", values: [0.1, 0.2, 0.3] },
      ],
    };
    const svg = renderChart(spec);
    const summary = parseXml(svg);
    expect(summary.root).toBe('svg');
    // Background, plot border, 5 bars, 2 legend swatches.
    expect(summary.counts.rect).toBe(1 + 1 + 5 + 2);
    expect(summary.texts).toContain('A <chart> & "more"');
    expect(summary.texts).toContain('cifar & <dtd>');
    expect(summary.texts).toContain("it's");
    expect(svg).not.toContain('<dtd>');
  });

  it('leaves the legend out for a single series the y axis label names', () => {
    const summary = parseXml(renderChart({ ...base, yLabel: 'peak MiB', kind: 'bar', categories: ['linear', 'full'], series: [{ name: 'peak MiB', values: [8, 40] }] }));
    expect(summary.counts.rect).toBe(1 + 1 + 2);
    expect(summary.texts.filter((text) => text === 'peak MiB')).toHaveLength(1);
  });

  it('puts the x axis on decades for a log scale and labels every point', () => {
    const svg = renderChart({
      ...base,
      kind: 'scatter',
      logX: true,
      series: [
        { name: 'linear', points: [{ x: 7_690, y: 60, label: 'linear' }] },
        { name: 'full', points: [{ x: 5_800_000, y: 70, label: 'full' }] },
      ],
    });
    const summary = parseXml(svg);
    expect(summary.counts.path).toBe(2);
    for (const tick of ['1k', '10k', '100k', '1M', '10M']) expect(summary.texts).toContain(tick);
    // The label, no legend entry: a labelled scatter needs none.
    expect(summary.texts.filter((text) => text === 'linear')).toHaveLength(1);
  });

  it('draws a polyline per series and a heatmap cell per non-zero value', () => {
    const lines = parseXml(
      renderChart({
        ...base,
        kind: 'line',
        series: [
          { name: 'spt', points: [1, 2, 3].map((x) => ({ x, y: x / 10 })) },
          { name: 'vpt', points: [1, 2].map((x) => ({ x, y: x / 5 })) },
        ],
      }),
    );
    expect(lines.counts.polyline).toBe(2);
    // Epochs 1 to 3: whole-number ticks only.
    expect(lines.texts.filter((text) => /^\d/.test(text)).slice(-3)).toEqual(['1', '2', '3']);
    // A marker per point and one per legend entry.
    expect(lines.counts.path).toBe(5 + 2);
    const heatmap = parseXml(
      renderChart({
        ...base,
        kind: 'heatmap',
        rows: ['1', '2'],
        values: [
          [0, 1, 0.5, 0],
          [1, 0, 0, 0],
        ],
        valueLabel: 'selected',
      }),
    );
    // Background, border, 3 cells, a 20-step colour bar.
    expect(heatmap.counts.rect).toBe(2 + 3 + 20);
  });

  it("ends a heatmap's channel axis at the channel count, ticks inside", () => {
    const summary = parseXml(renderChart({ ...base, kind: 'heatmap', rows: ['1'], values: [Array.from({ length: 768 }, (_, index) => index % 2)], valueLabel: 'selected' }));
    expect(summary.texts).toContain('600');
    expect(summary.texts).not.toContain('800');
    expect(summary.counts.rect).toBe(2 + 384 + 20);
  });

  it('refuses a chart with nothing to draw or a non-positive x on a log axis', () => {
    expect(() => renderChart({ ...base, kind: 'bar', categories: ['a'], series: [{ name: 's', values: [null] }] })).toThrow('has no data to draw');
    expect(() => renderChart({ ...base, kind: 'scatter', logX: true, series: [{ name: 's', points: [{ x: 0, y: 1, label: 's' }] }] })).toThrow(
      'a log x axis needs positive x values',
    );
  });

  it('cuts a title too long for the width, keeping it whole in the document title', () => {
    const title = `selection ratio of each gated block (GatedPT eq. 10-11, Figure 4): ${'VTAB-1k, ViT-B/16 '.repeat(3)}`;
    const svg = renderChart({ ...base, title, kind: 'bar', categories: ['1'], series: [{ name: 'y', values: [1] }] });
    const shown = parseXml(svg).texts.filter((text) => text.startsWith('selection ratio'));
    expect(shown).toEqual([title, expect.stringMatching(/…$/)]);
    expect(shown[1]!.length).toBeLessThan(80);
  });

  it('gives the first 70 series pairwise distinct colour and marker pairs, each name one style', () => {
    const pairs = Array.from({ length: 70 }, (_, index) => styleAt(index)).map((style) => `${style.color} ${style.marker}`);
    expect(new Set(pairs).size).toBe(70);
    expect(styleAt(70)).toEqual(styleAt(0));
    expect(new Set(Array.from({ length: 70 }, (_, index) => styleAt(index).marker))).toEqual(new Set(MARKERS));
    const styles = stylesByName(['linear', 'full', 'linear', 'vqt']);
    expect([...styles.keys()]).toEqual(['linear', 'full', 'vqt']);
    expect(styles.get('vqt')).toEqual(styleAt(2));
  });

  it("draws each series' own style: its colour on the line, its marker at every point and in the legend", () => {
    const style = { color: '#123456', marker: 'star' } as const;
    const svg = renderChart({ ...base, kind: 'line', series: [{ name: 'vqt', style, points: [1, 2].map((x) => ({ x, y: x })) }, { name: 'spt', points: [{ x: 1, y: 3 }] }] });
    const markers = markersOf(svg);
    expect(markers.filter((marker) => marker.fill === '#123456')).toHaveLength(3);
    expect(new Set(markers.filter((marker) => marker.fill === '#123456').map((marker) => marker.d)).size).toBe(1);
    expect(svg).toContain('stroke="#123456"');
    // The unstyled series takes its index's style; a star and a square differ in outline.
    expect(markers.filter((marker) => marker.fill === styleAt(1).color)).toHaveLength(2);
    expect(markers.find((marker) => marker.fill === styleAt(1).color)!.d).not.toBe(markers[0]!.d);
  });

  it('moves labels of points a few pixels apart so that no two overlap, nor any marker, with leader lines', () => {
    const names = ['gated-prompt', 'vpt-shallow', 'spt-shallow', 'vpt-deep', 'spt-deep', 'vqt'];
    const svg = renderChart({
      ...base,
      kind: 'scatter',
      logX: true,
      // Six methods within 3 pixels of each other at the middle of the axes, and two far away to fix the scale.
      series: [
        ...names.map((name, index) => ({ name, points: [{ x: 800 * 1.01 ** index, y: 50 + (index % 3) * 0.05, label: name }] })),
        { name: 'linear', points: [{ x: 100, y: 40, label: 'linear' }] },
        { name: 'full', points: [{ x: 1e6, y: 60, label: 'full' }] },
      ],
    });
    const labels = [...svg.matchAll(/<text x="([\d.]+)" y="([\d.]+)" font-size="11">([^<]+)<\/text>/g)]
      .filter((match) => names.includes(match[3]!) || ['linear', 'full'].includes(match[3]!))
      .map((match) => ({ name: match[3]!, box: textBox(Number(match[1]), Number(match[2]), match[3]!, 11) }));
    expect(labels.map((label) => label.name).sort()).toEqual([...names, 'linear', 'full'].sort());
    const centres = markersOf(svg).map((marker) => ({ x: marker.x, y: marker.y }));
    const cluster = centres.slice(0, names.length);
    expect(Math.max(...cluster.map((point) => point.x)) - Math.min(...cluster.map((point) => point.x))).toBeLessThan(4);
    expect(Math.max(...cluster.map((point) => point.y)) - Math.min(...cluster.map((point) => point.y))).toBeLessThan(4);
    type Box = ReturnType<typeof textBox>;
    const overlap = (a: Box, b: Box) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
    for (const [index, label] of labels.entries()) {
      for (const other of labels.slice(index + 1)) expect(overlap(label.box, other.box), `${label.name} and ${other.name}`).toBe(false);
      // A marker's reach: its star's outer points, 1.35 times the radius of 5.
      for (const centre of centres) expect(overlap(label.box, { left: centre.x - 6.75, top: centre.y - 6.75, right: centre.x + 6.75, bottom: centre.y + 6.75 }), label.name).toBe(false);
      expect(label.box.left >= 0 && label.box.right <= CHART_SIZE.width && label.box.top >= 0 && label.box.bottom <= CHART_SIZE.height).toBe(true);
    }
    // Six labels cannot all sit beside their points: the moved ones are joined by a leader line.
    expect((svg.match(/stroke="#888"/g) ?? []).length).toBeGreaterThan(0);
  });

  it('estimates text widths at or above what librsvg draws', async () => {
    for (const label of ['gated-prompt', 'linear', 'adaptformer', 'spt-deep[init=max-pool]', 'MAE ViT-B/16', 'mmmm']) {
      const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="300" height="30"><rect width="300" height="30" fill="#fff"/><text x="10" y="20" font-size="11" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">${escapeXml(label)}</text></svg>`;
      // Rendered at 4 pixels per unit and trimmed to the ink.
      const { info } = await sharp(Buffer.from(svg), { density: 72 * 4 }).trim().toBuffer({ resolveWithObject: true });
      expect(textWidth(label, 11), label).toBeGreaterThanOrEqual(info.width / 4);
      expect(textWidth(label, 11), label).toBeLessThan((info.width / 4) * 1.25);
    }
  });

  it('escapes XML and shortens tick labels', () => {
    expect(escapeXml(`<a href="x">Tom & Jerry's</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&apos;s&lt;/a&gt;');
    expect([0.25, 1500, 2e6, 12, 0].map(formatTick)).toEqual(['0.25', '1.5k', '2M', '12', '0']);
  });
});
