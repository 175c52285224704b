import {
  DirectiveLocation,
  GraphQLError,
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isObjectType,
  Kind,
  type GraphQLSchema,
  type FieldNode,
  type FragmentDefinitionNode,
  type SelectionSetNode,
  type ValidationRule,
} from "graphql";

/** Bounds on one GraphQL document's shape, with its fragments expanded. */
export const GRAPHQL_SHAPE_LIMITS = {
  /** Nested selections (aos asks 5 deep; AO's full introspection query 13). */
  depth: 16,
  /**
   * Fields the answer may hold at most: each field counts 1, a list field's selection counts
   * `first` times under `edges` (default 10), 128 times under `tags`, and under an introspection
   * list as many times as the schema has entries. aos's lookup with first: 100 costs about
   * 27,000 (five of them 135,000); graphql's standard introspection query about 182,000.
   */
  cost: 500_000,
};

/** What a list may hold at most where no `first` says: an item's tags (ANS-104 allows 128). */
const TAG_FANOUT = 128;

/** Introspection lists: how long each can be in this schema (counted once per schema). */
function introspectionFanout(schema: GraphQLSchema): Map<string, number> {
  const types = Object.values(schema.getTypeMap());
  let fields = 1;
  let args = 1;
  let values = 1;
  for (const t of types) {
    if (isObjectType(t) || isInterfaceType(t) || isInputObjectType(t)) {
      const all = Object.values(t.getFields());
      fields = Math.max(fields, all.length);
      for (const f of all) if ("args" in f) args = Math.max(args, f.args.length);
    }
    if (isEnumType(t)) values = Math.max(values, t.getValues().length);
  }
  const directives = schema.getDirectives();
  for (const d of directives) args = Math.max(args, d.args.length);
  return new Map([
    ["types", types.length],
    ["interfaces", types.length],
    ["possibleTypes", types.length],
    ["fields", fields],
    ["inputFields", fields],
    ["args", args],
    ["enumValues", values],
    ["directives", directives.length],
    ["locations", Object.keys(DirectiveLocation).length],
  ]);
}
const fanouts = new WeakMap<GraphQLSchema, Map<string, number>>();

function firstArg(field: FieldNode, variables: Record<string, unknown>): number {
  const arg = field.arguments?.find((a) => a.name.value === "first");
  if (!arg) return 10;
  const v = arg.value;
  if (v.kind === Kind.INT) return Number(v.value);
  if (v.kind === Kind.VARIABLE) {
    const n = Number(variables[v.name.value]);
    return Number.isFinite(n) ? n : 100;
  }
  return 100;
}

interface Shape {
  /** Levels of selections below this set (a set of leaves: 1). */
  depth: number;
  cost: number;
}

/**
 * Measures documents: a selection set's depth and cost (see GRAPHQL_SHAPE_LIMITS), fragments
 * expanded in place. A fragment is measured once per list context (memoized), so a document
 * built to explode (fragments spreading each other many times) is measured in linear time.
 */
class Measure {
  private readonly memo = new Map<string, Shape>();
  constructor(
    private readonly fragments: Map<string, FragmentDefinitionNode>,
    private readonly variables: Record<string, unknown>,
    private readonly lists: Map<string, number>,
  ) {}

  set(set: SelectionSetNode, intro: boolean, fanout: number, open: Set<string>): Shape {
    let depth = 1;
    let cost = 0;
    for (const sel of set.selections) {
      let sub: Shape;
      if (sel.kind === Kind.FIELD) sub = this.field(sel, intro, fanout, open);
      else if (sel.kind === Kind.INLINE_FRAGMENT)
        sub = this.set(sel.selectionSet, intro, fanout, open);
      else sub = this.spread(sel.name.value, intro, fanout, open);
      depth = Math.max(depth, sub.depth);
      cost += sub.cost;
    }
    return { depth, cost: Math.min(cost, Number.MAX_SAFE_INTEGER) };
  }

  private field(sel: FieldNode, inIntro: boolean, fanout: number, open: Set<string>): Shape {
    const name = sel.name.value;
    const intro = inIntro || name.startsWith("__");
    let n = 1;
    let below = fanout;
    if (name === "transactions") below = Math.min(Math.max(firstArg(sel, this.variables), 0), 100);
    else if (name === "edges") n = fanout;
    else if (intro) n = this.lists.get(name) ?? 1;
    else if (name === "tags") n = TAG_FANOUT;
    if (!sel.selectionSet) return { depth: 1, cost: 1 };
    const sub = this.set(sel.selectionSet, intro, below, open);
    // A list of none still costs its selection once: `first: 0` must not hide a large one.
    return { depth: sub.depth + 1, cost: 1 + Math.max(n, 1) * sub.cost };
  }

  private spread(name: string, intro: boolean, fanout: number, open: Set<string>): Shape {
    const fragment = this.fragments.get(name);
    // Unknown fragments and cycles are refused by graphql's own rules; here they must not loop.
    if (!fragment || open.has(name)) return { depth: 0, cost: 0 };
    const key = `${name}|${intro}|${fanout}`;
    const hit = this.memo.get(key);
    if (hit) return hit;
    open.add(name);
    const shape = this.set(fragment.selectionSet, intro, fanout, open);
    open.delete(name);
    this.memo.set(key, shape);
    return shape;
  }
}

/**
 * A validation rule refusing documents deeper than GRAPHQL_SHAPE_LIMITS.depth or whose answer
 * could hold more than GRAPHQL_SHAPE_LIMITS.cost fields (aliases and fragments count each time
 * they are used). `variables` are the request's, for `first: $n`.
 */
export function shapeLimit(variables: Record<string, unknown>): ValidationRule {
  return (ctx) => {
    const schema = ctx.getSchema();
    let lists = fanouts.get(schema);
    if (!lists) fanouts.set(schema, (lists = introspectionFanout(schema)));
    const fragments = new Map<string, FragmentDefinitionNode>();
    for (const d of ctx.getDocument().definitions)
      if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
    return {
      OperationDefinition(op) {
        const { depth, cost } = new Measure(fragments, variables, lists).set(
          op.selectionSet,
          false,
          10,
          new Set(),
        );
        if (depth > GRAPHQL_SHAPE_LIMITS.depth)
          ctx.reportError(
            new GraphQLError(
              `the query nests deeper than ${GRAPHQL_SHAPE_LIMITS.depth} levels; ask for fewer nested fields`,
            ),
          );
        else if (cost > GRAPHQL_SHAPE_LIMITS.cost)
          ctx.reportError(
            new GraphQLError(
              `the query could answer more than ${GRAPHQL_SHAPE_LIMITS.cost.toLocaleString("en")} fields; ask for fewer (first, aliases, fragments)`,
            ),
          );
      },
    };
  };
}
