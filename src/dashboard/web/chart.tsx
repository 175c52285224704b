import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { useEffect, useRef } from "preact/hooks";
import { axisLabels, type AxisKind } from "../format.js";

export interface Series {
  label: string;
  color: string;
  /** Formats a value for the legend. */
  fmt?: (v: number) => string;
}

/**
 * A time-series chart (uPlot): `data[0]` holds times in seconds, the others one array per series.
 * `axis` says what the values count, for the value axis's labels. `data-points` on the element
 * says how many points it shows (tests read it).
 */
export function TimeChart(props: {
  title: string;
  axis: AxisKind;
  series: Series[];
  data: (number | null)[][];
  height?: number;
  testid?: string;
}) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const fmt = props.series[0]?.fmt ?? ((v: number) => String(v));
  useEffect(() => {
    const el = box.current!;
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height: props.height ?? 160,
      legend: { show: true, live: true },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true } },
      axes: [
        { stroke: "#8b93a7", grid: { stroke: "#2a3142" }, ticks: { stroke: "#2a3142" } },
        {
          stroke: "#8b93a7",
          grid: { stroke: "#2a3142" },
          ticks: { stroke: "#2a3142" },
          size: 78,
          values: (_u, vals) => axisLabels(vals, props.axis),
        },
      ],
      series: [
        {},
        ...props.series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: 2,
          fill: `${s.color}22`,
          spanGaps: true,
          // A lone value draws no line: show the points while there are few.
          points: {
            show: (u: uPlot, si: number) =>
              (u.data[si] ?? []).filter((v) => v !== null && v !== undefined).length < 20,
          },
          value: (_u: uPlot, v: number | null) => (v === null ? "–" : (s.fmt ?? fmt)(v)),
        })),
      ],
    };
    plot.current = new uPlot(opts, props.data as uPlot.AlignedData, el);
    const ro = new ResizeObserver(() =>
      plot.current?.setSize({ width: Math.max(200, el.clientWidth), height: props.height ?? 160 }),
    );
    ro.observe(el);
    return () => {
      ro.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
    // The chart is made once per series set; data changes go through setData below.
  }, [props.series.map((s) => s.label).join()]);
  useEffect(() => {
    plot.current?.setData(props.data as uPlot.AlignedData);
  }, [props.data]);
  return (
    <figure class="chart">
      <figcaption>{props.title}</figcaption>
      <div ref={box} data-testid={props.testid} data-points={props.data[0]?.length ?? 0} />
    </figure>
  );
}
