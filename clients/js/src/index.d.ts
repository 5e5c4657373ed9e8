// Types of FragranceDB's JavaScript client (schemas/openapi.yaml is the wire contract).

export declare const DEFAULT_URL: string;

/** The binary vector form both protocols accept: "b64:" + base64 of little-endian float32. */
export declare function binaryVector(values: number[]): string;

export type ErrorKind =
  | "bad_request" | "too_large" | "not_found" | "already_exists" | "unavailable" | "server"
  | "authentication" | "permission" | "rate_limited" | "timeout";

/** Every code the server sends, and its kind. */
export declare const ERROR_KINDS: Readonly<Record<string, ErrorKind>>;

export declare class FragranceError extends Error {
  /** The server's code (BAD_FILTER, NOT_FOUND, …), or CONNECTION / TIMEOUT from this client. */
  code: string;
  /** The server's message alone. */
  detail: string;
  /** The request field at fault, when the server names one. */
  field: string | null;
  status: number | null;
  /** Seconds, from Retry-After on a 429. */
  retryAfter: number | null;
  constructor(code: string, message: string, options?: { field?: string; status?: number; retryAfter?: number });
}

/** A filter string (schemas/filter.md) or the structured form: {"seasons": "spring", "rating": {"gt": 4}}. */
export type Filter = string | Record<string, unknown>;

export interface StoredRecord {
  id: string;
  fields: Record<string, unknown>;
  vector?: number[];
}
/** What upsert takes: the API's flat form or a StoredRecord. */
export type RecordInput = ({ id: string; vector?: number[] } & Record<string, unknown>) | StoredRecord;

export interface FacetValue { value: string; count: number }
export interface FacetRange { start: number; end: number; count: number }
export interface Facet {
  field: string;
  missing: number;
  values: FacetValue[];
  others: number | null;
  ranges: FacetRange[];
  min: number | null;
  max: number | null;
  mean: number | null;
}

export interface Plan {
  path: "exact_scan" | "hnsw" | "hnsw_then_exact";
  exact: boolean;
  reason: string;
  records: number;
  estimated_candidates: number;
  candidates: number;
  ef: number;
  nodes_visited: number;
  distance_computations: number;
}

export interface Hit {
  rank: number;
  id: string;
  score: number;
  distance: number | null;
  record: StoredRecord | null;
  explain: Record<string, unknown> | null;
  collapsed: string[];
}

export interface SearchResults {
  hits: Hit[];
  ids: string[];
  collection: string;
  searchType: "similarity" | "keyword" | "hybrid";
  scoring: "similarity" | "rrf" | "linear";
  topK: number;
  offset: number;
  tookMs: number;
  query: string | null;
  filter: string | null;
  arms: string[];
  plan: Plan | null;
  parsed: Record<string, unknown> | null;
  facets: Facet[];
  raw: Record<string, unknown>;
}

export interface Page {
  records: StoredRecord[];
  /** Records the filter allows, over all pages. */
  count: number;
  /** Pass as `after` for the next page; null on the last. */
  next: string | null;
  facets: Facet[];
}

export interface CollectionSummary {
  name: string;
  records: number;
  dimension: number;
  metric: "cosine" | "dot" | "l2";
  embedder: string | null;
}

export interface SchemaField { name: string; type: string; values?: string[]; tiers?: string[]; keyword?: number }

export interface CollectionInfo {
  name: string;
  records: number;
  dimension: number;
  metric: "cosine" | "dot" | "l2";
  embedder: string | null;
  dynamic: boolean;
  fields: { name: string; type: string }[];
  graphNodes: number;
  tombstones: number;
  indexBytes: number;
  raw: Record<string, unknown>;
}

export interface BulkError { line: number; id: string | null; code: string; message: string; field: string | null }
export interface BulkResult { inserted: number; updated: number; errors: BulkError[] }

export interface Validation {
  valid: boolean;
  compliant: boolean;
  score: number;
  problems: { severity: "error" | "warning"; code: string; message: string; material?: string }[];
  compliance: Record<string, unknown>;
  allergens: { name: string; cas: string[]; percent: number }[];
  composition: { ingredients: number; aroma_chemicals_percent: number; naturals_percent: number; unknown_percent: number };
  raw: Record<string, unknown>;
}

export interface Ingredient { name: string; percent: number; cas?: string; material_id?: string; [key: string]: unknown }

export interface RecipeResult {
  /** schemas/recipe.schema.json */
  recipe: { concentration: string; top: Ingredient[]; heart: Ingredient[]; base: Ingredient[]; [key: string]: unknown };
  ingredients: Ingredient[];
  validation: Validation;
  generator: string;
  contextPerfumes: string[];
  tookMs: number;
  fallbackReason: string | null;
  raw: Record<string, unknown>;
}

export interface RecipeRequest {
  fragrance_family?: string;
  mood?: string;
  intensity?: "light" | "moderate" | "strong";
  gender?: string;
  season?: "spring" | "summer" | "fall" | "autumn" | "winter";
  brief?: string;
  concentration?: "EdC" | "EdT" | "EdP" | "Parfum";
  seed?: number;
  product?: string;
  avoid?: string[];
}

