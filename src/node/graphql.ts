import type { FastifyInstance } from "fastify";
import {
  execute,
  GraphQLError,
  Kind,
  parse,
  specifiedRules,
  validate,
  type DocumentNode,
  type ValidationRule,
} from "graphql";
import { z } from "zod";
import type { ItemQuery, IndexedItem, TagCondition } from "../store/item-index.js";
import type { Store, StoredItem } from "../store/types.js";
import { shapeLimit } from "./graphql-limits.js";
import { gatewaySchema } from "./graphql-schema.js";

/** Limits on what one request may ask (everyone can post to the node). */
export const GRAPHQL_LIMITS = {
  queryChars: 20_000,
  tokens: 4_000,
  /** `transaction`/`transactions` fields per request (aliases could repeat them). */
  rootFields: 5,
  first: 100,
  listItems: 100,
  tagFilters: 20,
};

const Id = z.string().min(1).max(200);
const List = z.array(Id).max(GRAPHQL_LIMITS.listItems);
const ArgsSchema = z.object({
  ids: List.nullish(),
  owners: z.array(z.string().max(200)).max(GRAPHQL_LIMITS.listItems).nullish(),
  recipients: List.nullish(),
  tags: z
    .array(
      z.object({
        name: z.string().max(1024),
        values: z.array(z.string().max(3072)).min(1).max(GRAPHQL_LIMITS.listItems),
        op: z.enum(["EQ", "NEQ"]).nullish(),
      }),
    )
    .max(GRAPHQL_LIMITS.tagFilters)
    .nullish(),
  bundledIn: List.nullish(),
  block: z.object({ min: z.number().nullish(), max: z.number().nullish() }).nullish(),
  first: z.number().int().min(0).max(GRAPHQL_LIMITS.first).nullish(),
  after: z.string().max(200).nullish(),
  sort: z.enum(["HEIGHT_ASC", "HEIGHT_DESC", "INGESTED_AT_ASC", "INGESTED_AT_DESC"]).nullish(),
});

const BodySchema = z.object({
  query: z.string().min(1).max(GRAPHQL_LIMITS.queryChars),
  variables: z.record(z.string(), z.unknown()).nullish(),
  operationName: z.string().max(200).nullish(),
});

/** Opaque page cursors: base64url of `seq:<n>`. */
export const cursorOf = (seq: number) => Buffer.from(`seq:${seq}`).toString("base64url");
function seqOf(cursor: string): number {
  const m = /^seq:(\d{1,15})$/.exec(Buffer.from(cursor, "base64url").toString("utf8"));
  if (!m)
    throw new GraphQLError(
      `after: ${JSON.stringify(cursor.slice(0, 40))} is not a cursor of this node`,
    );
  return Number(m[1]);
}

/** Where the resolvers find what the index does not hold: the whole signed item. */
export interface GraphqlSources {
  store: Store;
  /** A signed item the node holds outside the store (its modules, its scheduler location). */
  extraItem?: (id: string) => Promise<StoredItem | null>;
  /** Called before each lookup: brings the index up to date with items outside the store. */
  refresh?: () => Promise<void>;
}

function queryFrom(args: z.infer<typeof ArgsSchema>): ItemQuery {
  if (args.block && (args.block.min != null || args.block.max != null))
    throw new GraphQLError(
      "block: filtering by height is not supported by this node (its items are not in blocks)",
    );
  const tags: TagCondition[] = (args.tags ?? []).map((t) => ({
    name: t.name,
    values: t.values,
    op: t.op ?? "EQ",
  }));
  return {
    ids: args.ids ?? undefined,
    owners: args.owners ?? undefined,
    recipients: args.recipients ?? undefined,
    tags,
    first: args.first ?? 10,
    after: args.after ? seqOf(args.after) : undefined,
    sort: args.sort?.endsWith("_ASC") ? "ASC" : "DESC",
  };
}

