// The dashboard's own API, as the page calls it: same-origin, the session cookie goes by itself.

/** An error the API answered with: its code and one-line message. */
export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Calls `/api/...`; a 401 sends the person back to the login form. */
export async function api<T>(
  path: string,
  init: { method?: string; body?: unknown } = {},
): Promise<T> {
  const res = await fetch(path, {
    method: init.method ?? "GET",
    headers: {
      ...(init.method && init.method !== "GET" ? { "x-vmd-request": "1" } : {}),
      ...(init.body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  if (res.status === 401) {
    location.assign("/login");
    throw new ApiError("err_unauthorized", "signed out");
  }
  const json = (await res.json().catch(() => ({}))) as T & { error?: string; message?: string };
  if (!res.ok) throw new ApiError(json.error ?? "err_http", json.message ?? `HTTP ${res.status}`);
  return json;
}

/** `?a=1&b=x` from the defined, non-empty values. */
export function qs(q: Record<string, string | number | undefined>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== "") p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : "";
}
