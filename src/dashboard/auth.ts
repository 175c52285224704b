import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";

export const SESSION_COOKIE = "vmd_session";
const SESSION_MS = 12 * 3600_000;
const MAX_SESSIONS = 1000;
/** Wrong tokens allowed per client address per minute before logins are refused with 429. */
const MAX_FAILURES_PER_MIN = 10;

const digest = (s: string) => createHash("sha256").update(s).digest();

/** Reads one cookie from a Cookie header (RFC 6265 §5.4 pairs). */
export function cookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

const escapeHtml = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!,
  );

/**
 * The login page: a plain form that posts the token in the body, never in the URL. `where` says
 * where the token is (its file, or the variable HUB_TOKEN; HTML-escaped here).
 */
export function loginPage(message = "", where = "~/.vmdocker/hub/token"): string {
  const note = message ? `<p class="login-error" role="alert">${escapeHtml(message)}</p>` : "";
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>VMDocker dashboard · sign in</title><link rel="stylesheet" href="/assets/app.css"></head>
<body class="login-body"><main class="login-card">
<h1><span class="brand-mark">▣</span> VMDocker</h1>
<p class="muted">Sign in with the hub's API token (in <code>${escapeHtml(where)}</code>).</p>
${note}
<form method="post" action="/login" autocomplete="off">
<label for="token">Token</label>
<input id="token" name="token" type="password" required autofocus>
<button type="submit">Sign in</button>
</form></main></body></html>`;
}

/**
 * Sessions for the dashboard: a login with the hub's token (compared in constant time) makes a
 * random session id, kept only in memory and in a cookie that is HttpOnly and SameSite=Strict
 * (so no other site can send it, and scripts cannot read it). Wrong tokens are logged with the
 * client's address and, past 10 a minute from one address, refused without checking.
 */
export class Sessions {
  private readonly sessions = new Map<string, number>();
  /** What ends each session's open streams (its event streams outlive their request). */
  private readonly enders = new Map<string, Set<() => void>>();
  private readonly failures = new Map<string, { n: number; since: number }>();
  private readonly expected: Buffer;

  /**
   * @param tokenFile where the token is (its file, or HUB_TOKEN), for the login page.
   */
  constructor(
    token: string,
    private readonly log: (line: string) => void,
    private readonly clock: () => number = Date.now,
    private readonly tokenFile?: string,
  ) {
    this.expected = digest(token);
  }

  /** Whether the request carries a live session; slides its expiry. */
  valid(req: FastifyRequest): boolean {
    const sid = cookie(req.headers.cookie, SESSION_COOKIE);
    if (!sid) return false;
    const until = this.sessions.get(sid);
    if (!until || until < this.clock()) {
      this.end(sid);
      return false;
    }
    this.sessions.set(sid, this.clock() + SESSION_MS);
    return true;
  }

  /** Forgets a session and ends its open streams. */
  private end(sid: string): void {
    this.sessions.delete(sid);
    const enders = this.enders.get(sid);
    this.enders.delete(sid);
    for (const fn of enders ?? []) fn();
  }

  /**
   * Runs `end` when the request's session ends (sign-out, expiry, eviction): for responses that
   * stay open, such as event streams. Returns the unregister, for when the response ends first.
   */
  onEnd(req: FastifyRequest, end: () => void): () => void {
    const sid = cookie(req.headers.cookie, SESSION_COOKIE);
    if (!sid || !this.sessions.has(sid)) {
      end();
      return () => {};
    }
    let set = this.enders.get(sid);
    if (!set) this.enders.set(sid, (set = new Set()));
    set.add(end);
    return () => {
      set.delete(end);
      if (!set.size && this.enders.get(sid) === set) this.enders.delete(sid);
    };
  }

  /** Ends the sessions that expired (their open streams too); the server runs it every minute. */
  sweep(): void {
    const now = this.clock();
    for (const [sid, until] of this.sessions) if (until < now) this.end(sid);
  }

  private throttled(ip: string): boolean {
    const f = this.failures.get(ip);
    if (!f || this.clock() - f.since > 60_000) return false;
    return f.n >= MAX_FAILURES_PER_MIN;
  }

  private failed(ip: string): void {
    const f = this.failures.get(ip);
    if (!f || this.clock() - f.since > 60_000) this.failures.set(ip, { n: 1, since: this.clock() });
    else f.n++;
    if (this.failures.size > 10_000) this.failures.clear();
  }

  /** Adds /login (form and post) and /logout to `app`. */
  register(app: FastifyInstance): void {
    app.addContentTypeParser(
      "application/x-www-form-urlencoded",
      { parseAs: "string", bodyLimit: 4096 },
      (_req, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))),
    );
    app.get("/login", async (_req, reply) =>
      reply.type("text/html").send(loginPage("", this.tokenFile)),
    );
    app.post("/login", async (req, reply) => {
      const ip = req.ip;
      if (this.throttled(ip)) {
        this.log(`dashboard: refused a login from ${ip}: too many wrong tokens, wait a minute`);
        return reply
          .code(429)
          .type("text/html")
          .send(loginPage("Too many wrong tokens. Wait a minute.", this.tokenFile));
      }
      const given = (req.body as { token?: unknown } | undefined)?.token;
      const ok = typeof given === "string" && timingSafeEqual(digest(given), this.expected);
      if (!ok) {
        this.failed(ip);
        this.log(`dashboard: refused a login from ${ip}: wrong token`);
        return reply.code(401).type("text/html").send(loginPage("Wrong token.", this.tokenFile));
      }
      const sid = randomBytes(32).toString("base64url");
      if (this.sessions.size >= MAX_SESSIONS) this.end(this.sessions.keys().next().value!);
      this.sessions.set(sid, this.clock() + SESSION_MS);
      this.log(`dashboard: login from ${ip}`);
      return reply
        .header(
          "set-cookie",
          `${SESSION_COOKIE}=${sid}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${SESSION_MS / 1000}`,
        )
        .redirect("/", 303);
    });
    app.post("/logout", async (req, reply) => {
      const sid = cookie(req.headers.cookie, SESSION_COOKIE);
      if (sid) this.end(sid);
      return reply
        .header("set-cookie", `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`)
        .redirect("/login", 303);
    });
  }

  /**
   * Guards the API: a session is required, and a request that changes something must carry the
   * `x-vmd-request` header (a cross-site form cannot) and, when the browser sends one, an Origin
   * of this server.
   */
  guard() {
    return async (req: FastifyRequest, reply: FastifyReply) => {
      if (!this.valid(req))
        return reply
          .code(401)
          .send({ error: "err_unauthorized", message: "sign in at /login", hint: "" });
      if (req.method !== "GET" && req.method !== "HEAD") {
        const origin = req.headers.origin;
        if (
          req.headers["x-vmd-request"] !== "1" ||
          (origin && origin !== `http://${req.headers.host}`)
        )
          return reply
            .code(403)
            .send({ error: "err_forbidden", message: "cross-site request refused", hint: "" });
      }
    };
  }
}
