import { describe, expect, it } from 'vitest';
import type { ChartSpec } from './svg-chart';
import { escapeXml, formatTick, renderChart } from './svg-chart';

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
    expect(summary.counts.circle).toBe(2);
    for (const tick of ['1k', '10k', '100k', '1M', '10M']) expect(summary.texts).toContain(tick);
    expect(summary.texts.filter((text) => text === 'linear')).toHaveLength(2);
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
    expect(lines.counts.circle).toBe(5);
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

  it('escapes XML and shortens tick labels', () => {
    expect(escapeXml(`<a href="x">Tom & Jerry's</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&apos;s&lt;/a&gt;');
    expect([0.25, 1500, 2e6, 12, 0].map(formatTick)).toEqual(['0.25', '1.5k', '2M', '12', '0']);
  });
});
