import { useEffect, useRef, useState } from "preact/hooks";
import { api } from "./api";
import { onEvent } from "./live";

/**
 * Loads `path` and reloads it when it changes, on `reset`, and when a live event passes
 * `affects` (at most once per `throttleMs`, so a storm of events costs a few requests).
 * `requestedAt` is when the request that brought `data` was sent (ms).
 */
export function useLiveQuery<T>(
  path: string | null,
  affects: (event: string, data: unknown) => boolean,
  throttleMs = 300,
): { data: T | undefined; error: string; reload: () => void; requestedAt: number } {
  const [data, setData] = useState<T | undefined>(undefined);
  const [requestedAt, setRequestedAt] = useState(0);
  const [error, setError] = useState("");
  const [tick, setTick] = useState(0);
  const affectsRef = useRef(affects);
  affectsRef.current = affects;
  useEffect(() => {
    if (path === null) return;
    let alive = true;
    const at = Date.now();
    api<T>(path).then(
      (d) => {
        if (!alive) return;
        setData(d);
        setRequestedAt(at);
        setError("");
      },
      (e: Error) => alive && setError(e.message),
    );
    return () => {
      alive = false;
    };
  }, [path, tick]);
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let last = 0;
    const fire = () => {
      timer = undefined;
      last = Date.now();
      setTick((t) => t + 1);
    };
    const off = onEvent((event, d) => {
      if (event !== "reset" && !affectsRef.current(event, d)) return;
      if (timer) return;
      timer = setTimeout(fire, Math.max(0, last + throttleMs - Date.now()));
    });
    return () => {
      off();
      if (timer) clearTimeout(timer);
    };
  }, [throttleMs]);
  return { data, error, reload: () => setTick((t) => t + 1), requestedAt };
}

/** The current time, refreshed every `ms` (for "3 s ago" texts). */
export function useNow(ms = 1000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}

/** The location hash as a route: "#/tasks?agent=a" → { view: "tasks", params }. */
export function useRoute(): { view: string; params: URLSearchParams } {
  const read = () => {
    const [view = "", query = ""] = location.hash.replace(/^#\/?/, "").split("?");
    return { view: view || "overview", params: new URLSearchParams(query) };
  };
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const on = () => setRoute(read());
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return route;
}
