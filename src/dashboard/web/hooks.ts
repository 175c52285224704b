import { useEffect, useRef, useState } from "preact/hooks";
import { api } from "./api";
import { onEvent } from "./live";

/**
 * Loads `path` and reloads it when it changes, on `reset`, and when a live event passes
 * `affects` (at most once per `throttleMs`, so a storm of events costs a few requests).
 * `requestedAt` is when the request that brought `data` was sent (ms).
 *
 * One request per path is in flight at a time, and every answer for the current path is shown:
 * events that arrive meanwhile ask for one more request after it. (Dropping the answer in flight
 * for a newer request left a slow page on "Loading…" for as long as events kept coming faster
 * than the server answered.)
 */
export function useLiveQuery<T>(
  path: string | null,
  affects: (event: string, data: unknown) => boolean,
  throttleMs = 300,
): { data: T | undefined; error: string; reload: () => void; requestedAt: number } {
  const [data, setData] = useState<T | undefined>(undefined);
  const [requestedAt, setRequestedAt] = useState(0);
  const [error, setError] = useState("");
  const affectsRef = useRef(affects);
  affectsRef.current = affects;
  /** The path `data` came from: a failed reload keeps it, a failed new path (a filter) does not. */
  const dataPath = useRef<string | null>(null);
  const reload = useRef<() => void>(() => {});
  useEffect(() => {
    if (path === null) return;
    let alive = true;
    let inFlight = false;
    let again = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let last = 0;
    const load = () => {
      timer = undefined;
      inFlight = true;
      again = false;
      const at = (last = Date.now());
      api<T>(path)
        .then(
          (d) => {
            if (!alive) return;
            dataPath.current = path;
            setData(d);
            setRequestedAt(at);
            setError("");
          },
          (e: Error) => {
            if (!alive) return;
            if (dataPath.current !== path) {
              dataPath.current = null;
              setData(undefined);
            }
            setError(e.message);
          },
        )
        .finally(() => {
          inFlight = false;
          if (again) request();
        });
    };
    const request = () => {
      if (!alive || timer) return;
      if (inFlight) {
        again = true;
        return;
      }
      timer = setTimeout(load, Math.max(0, last + throttleMs - Date.now()));
    };
    reload.current = request;
    load();
    const off = onEvent((event, d) => {
      if (event === "reset" || affectsRef.current(event, d)) request();
    });
    return () => {
      alive = false;
      off();
      if (timer) clearTimeout(timer);
    };
  }, [path, throttleMs]);
  return { data, error, reload: () => reload.current(), requestedAt };
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