export interface ClientOptions {
  /** An API key or HS256 JWT, sent as Authorization: Bearer. */
  token?: string;
  /** Per request (default 30000). */
  timeoutMs?: number;
  /** Retries of calls that are safe to repeat on a broken connection or a 429/503 (default 2). */
  retries?: number;
  /** HTTP URLs of read replicas: reads go to them in turn, writes to the primary (the url). */
  replicas?: string[];
  backoffMs?: number;
  fetch?: typeof fetch;
}

export interface Paging {
  offset?: number;
  scoreThreshold?: number;
  maxDistance?: number;
  fields?: string[];
  facets?: string[];
  facetSize?: number;
}

export declare class Client {
  constructor(url?: string, options?: ClientOptions);
  readonly url: string;

  health(): Promise<boolean>;
  ready(): Promise<Record<string, unknown>>;
  waitReady(options?: { timeoutMs?: number; intervalMs?: number }): Promise<Record<string, unknown>>;
  info(section?: "server" | "clients" | "stats" | "memory" | "persistence" | "collections" | "model" | "all"):
    Promise<{ version: string; uptimeSeconds: number; sections: Record<string, any> }>;
  reload(): Promise<string>;
  breakerStatus(): Promise<Record<string, unknown>>;

  collections(): Promise<CollectionSummary[]>;
  collection(name: string): Promise<CollectionInfo>;
  createCollection(name: string, options?: {
    dimension?: number; metric?: "cosine" | "dot" | "l2"; embedder?: "minilm";
    schema?: "perfume" | "material" | { fields: SchemaField[] }; dynamic?: boolean; embedFields?: string[];
    m?: number; efConstruction?: number; efSearch?: number; seed?: number;
  }): Promise<CollectionInfo>;
  alterCollection(name: string, change: { fields?: SchemaField[]; dynamic?: boolean }): Promise<CollectionInfo>;
  dropCollection(name: string): Promise<string>;

  upsert(collection: string, records: RecordInput | RecordInput[]): Promise<{ inserted: number; updated: number }>;
  importRecords(collection: string, records: Iterable<RecordInput | string> | AsyncIterable<RecordInput | string>,
    options?: { batchSize?: number; atomic?: boolean; onProgress?: (sent: number, soFar: BulkResult) => void }): Promise<BulkResult>;
  get(collection: string, id: string, options?: { vector?: boolean }): Promise<StoredRecord>;
  exists(collection: string, ids: string[]): Promise<string[]>;
  delete(collection: string, ids: string | string[]): Promise<number>;
  count(collection: string, filter?: Filter, options?: { filters?: Record<string, unknown> }): Promise<number>;
  browse(collection: string, options?: {
    filter?: string; order?: string; after?: string; limit?: number; fields?: string[]; facets?: string[]; facetSize?: number;
  }): Promise<Page>;
  iterRecords(collection: string, options?: { filter?: string; order?: string; pageSize?: number; fields?: string[] }): AsyncGenerator<StoredRecord>;
  facets(collection: string, fields: string[], filter?: Filter, options?: { filters?: Record<string, unknown>; facetSize?: number }):
    Promise<{ count: number; facets: Facet[] }>;

  search(collection: string, options: {
    text?: string; vector?: number[]; k?: number; filter?: Filter; filters?: Record<string, unknown>;
    ef?: number; exact?: boolean; explain?: boolean; includeRecords?: boolean;
  } & Paging): Promise<SearchResults>;
  /** Many vector searches in one request (the queries packed in the binary form); one list of hits per query. */
  searchBatch(collection: string, vectors: number[][], options?: { k?: number; filter?: Filter; filters?: Record<string, unknown>; ef?: number; exact?: boolean }):
    Promise<Hit[][]>;
  query(text: string | undefined, options?: {
    collection?: string; topK?: number; searchType?: "similarity" | "keyword" | "hybrid"; vector?: number[];
    filter?: Filter; filters?: Record<string, unknown>; understand?: boolean; explain?: boolean; includeRecords?: boolean;
    fusion?: "rrf" | "linear"; rrfK?: number; weights?: { vector?: number; keyword?: number; preference?: number };
    candidates?: number; qualityPrior?: number; collapse?: boolean; diversity?: number; ef?: number; exact?: boolean;
  } & Paging): Promise<SearchResults>;

  generateRecipe(request: RecipeRequest): Promise<RecipeResult>;
  generateBatch(requests: RecipeRequest[]): Promise<(RecipeResult | FragranceError)[]>;
  validateRecipe(recipe: Record<string, unknown>): Promise<Validation>;
  substitutes(material: string, options?: { product?: string; concentration?: string; fragrancePercent?: number; limit?: number }):
    Promise<{ material: Record<string, unknown>; product: Record<string, unknown>; fragrancePercent: number; substitutes: Record<string, unknown>[] }>;

  snapshot(collection: string): Promise<string>;
  restore(file: string, options?: { as?: string }): Promise<{ name: string; records: number }>;
}
export function readsOnly(method: string, path: string): boolean;
