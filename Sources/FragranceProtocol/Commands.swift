/// The line protocol's commands as clients see them (schemas/protocol.md): name, usage, summary,
/// the least role that may run each, and the keywords it takes. The server's HELP, HELLO and
/// role checks, the shell's completion and the docs are built from this table; the server adds
/// one handler per name (a test checks that every name has one).
public struct CommandSpec: Sendable, Equatable {
    public let name: String
    public let usage: String
    public let summary: String
    /// The least role that may run it; nil for commands open to anyone (PING, HELP, AUTH…).
    public let role: Role?
    /// Keywords taken after the arguments (FILTER, K, …), for completion.
    public let keywords: [String]

    public init(name: String, usage: String, summary: String, role: Role?, keywords: [String] = []) {
        self.name = name
        self.usage = usage
        self.summary = summary
        self.role = role
        self.keywords = keywords
    }

    /// HELP's line for it: `usage — summary [role]`.
    public var help: String { "\(usage) — \(summary)" + (role.map { " [\($0)]" } ?? "") }
}

public enum CommandTable {
    /// In HELP's order.
    public static let all: [CommandSpec] = [
        CommandSpec(name: "PING", usage: "PING",
                    summary: "liveness check; replies +PONG", role: nil),
        CommandSpec(name: "HELLO", usage: "HELLO [token]",
                    summary: "server, protocol version, auth mode and this connection's role (authenticates when given a token)", role: nil),
        CommandSpec(name: "AUTH", usage: "AUTH <token>",
                    summary: "authenticate with an API key or a JWT; sets this connection's role", role: nil),
        CommandSpec(name: "HELP", usage: "HELP [command]",
                    summary: "list commands, or one command's usage", role: nil),
        CommandSpec(name: "INFO", usage: "INFO [server|clients|stats|memory|persistence|collections|model|all]",
                    summary: "version, uptime and every section (or one): calls per command, connections, memory, unsaved operations, collections, the model; one JSON line", role: .read),
        CommandSpec(name: "COLLECTIONS", usage: "COLLECTIONS",
                    summary: "one JSON line per collection", role: .read),
        CommandSpec(name: "DESCRIBE", usage: "DESCRIBE <collection>",
                    summary: "one collection's settings, fields and figures as one JSON line", role: .read),
        CommandSpec(name: "CREATE", usage: "CREATE <name> {\"dimension\": 384, \"metric\": \"cosine\", \"embedder\": \"minilm\", \"schema\": \"perfume\" | {\"fields\": […]}, \"dynamic\": true, \"m\": 16, \"ef_construction\": 200, \"ef_search\": 128}",
                    summary: "create a collection; without a schema it is dynamic (fields typed from the records that bring them)", role: .write),
        CommandSpec(name: "ALTER", usage: "ALTER <name> {\"fields\": [{\"name\": \"price\", \"type\": \"float\"}], \"dynamic\": true}",
                    summary: "add fields to a collection, or make it dynamic (records bring new fields) or fixed; replies its description", role: .write),
        CommandSpec(name: "DROP", usage: "DROP <name>",
                    summary: "delete a collection and all its records", role: .admin),
        CommandSpec(name: "UPSERT", usage: "UPSERT <collection> [EACH] {record} | [{record}, …]",
                    summary: "insert or replace records by id, all or none; with EACH item by item, one JSON line with each record's result or error", role: .write,
                    keywords: ["EACH"]),
        CommandSpec(name: "GET", usage: "GET <collection> <id>",
                    summary: "one record as JSON (without its vector)", role: .read),
        CommandSpec(name: "EXISTS", usage: "EXISTS <collection> <id> [id …]",
                    summary: "which of these ids are stored: one JSON string per stored id", role: .read),
        CommandSpec(name: "DEL", usage: "DEL <collection> <id> [id …]",
                    summary: "delete records; replies how many existed", role: .write),
        CommandSpec(name: "COUNT", usage: "COUNT <collection> [FILTER \"<expression>\"]",
                    summary: "records, or records matching a filter", role: .read, keywords: ["FILTER"]),
        CommandSpec(name: "SCROLL", usage: "SCROLL <collection> [FILTER \"<expression>\"] [ORDER field[:asc|desc]] [AFTER <cursor>] [LIMIT n] [FIELDS \"a,b\"] [FACETS \"family,year:10\"] [FACET_SIZE n]",
                    summary: "browse without a query: one JSON line per record in the order (id by default), then {\"count\", \"next\", \"facets\"}; pass next as AFTER for the next page", role: .read,
                    keywords: ["FILTER", "ORDER", "AFTER", "LIMIT", "FIELDS", "FACETS", "FACET_SIZE"]),
        CommandSpec(name: "FACETS", usage: "FACETS <collection> \"family,accords,year:10\" [FILTER \"<expression>\"] [FACET_SIZE n]",
                    summary: "how many records hold each value of these fields (ranges for numbers, ':width' to choose) under a filter; one JSON line", role: .read,
                    keywords: ["FILTER", "FACET_SIZE"]),
        CommandSpec(name: "SEARCH", usage: "SEARCH <collection> TEXT \"<query>\" | VECTOR [..] [FILTER \"<expression>\"] [K n] [OFFSET n] [SCORE_THRESHOLD x] [MAX_DISTANCE x] [RECORDS] [FIELDS \"a,b\"] [FACETS \"family,year:10\"] [EF n] [EXACT] [EXPLAIN]",
                    summary: "nearest records; one JSON line per hit (with its record given RECORDS or FIELDS), then {\"facets\"} with FACETS and the plan with EXPLAIN; VECTOR must come last", role: .read,
                    keywords: ["TEXT", "VECTOR", "FILTER", "K", "OFFSET", "SCORE_THRESHOLD", "MAX_DISTANCE", "RECORDS", "FIELDS", "FACETS", "FACET_SIZE", "EF", "EXACT", "EXPLAIN"]),
        CommandSpec(name: "MSEARCH", usage: "MSEARCH <collection> [FILTER \"<expression>\"] [K n] [EF n] [EXACT] VECTORS b64:<queries' float32, one after another> | [[..], [..]]",
                    summary: "many vector searches in one request, spread over the cores; one JSON line per query, its hits as an array, in the order given; VECTORS must come last", role: .read,
                    keywords: ["VECTORS", "FILTER", "K", "EF", "EXACT"]),
        CommandSpec(name: "QUERY", usage: "QUERY <collection> \"<free text, English or Korean>\" [MODE similarity|keyword|hybrid] [FILTER \"<expression>\"] [K n] [OFFSET n] [SCORE_THRESHOLD x] [MAX_DISTANCE x] [RECORDS] [FIELDS \"a,b\"] [FACETS \"…\"] [PRIOR w] [COLLAPSE on|off] [DIVERSITY λ] [RAW] [EXPLAIN]",
                    summary: "search as typed: the text is understood (preferences, exclusions, years, like <perfume>; RAW: as is) and the arms fused; one JSON line per hit, then {\"facets\"} with FACETS and how the query was read with EXPLAIN", role: .read,
                    keywords: ["MODE", "FILTER", "K", "OFFSET", "SCORE_THRESHOLD", "MAX_DISTANCE", "RECORDS", "FIELDS", "FACETS", "FACET_SIZE", "PRIOR", "COLLAPSE", "DIVERSITY", "RAW", "EXPLAIN"]),
        CommandSpec(name: "GENERATE", usage: "GENERATE {\"fragrance_family\": \"floral\", \"mood\": \"romantic\", \"intensity\": \"moderate\", \"gender\": \"feminine\", \"season\": \"spring\", \"product\": \"fine_fragrance\"}",
                    summary: "a compliant perfume recipe from the palette and the catalogue (schemas/recipe.schema.json) with its validation and allergen declaration, as one JSON line", role: .read),
        CommandSpec(name: "VALIDATE", usage: "VALIDATE {\"concentration\": \"EdP\", \"product\": \"fine_fragrance\", \"top\": [{\"name\": \"bergamot\", \"percent\": 20}], \"heart\": […], \"base\": […]}",
                    summary: "check a recipe: IFRA limits of its product's category (counting naturals' constituents), EU Annex III, allergens to declare, structure; one JSON line", role: .read),
        CommandSpec(name: "SUBSTITUTES", usage: "SUBSTITUTES {\"material\": \"Coumarin\", \"product\": \"body_lotion\", \"limit\": 5}",
                    summary: "compliant palette materials of similar odour for a material, with why and what the product allows; one JSON line", role: .read),
        CommandSpec(name: "BREAKER", usage: "BREAKER",
                    summary: "the LLM circuit breaker's state and counters as one JSON line", role: .read),
        CommandSpec(name: "SNAPSHOT", usage: "SNAPSHOT <collection>",
                    summary: "write the collection to snapshots/<collection>-<time>.fdbz in the data directory", role: .admin),
        CommandSpec(name: "RESTORE", usage: "RESTORE <snapshot file name> [AS <name>]",
                    summary: "restore a file from the data directory's snapshots/ as a new collection", role: .admin, keywords: ["AS"]),
        CommandSpec(name: "SLOWLOG", usage: "SLOWLOG GET [count] | LEN | RESET",
                    summary: "commands and requests over slowlog.threshold_ms, newest first, with duration and truncated arguments (both protocols)", role: .admin),
        CommandSpec(name: "CLIENT", usage: "CLIENT LIST",
                    summary: "the open line-protocol connections: one JSON line each with address, age, idle time, last command and role", role: .admin),
        CommandSpec(name: "RELOAD", usage: "RELOAD",
                    summary: "re-read the settings that may change live (keys, rate limits, log level), as SIGHUP does", role: .admin),
        CommandSpec(name: "REPLICAOF", usage: "REPLICAOF <host> <port> | NO ONE",
                    summary: "follow a primary as a read-only replica (a full copy, then its log), or stop following and accept writes (promotion)", role: .admin),
        CommandSpec(name: "WAIT", usage: "WAIT <replicas> <timeout_ms>",
                    summary: "wait until this many replicas have applied every write made so far, or the timeout; replies how many have", role: .write),
        CommandSpec(name: "DIGEST", usage: "DIGEST <collection>",
                    summary: "SHA-256 over the collection's records and vectors in id order, to compare a replica with its primary; one JSON line", role: .read),
        CommandSpec(name: "REPLSTATE", usage: "REPLSTATE",
                    summary: "for replicas: this server's replication format, node, history, last sequence and collections; one JSON line", role: .replication),
        CommandSpec(name: "REPLLOG", usage: "REPLLOG <history> <after_seq> [COUNT n] [WAIT ms] [NODE id] [PORT n]",
                    summary: "for replicas: log entries after a sequence, waiting up to WAIT ms for one; a line with the last sequence, then one JSON line per entry", role: .replication,
                    keywords: ["COUNT", "WAIT", "NODE", "PORT"]),
        CommandSpec(name: "REPLPAGE", usage: "REPLPAGE <collection> <after_row> [COUNT n]",
                    summary: "for replicas' full sync: records with vectors after a row, one JSON line each, then {\"next\"}", role: .replication, keywords: ["COUNT"]),
        CommandSpec(name: "QUIT", usage: "QUIT",
                    summary: "close the connection", role: nil),
    ]

    public static let byName: [String: CommandSpec] = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })

    /// Every command name and keyword, for completion.
    public static var words: [String] {
        var seen = Set<String>()
        return (all.map(\.name) + all.flatMap(\.keywords)).filter { seen.insert($0).inserted }
    }
}

/// Who may do what. Roles are ordered: `admin` can do everything `write` can, which can do
/// everything `replication` can (follow this server as a replica: its log and a copy of
/// every record), which can do everything `read` can.
public enum Role: Int, Comparable, Sendable, CaseIterable, CustomStringConvertible {
    case read = 1, replication, write, admin

    public init?(name: String) {
        switch name.lowercased() {
        case "read": self = .read
        case "replication": self = .replication
        case "write": self = .write
        case "admin": self = .admin
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .read: "read"
        case .replication: "replication"
        case .write: "write"
        case .admin: "admin"
        }
    }

    public static func < (a: Role, b: Role) -> Bool { a.rawValue < b.rawValue }
}
