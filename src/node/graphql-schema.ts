import { buildSchema, type GraphQLSchema } from "graphql";

/**
 * The part of the Arweave gateway's GraphQL schema the node serves (arweave.net / ar.io
 * `transactions` and `transaction`), over the items it holds. Field names and argument shapes
 * follow the gateway, so AO's clients (aos, aoconnect) can ask their usual questions.
 */
export const GATEWAY_SDL = `
  type Query {
    "One item by id."
    transaction(id: ID!): Transaction
    "Items, newest first unless sort says otherwise; at most 100 per page."
    transactions(
      ids: [ID!]
      owners: [String!]
      recipients: [String!]
      tags: [TagFilter!]
      bundledIn: [ID!]
      block: BlockFilter
      first: Int = 10
      after: String
      sort: SortOrder = HEIGHT_DESC
    ): TransactionConnection!
  }

  enum SortOrder { HEIGHT_ASC HEIGHT_DESC INGESTED_AT_ASC INGESTED_AT_DESC }
  enum TagOperator { EQ NEQ }

  input TagFilter {
    name: String!
    values: [String!]!
    op: TagOperator = EQ
  }

  input BlockFilter {
    min: Int
    max: Int
  }

  type TransactionConnection {
    pageInfo: PageInfo!
    edges: [TransactionEdge!]!
  }

  type PageInfo { hasNextPage: Boolean! }

  type TransactionEdge {
    cursor: String!
    node: Transaction!
  }

  type Transaction {
    id: ID!
    anchor: String!
    signature: String!
    recipient: String!
    owner: Owner!
    fee: Amount!
    quantity: Amount!
    data: MetaData!
    tags: [Tag!]!
    "The node's order of items stands in for blocks: height is the item's position, timestamp (s) when the node took it."
    block: Block
    bundledIn: Bundle
    parent: Parent
    ingested_at: Int
  }

  type Owner {
    address: String!
    key: String!
  }

  type Amount {
    winston: String!
    ar: String!
  }

  type MetaData {
    size: String!
    type: String
  }

  type Tag {
    name: String!
    value: String!
  }

  type Block {
    id: ID!
    timestamp: Int!
    height: Int!
    previous: ID!
  }

  type Bundle { id: ID! }
  type Parent { id: ID! }
`;

export function gatewaySchema(): GraphQLSchema {
  return buildSchema(GATEWAY_SDL);
}
