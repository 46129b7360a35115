// <Chart option={...}/>: an ECharts instance (SVG renderer) that follows its box's size.
import { useEffect, useRef, useState } from 'preact/hooks';
import { fmtNum } from './format.js';

let echartsPromise = null;
function loadEcharts() {
  if (!echartsPromise) echartsPromise = import('./echarts-setup.js');
  return echartsPromise;
}

export const PALETTE = [
  '#2563eb', '#dc2626', '#16a34a', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#65a30d',
  '#ea580c', '#4f46e5', '#0d9488', '#9333ea', '#b45309', '#be123c', '#15803d', '#1d4ed8',
];

export function Chart({ option, height = 240, testid, class: cls }) {
  const ref = useRef(null);
  const inst = useRef(null);
  const [err, setErr] = useState(null);
  useEffect(() => {
    let alive = true;
    let ro = null;
    loadEcharts().then(
      ({ init }) => {
        if (!alive || !ref.current) return;
        inst.current = init(ref.current, null, { renderer: 'svg' });
        if (option) inst.current.setOption(option, true);
        ro = new ResizeObserver(() => inst.current && inst.current.resize());
        ro.observe(ref.current);
      },
      (e) => setErr(String(e)),
    );
    return () => {
      alive = false;
      if (ro) ro.disconnect();
      if (inst.current) inst.current.dispose();
      inst.current = null;
    };
  }, []);
  useEffect(() => {
    if (inst.current && option) inst.current.setOption(option, true);
  }, [option]);
  if (err) return <div class="error">{err}</div>;
  return <div class={`chart ${cls || ''}`} ref={ref} style={{ height: `${height}px` }} data-testid={testid} />;
}

const AXIS = {
  axisLine: { lineStyle: { color: '#cbd5e1' } },
  axisLabel: { color: '#64748b', fontSize: 11 },
  splitLine: { lineStyle: { color: '#eef2f7' } },
};

// series: [{name, steps, values}] -> a line chart over steps.
export function lineOption(series, { yName, legend = true } = {}) {
  return {
    animation: false,
    color: PALETTE,
    textStyle: { fontFamily: 'system-ui, -apple-system, Segoe UI, Roboto, sans-serif' },
    grid: { left: 56, right: 16, top: legend && series.length > 1 ? 34 : 12, bottom: 28 },
    tooltip: {
      trigger: 'axis',
      confine: true,
      valueFormatter: (v) => fmtNum(v),
    },
    legend: legend && series.length > 1 ? { type: 'scroll', top: 0, textStyle: { fontSize: 11 } } : undefined,
    xAxis: { type: 'value', name: 'step', nameGap: 4, nameTextStyle: { color: '#94a3b8', fontSize: 10 }, scale: true, ...AXIS },
    yAxis: { type: 'value', scale: true, name: yName, ...AXIS, axisLabel: { ...AXIS.axisLabel, formatter: (v) => fmtNum(v) } },
    series: series.map((s) => ({
      type: 'line',
      name: s.name,
      showSymbol: s.steps.length <= 1,
      symbolSize: 5,
      lineStyle: { width: 1.6 },
      emphasis: { focus: 'series' },
      data: s.steps.map((x, i) => [x, s.values[i]]),
    })),
  };
}