/** A Transaction object: index fields at once, the rest read from the signed item when asked. */
function transaction(item: IndexedItem & { seq: number }, sources: GraphqlSources) {
  let full: Promise<StoredItem | null> | undefined;
  const load = () =>
    (full ??= (async () => {
      const at = await sources.store.locate(item.id);
      if (at) return sources.store.messageByNonce(at.pid, at.nonce);
      return sources.extraItem ? sources.extraItem(item.id) : null;
    })());
  const zero = { winston: "0", ar: "0.000000000000" };
  return {
    id: item.id,
    recipient: item.target,
    tags: item.tags,
    owner: { address: item.owner, key: async () => (await load())?.owner ?? "" },
    anchor: async () => (await load())?.anchor ?? "",
    signature: async () => (await load())?.signature ?? "",
    data: async () => {
      const it = await load();
      // base64url without padding: 3 bytes per 4 characters (no decoding, whatever its size).
      const size = it?.data ? Math.floor((it.data.length * 3) / 4) : 0;
      return {
        size: String(size),
        type: item.tags.find((t) => t.name === "Content-Type")?.value ?? null,
      };
    },
    fee: zero,
    quantity: zero,
    block: {
      id: cursorOf(item.seq),
      height: item.seq,
      timestamp: Math.floor(item.timestamp / 1000),
      previous: item.seq > 1 ? cursorOf(item.seq - 1) : "",
    },
    bundledIn: null,
    parent: null,
    ingested_at: Math.floor(item.timestamp / 1000),
  };
}

function resolvers(sources: GraphqlSources) {
  return {
    async transactions(raw: unknown) {
      const parsed = ArgsSchema.safeParse(raw);
      if (!parsed.success)
        throw new GraphQLError(
          `bad arguments: ${parsed.error.issues[0]?.path.join(".")} ${parsed.error.issues[0]?.message}`,
        );
      // Nothing the node holds is bundled.
      if (parsed.data.bundledIn?.length) return { pageInfo: { hasNextPage: false }, edges: [] };
      await sources.refresh?.();
      const page = await sources.store.queryItems(queryFrom(parsed.data));
      return {
        pageInfo: { hasNextPage: page.hasNextPage },
        edges: page.items.map((it) => ({
          cursor: cursorOf(it.seq),
          node: transaction(it, sources),
        })),
      };
    },
    async transaction(raw: unknown) {
      const parsed = z.object({ id: Id }).safeParse(raw);
      if (!parsed.success) throw new GraphQLError("transaction(id): id must be an item id");
      await sources.refresh?.();
      const page = await sources.store.queryItems({
        ids: [parsed.data.id],
        first: 1,
        sort: "DESC",
      });
      return page.items[0] ? transaction(page.items[0], sources) : null;
    },
  };
}

/** Refuses documents that ask for items more than GRAPHQL_LIMITS.rootFields times. */
const rootFieldLimit: ValidationRule = (ctx) => ({
  OperationDefinition(op) {
    const n = op.selectionSet.selections.filter((s) => s.kind === Kind.FIELD).length;
    if (n > GRAPHQL_LIMITS.rootFields)
      ctx.reportError(
        new GraphQLError(`at most ${GRAPHQL_LIMITS.rootFields} root fields per request`, {
          nodes: op,
        }),
      );
  },
});

/**
 * `POST /graphql`: the gateway subset of graphql-schema.ts over the node's item index (processes,
 * messages, modules, its scheduler location). Errors follow GraphQL over HTTP: a request that
 * does not parse or validate gets 400 with `errors`; resolver errors come back with 200.
 */
export function registerGraphql(app: FastifyInstance, sources: GraphqlSources): void {
  const schema = gatewaySchema();
  const root = resolvers(sources);
  app.post("/graphql", async (req, reply) => {
    const raw = Buffer.isBuffer(req.body) ? req.body.toString("utf8") : req.body;
    let json: unknown = raw;
    if (typeof raw === "string") {
      try {
        json = JSON.parse(raw || "{}");
      } catch {
        return reply.code(400).send({ errors: [{ message: "the body is not JSON" }] });
      }
    }
    const body = BodySchema.safeParse(json);
    if (!body.success)
      return reply.code(400).send({
        errors: [
          {
            message: `bad request: ${body.error.issues[0]?.path.join(".") || "body"} ${body.error.issues[0]?.message}`,
          },
        ],
      });
    let document: DocumentNode;
    try {
      document = parse(body.data.query, { maxTokens: GRAPHQL_LIMITS.tokens, noLocation: true });
    } catch (err) {
      return reply.code(400).send({ errors: [{ message: (err as Error).message }] });
    }
    const errors = validate(schema, document, [
      ...specifiedRules,
      rootFieldLimit,
      shapeLimit(body.data.variables ?? {}),
    ]);
    if (errors.length)
      return reply.code(400).send({ errors: errors.map((e) => ({ message: e.message })) });
    const result = await execute({
      schema,
      document,
      rootValue: root,
      variableValues: body.data.variables ?? {},
      operationName: body.data.operationName ?? undefined,
    });
    return reply.send(result);
  });
}
