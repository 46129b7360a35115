// ECharts, tree-shaken: only the charts, components and renderer the UI uses.
// Loaded lazily (dynamic import) by chart.jsx so pages without charts stay small.
import { init, use } from 'echarts/core';
import { BarChart, LineChart, ParallelChart } from 'echarts/charts';
import {
  GridComponent,
  LegendComponent,
  ParallelComponent,
  TooltipComponent,
} from 'echarts/components';
import { SVGRenderer } from 'echarts/renderers';

use([
  LineChart,
  BarChart,
  ParallelChart,
  GridComponent,
  LegendComponent,
  ParallelComponent,
  TooltipComponent,
  SVGRenderer,
]);

export { init };
